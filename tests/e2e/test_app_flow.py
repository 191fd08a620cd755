"""The real app in a real browser: zip upload, webcam burst, live training charts, Stop, live test.

Chromium's fake camera plays a real video through streamlit-webrtc over 127.0.0.1; the photos
are real rock-paper-scissors pictures from ../shared/datasets.
"""

from __future__ import annotations

import io
import re
import time
import zipfile
from pathlib import Path

import pytest

from tm_core.training import held_out_count

from .test_webrtc_live import IFRAME, START_ATTEMPTS

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "streamlit_app.py"
RPS = REPO.parent / "shared" / "datasets" / "rps_real" / "train"


def rps_zip(tmp_path: Path, per_class: int = 10) -> Path:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for cls in ("rock", "paper", "scissors"):
            for f in sorted((RPS / cls).iterdir())[::7][:per_class]:
                z.writestr(f"rps/{cls}/{f.name}", f.read_bytes())
    path = tmp_path / "rps.zip"
    path.write_bytes(buf.getvalue())
    return path


def start_camera(page, started) -> None:
    """Click START (in the page's one WebRTC component) until ``started()`` sees video arrive."""
    camera = page.frame_locator(IFRAME)
    start = camera.get_by_role("button", name=re.compile(r"^start$", re.I))
    stop = camera.get_by_role("button", name=re.compile(r"^stop$", re.I))
    for _ in range(START_ATTEMPTS):
        start.wait_for(timeout=20_000)
        start.click()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if started():
                return
            time.sleep(0.2)
        if stop.is_visible():  # a dropped connection (about 1 START in 20): try again
            stop.click()
    pytest.fail(f"no video after {START_ATTEMPTS} clicks on START")


def set_number(page, label: str, value: str) -> None:
    """Type into a number input until the app has taken it (a rerun still running may reset it)."""
    box = page.get_by_label(label)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if box.count() != 1:  # a rerun still shows the previous run's copy beside the new one
            page.wait_for_timeout(300)
            continue
        if box.input_value() != value:
            box.fill(value)
            box.press("Enter")
        page.wait_for_timeout(1000)
        if box.input_value() == value and not page.get_by_text("Running...").is_visible():
            return
    pytest.fail(f"{label} did not keep {value!r} (shows {box.input_value()!r})")


def choose_zip(page, path: Path, timeout: float = 30_000) -> None:
    """Open the Gather page's "Import a zip of class folders" expander if it is closed and give ``path``
    to its uploader through the Upload button's file chooser (Playwright's TimeoutError when the button
    is not reached within ``timeout`` ms)."""
    expander = page.locator("[data-testid='stExpander']").filter(has_text="Import a zip of class folders")
    expander.wait_for(timeout=60_000)
    dropzone = expander.locator("[data-testid='stFileUploaderDropzone']")
    if not dropzone.is_visible():
        expander.get_by_text("Import a zip of class folders").click()
    button = dropzone.get_by_role("button", name="Upload", exact=True)
    button.wait_for(timeout=timeout)
    with page.expect_file_chooser(timeout=timeout) as chooser:
        button.click(timeout=timeout)
    chooser.value.set_files(str(path))


def upload_zip(page, path: Path, total: int) -> None:
    """Give ``path`` to the "Import a zip of class folders" uploader through its Upload button's file
    chooser, as a student does, until the sidebar counts ``total`` samples.

    Setting the hidden file input directly was not taken in 6 of 15 tries on a loaded machine (no
    upload request was even sent); through the button's file chooser 16 of 16 were. A second try is
    kept for what is left, as a student would upload again."""
    sidebar_total = page.locator("[data-testid='stSidebar']").get_by_text(re.compile(rf"· {total} samples"))
    for attempt in range(2):
        choose_zip(page, path)
        try:
            sidebar_total.wait_for(timeout=60_000)
            return
        except Exception:  # noqa: BLE001 - Playwright's TimeoutError: upload again
            print(f"zip upload attempt {attempt + 1} not taken; page says: {main_text(page)[:500]!r}")
    pytest.fail(f"the zip {path.name} was not taken")


def open_page(page, link: str, heading: str) -> None:
    """Click a sidebar link until the page shows (a click during a rerun can be lost)."""
    for _ in range(3):
        page.get_by_role("link", name=link).click()
        try:
            page.get_by_role("heading", name=heading, exact=True).wait_for(timeout=15_000)
            return
        except Exception:  # noqa: BLE001 - Playwright's TimeoutError: click again
            continue
    pytest.fail(f"the {heading} page did not open")


def main_text(page) -> str:
    return page.locator("[data-testid='stMain']").inner_text()


