"""Python snippets that run the downloaded files outside the app, as written (tests run each one), and
the web page that runs the TensorFlow.js download (a browser test opens it)."""

from __future__ import annotations

from tm_core.export.tfjs import TFJS_VERSION, TM_PACKAGE, TM_PACKAGE_VERSION, ZIP_NAME
from tm_core.i18n import N_, _

CDN = "https://cdn.jsdelivr.net/npm"  # where the snippet page takes the two libraries from (npm's packages)

# The snippets' comments, in the student's language where the snippet is made (:func:`comment`); the code
# itself stays as written. Each is one line (a Python or JavaScript comment ends at the line's end). Commands
# in a comment are in backticks: code, not a sentence to translate.
COMMENTS = {
    "audio_folder": N_("model.keras, audio_layers.py and labels.txt in one folder"),
    "audio_layers": N_("registers YAMNet's log-mel layer that model.keras uses"),
    "clip_formats": N_("wav, flac, ogg or mp3"),
    "mono": N_("16 kHz mono"),
    "short_clip": N_("a short clip is centred in one second of silence, as in the app"),
    "windows": N_("1-second windows"),
    "audio_input": N_("(1, 16000) float32 in [-1, 1]"),
    "whole_picture": N_("the whole picture, as the app"),
    "hand_view": N_("every hand in one view of the picture: 21 (x, y) in 0..1 of that view"),
    "hand_views": N_("the app's views of the picture, combined"),
    "two_inputs": N_("the picture (4-d) and the hand's numbers"),
    "all_files": N_("every downloaded file in one folder"),
    "pose_module": N_("the app's keypoint normalisation"),
    "hands_module": N_("the app's views of the picture and its hand normalisation"),
    "preprocessing": N_("RGB uint8 in: preprocessing is inside"),
    "tm_h5": N_("Teachable Machine's own Keras snippet works unchanged (unzip keras_model.h5 and labels.txt first)"),
    "pixels": N_("RGB pixels 0..255"),
    "page_unzip": N_("Unzip {zip} into a folder \"{folder}\" beside this page and put a photo.jpg beside it too."),
    "page_server": N_("Open the page through a web server (for example \"{command}\"), not as a file."),
    "page_labels": N_("the class names come from metadata.json; the library crops the picture to a square and scales it"),
    "page_predictions": N_("one {fields} for each class, in order"),
}


def comment(key: str, **values) -> str:
    """The snippet comment ``key`` in the current language, on one line."""
    return " ".join(_(COMMENTS[key], **values).split())


_LOAD_PHOTO = '''image = ImageOps.fit(Image.open("photo.jpg").convert("RGB"), (224, 224), Image.Resampling.LANCZOS)'''


def _load_clip() -> str:
    return f'''wave, rate = sf.read("clip.wav", dtype="float32", always_2d=True)  # {comment("clip_formats")}
wave = soxr.resample(wave.mean(axis=1), rate, 16000).astype(np.float32)  # {comment("mono")}
if len(wave) < 16000:  # {comment("short_clip")}
    wave = np.pad(wave, ((16000 - len(wave)) // 2, 16000 - len(wave) - (16000 - len(wave)) // 2))
windows = [wave[i:i + 16000] for i in range(0, len(wave) - 15999, 16000)]  # {comment("windows")}'''


def audio_snippet(kind: str, class_names: list[str]) -> str:
    """Python that runs a downloaded audio model on ``clip.wav`` as written (kind: keras, tflite_float32)."""
    names = f"class_names = {list(class_names)!r}"
    if kind == "keras":
        return f'''# {comment("audio_folder")}; `pip install keras tensorflow soundfile soxr`
import numpy as np
import soundfile as sf
import soxr
import keras
import audio_layers  # noqa: F401  ({comment("audio_layers")})

model = keras.saving.load_model("model.keras")
{names}
{_load_clip()}
for second, probs in enumerate(model.predict(np.stack(windows), verbose=0)):
    print(f"{{second}} s: {{class_names[int(np.argmax(probs))]}} {{float(probs.max()):.2f}}")
'''
    if kind == "tflite_float32":
        return f'''import numpy as np
import soundfile as sf
import soxr
from ai_edge_litert.interpreter import Interpreter  # `pip install ai-edge-litert soundfile soxr`

interpreter = Interpreter(model_path="model_float32.tflite")
interpreter.allocate_tensors()
inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
{names}
{_load_clip()}
for second, window in enumerate(windows):
    interpreter.set_tensor(inp["index"], window[None])  # {comment("audio_input")}
    interpreter.invoke()
    probs = interpreter.get_tensor(out["index"])[0]
    print(f"{{second}} s: {{class_names[int(np.argmax(probs))]}} {{float(probs.max()):.2f}}")
'''
    raise ValueError(f"unknown audio snippet kind {kind!r}")


def _pad_photo() -> str:
    return f'''image = ImageOps.exif_transpose(Image.open("photo.jpg")).convert("RGB")
image = ImageOps.pad(image, (256, 256), Image.Resampling.LANCZOS, color=(0, 0, 0))  # {comment("whole_picture")}'''

_POSE_FEATURES = '''movenet = Interpreter(model_path="movenet_singlepose_lightning_int8_4.tflite")
movenet.allocate_tensors()
image = image.resize((192, 192), Image.Resampling.BILINEAR)
movenet.set_tensor(movenet.get_input_details()[0]["index"], np.asarray(image, dtype=np.uint8)[None])
movenet.invoke()
yxs = movenet.get_tensor(movenet.get_output_details()[0]["index"])[0, 0]  # 17 × (y, x, score)
features = pose_features.pose_features(yxs[:, [1, 0, 2]]).astype(np.float32)[None]'''

