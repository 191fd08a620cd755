"""What each kind of project offers to download: which files, which of them go in one zip, how each
is described, and the snippet that runs it. The Test page shows :func:`downloads` and calls
:func:`prepare` and :func:`snippet_for`; nothing here knows about pages.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from tm_core import kinds
from tm_core.export import tfjs
from tm_core.export.models import Written, export_bytes, some_images
from tm_core.export.snippets import audio_snippet, keypoint_snippet, snippet
from tm_core.i18n import _

FILES = ("model.keras", "keras_model.h5", "labels.txt", "model_float32.tflite", "model_int8.tflite")
AUDIO_FILES = ("model.keras", "audio_layers.py", "labels.txt", "model_float32.tflite")
POSE_FILES = ("model.keras", "pose_features.py", "movenet_singlepose_lightning_int8_4.tflite", "labels.txt",
              "model_float32.tflite")
HANDS_FILES = ("model.keras", "hand_features.py", "hand_landmarker_full.task", "labels.txt", "model_float32.tflite")


@dataclass(frozen=True)
class Download:
    form: str  # which snippet runs it: keras, tm_h5, tflite_float32, tflite_int8, tfjs
    label: str  # the button's label (in the language :func:`downloads` was called in)
    file: str  # the file name (a key of what :func:`prepare` returns)
    what: str  # one sentence for the student (the same)
    language: str = "python"  # the snippet's language (the TensorFlow.js snippet is a web page: html)


def files_for(kind: str) -> tuple[str, ...]:
    """Every file the export of a ``kind`` project writes."""
    return {"audio": AUDIO_FILES, "pose": POSE_FILES, "hands": HANDS_FILES}.get(kind, FILES)


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


def _keypoint_downloads(kind: str) -> list[Download]:
    """A keypoint project's downloads: one zip with every file, and the model alone as TFLite (translated:
    call it where it is shown)."""
    if kind == "pose":
        what = _("model.keras, the keypoint model, {features} (the app's normalisation of the keypoints) and "
                 "labels.txt: unzip them into one folder. Input: any photo; the whole picture is padded to a square, "
                 "the keypoints found become the numbers the model was trained on, and it names the class (or says "
                 "no person was found).", features="pose_features.py")
        label, tflite = _("TFLite float32 head"), _("The head as TFLite, for phones and small boards: put it beside "
                                                    "the unzipped files. Same predictions as the app.")
    else:  # the hands model also takes the picture
        what = _("model.keras, the keypoint model, {features} (the app's normalisation of the keypoints) and "
                 "labels.txt: unzip them into one folder. Input: any photo; the whole picture is padded to a square, "
                 "the keypoints found become the numbers the model was trained on, and it names the class (or says "
                 "no hand was found).", features="hand_features.py")
        label, tflite = _("TFLite float32 model"), _("The model as TFLite, for phones and small boards: put it beside "
                                                     "the unzipped files. Same predictions as the app.")
    return [Download("keras", _("Everything (.zip)"), f"{kind}_model.zip", what),
            Download("tflite_float32", label, "model_float32.tflite", tflite)]


def downloads(kind: str) -> list[Download]:
    """The download buttons of a ``kind`` project, in the order shown, in the current language (call it
    where they are shown)."""
    if kind == "audio":
        return [
            Download("keras", "Keras (.zip)", "keras_audio.zip",
                     _("model.keras + audio_layers.py + labels.txt: unzip them into one folder. Input: 1 second of "
                       "16 kHz mono sound (16000 float32 values in [-1, 1]); the spectrogram is computed inside.")),
            Download("tflite_float32", "TFLite float32", "model_float32.tflite",
                     _("For phones and small boards. Same input, same predictions as the app.")),
        ]
    if kinds.is_keypoint(kind):
        return _keypoint_downloads(kind)
    return [
        Download("keras", "model.keras", "model.keras",
                 _("Keras 3: the whole model, preprocessing inside. Input: RGB pixels (uint8), 224×224.")),
        Download("tm_h5", "Teachable Machine Keras (.zip)", "converted_keras.zip",
                 _("keras_model.h5 + labels.txt in Teachable Machine's layout: its published snippet runs it as is.")),
        Download("tflite_float32", "TFLite float32", "model_float32.tflite",
                 _("For phones and small boards. Same predictions as the app.")),
        Download("tflite_int8", "TFLite int8", "model_int8.tflite",
                 _("Much smaller, for small devices; on hard pictures it may disagree with the app.")),
        Download("tfjs", "TensorFlow.js (.zip)", tfjs.ZIP_NAME,
                 _("model.json + weights.bin + metadata.json in Teachable Machine's TensorFlow.js layout: web pages "
                   "and p5.js sketches that use its @teachablemachine/image library load it as they are. Unzip the "
                   "three files into one folder beside your web page."), language="html"),
    ]


def checks_int8(kind: str) -> bool:
    """Whether a ``kind`` project's export has an int8 file, checked against the float32 one (the slow part)."""
    return kind == "image"


class _Pixels(Sequence):
    """Samples' pixels, each decoded only when asked for (the check uses a few hundred at most)."""

    def __init__(self, samples: Sequence):
        self.samples = samples

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i):
        return self.samples[i].data


def check_pictures(kind: str, samples: Sequence) -> np.ndarray | None:
    """What the int8 file is checked on: pictures of some of ``samples`` (image projects), else nothing."""
    return some_images(_Pixels(samples)) if checks_int8(kind) and len(samples) else None


def prepare(encoder, head, class_names: list[str], held_out_samples: Sequence,
            on_step: Callable[[str], None] | None = None) -> Written:
    """Every file :func:`downloads` offers for the encoder's kind, as bytes: the exported files and the
    kind's zips. ``held_out_samples``: samples the model was not trained on (``.data``): the int8 file is
    checked against the float32 one on them (``.int8_agreement`` of what is returned). The TensorFlow.js zip
    is left out when the backbone cannot be written for TensorFlow.js (EfficientNet)."""
    kind = encoder.kind
    files = export_bytes(encoder, head, class_names, check_pictures(kind, held_out_samples), on_step=on_step)
    if kind == "audio":
        files["keras_audio.zip"] = audio_keras_zip(files)
    elif kinds.is_keypoint(kind):
        files[f"{kind}_model.zip"] = zip_files(files, files_for(kind))
    else:
        files["converted_keras.zip"] = tm_keras_zip(files)
        if tfjs.supported(encoder):
            if on_step:
                on_step(tfjs.ZIP_NAME)
            files[tfjs.ZIP_NAME] = zip_files(tfjs.model_files(encoder, head, class_names), tfjs.FILES)
    return files


def snippet_for(encoder, form: str, class_names: list[str]) -> str:
    """Python that runs the download ``form`` of this encoder's kind on a photo or clip, as written."""
    if encoder.kind == "audio":
        return audio_snippet(form, class_names)
    if kinds.is_keypoint(encoder.kind):
        with_picture = getattr(encoder, "picture", None) is not None  # hands + MobileNet: the picture is an input too
        return keypoint_snippet(encoder.kind, form, class_names, with_picture=with_picture)
    return snippet(form, class_names)
