"""Export a trained image model so it predicts outside the app exactly what the app predicted.

Files written by ``export_all`` into one folder:

- ``model.keras``: backbone + head with the normalisation inside; input RGB uint8 (n, 224, 224, 3)
  as ``media.image_to_array`` makes it; output class probabilities.
- ``keras_model.h5`` + ``labels.txt``: Teachable Machine's Keras export layout: a Sequential of
  the backbone and the head, input already normalised (``x / 127.5 - 1``), so Teachable
  Machine's published snippet (``ImageOps.fit`` to 224, ``/127.5 - 1``, ``load_model(...,
  compile=False)``) works unchanged.
- ``model_float32.tflite``: input uint8 RGB like ``model.keras``; output float probabilities.
- ``model_int8.tflite``: fully integer-quantized (calibrated on the project's own samples);
  input uint8 RGB pixels as they are (scale 1, zero point 0); output float probabilities.

Audio projects (``encoder.kind == "audio"``) write ``model.keras`` and ``model_float32.tflite``
taking (n, 16000) float32 waveforms at 16 kHz (one 1-second window each, as
``media.clip_windows`` cuts them) and returning probabilities, ``labels.txt``, and
``audio_layers.py``: YAMNet's log-mel layer, which ``import audio_layers`` registers so that
``model.keras`` loads without Teachable Studio.
"""

from __future__ import annotations

import io
import logging
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np

from tm_core.encoders.image import INPUT_SHAPE, normalization_layer
from tm_core.errors import InputError

FILES = ("model.keras", "keras_model.h5", "labels.txt", "model_float32.tflite", "model_int8.tflite")
AUDIO_FILES = ("model.keras", "audio_layers.py", "labels.txt", "model_float32.tflite")
POSE_FILES = ("model.keras", "pose_features.py", "movenet_singlepose_lightning_int8_4.tflite", "labels.txt",
              "model_float32.tflite")
HANDS_FILES = ("model.keras", "hand_features.py", "hand_landmarker_full.task", "labels.txt", "model_float32.tflite")


def files_for(kind: str) -> tuple[str, ...]:
    return {"audio": AUDIO_FILES, "pose": POSE_FILES, "hands": HANDS_FILES}.get(kind, FILES)


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


def save_tflite(path: Path, encoder, head, *, int8: bool, representative: np.ndarray | None = None) -> None:
    """Keras' LiteRT export (Keras → SavedModel → TFLite converter), builtin ops only."""
    import tensorflow as tf

    # int8: float pixel input (0..255), which the converter quantizes with scale 1 and zero
    # point 0 because the calibration set spans exactly 0..255 (one pixel of the first image is
    # set to 0 and one to 255; whole black or white images would widen every layer's range):
    # the quantized model then takes the uint8 pixels as they are.
    options: dict = {"target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]}}
    if encoder.kind in ("audio", "pose", "hands"):
        if int8:
            raise InputError("int8 export", "is offered for image models only")
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
    dtype = tf.float32 if int8 else tf.uint8
    if int8:
        if representative is None or not len(representative):
            raise InputError("int8 export", "needs sample images to calibrate on")
        calib = np.array(representative, np.uint8)
        calib[0, 0, 0], calib[0, 0, 1] = 0, 255
        options = {
            "optimizations": [tf.lite.Optimize.DEFAULT],
            "representative_dataset": lambda: ([img[None].astype(np.float32)] for img in calib),
            "target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]},
            "inference_input_type": tf.uint8,
            "inference_output_type": tf.float32,
        }
    build_model(encoder, head, input_dtype=dtype.name).export(
        str(path), format="litert", input_signature=[tf.TensorSpec((1, *INPUT_SHAPE), dtype)], verbose=False, **options
    )


def calibration_images(samples_data: list[np.ndarray], limit: int = 100, seed: int = 0) -> np.ndarray:
    """Up to ``limit`` images spread over the samples, for int8 calibration."""
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(samples_data))[:limit]
    return np.stack([samples_data[i] for i in sorted(idx)]) if len(idx) else np.zeros((0, *INPUT_SHAPE), np.uint8)


def export_all(
    folder: str | Path,
    encoder,
    head,
    class_names: list[str],
    calibration: np.ndarray,
    *,
    tflite: bool = True,
    on_step: Callable[[str], None] | None = None,
) -> dict[str, Path]:
    """Write every export into ``folder`` (created if needed); returns name → path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    step = on_step or (lambda _name: None)
    model = build_model(encoder, head)
    written: dict[str, Path] = {}

    def put(name: str, write: Callable[[Path], None]) -> None:
        step(name)
        _atomic_write(folder / name, write)
        written[name] = folder / name

    put("model.keras", lambda p: model.save(p))
    if encoder.kind in ("pose", "hands"):
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
        put("model_int8.tflite", lambda p: save_tflite(p, encoder, head, int8=True, representative=calibration))
    return written


def export_bytes(encoder, head, class_names: list[str], calibration: np.ndarray,
                 on_step: Callable[[str], None] | None = None) -> dict[str, bytes]:
    """Every export as bytes (for downloads), written through a temporary folder that is then removed."""
    with tempfile.TemporaryDirectory(prefix="tm-export-") as tmp:
        written = export_all(tmp, encoder, head, class_names, calibration, on_step=on_step)
        return {name: path.read_bytes() for name, path in written.items()}


def zip_files(files: dict[str, bytes], names: tuple[str, ...]) -> bytes:
    """Some of the export files in one zip, for a single download."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name in names:
            z.writestr(name, files[name])
    return buf.getvalue()


