"""Hand-pose encoder: MediaPipe's hand landmarker (21 landmarks) → features of the hand shape,
beside MobileNetV2's numbers for the whole picture.

Input: hand samples as ``tm_core.media.pad_image`` makes them (the whole picture padded to a
256-pixel square, uint8 RGB). Each sample is shown to the landmarker in the views of
``hand_features.VIEWS`` (live video: one view), the views' landmarks are combined, and
``hand_features.hand_block`` turns them into the hand's shape. Why the picture's embedding too:
on rock-paper-scissors photos the landmarks alone reach 0.88–0.92 in cross-validation and the
two together 0.94 (docs/hands-study.md); the plain ``hand_landmarks`` encoder is there for
speed and small exports.
"""

from __future__ import annotations

import atexit
import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from PIL import Image

from tm_core import assets
from tm_core.encoders import hand_features
from tm_core.i18n import N_

LANDMARKER_FILE = "hand_landmarker_full.task"
PICTURE_ENCODER = "mobilenet_v2_0.35"


@dataclass(frozen=True)
class HandSpec:
    name: str
    label: str
    with_picture: bool


SPECS = {
    "hand_landmarks_mobilenet": HandSpec(
        "hand_landmarks_mobilenet", N_("Hand landmarks + MobileNetV2 0.35 (most accurate)"), True),
    "hand_landmarks": HandSpec("hand_landmarks", N_("Hand landmarks only (21 points; faster, smaller export)"), False),
}


def picture_input(batch: np.ndarray) -> np.ndarray:
    """Hand samples as the picture encoder takes them: the padded square resized to 224 (uint8)."""
    from tm_core.media import IMAGE_SIZE

    batch = np.asarray(batch, np.uint8)
    if batch.shape[1:3] == (IMAGE_SIZE, IMAGE_SIZE):
        return batch
    return np.stack([np.asarray(Image.fromarray(img).resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BILINEAR))
                     for img in batch])


class Landmarker:
    """MediaPipe's hand landmarker alone: an RGB uint8 picture → the largest hand's 21 landmarks
    (x, y in 0..1 of the picture), looked for in each of ``views``."""

    def __init__(self, path: str | None = None):
        from mediapipe.tasks.python import BaseOptions, vision

        options = vision.HandLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(path or assets.resolve(LANDMARKER_FILE))),
            running_mode=vision.RunningMode.IMAGE,
            num_hands=hand_features.NUM_HANDS,
            min_hand_detection_confidence=hand_features.DETECTION_CONFIDENCE,
            min_hand_presence_confidence=hand_features.DETECTION_CONFIDENCE,
        )
        self._landmarker = vision.HandLandmarker.create_from_options(options)
        self._lock = threading.Lock()  # one graph: one call at a time
        # MediaPipe closes graphs through a thread pool, which is shut down before ``atexit`` runs;
        # threading's own exit hooks run before that (newest first), so close there.
        getattr(threading, "_register_atexit", atexit.register)(self.close)

    def close(self) -> None:
        with self._lock:
            landmarker, self._landmarker = self._landmarker, None
        if landmarker is not None:
            landmarker.close()

    def hands(self, image: np.ndarray) -> list[np.ndarray]:
        """Every hand found in ``image``: (21, 3) landmarks in 0..1 of it (z in units of its width)."""
        import mediapipe as mp

        frame = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(image, np.uint8))
        with self._lock:
            result = self._landmarker.detect(frame)
        return [np.array([[p.x, p.y, p.z] for p in hand], np.float32) for hand in result.hand_landmarks]

    def keypoints(self, image: np.ndarray, views=hand_features.VIEWS) -> np.ndarray:
        """(21, 3): x, y in 0..1 of ``image``, score 1.0 (all zeros when no view found a hand)."""
        return hand_features.keypoints(image, self.hands, views)


class HandsEncoder:
    """Hand samples → features: [MobileNetV2 numbers of the picture (1280),] the hand block (73, last
    value: presence)."""

    kind = "hands"
    batch_size = 16
    edges = hand_features.HAND_EDGES  # landmark pairs to draw as the hand's skeleton

    def __init__(self, name: str = "hand_landmarks_mobilenet", landmarker: Landmarker | None = None):
        self.name = name
        self.spec = SPECS[name]
        self.label = self.spec.label
        self.landmarker = landmarker or Landmarker()
        self.picture = None
        if self.spec.with_picture:
            from tm_core.encoders.image import ImageEncoder

            self.picture = ImageEncoder(PICTURE_ENCODER)
        self.dim = (self.picture.dim if self.picture else 0) + hand_features.HAND_DIM
        # The seven views cost ~150 ms a picture, and the pages ask twice for a sample's landmarks
        # (its thumbnail, then training): remembered by content, a few thousand pictures' worth.
        self._memo: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._memo_lock = threading.Lock()

    @property
    def input_shape(self) -> tuple[int, ...]:
        from tm_core.media import KEYPOINT_IMAGE_SIZE

        return (KEYPOINT_IMAGE_SIZE, KEYPOINT_IMAGE_SIZE, 3)

    def keypoints(self, batch: np.ndarray, live: bool = False) -> np.ndarray:
        """(n, H, W, 3) or one picture → (n, 21, 3) landmarks (x, y, score) in 0..1 of the picture.
        ``live``: one view per picture (fast, for video), else every view of ``hand_features.VIEWS``."""
        batch = np.asarray(batch, np.uint8)
        if batch.ndim == 3:
            batch = batch[None]
        if not len(batch):
            return np.zeros((0, 21, 3), np.float32)
        if live:
            return np.stack([self.landmarker.keypoints(img, hand_features.LIVE_VIEWS) for img in batch])
        return np.stack([self._sample_keypoints(img) for img in batch])

    def _sample_keypoints(self, image: np.ndarray, memo_size: int = 4096) -> np.ndarray:
        key = hashlib.blake2b(np.ascontiguousarray(image).tobytes(), digest_size=16,
                              person=repr(image.shape).encode()[:16]).digest()
        with self._memo_lock:
            if key in self._memo:
                self._memo.move_to_end(key)
                return self._memo[key]
        kp = self.landmarker.keypoints(image, hand_features.VIEWS)
        with self._memo_lock:
            self._memo[key] = kp
            while len(self._memo) > memo_size:
                self._memo.popitem(last=False)
        return kp

    @staticmethod
    def found(keypoints: np.ndarray) -> np.ndarray:
        """Per picture's keypoints: was a hand found?"""
        return np.asarray(keypoints)[..., 2].max(-1) > 0

    def features(self, batch: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
        """Pictures and their keypoints (from :meth:`keypoints`) → (n, dim) features."""
        batch = np.asarray(batch, np.uint8)
        if batch.ndim == 3:
            batch = batch[None]
        hand = np.stack([hand_features.hand_block(k) for k in keypoints]) if len(keypoints) else \
            np.zeros((0, hand_features.HAND_DIM), np.float32)
        if self.picture is None:
            return hand
        if not len(batch):
            return np.zeros((0, self.dim), np.float32)
        return np.concatenate([self.picture.encode(picture_input(batch)), hand], 1).astype(np.float32)

    def encode(self, batch: np.ndarray) -> np.ndarray:
        return self.features(batch, self.keypoints(batch))
