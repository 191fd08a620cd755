"""Latency of one live webcam frame in a pose or hands project: pad the frame, the keypoint
model, the features, the head. Median and p90 over 200 frames; target ≤ 40 ms.

Pose: the fake camera's real video (640×360); MoveNet Lightning int8 at 192×192, then
``pose_features``. Hands: real rock-paper-scissors photos, each pasted on a 640×480 frame as a
webcam would show a hand; MediaPipe's hand landmarker on one view (``keypoints(live=True)``:
the seven views are for samples only), the hand block, and MobileNetV2 0.35 on the picture.
What the live view does per frame: ``media.pad_image`` to the 256 square, then
``KeypointPredictor.predict_frame``.
"""

from _common import DATASETS, header  # first: import order

import io
import statistics
import time

import numpy as np
from PIL import Image

from tm_core import media
from tm_core.encoders import get_encoder
from tm_core.training import init_head
from tm_core.keypoints import KeypointPredictor

TARGET_MS = 40.0


def pose_frames() -> list[np.ndarray]:
    data = (DATASETS / "video" / "person_seated_raga_640x360_15fps.mjpeg").read_bytes()
    return [np.asarray(Image.open(io.BytesIO(b"\xff\xd8" + part)).convert("RGB")) for part in data.split(b"\xff\xd8")[1:]]


def hand_frames(n: int = 30) -> list[np.ndarray]:
    frames = []
    for cls in ("rock", "paper", "scissors"):
        for path in sorted((DATASETS / "rps_real" / "train" / cls).iterdir())[: n // 3]:
            photo = media.load_image(path).convert("RGB")
            photo.thumbnail((300, 300))
            frame = Image.new("RGB", (640, 480), (120, 110, 100))
            frame.paste(photo, (170, 90))
            frames.append(np.asarray(frame))
    return frames


def measure(encoder_name: str, frames: list[np.ndarray], n: int = 220, warmup: int = 20) -> str:
    enc = get_encoder(encoder_name)
    model = KeypointPredictor(enc, init_head(enc.dim, 3, 100, seed=0), ["a", "b", "c"])
    times, model_only = [], []
    for i in range(n):
        frame = frames[i % len(frames)]
        start = time.perf_counter()
        padded = media.pad_image(Image.fromarray(frame))
        model.predict_frame(padded, live=True)
        end = time.perf_counter()
        t = time.perf_counter()
        enc.keypoints(padded, live=True)
        model_only.append(time.perf_counter() - t)
        if i >= warmup:
            times.append(end - start)
    p50, p90 = statistics.median(times) * 1000, float(np.percentile(times, 90)) * 1000
    return (f"{enc.kind} frame latency ({encoder_name}: pad + keypoints + features + head): p50 {p50:.1f} ms, "
            f"p90 {p90:.1f} ms (keypoint model alone {statistics.median(model_only[warmup:]) * 1000:.1f} ms; "
            f"target <= {TARGET_MS:.0f} ms)")


def main() -> list[str]:
    lines = []
    for name, frames in (("movenet_lightning", pose_frames()), ("hand_landmarks_mobilenet", hand_frames()),
                         ("hand_landmarks", hand_frames())):
        lines.append(measure(name, frames))
        print(lines[-1], flush=True)
    return lines


if __name__ == "__main__":
    header("keypoint frame latency")
    main()