def tm_keras_zip(files: dict[str, bytes]) -> bytes:
    """``keras_model.h5`` + ``labels.txt`` in one zip, as Teachable Machine's Keras download."""
    return zip_files(files, ("keras_model.h5", "labels.txt"))


def audio_keras_zip(files: dict[str, bytes]) -> bytes:
    """``model.keras`` + ``audio_layers.py`` + ``labels.txt``: the Keras model needs the layer file beside it."""
    return zip_files(files, ("model.keras", "audio_layers.py", "labels.txt"))


_LOAD_PHOTO = '''image = ImageOps.fit(Image.open("photo.jpg").convert("RGB"), (224, 224), Image.Resampling.LANCZOS)'''


_LOAD_CLIP = '''wave, rate = sf.read("clip.wav", dtype="float32", always_2d=True)  # wav, flac, ogg or mp3
wave = soxr.resample(wave.mean(axis=1), rate, 16000).astype(np.float32)  # 16 kHz mono
if len(wave) < 16000:  # a short clip is centred in one second of silence, as in the app
    wave = np.pad(wave, ((16000 - len(wave)) // 2, 16000 - len(wave) - (16000 - len(wave)) // 2))
windows = [wave[i:i + 16000] for i in range(0, len(wave) - 15999, 16000)]  # 1-second windows'''


def audio_snippet(kind: str, class_names: list[str]) -> str:
    """Python that runs a downloaded audio model on ``clip.wav`` as written (kind: keras, tflite_float32)."""
    names = f"class_names = {list(class_names)!r}"
    if kind == "keras":
        return f'''# model.keras, audio_layers.py and labels.txt in one folder; pip install keras tensorflow soundfile soxr
import numpy as np
import soundfile as sf
import soxr
import keras
import audio_layers  # noqa: F401  (registers YAMNet's log-mel layer that model.keras uses)

model = keras.saving.load_model("model.keras")
{names}
{_LOAD_CLIP}
for second, probs in enumerate(model.predict(np.stack(windows), verbose=0)):
    print(f"{{second}} s: {{class_names[int(np.argmax(probs))]}} {{float(probs.max()):.2f}}")
'''
    if kind == "tflite_float32":
        return f'''import numpy as np
import soundfile as sf
import soxr
from ai_edge_litert.interpreter import Interpreter  # pip install ai-edge-litert soundfile soxr

interpreter = Interpreter(model_path="model_float32.tflite")
interpreter.allocate_tensors()
inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
{names}
{_LOAD_CLIP}
for second, window in enumerate(windows):
    interpreter.set_tensor(inp["index"], window[None])  # (1, 16000) float32 in [-1, 1]
    interpreter.invoke()
    probs = interpreter.get_tensor(out["index"])[0]
    print(f"{{second}} s: {{class_names[int(np.argmax(probs))]}} {{float(probs.max()):.2f}}")
'''
    raise ValueError(f"unknown audio snippet kind {kind!r}")


_PAD_PHOTO = '''image = ImageOps.exif_transpose(Image.open("photo.jpg")).convert("RGB")
image = ImageOps.pad(image, (256, 256), Image.Resampling.LANCZOS, color=(0, 0, 0))  # the whole picture, as the app'''

_POSE_FEATURES = '''movenet = Interpreter(model_path="movenet_singlepose_lightning_int8_4.tflite")
movenet.allocate_tensors()
image = image.resize((192, 192), Image.Resampling.BILINEAR)
movenet.set_tensor(movenet.get_input_details()[0]["index"], np.asarray(image, dtype=np.uint8)[None])
movenet.invoke()
yxs = movenet.get_tensor(movenet.get_output_details()[0]["index"])[0, 0]  # 17 × (y, x, score)
features = pose_features.pose_features(yxs[:, [1, 0, 2]]).astype(np.float32)[None]'''

_HAND_FEATURES = '''options = vision.HandLandmarkerOptions(
    base_options=BaseOptions(model_asset_path="hand_landmarker_full.task"), num_hands=hand_features.NUM_HANDS,
    min_hand_detection_confidence=hand_features.DETECTION_CONFIDENCE,
    min_hand_presence_confidence=hand_features.DETECTION_CONFIDENCE)
with vision.HandLandmarker.create_from_options(options) as landmarker:
    def detect(canvas):  # every hand in one view of the picture: 21 (x, y) in 0..1 of that view
        result = landmarker.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=canvas))
        return [np.array([[p.x, p.y] for p in hand]) for hand in result.hand_landmarks]

    keypoints = hand_features.keypoints(np.asarray(image), detect)  # the app's views of the picture, combined
features = hand_features.hand_block(keypoints)[None]'''


