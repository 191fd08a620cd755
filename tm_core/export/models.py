"""Export a trained model so it predicts outside the app exactly what the app predicted: the model
files themselves (Keras, Teachable Machine's .h5, TFLite), written atomically into a folder.

Files written by ``export_all`` into one folder:

- ``model.keras``: backbone + head with the normalisation inside; input RGB uint8 (n, 224, 224, 3)
  as ``media.image_to_array`` makes it; output class probabilities.
- ``keras_model.h5`` + ``labels.txt``: Teachable Machine's Keras export layout: a Sequential of
  the backbone and the head, input already normalised (``x / 127.5 - 1``), so Teachable
  Machine's published snippet (``ImageOps.fit`` to 224, ``/127.5 - 1``, ``load_model(...,
  compile=False)``) works unchanged.
- ``model_float32.tflite``: input uint8 RGB like ``model.keras``; output float probabilities.
- ``model_int8.tflite``: the same model with its weights stored as int8 (LiteRT's dynamic-range
  quantization: a third of the size; activations stay float, so no calibration); input uint8 RGB
  like ``model_float32.tflite``; output float probabilities. Given held-out pictures, ``export_all``
  measures how often it names the same class as the float32 file (:func:`int8_agreement`).

  Why not full integer (int8 activations too, calibrated on the samples)? On the held-out 15 % of
  rps_real (three splits) it named the same class as float32 on 89 % of them (87–93 %), whatever the
  calibration (100 or 400 training pictures, or int16 activations); the int8-weights file on 96 %
  (93–99 %); on clothing4 both on 98–99 %. The price: on a PC's CPU it runs slower than float32
  (its int8 kernels quantize activations on the fly). ``benchmarks/int8_agreement.py`` prints it all.

Audio projects (``encoder.kind == "audio"``) write ``model.keras`` and ``model_float32.tflite``
taking (n, 16000) float32 waveforms at 16 kHz (one 1-second window each, as
``media.clip_windows`` cuts them) and returning probabilities, ``labels.txt``, and
``audio_layers.py``: YAMNet's log-mel layer, which ``import audio_layers`` registers so that
``model.keras`` loads without Teachable Studio.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tm_core import kinds
from tm_core.encoders.image import INPUT_SHAPE, normalization_layer
from tm_core.errors import InputError
from tm_core.i18n import _

CHECK_LIMIT = 300  # held-out pictures the int8 file is checked on at most (LiteRT: ~10 ms each)


def labels_text(class_names: list[str]) -> str:
    return "".join(f"{i} {name}\n" for i, name in enumerate(class_names))


def _head_model(head, dim: int, name: str):
    import keras

    return keras.Sequential([keras.Input((dim,)), *head.keras_layers()], name=name)


def build_model(encoder, head, input_dtype: str = "uint8"):
    """The app's model as one Keras model: RGB pixels (0..255) or 16 kHz waveforms in, probabilities out."""
    import keras

    if encoder.kind == "audio":
        inputs = keras.Input(encoder.input_shape, dtype="float32", name="waveform")
        outputs = _head_model(head, encoder.dim, "head")(encoder.model(inputs, training=False))
        return keras.Model(inputs, outputs, name="teachable_studio_audio_model")
    if encoder.kind == "pose":  # the keypoint model is a TFLite file of its own: the head takes its features
        inputs = keras.Input((encoder.dim,), dtype="float32", name="features")
        return keras.Model(inputs, _head_model(head, encoder.dim, "head")(inputs), name="teachable_studio_pose_head")
    if encoder.kind == "hands":  # the landmarker is a file of its own: the model takes the hand block it gives
        from tm_core.encoders.hand_features import HAND_DIM

        hand = keras.Input((HAND_DIM,), dtype="float32", name="hand")
        if encoder.picture is None:
            return keras.Model(hand, _head_model(head, encoder.dim, "head")(hand), name="teachable_studio_hands_head")
        picture = keras.Input(INPUT_SHAPE, dtype=input_dtype, name="picture")
        x = encoder.picture.backbone(normalization_layer()(picture), training=False)
        x = keras.layers.Concatenate(name="features")([x, hand])
        return keras.Model([picture, hand], _head_model(head, encoder.dim, "head")(x), name="teachable_studio_hands_model")
    inputs = keras.Input(INPUT_SHAPE, dtype=input_dtype, name="image")
    x = normalization_layer()(inputs)
    x = encoder.backbone(x, training=False)
    outputs = _head_model(head, encoder.dim, "head")(x)
    return keras.Model(inputs, outputs, name="teachable_studio_model")


def build_tm_model(encoder, head):
    """Teachable Machine's layout: Sequential([backbone, head]) on normalised float input."""
    import keras

    return keras.Sequential(
        [keras.Input(INPUT_SHAPE), encoder.backbone, _head_model(head, encoder.dim, "sequential_head")],
        name="sequential",
    )


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write through a temp file in the same folder, so a failure never leaves half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=path.suffix)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _save_legacy_h5(model, path: Path) -> None:
    """Keras' HDF5 save, without its "legacy format" warning: the format is the point here."""
    absl = logging.getLogger("absl")
    level = absl.level
    absl.setLevel(logging.ERROR)
    try:
        model.save(path)
    finally:
        absl.setLevel(level)


