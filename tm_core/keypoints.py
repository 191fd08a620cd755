"""Keypoint projects (body pose, hands): the predictor that says "nothing found", and skeletons drawn.

Everything here goes by the encoder's API, which pose and hand encoders share: ``keypoints(batch,
live=False) -> (n, k, 3)`` rows of (x, y, score) in 0..1 of the padded square (``live``: the fast
path for video), ``found(keypoints)``, ``features(batch, keypoints)``, ``edges`` (the skeleton),
and features whose last value says whether anything was found. A new keypoint kind needs a row
in :data:`tm_core.kinds.KINDS` (and its encoder in ``tm_core.encoders``).
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from tm_core import kinds
from tm_core.encoders import pose_features
from tm_core.predict import Predictor

MIN_SCORE = pose_features.MIN_SCORE  # keypoints below this are not drawn (nor trusted by the features)
KEYPOINTS = "/keypoints"  # after an encoder's name: its raw keypoints in a project's embeddings
LINE = (0, 230, 120)
DOT = (255, 80, 40)


def found(features: np.ndarray) -> np.ndarray:
    """Per row of features: was anything found (the presence value, last)?"""
    return pose_features.found(features)


def cache_name(encoder_name: str) -> str:
    """The name under which a project's embeddings (``FeatureCache``, the project file's ``features/``)
    keep the keypoint encoder's raw keypoints, one row of k × 3 numbers per sample: a saved project or an
    example draws its skeletons without finding every hand or body again (~150 ms a hand picture)."""
    return f"{encoder_name}{KEYPOINTS}"


def sample_keypoints(cache, encoder_name: str, sample_id: str, pixels, encoder) -> np.ndarray:
    """A sample's (k, 3) keypoints from ``cache``; else found by ``encoder()`` in ``pixels()`` and kept in
    ``cache`` (so the project's next save keeps them). Samples never change: their id is their content."""
    name = cache_name(encoder_name)
    row = cache.get(name, sample_id)
    if row is not None:
        return row.reshape(-1, 3)
    kp = np.asarray(encoder().keypoints(pixels())[0], np.float32)
    cache.load(name, [sample_id], kp.reshape(1, -1))
    return kp


def draw_skeleton(image: np.ndarray, keypoints: np.ndarray, edges, min_score: float = MIN_SCORE) -> np.ndarray:
    """A copy of ``image`` (RGB, any size) with the skeleton drawn: lines for ``edges`` between confident
    keypoints, a dot on each. ``keypoints`` are (x, y, score) in 0..1 of the image padded to a square
    (as :func:`tm_core.kinds.pad_frame` / ``media.pad_image`` make it), so the same keypoints fit the
    padded sample and the camera frame it came from."""
    img = Image.fromarray(np.asarray(image, np.uint8)).convert("RGB")
    w, h = img.size
    side = max(w, h)
    kp = np.asarray(keypoints, np.float64).reshape(-1, 3)
    xy = kp[:, :2] * side - [(side - w) / 2, (side - h) / 2]
    seen = kp[:, 2] >= min_score
    draw = ImageDraw.Draw(img)
    width = max(2, side // 110)
    for a, b in edges:
        if seen[a] and seen[b]:
            draw.line([tuple(xy[a]), tuple(xy[b])], fill=LINE, width=width)
    r = width * 1.2
    for (x, y), ok in zip(xy, seen):
        if ok:
            draw.ellipse((x - r, y - r, x + r, y + r), fill=DOT)
    return np.asarray(img)


def thumbnail(image: np.ndarray, keypoints: np.ndarray, edges, side: int = 128) -> np.ndarray:
    """A sample, small, with its skeleton drawn on it (drawn after shrinking: lines stay visible)."""
    small = np.asarray(Image.fromarray(np.asarray(image, np.uint8)).resize((side, side), Image.Resampling.BILINEAR))
    return draw_skeleton(small, keypoints, edges)


class KeypointPredictor(Predictor):
    """Keypoint model + head, for the live view and test pictures: probabilities only when something
    was found, and the keypoints to draw."""

    def predict_frame(self, image: np.ndarray, live: bool = True) -> tuple[np.ndarray | None, np.ndarray]:
        """One padded image → (probabilities, or None when nothing was found; its keypoints).
        ``live``: the keypoint model's fast path (video frames); else as samples are looked at."""
        kp = self.encoder.keypoints(image, live=live)
        if not self.encoder.found(kp)[0]:
            return None, kp[0]
        return self.head.predict_proba(self.encoder.features(image, kp))[0], kp[0]

    def draw(self, frame: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
        return draw_skeleton(frame, keypoints, self.encoder.edges)


def predictor(encoder, head, class_names: list[str]) -> Predictor:
    """The right predictor for a model: a :class:`KeypointPredictor` for pose and hands, else a ``Predictor``."""
    make = KeypointPredictor if kinds.is_keypoint(encoder.kind) else Predictor
    return make(encoder, head, class_names)
