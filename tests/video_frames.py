"""Real video frames for the recording tests: the frames of ../shared/datasets/video's y4m file (a seated
person filmed for 5 s, 10 frames a second), as RGB arrays or JPEG bytes named like a frame export."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

Y4M = "person_seated_raga_320x180_10fps.y4m"


def y4m_frames(path: Path) -> list[np.ndarray]:
    """Every frame of a 4:2:0 YUV4MPEG2 file as RGB uint8 (BT.601 full range, as C420jpeg means)."""
    data = Path(path).read_bytes()
    header, rest = data.split(b"\n", 1)
    fields = {f[:1]: f[1:] for f in header.split()[1:]}
    w, h = int(fields[b"W"]), int(fields[b"H"])
    frames, y_size, c_size = [], w * h, (w // 2) * (h // 2)
    while rest.startswith(b"FRAME"):
        rest = rest.split(b"\n", 1)[1]
        y = np.frombuffer(rest, np.uint8, y_size).reshape(h, w).astype(np.float32)
        u = np.frombuffer(rest, np.uint8, c_size, y_size).reshape(h // 2, w // 2).repeat(2, 0).repeat(2, 1) - 128.0
        v = np.frombuffer(rest, np.uint8, c_size, y_size + c_size).reshape(h // 2, w // 2).repeat(2, 0).repeat(2, 1) - 128.0
        rgb = np.stack([y + 1.402 * v, y - 0.344136 * u - 0.714136 * v, y + 1.772 * u], -1)
        frames.append(np.clip(rgb, 0, 255).round().astype(np.uint8))
        rest = rest[y_size + 2 * c_size:]
    return frames


def jpeg(frame: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def frame_files(video_dir: Path, every: int = 1) -> list[tuple[str, bytes]]:
    """``(frame_0001.jpg, JPEG bytes)`` for every ``every``-th frame of the video, as a video tool exports them."""
    frames = y4m_frames(video_dir / Y4M)[::every]
    return [(f"frame_{i + 1:04d}.jpg", jpeg(f)) for i, f in enumerate(frames)]
