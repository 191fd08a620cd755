"""The TensorFlow.js export (tm_core.export.tfjs) loaded by the real npm ``@tensorflow/tfjs`` in node.

Node runs tests/js/predict_node.mjs: ``tf.loadLayersModel`` on the exported files and ``predict`` on real
photos fed as ``@teachablemachine/image`` feeds them (pixels / 127 - 1). The photos are the app's own
preprocessing of real files (``media.image_to_array``), so both sides see the same 224×224 pixels.
"""

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tm_core.export import tfjs
from tm_core.export.snippets import tfjs_snippet

from conftest import REPO, split_photos

JS = REPO / "tests" / "js"
KOREAN = {"paper": "보", "rock": "바위", "scissors": "가위"}


def need_node_clients() -> Path:
    """tests/js with its npm packages installed (``npm ci``): fails under CI when missing, skips elsewhere."""
    if shutil.which("node") is None or not (JS / "node_modules" / "@tensorflow" / "tfjs").is_dir():
        message = "node or tests/js/node_modules is missing: run `npm ci` in tests/js (.ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return JS


def node_predict(folder: Path, pixels: np.ndarray) -> np.ndarray:
    """Probabilities from npm @tensorflow/tfjs for (n, 224, 224, 3) uint8 pictures."""
    js = need_node_clients()
    data = folder.parent / f"{folder.name}-pixels.bin"
    data.write_bytes(np.ascontiguousarray(pixels, np.uint8).tobytes())
    r = subprocess.run(["node", str(js / "predict_node.mjs"), str(folder), str(data), str(len(pixels))],
                       cwd=js, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["backend"] == "cpu" and result["version"] == tfjs.TFJS_VERSION
    return np.array(result["probs"], np.float32)


def test_metadata_has_teachable_machines_fields_and_keeps_hangul():
    meta = tfjs.metadata(["보", "바위", "가위"], "mobilenet_v2_0.35")
    assert list(meta) == ["tfjsVersion", "packageVersion", "packageName", "timeStamp", "userMetadata", "modelName",
                          "labels", "imageSize"]
    assert meta["packageName"] == "@teachablemachine/image" and meta["imageSize"] == 224
    assert meta["labels"] == ["보", "바위", "가위"] and meta["timeStamp"].endswith("Z")
    page = tfjs_snippet()
    assert 'tmImage.load(folder + "model.json", folder + "metadata.json")' in page
    assert f"@tensorflow/tfjs@{tfjs.TFJS_VERSION}/" in page and f"@teachablemachine/image@{tfjs.TM_PACKAGE_VERSION}/" in page


@pytest.mark.slow
def test_cli_writes_the_tfjs_layout_that_tfjs_in_node_runs_as_model_keras_does(rps_train, tmp_path):
    """``train --out OUT`` on photos in Hangul-named class folders: OUT/tfjs holds Teachable Machine's three files,
    the labels are the Korean names, and npm @tensorflow/tfjs predicts what OUT/model.keras predicts."""
    import keras

    from tm_core import media
    from tm_core.predict import read_labels

    need_node_clients()
    data = tmp_path / "data"
    held_out = []
    for cls, korean in KOREAN.items():
        files = sorted((rps_train / cls).iterdir())
        (data / korean).mkdir(parents=True)
        for f in files[:8]:
            shutil.copy(f, data / korean / f.name)
        held_out += files[100:103]  # photos the model never saw
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    r = subprocess.run([sys.executable, "-m", "tm_core", "train", str(data), "--out", str(out), "--epochs", "10",
                        "--no-tflite"], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert f"writing {out / 'tfjs'}" in r.stderr
    assert sorted(p.name for p in (out / "tfjs").iterdir()) == sorted(tfjs.FILES)
    names = read_labels(out / "labels.txt")
    assert sorted(names) == sorted(KOREAN.values())
    raw = (out / "tfjs" / "metadata.json").read_bytes()
    assert "바위".encode() in raw and b"\\u" not in raw  # UTF-8 as it is, not escaped
    meta = json.loads(raw.decode("utf-8"))
    assert meta["labels"] == names and meta["imageSize"] == 224 and meta["packageName"] == "@teachablemachine/image"
    model_json = json.loads((out / "tfjs" / "model.json").read_text(encoding="utf-8"))
    assert model_json["format"] == "layers-model"
    manifest = model_json["weightsManifest"][0]
    assert manifest["paths"] == ["weights.bin"]
    size = sum(4 * int(np.prod(w["shape"])) for w in manifest["weights"])
    assert (out / "tfjs" / "weights.bin").stat().st_size == size

    pixels = np.stack([media.image_to_array(f) for f in held_out])
    expected = keras.saving.load_model(out / "model.keras").predict(pixels, verbose=0)
    got = node_predict(out / "tfjs", pixels)
    assert got.shape == expected.shape == (9, 3)
    assert np.abs(got - expected).max() <= 1e-4
    assert (got.argmax(1) == expected.argmax(1)).all()


@pytest.mark.slow
def test_a_fine_tuned_runs_export_carries_the_fine_tuned_backbone(encoder, rps_train, tmp_path):
    from tm_core import finetune
    from tm_core.predict import Predictor
    from tm_core.training import Split, TrainConfig, train

    need_node_clients()
    classes, (x_train, y_train, _), (x_test, y_test, _) = split_photos(rps_train, 10, 3)
    run = train(encoder.encode(x_train), y_train, classes, TrainConfig(test_fraction=0.0))
    blocks = finetune.BlockInputs(encoder)
    inputs = blocks.encode(np.concatenate([x_train, x_test]))
    labels = np.concatenate([y_train, y_test])
    split = Split(np.arange(len(y_train)), np.arange(len(y_train), len(labels)))
    ft = finetune.fine_tune(encoder, run.head, inputs, labels, split,
                            finetune.FineTuneConfig(epochs=2, learning_rate=0.01))
    tuned = ft.encoder(encoder)
    tfjs.write(tmp_path / "tfjs", tuned, ft.head, classes)
    # weights.bin holds the fine-tuned block, not the pretrained one
    model_json = json.loads((tmp_path / "tfjs" / "model.json").read_text())
    blob = np.frombuffer((tmp_path / "tfjs" / "weights.bin").read_bytes(), "<f4")
    offset, stored = 0, {}
    for w in model_json["weightsManifest"][0]["weights"]:
        n = int(np.prod(w["shape"]))
        stored[w["name"]] = blob[offset:offset + n].reshape(w["shape"])
        offset += n
    name = next(iter(ft.weights))
    kernel = tuned.backbone.get_layer(name).get_weights()[0]
    np.testing.assert_array_equal(stored[f"{name}/kernel"], kernel)
    assert np.abs(kernel - encoder.backbone.get_layer(name).get_weights()[0]).max() > 1e-4
    app = Predictor(tuned, ft.head, classes).predict(x_test)
    assert np.abs(node_predict(tmp_path / "tfjs", x_test) - app).max() <= 1e-4


@pytest.mark.slow
def test_zip_of_the_test_page_and_what_cannot_be_written(encoder, rps_trained, tmp_path):
    """The zip the Test page offers holds the three files at its top, Hangul labels intact; layers tfjs-layers
    cannot read, and other kinds of model, are refused with a reason."""
    import keras

    from tm_core import export
    from tm_core.errors import InputError

    run, *_ = rps_trained
    names = [KOREAN[c] for c in run.class_names]
    blob = export.zip_files(tfjs.model_files(encoder, run.head, names), tfjs.FILES)
    (tmp_path / tfjs.ZIP_NAME).write_bytes(blob)
    with zipfile.ZipFile(tmp_path / tfjs.ZIP_NAME) as z:
        assert z.namelist() == ["model.json", "weights.bin", "metadata.json"]
        assert json.loads(z.read("metadata.json").decode("utf-8"))["labels"] == ["보", "바위", "가위"]
    assert tfjs.supported(encoder)
    with pytest.raises(InputError, match="Multiply"):
        tfjs.layer_config(keras.layers.Multiply(name="times"))
    with pytest.raises(InputError, match="grouped"):
        tfjs.layer_config(keras.layers.Conv2D(4, 3, groups=2, name="grouped"))
    with pytest.raises(InputError, match="class names"):
        tfjs.model_files(encoder, run.head, names[:2])


@pytest.mark.slow
def test_mobilenet_v1_backbone_is_written_too(models_dir, rps_train, tmp_path):
    """The other bundled backbone (MobileNet v1 α=0.25: other layer names, no residual adds) in node."""
    from tm_core.encoders import get_encoder
    from tm_core.predict import Predictor
    from tm_core.training import TrainConfig, train

    need_node_clients()
    v1 = get_encoder("mobilenet_v1_0.25")
    classes, (x_train, y_train, _), (x_test, _, _) = split_photos(rps_train, 8, 2)
    run = train(v1.encode(x_train), y_train, classes, TrainConfig(test_fraction=0.0))
    tfjs.write(tmp_path / "tfjs", v1, run.head, classes)
    app = Predictor(v1, run.head, classes).predict(x_test)
    assert np.abs(node_predict(tmp_path / "tfjs", x_test) - app).max() <= 1e-4