def test_gather_train_stop_and_test_live(server, page, tmp_path):
    srv = server(APP)
    page.goto(srv.url)
    page.get_by_role("heading", name="Gather examples").wait_for(timeout=90_000)

    # A zip of class folders: three classes of ten real photos each.
    upload_zip(page, rps_zip(tmp_path), 30)
    sidebar = page.locator("[data-testid='stSidebar']")
    for cls in ("paper", "rock", "scissors"):
        sidebar.get_by_text(re.compile(rf"{cls}: 10 samples")).wait_for(timeout=10_000)

    # Webcam burst into the first class: no delay, two seconds of frames.
    set_number(page, "Delay (s)", "0.00")
    set_number(page, "Duration (s)", "2.00")
    start_camera(page, lambda: page.frame_locator(IFRAME).locator("video").evaluate(
        "v => v.readyState >= 2 && v.currentTime > 0"))
    for attempt in range(3):
        page.get_by_role("button", name="Record", exact=True).click()
        live_count = page.get_by_text(re.compile(r"Recording into"))
        live_count.wait_for(timeout=10_000)  # the live count, then the report replaces the last one
        live_count.wait_for(state="hidden", timeout=30_000)
        added = page.get_by_text(re.compile(r"Added \d+ webcam frames to paper"))
        added.wait_for(timeout=30_000)
        frames = int(re.search(r"Added (\d+) webcam", added.inner_text())[1])
        if frames:
            break
        # Seen in about 1 run in 5 of the whole suite here (not explained yet): the stream is up,
        # no frame reaches the recorder. The page says so and what to do; do it, as a student would.
        assert "Press STOP and START" in added.inner_text()
        print(f"burst attempt {attempt + 1} recorded no frame: restarting the camera")
        page.frame_locator(IFRAME).get_by_role("button", name=re.compile(r"^stop$", re.I)).click()
        start_camera(page, lambda: page.frame_locator(IFRAME).locator("video").evaluate(
            "v => v.readyState >= 2 && v.currentTime > 0"))
    assert 10 <= frames <= 49  # two seconds of a ~15-30 fps camera, at most 24 fps kept
    sidebar.get_by_text(re.compile(rf"paper: {10 + frames} samples")).wait_for(timeout=10_000)

    # Train long enough to watch: progress and both charts move epoch by epoch; Stop keeps the work.
    open_page(page, "2 · Train", "Train")
    page.get_by_text("Advanced").click()
    set_number(page, "Epochs", "1000")
    page.get_by_role("button", name="Train model").click()
    epochs_seen = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and len(set(epochs_seen)) < 3:
        m = re.search(r"Epoch (\d+) of 1000", main_text(page))
        if m and page.locator("[data-testid='stVegaLiteChart']").count() >= 2:
            epochs_seen.append(int(m[1]))
        time.sleep(0.3)
    assert len(set(epochs_seen)) >= 3 and epochs_seen == sorted(epochs_seen), epochs_seen
    page.locator("[data-testid='stMain']").get_by_role("button", name="Stop").click()  # not the header's Stop
    stopped = page.get_by_text(re.compile(r"Stopped after \d+ of 1000 epochs"))
    stopped.wait_for(timeout=30_000)
    done = int(re.search(r"Stopped after (\d+)", stopped.inner_text())[1])
    assert epochs_seen[-1] <= done < 1000
    page.get_by_text("Under the hood").wait_for()
    # The honest split: each photo of the zip is a sample of its own, the burst one recording. Rock holds
    # out 2 of its 10 photos at random; paper holds out single photos only (its burst is larger than the
    # 15 % it holds out, so it stays whole on the training side), and the page says so.
    text = main_text(page)
    assert "rock: 2 single samples chosen at random." in text, text[-1500:]
    held = re.search(r"paper: (\d+) single samples \(a webcam burst or a sound recording is never split", text)
    assert held and int(held[1]) == held_out_count(10 + frames, 0.15), text[-1500:]

    # Test live: the bars show every class and move with the video.
    open_page(page, "4 · Test & export", "Test & export")
    page.get_by_role("heading", name="Live webcam").wait_for(timeout=30_000)
    bars = re.compile(r"(paper|rock|scissors): (\d+)%")
    start_camera(page, lambda: len(bars.findall(main_text(page))) == 3)
    found = dict(bars.findall(main_text(page)))
    assert abs(sum(map(int, found.values())) - 100) <= 3  # rounded percentages of every class
    # The webcam frames recorded into "paper" above are this very video: the model should say so.
    assert max(found, key=lambda k: int(found[k])) == "paper", found
    fps = re.compile(r"(\d+) frames/s")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not (int((fps.search(main_text(page)) or [0, 0])[1]) >= 3):
        time.sleep(0.3)
    assert int(fps.search(main_text(page))[1]) >= 3  # live: frames keep flowing through the model


def test_webcam_photo_adds_a_sample(server, page):
    """st.camera_input with the fake camera: wait for its preview, take a photo, one sample more."""
    srv = server(APP)
    page.goto(srv.url)
    page.get_by_role("heading", name="Gather examples").wait_for(timeout=90_000)
    page.get_by_role("tab", name="Webcam photo").first.click()
    camera = page.locator("[data-testid='stCameraInput']").first
    video = camera.locator("video")
    video.wait_for(timeout=20_000)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not video.evaluate("v => v.readyState >= 2 && v.videoWidth > 0"):
        time.sleep(0.2)
    added = page.get_by_text("Added 1 sample to Class 1")
    for attempt in range(2):
        camera.get_by_role("button", name=re.compile("take photo", re.I)).click()
        try:
            added.wait_for(timeout=30_000)
            break
        except Exception:  # noqa: BLE001 - Playwright's TimeoutError
            # Once in a CI run of the whole suite on a loaded machine the photo was taken but never reached
            # the app (as zip uploads through the hidden input sometimes were): take it again, as a student would.
            print(f"photo attempt {attempt + 1} not taken; page says: {main_text(page)[:300]!r}")
            clear = camera.get_by_role("button", name=re.compile("clear photo", re.I))
            if clear.is_visible():
                clear.click()
    else:
        pytest.fail("the webcam photo was not taken in two tries")
    page.locator("[data-testid='stSidebar']").get_by_text(re.compile(r"Class 1: 1 sample\b")).wait_for(timeout=10_000)
