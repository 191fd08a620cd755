"""A body-pose project in a real browser: the New project control, a zip of class folders, Train, and
the live webcam on the Test page.

The fake camera plays the video whose frames (and their mirror images) the zip holds: the live
model must say "original" whatever the page's Mirror toggle shows, because the model sees the
frame as the camera sends it.
"""

from __future__ import annotations

import io
import re
import time
import zipfile
from pathlib import Path

from PIL import Image, ImageOps

from .conftest import FAKE_VIDEO
from .test_app_flow import main_text, open_page, start_camera, upload_zip
from .test_webrtc_live import IFRAME

# pixels of the skeleton's dots (tm_core.keypoints.DOT = (255, 80, 40)) in the video shown, after VP8
COUNT_DOTS = """v => { const c = document.createElement('canvas'); c.width = v.videoWidth; c.height = v.videoHeight;
  const g = c.getContext('2d'); g.drawImage(v, 0, 0); const d = g.getImageData(0, 0, c.width, c.height).data;
  let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] > 200 && d[i + 1] < 130 && d[i + 2] < 100) n++;
  return n; }"""

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "streamlit_app.py"


def pose_zip(tmp_path: Path) -> Path:
    """poses/original/*.jpg: 15 frames of the fake-camera video; poses/mirrored/*.jpg: 15 others, mirrored."""
    data = FAKE_VIDEO.read_bytes()
    frames = [b"\xff\xd8" + part for part in data.split(b"\xff\xd8")[1:]]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for i in range(0, 75, 5):
            z.writestr(f"poses/original/f{i:02d}.jpg", frames[i])
            out = io.BytesIO()
            ImageOps.mirror(Image.open(io.BytesIO(frames[i + 2]))).save(out, "JPEG", quality=95)
            z.writestr(f"poses/mirrored/m{i + 2:02d}.jpg", out.getvalue())
    path = tmp_path / "poses.zip"
    path.write_bytes(buf.getvalue())
    return path


def test_pose_project_from_a_zip_trains_and_tells_the_live_video_from_its_mirror(server, page, tmp_path):
    srv = server(APP)
    page.goto(srv.url)
    page.get_by_role("heading", name="Gather examples").wait_for(timeout=90_000)
    page.get_by_role("button", name="New project").click()
    page.get_by_text("Body pose · teach it poses").click()
    page.get_by_role("button", name="Start a new pose project").click()
    page.get_by_text("Pose project", exact=True).wait_for(timeout=30_000)

    upload_zip(page, pose_zip(tmp_path), 30)
    sidebar = page.locator("[data-testid='stSidebar']")
    for cls in ("original", "mirrored"):
        sidebar.get_by_text(re.compile(rf"{cls}: 15 samples")).wait_for(timeout=10_000)
    assert "no person" not in main_text(page)  # a person in every frame

    open_page(page, "2 · Train", "Train")
    page.get_by_role("button", name="Train model").click()
    page.get_by_text("Under the hood").wait_for(timeout=60_000)

    open_page(page, "4 · Test & export", "Test & export")
    page.get_by_role("heading", name="Live webcam").wait_for(timeout=30_000)
    bars = re.compile(r"(original|mirrored): (\d+)%")
    start_camera(page, lambda: len(bars.findall(main_text(page))) == 2)
    deadline = time.monotonic() + 5  # a few predictions (the bars are smoothed)
    while time.monotonic() < deadline:
        time.sleep(0.5)
    found = dict(bars.findall(main_text(page)))
    assert set(found) == {"original", "mirrored"} and abs(sum(map(int, found.values())) - 100) <= 2
    assert int(found["original"]) > int(found["mirrored"]), found  # the video as the camera sends it
    assert "Mirror the video" in main_text(page)
    video = page.frame_locator(IFRAME).locator("video")
    dots = max(video.evaluate(COUNT_DOTS) for _ in range(3))
    assert dots > 30, dots  # the skeleton is drawn on the video sent back