def _hand_features() -> str:
    return f'''options = vision.HandLandmarkerOptions(
    base_options=BaseOptions(model_asset_path="hand_landmarker_full.task"), num_hands=hand_features.NUM_HANDS,
    min_hand_detection_confidence=hand_features.DETECTION_CONFIDENCE,
    min_hand_presence_confidence=hand_features.DETECTION_CONFIDENCE)
with vision.HandLandmarker.create_from_options(options) as landmarker:
    def detect(canvas):  # {comment("hand_view")}
        result = landmarker.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=canvas))
        return [np.array([[p.x, p.y] for p in hand]) for hand in result.hand_landmarks]

    keypoints = hand_features.keypoints(np.asarray(image), detect)  # {comment("hand_views")}
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
        feed = (f'''for inp in model.get_input_details():  # {comment("two_inputs")}
        model.set_tensor(inp["index"], picture if len(inp["shape"]) == 4 else features)''' if with_picture else
                '''model.set_tensor(model.get_input_details()[0]["index"], features)''')
        run = f'''{feed}
    model.invoke()
    probs = model.get_tensor(model.get_output_details()[0]["index"])[0]'''
    else:
        raise ValueError(f"unknown {project_kind} snippet kind {kind!r}")
    keras_pip = " keras tensorflow" if kind == "keras" else ""
    if project_kind == "pose":
        head = f'''# {comment("all_files")}; `pip install numpy pillow ai-edge-litert{keras_pip}`
import numpy as np
from ai_edge_litert.interpreter import Interpreter
from PIL import Image, ImageOps

import pose_features  # {comment("pose_module")}'''
        module, what, features = "pose_features", "person", _POSE_FEATURES
    else:
        litert = "" if kind == "keras" else "\nfrom ai_edge_litert.interpreter import Interpreter"
        head = f'''# {comment("all_files")}; `pip install numpy pillow mediapipe{keras_pip or " ai-edge-litert"}`
import mediapipe as mp
import numpy as np{litert}
from mediapipe.tasks.python import BaseOptions, vision
from PIL import Image, ImageOps

import hand_features  # {comment("hands_module")}'''
        module, what, features = "hand_features", "hand", _hand_features()
        if with_picture:
            features += '''
picture = np.asarray(image.resize((224, 224), Image.Resampling.BILINEAR), dtype=np.uint8)[None]'''
    return f'''{head}
{load}
{names}
{_pad_photo()}
{features}
if not {module}.found(features)[0]:
    print("no {what} found")
else:
    {run}
    print(class_names[int(np.argmax(probs))], float(probs.max()))
'''


def tfjs_snippet(folder: str = "my_model") -> str:
    """A web page that classifies ``photo.jpg`` with the TensorFlow.js download and ``@teachablemachine/image``."""
    return f'''<!DOCTYPE html>
<!-- {comment("page_unzip", zip=ZIP_NAME, folder=folder)}
     {comment("page_server", command="python -m http.server")} -->
<html>
<head><meta charset="utf-8"><title>My image model</title></head>
<body>
<img id="photo" src="photo.jpg" width="224" alt="the photo to classify">
<p id="result">Loading the model…</p>
<script src="{CDN}/@tensorflow/tfjs@{TFJS_VERSION}/dist/tf.min.js"></script>
<script src="{CDN}/{TM_PACKAGE}@{TM_PACKAGE_VERSION}/dist/teachablemachine-image.min.js"></script>
<script>
  const folder = "./{folder}/";
  async function classify() {{
    // {comment("page_labels")}
    const model = await tmImage.load(folder + "model.json", folder + "metadata.json");
    const photo = document.getElementById("photo");
    await photo.decode();
    const predictions = await model.predict(photo);  // {comment("page_predictions", fields="{className, probability}")}
    predictions.sort((a, b) => b.probability - a.probability);
    const best = predictions[0];
    document.getElementById("result").textContent = best.className + " " + best.probability.toFixed(2);
  }}
  classify().catch((error) => {{
    document.getElementById("result").textContent = "Something went wrong: " + error.message;
  }});
</script>
</body>
</html>
'''


def snippet(kind: str, class_names: list[str]) -> str:
    """The code that runs the downloaded file on ``photo.jpg`` as written (kind: keras, tm_h5, tflite_float32,
    tflite_int8: Python; tfjs: a web page)."""
    if kind == "tfjs":
        return tfjs_snippet()
    names = f"class_names = {list(class_names)!r}"
    if kind == "keras":
        return f'''import numpy as np
import keras
from PIL import Image, ImageOps

model = keras.saving.load_model("model.keras")
{names}
{_LOAD_PHOTO}
probs = model.predict(np.asarray(image)[None], verbose=0)[0]  # {comment("preprocessing")}
print(class_names[int(np.argmax(probs))], float(probs.max()))
'''
    if kind == "tm_h5":
        return f'''# {comment("tm_h5")}
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
from ai_edge_litert.interpreter import Interpreter  # `pip install ai-edge-litert`
from PIL import Image, ImageOps

interpreter = Interpreter(model_path="{file}")
interpreter.allocate_tensors()
inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
{names}
{_LOAD_PHOTO}
interpreter.set_tensor(inp["index"], np.asarray(image, dtype=np.uint8)[None])  # {comment("pixels")}
interpreter.invoke()
probs = interpreter.get_tensor(out["index"])[0]
print(class_names[int(np.argmax(probs))], float(probs.max()))
'''
    raise ValueError(f"unknown snippet kind {kind!r}")
