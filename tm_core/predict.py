"""Prediction: the same encoder and preprocessing as training, plus the head.

``Predictor`` serves the app (live frames, uploaded files); ``ExportedModel`` runs a
folder written by ``export.export_all`` (what the CLI's evaluate and predict use);
``TFLiteModel`` runs an exported ``.tflite`` file. Image models take RGB uint8 224×224
images, as ``media.image_to_array`` makes them; audio models take 1-second float32 windows at
16 kHz, as ``media.clip_windows`` cuts them. A sound of any length is classified by
:func:`predict_clip`: the mean of its one-second windows' probabilities.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tm_core import media
from tm_core.errors import InputError
from tm_core.i18n import _


class Predictor:
    """Encoder + trained head. ``predict`` takes one image or a batch; returns probabilities."""

    def __init__(self, encoder, head, class_names: list[str]):
        if head.n_classes != len(class_names):
            raise ValueError("head and class names disagree")
        self.encoder, self.head, self.class_names = encoder, head, list(class_names)

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        """One image / window (probabilities) or a batch (one row each)."""
        single = np.ndim(inputs) == len(self.encoder.input_shape)
        probs = self.head.predict_proba(self.encoder.encode(inputs))
        return probs[0] if single else probs


@dataclass
class ClipPrediction:
    """A sound's answer: each one-second window's probabilities, and their mean (the answer shown)."""

    windows: list[np.ndarray]  # as ``media.clip_windows`` cut them
    per_window: np.ndarray  # (windows, classes)
    probs: np.ndarray  # (classes,): the mean over the windows

    @property
    def top(self) -> int:
        """The class the clip is said to be."""
        return int(self.probs.argmax())

    @property
    def best_window(self) -> int:
        """The window most like the clip's class (the one to compare with training samples)."""
        return int(self.per_window[:, self.top].argmax())


def predict_windows(model, windows: list[np.ndarray], name: str = "clip") -> ClipPrediction:
    """Classify a sound already cut into one-second windows (any model with ``predict``: a
    ``Predictor``, an ``ExportedModel``, a ``TFLiteModel``); no window is an ``InputError`` naming ``name``."""
    if not len(windows):
        raise InputError(name, _("has no sound to classify"))
    per_window = np.asarray(model.predict(np.stack(windows)))
    return ClipPrediction(list(windows), per_window, per_window.mean(axis=0))


def predict_clip(model, wave: np.ndarray, name: str = "clip") -> ClipPrediction:
    """Classify a 16 kHz mono sound of any length (as ``media.load_audio`` reads it): its
    one-second windows (``media.clip_windows``, Teachable Machine's "extract samples") each
    predicted, the answer their mean."""
    return predict_windows(model, media.clip_windows(wave), name)


class Smoother:
    """Exponential moving average of live probabilities, so bars do not flicker.

    ``alpha`` is the weight of the newest frame (1.0: no smoothing). Thread-safe: frame
    callbacks update it, the page reads it.
    """

    def __init__(self, alpha: float = 0.5):
        self.alpha = alpha
        self._value: np.ndarray | None = None
        self._lock = threading.Lock()

    def update(self, probs: np.ndarray) -> np.ndarray:
        with self._lock:
            if self._value is None or self._value.shape != probs.shape:
                self._value = np.array(probs, np.float64)
            else:
                self._value = self.alpha * probs + (1 - self.alpha) * self._value
            return self._value.copy()

    @property
    def value(self) -> np.ndarray | None:
        with self._lock:
            return None if self._value is None else self._value.copy()

    def reset(self) -> None:
        with self._lock:
            self._value = None


def read_labels(path: Path) -> list[str]:
    """Teachable Machine's labels.txt: one ``<index> <name>`` per line."""
    names = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        if not line.strip():
            continue
        index, _space, name = line.partition(" ")
        if index != str(i) or not name:
            raise InputError(str(path), _("line {number} should be '{index} <class name>', not {line}",
                                          number=i + 1, index=i, line=repr(line)))
        names.append(name)
    return names


