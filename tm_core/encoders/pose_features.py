"""Keypoints → features that mean the pose, not where the person stands or how big they look.

This file imports only NumPy on purpose: pose and hand exports ship a copy of it beside the
model, so the snippet computes exactly the features the app trained on.

Every feature vector ends with a *presence* value: 1.0 when a person (hand) was found, 0.0 when
not (then every other value is 0). Training code can tell "nothing found" samples from the
features alone and leave them out unless the user keeps them.
"""

from __future__ import annotations

import numpy as np

# MoveNet / COCO body keypoints
BODY_KEYPOINTS = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
                  "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
                  "left_knee", "right_knee", "left_ankle", "right_ankle")
BODY_EDGES = ((0, 1), (0, 2), (1, 3), (2, 4), (5, 6), (5, 7), (7, 9), (6, 8), (8, 10), (5, 11), (6, 12),
              (11, 12), (11, 13), (13, 15), (12, 14), (14, 16))
TORSO = (5, 6, 11, 12)
MIN_SCORE = 0.3  # a keypoint below this confidence is treated as not seen
MIN_BODY_POINTS = 7  # fewer confident keypoints than this: no person (head, shoulders and arms are 11)
POSE_DIM = 17 * 3 + 1


def pose_features(keypoints: np.ndarray) -> np.ndarray:
    """(17, 3) rows of (x, y, score), x and y in any square frame → (52,) float32.

    Centred on the torso (the mean of the confident shoulders and hips, else of every confident
    point), divided by the shoulder width (else by the points' RMS spread), so moving closer or
    sideways changes nothing. Confidence-aware: a keypoint below ``MIN_SCORE`` contributes zeros
    and its score; its position is not trusted. Left and right stay apart (raising the left arm is
    not raising the right).
    """
    kp = np.asarray(keypoints, np.float64)
    out = np.zeros(POSE_DIM, np.float32)
    seen = kp[:, 2] >= MIN_SCORE
    if seen.sum() < MIN_BODY_POINTS:
        return out
    xy = kp[:, :2]
    torso = [i for i in TORSO if seen[i]]
    centre = xy[torso].mean(0) if torso else xy[seen].mean(0)
    if seen[5] and seen[6] and np.linalg.norm(xy[5] - xy[6]) > 1e-6:
        scale = np.linalg.norm(xy[5] - xy[6])
    else:
        scale = np.sqrt(((xy[seen] - centre) ** 2).sum(1).mean()) or 1.0
    rel = (xy - centre) / scale * seen[:, None]
    out[: 17 * 2] = rel.reshape(-1)
    out[17 * 2 : 17 * 3] = kp[:, 2] * seen
    out[-1] = 1.0
    return out


def found(features: np.ndarray) -> np.ndarray:
    """Per row of features: was a person (hand) found?"""
    return np.asarray(features)[..., -1] > 0.5
