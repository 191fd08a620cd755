"""Keypoint projects (body pose, hands) in the pages: frames padded whole, skeletons drawn,
"nothing found" counted.

Everything here goes by the encoder's API, which pose and hand encoders share: ``keypoints(batch,
live=False) -> (n, k, 3)`` rows of (x, y, score) in 0..1 of the padded square (``live``: the fast
path for video), ``found(keypoints)``, ``features(batch, keypoints)``, ``edges`` (the skeleton),
and features whose last value says whether anything was found. A new keypoint kind needs a line
in :data:`FINDS` (and its encoder in ``tm_core.encoders``).
"""

from __future__ import annotations

import numpy as np
import streamlit as st
from PIL import Image, ImageDraw

from tm_core import export, media
from tm_core.encoders import pose_features
from tm_core.predict import Predictor
from tm_core.project import Sample
from tm_core.ui import state
from tm_core.ui.widgets import session_cache

FINDS = {"pose": "person", "hands": "hand"}  # project kind -> what its keypoint model looks for
MIN_SCORE = pose_features.MIN_SCORE  # keypoints below this are not drawn (nor trusted by the features)
THUMB = 128  # gallery thumbnails (pixels a side)
LINE = (0, 230, 120)
DOT = (255, 80, 40)


def is_keypoint(kind: str) -> bool:
    return kind in FINDS


def thing(kind: str) -> str:
    """What the kind's model looks for: "person", "hand"."""
    return FINDS.get(kind, "person")


def found(features: np.ndarray) -> np.ndarray:
    """Per row of features: was anything found (the presence value, last)?"""
    return pose_features.found(features)


def pad_frame(frame_rgb: np.ndarray) -> np.ndarray:
    """A camera frame as keypoint samples are made: the whole frame padded to the square (never cropped)."""
    return media.pad_image(Image.fromarray(np.asarray(frame_rgb, np.uint8)))


def prepare_frame(kind: str):
    """What turns a camera frame into a sample / model input for a project of ``kind``."""
    from tm_core.ui import webrtc

    return pad_frame if is_keypoint(kind) else webrtc._crop


def draw_skeleton(image: np.ndarray, keypoints: np.ndarray, edges, min_score: float = MIN_SCORE) -> np.ndarray:
    """A copy of ``image`` (RGB, any size) with the skeleton drawn: lines for ``edges`` between confident
    keypoints, a dot on each. ``keypoints`` are (x, y, score) in 0..1 of the image padded to a square
    (as :func:`pad_frame` / ``media.pad_image`` make it), so the same keypoints fit the padded sample
    and the camera frame it came from."""
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


@session_cache(max_entries=20000)
def sample_keypoints(encoder_name: str, sample_id: str, _data) -> np.ndarray:
    """A sample's keypoints (keyed by its content id: samples never change). ``_data``: its pixels, or the
    Sample itself, so a picture is decoded from its PNG bytes only when not cached yet."""
    return state.encoder(encoder_name).keypoints(_pixels(_data))[0]


def _pixels(data) -> np.ndarray:
    return data.data if isinstance(data, Sample) else data


def sample_found(encoder_name: str, sample) -> bool:
    kp = sample_keypoints(encoder_name, sample.id, sample)
    return bool(state.encoder(encoder_name).found(kp[None])[0])


@session_cache(max_entries=5000)
def thumbnail(encoder_name: str, sample_id: str, _data) -> np.ndarray:
    """The sample, small, with its skeleton drawn on it (drawn after shrinking: lines stay visible).
    ``_data`` as in :func:`sample_keypoints`."""
    small = np.asarray(Image.fromarray(np.asarray(_pixels(_data), np.uint8)).resize((THUMB, THUMB), Image.Resampling.BILINEAR))
    return draw_skeleton(small, sample_keypoints(encoder_name, sample_id, _data), state.encoder(encoder_name).edges)


def missing_count(encoder_name: str, samples) -> int:
    """How many of ``samples`` have nothing found in them."""
    return sum(not sample_found(encoder_name, s) for s in samples)


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


# ---------------------------------------------------------------------------------------------
# Export


def downloads(kind: str) -> list[tuple[str, str, str, str]]:
    """(snippet kind, label, file name, what it is) of a keypoint project's downloads: one zip with
    every file, and the model alone as TFLite."""
    what = thing(kind)
    features = "pose_features.py" if kind == "pose" else "hand_features.py"
    model = "head" if kind == "pose" else "model"  # the hands model also takes the picture
    return [
        ("keras", "Everything (.zip)", f"{kind}_model.zip",
         f"model.keras, the keypoint model, {features} (the app's normalisation of the keypoints) "
         f"and labels.txt: unzip them into one folder. Input: any photo; the whole picture is padded to a square, "
         f"the keypoints found become the numbers the model was trained on, and it names the class (or says no {what} "
         f"was found)."),
        ("tflite_float32", f"TFLite float32 {model}", "model_float32.tflite",
         f"The {model} as TFLite, for phones and small boards: put it beside the unzipped files. Same predictions "
         "as the app."),
    ]


def zip_all(kind: str, files: dict[str, bytes]) -> bytes:
    return export.zip_files(files, export.files_for(kind))


def snippet(encoder, snippet_kind: str, class_names: list[str]) -> str:
    """Python that runs the downloaded files on photo.jpg."""
    with_picture = getattr(encoder, "picture", None) is not None  # hands + MobileNet: the picture is an input too
    return export.keypoint_snippet(encoder.kind, snippet_kind, class_names, with_picture=with_picture)
