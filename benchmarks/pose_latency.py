"""Latency of one live webcam frame in a pose project: pad the frame, MoveNet, normalise, head.

The frames are the fake camera's real video (640×360). What the live view does per frame:
``media.pad_image`` to the 256 square, ``PoseEncoder.keypoints`` (MoveNet Lightning int8 at
192×192), ``pose_features``, the head. Median and p90 of 200 frames; target ≤ 40 ms.
"""

from _common import DATASETS, header  # first: import order

import statistics
import time

import numpy as np
from PIL import Image

from tm_core import media
from tm_core.encoders import get_encoder
from tm_core.training import init_head

TARGET_MS = 40.0


def main() -> list[str]:
    import io

    data = (DATASETS / "video" / "person_seated_raga_640x360_15fps.mjpeg").read_bytes()
    frames = [np.asarray(Image.open(io.BytesIO(b"\xff\xd8" + part)).convert("RGB"))
              for part in data.split(b"\xff\xd8")[1:]]
    enc = get_encoder("movenet_lightning")
    head = init_head(enc.dim, 3, 100, seed=0)
    times, model_only = [], []
    for i in range(220):
        frame = frames[i % len(frames)]
        start = time.perf_counter()
        padded = media.pad_image(Image.fromarray(frame))
        kp = enc.keypoints(padded)
        head.predict_proba(enc.features_from_keypoints(kp))
        end = time.perf_counter()
        t = time.perf_counter()
        enc.keypoints(padded)
        model_only.append(time.perf_counter() - t)
        if i >= 20:
            times.append(end - start)
    p50, p90 = statistics.median(times) * 1000, float(np.percentile(times, 90)) * 1000
    line = (f"pose frame latency (pad + MoveNet + features + head): p50 {p50:.1f} ms, p90 {p90:.1f} ms "
            f"(MoveNet alone {statistics.median(model_only[20:]) * 1000:.1f} ms; target <= {TARGET_MS:.0f} ms)")
    print(line, flush=True)
    return [line]


if __name__ == "__main__":
    header("pose frame latency")
    main()
