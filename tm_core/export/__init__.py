"""Export a trained model so it predicts outside the app exactly what the app predicted.

- :mod:`tm_core.export.models`: the model files (Keras, Teachable Machine's .h5, TFLite) and
  :func:`export_all`, which writes them into a folder (the CLI's ``train --out``).
- :mod:`tm_core.export.downloads`: what each kind of project offers to download (which files, which
  zip, how each is described) and :func:`prepare`, every download as bytes (the Test page).
- :mod:`tm_core.export.snippets`: the Python that runs each download, as written (a web page for TensorFlow.js).
- :mod:`tm_core.export.tfjs`: Teachable Machine's TensorFlow.js export of an image model (``model.json``,
  ``weights.bin``, ``metadata.json``), written from the Keras model.
"""

from tm_core.export.downloads import (
    AUDIO_FILES,
    FILES,
    HANDS_FILES,
    POSE_FILES,
    Download,
    audio_keras_zip,
    check_pictures,
    checks_int8,
    downloads,
    files_for,
    prepare,
    snippet_for,
    tm_keras_zip,
    zip_files,
)
from tm_core.export.models import (
    Agreement,
    build_model,
    build_tm_model,
    export_all,
    export_bytes,
    int8_agreement,
    labels_text,
    save_tflite,
    some_images,
)
from tm_core.export.snippets import audio_snippet, keypoint_snippet, snippet, tfjs_snippet

__all__ = [
    "AUDIO_FILES", "FILES", "HANDS_FILES", "POSE_FILES", "Agreement", "Download", "audio_keras_zip", "audio_snippet",
    "build_model", "build_tm_model", "check_pictures", "checks_int8", "downloads", "export_all", "export_bytes",
    "files_for", "int8_agreement", "keypoint_snippet", "labels_text", "prepare", "save_tflite", "snippet", "snippet_for",
    "some_images", "tfjs_snippet", "tm_keras_zip", "zip_files",
]
