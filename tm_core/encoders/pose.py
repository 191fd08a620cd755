"""Body-pose encoder: MoveNet SinglePose Lightning (int8 TFLite) → normalised keypoint features.

Input: pose samples as ``tm_core.media.pad_image`` makes them (the whole picture padded to a
256-pixel square, uint8 RGB). MoveNet sees it resized to 192×192; its 17 keypoints become
``pose_features.pose_features`` (centred, scale-normalised, confidence-aware, with a presence
value), the vector the head trains on.
"""

from __future__ import annotations

import threading

import numpy as np
from PIL import Image

from tm_core import assets
from tm_core.encoders import pose_features
from tm_core.i18n import N_

MOVENET_FILE = "movenet_singlepose_lightning_int8_4.tflite"
MOVENET_SIZE = 192


class MoveNet:
    """The keypoint model alone: RGB uint8 square image → (17, 3) rows of (x, y, score), x and y in 0..1."""

    def __init__(self, path: str | None = None, num_threads: int = 2):
        from ai_edge_litert.interpreter import Interpreter

        self._it = Interpreter(model_path=str(path or assets.resolve(MOVENET_FILE)), num_threads=num_threads)
        self._it.allocate_tensors()
        self._in = self._it.get_input_details()[0]
        self._out = self._it.get_output_details()[0]
        self._lock = threading.Lock()  # one interpreter: one call at a time

    def keypoints(self, image: np.ndarray) -> np.ndarray:
        image = np.asarray(image, np.uint8)
        if image.shape[:2] != (MOVENET_SIZE, MOVENET_SIZE):
            image = np.asarray(Image.fromarray(image).resize((MOVENET_SIZE, MOVENET_SIZE), Image.Resampling.BILINEAR))
        with self._lock:
            self._it.set_tensor(self._in["index"], image[None].astype(self._in["dtype"]))
            self._it.invoke()
            yxs = self._it.get_tensor(self._out["index"])[0, 0].astype(np.float32)
        return yxs[:, [1, 0, 2]]  # MoveNet gives (y, x, score)


class PoseEncoder:
    """Pose samples → (n, 52) features: 17 keypoints (x, y relative to the torso), their scores, presence."""

    kind = "pose"
    name = "movenet_lightning"
    label = N_("MoveNet Lightning: 17 body keypoints")
    dim = pose_features.POSE_DIM
    batch_size = 16
    edges = pose_features.BODY_EDGES  # keypoint pairs to draw as the skeleton

    def __init__(self, name: str = "movenet_lightning"):
        self.model = MoveNet()

    @property
    def input_shape(self) -> tuple[int, ...]:
        from tm_core.media import KEYPOINT_IMAGE_SIZE

        return (KEYPOINT_IMAGE_SIZE, KEYPOINT_IMAGE_SIZE, 3)

    def keypoints(self, batch: np.ndarray, live: bool = False) -> np.ndarray:
        """(n, H, W, 3) or one image → (n, 17, 3) keypoints (``live`` changes nothing: one call each)."""
        batch = np.asarray(batch, np.uint8)
        if batch.ndim == 3:
            batch = batch[None]
        return np.stack([self.model.keypoints(img) for img in batch]) if len(batch) else np.zeros((0, 17, 3), np.float32)

    @staticmethod
    def features_from_keypoints(keypoints: np.ndarray) -> np.ndarray:
        """(n, 17, 3) keypoints → (n, dim) features (what ``encode`` returns for their images)."""
        return np.stack([pose_features.pose_features(k) for k in keypoints]) if len(keypoints) else \
            np.zeros((0, pose_features.POSE_DIM), np.float32)

    def features(self, batch: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
        """Pictures and their keypoints → features (pose features need only the keypoints)."""
        return self.features_from_keypoints(keypoints)

    @staticmethod
    def found(keypoints: np.ndarray) -> np.ndarray:
        """Per picture's keypoints: was a person found?"""
        return pose_features.found(PoseEncoder.features_from_keypoints(np.asarray(keypoints).reshape(-1, 17, 3)))

    def encode(self, batch: np.ndarray) -> np.ndarray:
        return self.features_from_keypoints(self.keypoints(batch))
