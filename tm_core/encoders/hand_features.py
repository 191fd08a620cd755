"""Hand landmarks → features that mean the hand shape, not where the hand is, how big, how turned,
or whether it is a left or a right hand.

This file imports only NumPy on purpose: hand exports ship a copy of it beside the model, so the
snippet finds the hand and computes exactly the numbers the app trained on.

How a picture is looked at (``VIEWS``): MediaPipe's palm detector wants some context around the
hand, and photos are often cropped tight around it. So each picture is shown to the landmarker
several times, padded on every side (edge pixels repeated, or black) and mirrored, and each
view's landmarks are mapped back onto the picture. ``combine`` keeps, per landmark, the median
over the views that found a hand. Measured on rock-paper-scissors photos (docs/hands-study.md):
a hand is found in 0.62 of the photos as they are, 0.99 with the seven views.

The features (``hand_block``): the 21 landmarks with the wrist at the origin, turned so the
middle finger's base points up, mirrored so every hand has its thumb on the same side, divided
by the wrist-to-middle-finger length; then fingertip-to-fingertip distances, joint angles and
fingertip-to-wrist distances. The block is weighted by ``HAND_WEIGHT`` so it counts as much as the
1280 picture numbers it is trained beside, and ends with the *presence* value: 1.0 when a hand
was found, 0.0 when not (then every other value is 0).
"""

from __future__ import annotations

import numpy as np

HAND_EDGES = ((0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (5, 9), (9, 10), (10, 11),
              (11, 12), (9, 13), (13, 14), (14, 15), (15, 16), (13, 17), (0, 17), (17, 18), (18, 19), (19, 20))
TIPS = (4, 8, 12, 16, 20)
JOINTS = ((0, 1, 2), (1, 2, 3), (2, 3, 4), (0, 5, 6), (5, 6, 7), (6, 7, 8), (0, 9, 10), (9, 10, 11), (10, 11, 12),
          (0, 13, 14), (13, 14, 15), (14, 15, 16), (0, 17, 18), (17, 18, 19), (18, 19, 20))  # angle at the middle one
SHAPE_DIM = 21 * 2 + 10 + 15 + 5
HAND_DIM = SHAPE_DIM + 1  # + presence
HAND_WEIGHT = 20.0

# (padding, how much larger the canvas is, mirrored): the views a picture is shown in, best first
VIEWS = (("edge", 1.5, False), ("black", 2.0, False), ("edge", 1.5, True), ("black", 2.0, True),
         ("edge", 2.0, False), ("edge", 3.0, False), ("black", 3.0, False))
LIVE_VIEWS = VIEWS[:1]  # live video: one view per frame (the camera usually shows context anyway)
DETECTION_CONFIDENCE = 0.1  # palm detection and hand presence: low, the views vote afterwards
NUM_HANDS = 2  # look for two, keep the largest (photos are framed around the hand that matters)


def view(image: np.ndarray, padding: str, scale: float, mirrored: bool) -> np.ndarray:
    """``image`` (H, W, 3 uint8) on a canvas ``scale`` times larger, padded with its edge pixels
    repeated or black, mirrored if asked."""
    image = np.asarray(image, np.uint8)
    h, w = image.shape[:2]
    ph, pw = int(round(h * (scale - 1) / 2)), int(round(w * (scale - 1) / 2))
    pad = ((ph, ph), (pw, pw), (0, 0))
    canvas = np.pad(image, pad, mode="edge") if padding == "edge" else np.pad(image, pad)
    return np.ascontiguousarray(canvas[:, ::-1] if mirrored else canvas)


def from_view(points: np.ndarray, shape: tuple[int, ...], padding: str, scale: float, mirrored: bool) -> np.ndarray:
    """Landmarks (k, ≥2) in 0..1 of a view's canvas → (k, 2) x, y in 0..1 of the picture (``shape``)."""
    h, w = shape[:2]
    ph, pw = int(round(h * (scale - 1) / 2)), int(round(w * (scale - 1) / 2))
    x = np.asarray(points, np.float64)[:, 0] * (w + 2 * pw)
    y = np.asarray(points, np.float64)[:, 1] * (h + 2 * ph)
    if mirrored:
        x = (w + 2 * pw) - x
    return np.stack([(x - pw) / w, (y - ph) / h], 1)


def largest(hands: list[np.ndarray]) -> np.ndarray | None:
    """Of several hands' landmarks, the one whose landmarks span the largest box (None if none)."""
    if not hands:
        return None
    return max(hands, key=lambda p: np.ptp(p[:, 0]) * np.ptp(p[:, 1]))


def keypoints(image: np.ndarray, detect, views=VIEWS) -> np.ndarray:
    """The hand in ``image`` (H, W, 3 uint8) as (21, 3) keypoints (see :func:`combine`).
    ``detect(canvas)`` runs the hand landmarker on one view and returns every hand it found, each as
    (21, ≥2) landmarks in 0..1 of that canvas."""
    image = np.asarray(image, np.uint8)
    found = []
    for padding, scale, mirrored in views:
        hands = detect(view(image, padding, scale, mirrored))
        found.append(largest([from_view(h, image.shape, padding, scale, mirrored) for h in hands]))
    return combine(found)


def combine(found: list[np.ndarray | None]) -> np.ndarray:
    """Each view's landmarks (21, 2) or None → (21, 3) keypoints: x, y (median over the views that
    found a hand) and a score, 1.0 when any view found one, else all zeros."""
    hits = [np.asarray(p, np.float64)[:, :2] for p in found if p is not None]
    out = np.zeros((21, 3), np.float32)
    if hits:
        out[:, :2] = np.median(np.stack(hits), 0)
        out[:, 2] = 1.0
    return out


def shape(points: np.ndarray) -> np.ndarray:
    """(21, 2) landmark positions (square picture, any unit) → (SHAPE_DIM,) canonical hand."""
    p = np.asarray(points, np.float64)[:, :2] - np.asarray(points, np.float64)[0, :2]
    angle = np.arctan2(p[9, 0], -p[9, 1])  # wrist → middle-finger base, measured from "up"
    c, s = np.cos(angle), np.sin(angle)
    p = p @ np.array([[c, s], [-s, c]]).T
    if p[5, 0] > p[17, 0]:  # index base right of little-finger base: mirror, one hand shape for both hands
        p[:, 0] *= -1
    p /= np.linalg.norm(p[9]) + 1e-6
    tips = [np.linalg.norm(p[a] - p[b]) for i, a in enumerate(TIPS) for b in TIPS[i + 1 :]]
    angles = []
    for a, b, c_ in JOINTS:
        u, v = p[a] - p[b], p[c_] - p[b]
        angles.append(np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v) + 1e-9))
    to_wrist = [np.linalg.norm(p[t]) for t in TIPS]
    return np.concatenate([p.ravel(), tips, angles, to_wrist])


def hand_block(keypoints: np.ndarray) -> np.ndarray:
    """(21, 3) keypoints from :func:`combine` (x, y in 0..1 of a square picture, score) →
    (HAND_DIM,) float32: ``HAND_WEIGHT`` × the canonical hand, then presence (zeros if no hand)."""
    kp = np.asarray(keypoints, np.float64)
    out = np.zeros(HAND_DIM, np.float32)
    if kp[:, 2].max() <= 0:
        return out
    out[:SHAPE_DIM] = HAND_WEIGHT * shape(kp[:, :2])
    out[-1] = 1.0
    return out


def found(features: np.ndarray) -> np.ndarray:
    """Per row of features: was a hand found?"""
    return np.asarray(features)[..., -1] > 0.5