class ExportedModel:
    """A ``model.keras`` + ``labels.txt`` folder, run in batches inside one traced function."""

    batch_size = 32

    def __init__(self, folder: str | Path):
        folder = Path(folder)
        model_path, labels_path = folder / "model.keras", folder / "labels.txt"
        for p in (model_path, labels_path):
            if not p.is_file():
                raise InputError(str(folder), _("is not a trained model folder ({file} is missing; make one with: "
                                                "{command})", file=p.name,
                                                command="python -m tm_core train DATA_DIR --out FOLDER"))
        import keras
        import tensorflow as tf

        from tm_core.encoders import audio_layers  # noqa: F401  (registers the layer audio models use)

        try:
            self.model = keras.saving.load_model(model_path, compile=False)
        except Exception as e:  # noqa: BLE001 - any failure to read the file is the user's to fix
            error = f"{type(e).__name__}: {e}"
            raise InputError(str(model_path), _("cannot be loaded as a Keras model ({error})", error=error)) from None
        self.class_names = read_labels(labels_path)
        if self.model.output_shape[-1] != len(self.class_names):
            raise InputError(str(folder), _("model.keras and labels.txt disagree on the number of classes"))
        inputs = self.model.inputs
        self.input_shape = tuple(inputs[0].shape[1:])
        self.dtype = np.dtype(inputs[0].dtype)
        self.kind = "audio" if self.dtype == np.float32 and len(self.input_shape) == 1 else "image"
        self._features = None  # pose, hands: the keypoint model + normalisation run before the model
        from tm_core.encoders import hand_features, hands, pose, pose_features

        if self.input_shape == (pose_features.POSE_DIM,) and (folder / pose.MOVENET_FILE).is_file():
            self.kind = "pose"
            movenet = pose.MoveNet(folder / pose.MOVENET_FILE)
            self._features = lambda images: [np.stack([pose_features.pose_features(movenet.keypoints(i)) for i in images])]
        elif tuple(inputs[-1].shape[1:]) == (hand_features.HAND_DIM,) and (folder / hands.LANDMARKER_FILE).is_file():
            self.kind = "hands"
            landmarker = hands.Landmarker(folder / hands.LANDMARKER_FILE)

            def hand_inputs(images):
                blocks = np.stack([hand_features.hand_block(landmarker.keypoints(i)) for i in images])
                return [hands.picture_input(images), blocks] if len(inputs) == 2 else [blocks]

            self._features = hand_inputs
        self._fn = tf.function(
            lambda *xs: self.model(list(xs) if len(xs) > 1 else xs[0], training=False),
            input_signature=[tf.TensorSpec((None, *x.shape[1:]), x.dtype) for x in inputs],
            autograph=False,
        )

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Images (uint8; pose, hands: padded as ``media.pad_image``) or 16 kHz windows (float32), one or a batch."""
        if self._features is not None:
            images = np.asarray(images, np.uint8)
            single = images.ndim == 3
            probs = self._predict_rows(*self._features(images[None] if single else images))
            return probs[0] if single else probs
        images = np.asarray(images, self.dtype)
        single = images.ndim == len(self.input_shape)
        probs = self._predict_rows(images[None] if single else images)
        return probs[0] if single else probs

    def _predict_rows(self, *rows: np.ndarray) -> np.ndarray:
        rows = [np.asarray(r, np.dtype(x.dtype)) for r, x in zip(rows, self.model.inputs)]
        if not len(rows[0]):
            return np.zeros((0, len(self.class_names)), np.float32)
        b = self.batch_size
        return np.concatenate([self._fn(*(r[i : i + b] for r in rows)).numpy() for i in range(0, len(rows[0]), b)])


class TFLiteModel:
    """Runs an exported ``.tflite`` file with LiteRT on uint8 RGB images, one at a time."""

    def __init__(self, path: str | Path, num_threads: int = 2):
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_path=str(path), num_threads=num_threads)
        self.interpreter.allocate_tensors()
        self._in = self.interpreter.get_input_details()[0]
        self._out = self.interpreter.get_output_details()[0]

    def predict(self, images: np.ndarray) -> np.ndarray:
        images = np.asarray(images, self._in["dtype"] if self._in["dtype"] == np.float32 else np.uint8)
        single = images.ndim == len(self._in["shape"]) - 1
        out = []
        for img in images[None] if single else images:
            self.interpreter.set_tensor(self._in["index"], img[None].astype(self._in["dtype"]))
            self.interpreter.invoke()
            out.append(self.interpreter.get_tensor(self._out["index"])[0].copy())
        probs = np.stack(out) if out else np.zeros((0, self._out["shape"][-1]), np.float32)
        return probs[0] if single else probs
