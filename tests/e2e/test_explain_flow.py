"""The explanation panels in a real browser: train on real rock-paper-scissors photos, see the
Mistakes panel under the confusion matrix, then on the Test page the heatmap of where the model
looked and the most similar training samples, for an uploaded photo and for a webcam photo."""

from __future__ import annotations

import re
import time
from pathlib import Path

from .test_app_flow import main_text, open_page, rps_zip, upload_zip

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "streamlit_app.py"
RPS = REPO.parent / "shared" / "datasets" / "rps_real" / "train"


def loaded_images(scope) -> int:
    """How many <img> under ``scope`` the browser has actually decoded."""
    return scope.locator("img").evaluate_all("imgs => imgs.filter(i => i.complete && i.naturalWidth > 0).length")


def wait_until(check, timeout: float = 30, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def block_with(page, heading: str):
    """The innermost column holding ``heading`` (a bold line the panel starts with)."""
    return page.locator("[data-testid='stColumn']").filter(has=page.get_by_text(heading, exact=True)).last


def test_mistakes_panel_and_where_the_model_looked(server, page, tmp_path):
    srv = server(APP)
    page.goto(srv.url)
    page.get_by_role("heading", name="Gather examples").wait_for(timeout=90_000)
    upload_zip(page, rps_zip(tmp_path, per_class=12), 36)

    open_page(page, "2 · Train", "Train")
    page.get_by_role("button", name="Train model").click()
    page.get_by_text("Under the hood").wait_for(timeout=120_000)
    mistakes = page.get_by_role("heading", name="Mistakes")
    mistakes.wait_for(timeout=30_000)
    text = main_text(page)
    said = re.findall(r"true (paper|rock|scissors) · said (paper|rock|scissors) \((\d+)\s%\)", text)
    summary = re.search(r"It got (\d+) of the (\d+) test samples wrong", text)
    if summary:  # every wrong one shown (at most 12), each with every class's probability
        wrong, _held_out = int(summary[1]), int(summary[2])
        assert len(said) == min(wrong, 12) and all(t != s for t, s, _ in said), said
        assert len(re.findall(r"paper \d+\s% · rock \d+\s% · scissors \d+\s%", text)) == len(said)
        panel = page.locator("[data-testid='stExpander']").filter(has_text="Under the hood")
        wait_until(lambda: loaded_images(panel) >= len(said), what="the mistakes' thumbnails")
    else:
        assert re.search(r"No mistakes: it got all \d+ test samples right", text), text[-1500:]
        assert not said
    print("mistakes panel:", summary[0] if summary else "none", said)

    # Test page: an uploaded photo the model never saw
    open_page(page, "4 · Test & export", "Test & export")
    page.get_by_role("heading", name="Test on a picture").wait_for(timeout=30_000)
    photo = sorted((RPS / "scissors").iterdir())[101]
    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(photo))
    looked = page.get_by_text("Where did it look?", exact=True)
    looked.wait_for(timeout=60_000)
    page.get_by_text(re.compile(r"grey square")).wait_for(timeout=30_000)
    answer = re.search(r"\n(paper|rock|scissors) · (\d+)%\n", main_text(page))
    assert answer, main_text(page)[-1500:]
    heat = block_with(page, "Where did it look?")
    wait_until(lambda: loaded_images(heat) >= 1, what="the heatmap")
    assert heat.get_by_text(answer[1]).count() >= 1  # the map is for the class it said, unless picked otherwise
    similar = block_with(page, "Most similar training samples")
    wait_until(lambda: loaded_images(similar) == 5, what="five similar training samples")
    sims = [float(s) for s in re.findall(r"(?:paper|rock|scissors) · (0\.\d\d|1\.00)\b", similar.inner_text())]
    assert len(sims) == 5 and sims == sorted(sims, reverse=True), similar.inner_text()

    # A webcam photo (Chromium's fake camera plays a real video) gets the same panels
    page.locator("[data-testid='stFileChipDeleteBtn']").first.click()
    looked.wait_for(state="hidden", timeout=30_000)
    page.get_by_role("tab", name="Webcam photo").click()
    camera = page.locator("[data-testid='stCameraInput']")
    video = camera.locator("video")
    video.wait_for(timeout=20_000)
    wait_until(lambda: video.evaluate("v => v.readyState >= 2 && v.videoWidth > 0"), 20, "the camera preview")
    camera.get_by_role("button", name=re.compile("take photo", re.I)).click()
    looked.wait_for(timeout=60_000)
    wait_until(lambda: loaded_images(block_with(page, "Where did it look?")) >= 1, what="the webcam photo's heatmap")
    wait_until(lambda: loaded_images(block_with(page, "Most similar training samples")) == 5,
               what="the webcam photo's similar samples")