def save_tflite(path: Path, encoder, head, *, int8: bool) -> None:
    """Keras' LiteRT export (Keras → SavedModel → TFLite converter), builtin ops only; ``int8``: the
    weights stored as int8 (dynamic-range quantization), image models only."""
    import tensorflow as tf

    options: dict = {"target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]}}
    if encoder.kind in ("audio", "pose", "hands"):
        if int8:
            raise InputError(_("int8 export"), _("is offered for image models only"))
        if encoder.kind == "hands":
            from tm_core.encoders.hand_features import HAND_DIM

            hand = tf.TensorSpec((1, HAND_DIM), tf.float32)
            signature = [hand] if encoder.picture is None else [[tf.TensorSpec((1, *INPUT_SHAPE), tf.uint8), hand]]
        else:
            shape = encoder.input_shape if encoder.kind == "audio" else (encoder.dim,)
            signature = [tf.TensorSpec((1, *shape), tf.float32)]
        build_model(encoder, head).export(str(path), format="litert", verbose=False, input_signature=signature,
                                          **options)
        return
    if int8:
        options["optimizations"] = [tf.lite.Optimize.DEFAULT]  # no representative data: int8 weights only
    build_model(encoder, head).export(
        str(path), format="litert", input_signature=[tf.TensorSpec((1, *INPUT_SHAPE), tf.uint8)], verbose=False,
        **options)


def some_images(samples_data: Sequence[np.ndarray], limit: int = CHECK_LIMIT, seed: int = 0) -> np.ndarray:
    """Up to ``limit`` of the pictures, spread over them (all of them when there are no more)."""
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(samples_data))[:limit]
    return np.stack([samples_data[i] for i in sorted(idx)]) if len(idx) else np.zeros((0, *INPUT_SHAPE), np.uint8)


@dataclass(frozen=True)
class Agreement:
    """How often the int8 file named the same class as the float32 one, on ``n`` pictures."""

    same: int
    n: int

    @property
    def share(self) -> float | None:
        return self.same / self.n if self.n else None


class Written(dict):
    """What an export wrote (file name → path, or → bytes), and what was measured on it."""

    int8_agreement: Agreement | None = None


def int8_agreement(float32_file: Path, int8_file: Path, images: np.ndarray) -> Agreement:
    """Run both TFLite files with LiteRT on ``images`` (RGB uint8, 224×224) and count the pictures on
    which they name the same class."""
    from tm_core.predict import TFLiteModel

    images = np.asarray(images, np.uint8)
    if not len(images):
        return Agreement(0, 0)
    same = TFLiteModel(float32_file).predict(images).argmax(1) == TFLiteModel(int8_file).predict(images).argmax(1)
    return Agreement(int(same.sum()), len(images))


def export_all(
    folder: str | Path,
    encoder,
    head,
    class_names: list[str],
    held_out: np.ndarray | None = None,
    *,
    tflite: bool = True,
    on_step: Callable[[str], None] | None = None,
) -> Written:
    """Write every export into ``folder`` (created if needed); returns name → path. ``held_out``: pictures
    the model was not trained on; an image model's int8 file is checked against the float32 one on up
    to :data:`CHECK_LIMIT` of them (``.int8_agreement`` of what is returned)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    step = on_step or (lambda _name: None)
    model = build_model(encoder, head)
    written = Written()

    def put(name: str, write: Callable[[Path], None]) -> None:
        step(name)
        _atomic_write(folder / name, write)
        written[name] = folder / name

    put("model.keras", lambda p: model.save(p))
    if kinds.is_keypoint(encoder.kind):
        from tm_core import assets
        from tm_core.encoders import hand_features, hands, pose, pose_features

        features, model_file = (pose_features, pose.MOVENET_FILE) if encoder.kind == "pose" else \
            (hand_features, hands.LANDMARKER_FILE)
        source = Path(features.__file__).read_text(encoding="utf-8")
        put(Path(features.__file__).name, lambda p: p.write_text(source, encoding="utf-8"))
        keypoint_model = assets.resolve(model_file).read_bytes()
        put(model_file, lambda p: p.write_bytes(keypoint_model))
        put("labels.txt", lambda p: p.write_text(labels_text(class_names), encoding="utf-8"))
        if tflite:
            put("model_float32.tflite", lambda p: save_tflite(p, encoder, head, int8=False))
        return written
    if encoder.kind == "audio":
        from tm_core.encoders import audio_layers

        source = Path(audio_layers.__file__).read_text(encoding="utf-8")
        put("audio_layers.py", lambda p: p.write_text(source, encoding="utf-8"))
        put("labels.txt", lambda p: p.write_text(labels_text(class_names), encoding="utf-8"))
        if tflite:
            put("model_float32.tflite", lambda p: save_tflite(p, encoder, head, int8=False))
        return written
    put("keras_model.h5", lambda p: _save_legacy_h5(build_tm_model(encoder, head), p))
    put("labels.txt", lambda p: p.write_text(labels_text(class_names), encoding="utf-8"))
    if tflite:
        put("model_float32.tflite", lambda p: save_tflite(p, encoder, head, int8=False))
        put("model_int8.tflite", lambda p: save_tflite(p, encoder, head, int8=True))
        if held_out is not None and len(held_out):
            images = some_images(held_out)
            written.int8_agreement = int8_agreement(written["model_float32.tflite"], written["model_int8.tflite"], images)
    return written


def export_bytes(encoder, head, class_names: list[str], held_out: np.ndarray | None = None,
                 on_step: Callable[[str], None] | None = None) -> Written:
    """Every export as bytes (for downloads), written through a temporary folder that is then removed;
    ``held_out`` as for :func:`export_all`."""
    with tempfile.TemporaryDirectory(prefix="tm-export-") as tmp:
        written = export_all(tmp, encoder, head, class_names, held_out, on_step=on_step)
        files = Written({name: path.read_bytes() for name, path in written.items()})
        files.int8_agreement = written.int8_agreement
        return files
