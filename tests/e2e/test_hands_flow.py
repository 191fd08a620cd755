"""A hand-pose project in a real browser: the New project control, a zip of class folders of real
rock-paper-scissors photos, Train, and the live webcam on the Test page.

The fake camera shows a 'paper' photo the project was not trained on, enlarged on a 640×480 canvas
of its own edge colour (an MJPEG file made here): the live bars must put paper on top, and the
hand's landmarks must be drawn on the video sent back.
"""

from __future__ import annotations

import io
import re
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from .conftest import launch
from .test_app_flow import main_text, open_page, start_camera, upload_zip
from .test_pose_flow import COUNT_DOTS
from .test_webrtc_live import IFRAME

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "streamlit_app.py"
CLASSES = ("rock", "paper", "scissors")
TRAIN = slice(0, 132, 12)  # 11 photos a class (sorted by name), as in tests/test_app_hands.py
SHOWN = ("paper", 51)  # the photo the camera shows: off that grid, its hand found in one look at any size


def hands_zip(rps_train: Path, tmp_path: Path) -> Path:
    """hands/<class>/*.jpg: 11 real photos of each class."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for cls in CLASSES:
            for f in sorted((rps_train / cls).iterdir())[TRAIN]:
                z.writestr(f"hands/{cls}/{f.name}", f.read_bytes())
    path = tmp_path / "hands.zip"
    path.write_bytes(buf.getvalue())
    return path


def camera_frame(photo: Path, height: int = 360) -> Image.Image:
    """The photo enlarged to ``height`` and centred on a 640×480 canvas of its edge pixels' colour."""
    img = Image.open(photo).convert("RGB")
    a = np.asarray(img)
    colour = tuple(int(v) for v in np.median(np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]]), 0))
    width = round(img.width * height / img.height)
    canvas = Image.new("RGB", (640, 480), colour)
    canvas.paste(img.resize((width, height), Image.Resampling.LANCZOS), ((640 - width) // 2, (480 - height) // 2))
    return canvas


def dot_pixels(rgb: np.ndarray) -> int:
    """What COUNT_DOTS counts (the landmarks' dot colour after VP8), on a picture here."""
    return int(((rgb[..., 0] > 200) & (rgb[..., 1] < 130) & (rgb[..., 2] < 100)).sum())


@pytest.fixture
def hand_camera(playwright, rps_train, tmp_path):
    """A page of its own Chromium whose fake camera plays the 'paper' photo (an MJPEG: JPEGs back to
    back, the same frame over and over); returns (page, the frame as RGB)."""
    cls, index = SHOWN
    frame = camera_frame(sorted((rps_train / cls).iterdir())[index])
    jpeg = io.BytesIO()
    frame.save(jpeg, "JPEG", quality=92)
    video = tmp_path / "paper_640x480.mjpeg"
    video.write_bytes(jpeg.getvalue() * 30)
    browser = launch(playwright, f"--use-file-for-fake-video-capture={video}", fake_video=False)
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    try:
        yield context.new_page(), np.asarray(Image.open(io.BytesIO(jpeg.getvalue())).convert("RGB"))
    finally:
        context.close()
        browser.close()


def test_hands_project_from_a_zip_trains_and_names_the_hand_the_camera_shows(server, hand_camera, rps_train, tmp_path):
    page, shown = hand_camera
    assert dot_pixels(shown) < 5  # so dots counted on the video are the ones the app drew
    srv = server(APP)
    page.goto(srv.url)
    page.get_by_role("heading", name="Gather examples").wait_for(timeout=90_000)
    page.get_by_text("Hand pose", exact=True).first.wait_for(timeout=10_000)  # the tip for gestures
    page.get_by_role("button", name="New project").click()
    page.get_by_text("Hand pose · teach it hand shapes").click()
    page.get_by_role("button", name="Start a new hands project").click()
    page.get_by_text("Hands project", exact=True).wait_for(timeout=30_000)

    upload_zip(page, hands_zip(rps_train, tmp_path), 33)
    sidebar = page.locator("[data-testid='stSidebar']")
    for cls in CLASSES:
        sidebar.get_by_text(re.compile(rf"{cls}: 11 samples")).wait_for(timeout=10_000)
    assert "no hand" not in main_text(page)  # a hand found in every photo

    open_page(page, "2 · Train", "Train")
    page.get_by_role("button", name="Train model").click()
    page.get_by_text("Under the hood").wait_for(timeout=60_000)

    open_page(page, "4 · Test & export", "Test & export")
    page.get_by_role("heading", name="Live webcam").wait_for(timeout=30_000)
    bars = re.compile(r"(rock|paper|scissors): (\d+)%")
    start_camera(page, lambda: len(bars.findall(main_text(page))) == 3)
    found: dict = {}
    deadline = time.monotonic() + 15  # a few predictions (the bars are smoothed)
    while time.monotonic() < deadline:
        found = {k: int(v) for k, v in bars.findall(main_text(page))}
        if len(found) == 3 and found["paper"] >= 70:
            break
        time.sleep(0.3)
    assert set(found) == set(CLASSES) and abs(sum(found.values()) - 100) <= 3, found
    assert max(found, key=found.get) == "paper" and found["paper"] >= 70, found
    assert "No hand in view" not in main_text(page)
    video = page.frame_locator(IFRAME).locator("video")
    dots = max(video.evaluate(COUNT_DOTS) for _ in range(3))
    print(f"live bars {found}; {dots} dot-coloured pixels on the video")
    assert dots > 100, dots  # the hand's 21 landmarks drawn on the video sent back
