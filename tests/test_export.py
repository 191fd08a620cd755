"""Exports predict what the app predicts: the parity checks of the engine issue."""

import json

import numpy as np
import pytest
from PIL import Image, ImageOps

from tm_core import export
from tm_core.export import FILES, labels_text, save_tflite
from tm_core.predict import ExportedModel, TFLiteModel, read_labels


@pytest.mark.slow
def test_every_file_is_written(rps_export):
    assert sorted(p.name for p in rps_export.iterdir()) == sorted(FILES)
    assert (rps_export / "labels.txt").read_text() == "0 paper\n1 rock\n2 scissors\n"
    assert read_labels(rps_export / "labels.txt") == ["paper", "rock", "scissors"]
    assert labels_text(["Class 1", "Class 2"]) == "0 Class 1\n1 Class 2\n"


@pytest.mark.slow
def test_model_keras_matches_the_app(rps_export, rps_trained):
    _, predictor, _, x_test, _, _ = rps_trained
    model = ExportedModel(rps_export)
    assert model.class_names == ["paper", "rock", "scissors"]
    assert model.model.input.dtype == "uint8" and tuple(model.model.input.shape[1:]) == (224, 224, 3)
    np.testing.assert_allclose(model.predict(x_test), predictor.predict(x_test), atol=1e-4)


@pytest.mark.slow
def test_tm_keras_h5_with_teachable_machines_snippet(rps_export, rps_trained):
    """Teachable Machine's published Keras snippet, as written, on the real test photos."""
    from keras.models import load_model

    _, predictor, _, x_test, _, test_files = rps_trained
    model = load_model(rps_export / "keras_model.h5", compile=False)
    class_names = open(rps_export / "labels.txt").readlines()  # noqa: SIM115  (the snippet as written)
    for i in (0, 31, 62, 89):
        data = np.ndarray(shape=(1, 224, 224, 3), dtype=np.float32)
        image = Image.open(test_files[i]).convert("RGB")
        image = ImageOps.fit(image, (224, 224), Image.Resampling.LANCZOS)
        image_array = np.asarray(image)
        normalized_image_array = (image_array.astype(np.float32) / 127.5) - 1
        data[0] = normalized_image_array
        prediction = model.predict(data, verbose=0)
        app = predictor.predict(x_test[i])
        np.testing.assert_allclose(prediction[0], app, atol=1e-4)
        assert class_names[int(np.argmax(prediction))][2:].strip() == predictor.class_names[int(np.argmax(app))]


@pytest.mark.slow
def test_tflite_float32_matches_the_app(rps_export, rps_trained):
    _, predictor, _, x_test, _, _ = rps_trained
    lite = TFLiteModel(rps_export / "model_float32.tflite")
    np.testing.assert_allclose(lite.predict(x_test), predictor.predict(x_test), atol=1e-4)


def int8_agreement(path, predictor, images) -> float:
    lite = TFLiteModel(path)
    detail = lite.interpreter.get_input_details()[0]
    assert detail["dtype"] == np.uint8  # RGB pixels in, as the float32 file
    weights = [t for t in lite.interpreter.get_tensor_details() if t["dtype"] == np.int8]
    assert len(weights) >= 40  # the weights really are stored as int8 (48 tensors for MobileNetV2 + head)
    return float((lite.predict(images).argmax(1) == predictor.predict(images).argmax(1)).mean())


@pytest.mark.slow
def test_tflite_int8_agrees_on_the_top_class_on_clothing(clothing_trained, encoder, tmp_path):
    """Issue 19, item 8: >= 95 % top-class agreement with the app on photos it was not trained on."""
    run, predictor, _, x_test, _, _ = clothing_trained
    path = tmp_path / "model_int8.tflite"
    save_tflite(path, encoder, run.head, int8=True)
    agree = int8_agreement(path, predictor, x_test)
    print(json.dumps({"clothing_int8_top_class_agreement": agree, "n": len(x_test)}))
    assert agree >= 0.95
    assert path.stat().st_size < 0.4 * (2 * 1024 * 1024)  # a third of the float32 file's ~2 MB


@pytest.mark.slow
def test_tflite_int8_agrees_on_the_top_class_on_rock_paper_scissors(rps_export, rps_trained):
    """Issue 19, item 8: fully integer-quantized, it agreed on 90 % of these photos (the page said about
    9 in 10 too); with int8 weights and float activations, >= 95 %. The agreement export_all measured on
    the held-out photos is the one found here."""
    _, predictor, _, x_test, _, _ = rps_trained
    agree = int8_agreement(rps_export / "model_int8.tflite", predictor, x_test)
    print(json.dumps({"rps_int8_top_class_agreement": agree, "n": len(x_test)}))
    assert agree >= 0.95
    measured = export.int8_agreement(rps_export / "model_float32.tflite", rps_export / "model_int8.tflite", x_test)
    assert measured.n == len(x_test) and measured.share == pytest.approx(agree, abs=1.5 / len(x_test))