def keypoint_snippet(project_kind: str, kind: str, class_names: list[str], with_picture: bool = False) -> str:
    """Python that runs the keypoint model (MoveNet, or MediaPipe's hand landmarker), the app's
    normalisation and the downloaded model on ``photo.jpg`` (kind: keras, tflite_float32). Needs
    pose_features.py / hand_features.py and the keypoint model file beside it. ``with_picture``:
    the hands model also takes the picture (224×224 RGB uint8) beside the hand's numbers."""
    names = f"class_names = {list(class_names)!r}"
    inputs = "[picture, features]" if with_picture else "features"
    if kind == "keras":
        load, run = '''import keras

model = keras.saving.load_model("model.keras")''', f"probs = model.predict({inputs}, verbose=0)[0]"
    elif kind == "tflite_float32":
        load = '''model = Interpreter(model_path="model_float32.tflite")
model.allocate_tensors()'''
        feed = ('''for inp in model.get_input_details():  # the picture (4-d) and the hand's numbers
        model.set_tensor(inp["index"], picture if len(inp["shape"]) == 4 else features)''' if with_picture else
                '''model.set_tensor(model.get_input_details()[0]["index"], features)''')
        run = f'''{feed}
    model.invoke()
    probs = model.get_tensor(model.get_output_details()[0]["index"])[0]'''
    else:
        raise ValueError(f"unknown {project_kind} snippet kind {kind!r}")
    keras_pip = " keras tensorflow" if kind == "keras" else ""
    if project_kind == "pose":
        head = f'''# every downloaded file in one folder; pip install numpy pillow ai-edge-litert{keras_pip}
import numpy as np
from ai_edge_litert.interpreter import Interpreter
from PIL import Image, ImageOps

import pose_features  # the app's keypoint normalisation'''
        module, what, features = "pose_features", "person", _POSE_FEATURES
    else:
        litert = "" if kind == "keras" else "\nfrom ai_edge_litert.interpreter import Interpreter"
        head = f'''# every downloaded file in one folder; pip install numpy pillow mediapipe{keras_pip or " ai-edge-litert"}
import mediapipe as mp
import numpy as np{litert}
from mediapipe.tasks.python import BaseOptions, vision
from PIL import Image, ImageOps

import hand_features  # the app's views of the picture and its hand normalisation'''
        module, what, features = "hand_features", "hand", _HAND_FEATURES
        if with_picture:
            features += '''
picture = np.asarray(image.resize((224, 224), Image.Resampling.BILINEAR), dtype=np.uint8)[None]'''
    return f'''{head}
{load}
{names}
{_PAD_PHOTO}
{features}
if not {module}.found(features)[0]:
    print("no {what} found")
else:
    {run}
    print(class_names[int(np.argmax(probs))], float(probs.max()))
'''


def snippet(kind: str, class_names: list[str]) -> str:
    """Python that runs the downloaded file on ``photo.jpg`` as written (kind: keras, tm_h5, tflite_float32, tflite_int8)."""
    names = f"class_names = {list(class_names)!r}"
    if kind == "keras":
        return f'''import numpy as np
import keras
from PIL import Image, ImageOps

model = keras.saving.load_model("model.keras")
{names}
{_LOAD_PHOTO}
probs = model.predict(np.asarray(image)[None], verbose=0)[0]  # RGB uint8 in: preprocessing is inside
print(class_names[int(np.argmax(probs))], float(probs.max()))
'''
    if kind == "tm_h5":
        return f'''# Teachable Machine's own Keras snippet works unchanged (unzip keras_model.h5 and labels.txt first)
import numpy as np
from keras.models import load_model
from PIL import Image, ImageOps

model = load_model("keras_model.h5", compile=False)
class_names = open("labels.txt", encoding="utf-8").readlines()
data = np.ndarray(shape=(1, 224, 224, 3), dtype=np.float32)
{_LOAD_PHOTO}
data[0] = (np.asarray(image).astype(np.float32) / 127.5) - 1
prediction = model.predict(data, verbose=0)
index = int(np.argmax(prediction))
print(class_names[index][2:].strip(), float(prediction[0][index]))
'''
    if kind in ("tflite_float32", "tflite_int8"):
        file = "model_float32.tflite" if kind == "tflite_float32" else "model_int8.tflite"
        return f'''import numpy as np
from ai_edge_litert.interpreter import Interpreter  # pip install ai-edge-litert
from PIL import Image, ImageOps

interpreter = Interpreter(model_path="{file}")
interpreter.allocate_tensors()
inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
{names}
{_LOAD_PHOTO}
interpreter.set_tensor(inp["index"], np.asarray(image, dtype=np.uint8)[None])  # RGB pixels 0..255
interpreter.invoke()
probs = interpreter.get_tensor(out["index"])[0]
print(class_names[int(np.argmax(probs))], float(probs.max()))
'''
    raise ValueError(f"unknown snippet kind {kind!r}")
