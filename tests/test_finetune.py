"""Fine-tuning MobileNetV2 α=0.35's last block on real rock-paper-scissors photos, and its export."""

import numpy as np
import pytest

from tm_core import finetune
from tm_core.errors import InputError
from tm_core.predict import ExportedModel, Predictor, TFLiteModel
from tm_core.training import Split, TrainConfig, train


@pytest.fixture(scope="module")
def tuned(encoder, rps_split):
    """Head trained on the frozen encoder, then 3 epochs of fine-tuning on the block inputs (train + mirrored)."""
    classes, (x_train, y_train, _), (x_test, y_test, _) = rps_split
    run = train(encoder.encode(x_train), y_train, classes, TrainConfig(test_fraction=0.0))
    blocks = finetune.BlockInputs(encoder)
    inputs = blocks.encode(np.concatenate([x_train, x_test]))
    labels = np.concatenate([y_train, y_test])
    split = Split(np.arange(len(y_train)), np.arange(len(y_train), len(labels)))
    mirror = blocks.encode(np.stack([finetune.mirrored(img) for img in x_train]))
    seen = []
    ft = finetune.fine_tune(encoder, run.head, inputs, labels, split, finetune.FineTuneConfig(epochs=3),
                            extra=(mirror, y_train), on_epoch=seen.append)
    return run, ft, blocks, inputs, split, seen


def test_block_inputs_are_the_backbone_activations_entering_block_16(encoder, rps_split):
    import keras

    _, (x, _, _), _ = rps_split
    blocks = finetune.BlockInputs(encoder)
    assert blocks.start_layer == "block_15_add" and blocks.shape == (7, 7, 56)
    got = blocks.encode(x[:5])
    part = keras.Model(encoder.backbone.input, encoder.backbone.get_layer("block_15_add").output)
    np.testing.assert_allclose(got, part(x[:5].astype(np.float32) / 127.5 - 1, training=False).numpy(), atol=1e-4)
    # the mirrored view is really another input (not the same activations)
    assert np.abs(blocks.encode(finetune.mirrored(x[0])) - got[:1]).max() > 0.1


@pytest.mark.slow
def test_fine_tuning_trains_the_block_and_head_with_batchnorm_frozen(encoder, tuned):
    run, ft, _, _, _split, seen = tuned
    assert [s.epoch for s in seen] == [1, 2, 3] and ft.history == seen and not ft.stopped
    assert all(s.test_accuracy is not None and 0 <= s.test_accuracy <= 1 for s in seen)
    assert set(ft.weights) >= {"block_16_expand", "block_16_depthwise", "block_16_project", "Conv_1", "Conv_1_bn"}
    assert not any(name.startswith("block_15") for name in ft.weights)  # earlier blocks stay frozen
    for name, weights in ft.weights.items():
        before = encoder.backbone.get_layer(name).get_weights()
        changed = any(not np.array_equal(a, b) for a, b in zip(weights, before))
        # convolutions learn; BatchNorm keeps ImageNet's scale, offset and statistics (inference mode)
        assert changed == ("_BN" not in name and "_bn" not in name), name
    assert not np.array_equal(ft.head.w1, run.head.w1)  # the head trains on with the block
    # the encoder that was fine-tuned from is untouched (it is shared by every session)
    assert finetune.FineTunedEncoder(encoder, ft).backbone is not encoder.backbone


@pytest.mark.slow
def test_app_predictions_are_the_fine_tuned_model(encoder, tuned, rps_split):
    """The whole backbone with the new block weights predicts what the fine-tuning model predicted."""
    _, ft, _, inputs, split, _ = tuned
    classes, _, (x_test, y_test, _) = rps_split
    model, block = finetune.tail_model(encoder, ft.head, ft.start_layer)
    for layer in block.layers:
        if layer.name in ft.weights:
            layer.set_weights(ft.weights[layer.name])
    expected = finetune.predict_blocks(model, inputs[split.test])
    predictor = Predictor(ft.encoder(encoder), ft.head, classes)
    np.testing.assert_allclose(predictor.predict(x_test), expected, atol=1e-4)
    assert ft.encoder(encoder) is ft.encoder(encoder)  # built once per fine-tuned model
    # and the held-out accuracy the run reported is this model's
    assert ft.history[-1].test_accuracy == pytest.approx(float((expected.argmax(1) == y_test).mean()))


@pytest.mark.slow
def test_exported_keras_and_tflite_carry_the_fine_tuned_block(encoder, tuned, rps_split, tmp_path):
    from tm_core import export

    _, ft, _, _, _, _ = tuned
    classes, _, (x_test, _, _) = rps_split
    tuned_encoder = ft.encoder(encoder)
    app = Predictor(tuned_encoder, ft.head, classes).predict(x_test)
    export.export_all(tmp_path, tuned_encoder, ft.head, classes, x_test[:10], tflite=False)
    export.save_tflite(tmp_path / "model_float32.tflite", tuned_encoder, ft.head, int8=False)
    np.testing.assert_allclose(ExportedModel(tmp_path).predict(x_test), app, atol=1e-4)
    np.testing.assert_allclose(TFLiteModel(tmp_path / "model_float32.tflite").predict(x_test), app, atol=1e-4)
    from keras.models import load_model  # Teachable Machine's layout: normalised float pixels in

    tm = load_model(tmp_path / "keras_model.h5", compile=False)
    np.testing.assert_allclose(tm(x_test.astype(np.float32) / 127.5 - 1, training=False).numpy(), app, atol=1e-4)
    # the frozen model's predictions differ: the export really holds the new weights
    frozen = Predictor(encoder, ft.head, classes).predict(x_test)
    assert np.abs(frozen - app).max() > 1e-3


@pytest.mark.slow
def test_stop_keeps_the_epochs_done(encoder, tuned):
    run, _, _, inputs, split, _ = tuned
    labels = np.concatenate([np.arange(len(split.train)) % 3, np.arange(len(split.test)) % 3])
    asked = []
    ft = finetune.fine_tune(encoder, run.head, inputs, labels, split, finetune.FineTuneConfig(epochs=5),
                            should_stop=lambda: asked.append(1) or len(asked) > 2)
    assert ft.stopped and len(ft.history) == 2


@pytest.mark.slow
def test_unsupported_encoders_and_bad_settings_are_refused(encoder, tuned):
    from tm_core.encoders import get_encoder

    run, _, _, inputs, split, _ = tuned
    v1 = get_encoder("mobilenet_v1_0.25")
    assert not finetune.supported("mobilenet_v1_0.25") and finetune.supported("mobilenet_v2_0.35")
    with pytest.raises(InputError, match="MobileNetV2"):
        finetune.BlockInputs(v1)
    with pytest.raises(InputError, match="MobileNetV2"):
        finetune.fine_tune(v1, run.head, inputs, np.zeros(len(inputs), int), split)
    with pytest.raises(InputError, match="learning rate"):
        finetune.FineTuneConfig(learning_rate=0).validate()
    with pytest.raises(InputError, match="two classes"):
        finetune.fine_tune(encoder, run.head, inputs, np.zeros(len(inputs), int), split)


@pytest.mark.slow
def test_train_page_fine_tunes_when_asked_and_the_test_page_uses_that_model(rps_train, monkeypatch):
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "streamlit_app.py"), default_timeout=300)
    at.run()
    s = at.session_state["teachable_studio"]
    for old, cls in zip(list(s.project.counts()), ("rock", "paper")):
        s.project.rename_class(old, cls)
        list(s.project.add_files((cls, f.name, f.read_bytes()) for f in sorted((rps_train / cls).iterdir())[:12]))
    at.switch_page("app_pages/train.py").run()
    toggle = at.toggle(key="cfg:finetune")
    assert not at.exception and toggle.value is False  # off by default
    at.selectbox(key="cfg:encoder").set_value("mobilenet_v1_0.25").run()
    assert at.toggle(key="cfg:finetune").disabled  # MobileNetV2 only
    at.selectbox(key="cfg:encoder").set_value("mobilenet_v2_0.35").run()
    at.toggle(key="cfg:finetune").set_value(True).run()
    at.number_input(key="cfg:epochs").set_value(8).run()
    next(b for b in at.button if b.label == "Train model").click().run()
    assert not at.exception
    rec = at.session_state["teachable_studio"].current
    assert rec.finetuned is not None and len(rec.finetuned.history) == finetune.FineTuneConfig().epochs
    assert rec.run.head is rec.finetuned.head and "fine-tuned" in rec.label
    assert rec.evaluation.accuracy == pytest.approx(rec.finetuned.history[-1].test_accuracy)
    # the mistakes panel reads the run's features with its head: they are the fine-tuned network's now
    test = rec.run.split.test
    said = rec.run.head.predict_proba(rec.features[test]).argmax(1)
    assert float((said == rec.dataset.labels[test]).mean()) == pytest.approx(rec.evaluation.accuracy)
    assert any("last block was fine-tuned" in m.value for m in at.markdown)
    # 24 samples, then 20 training ones mirrored: block inputs cached like embeddings
    assert sum(1 for k in at.session_state["teachable_studio"].cache._store if ">block_15_add" in k[0]) == 24 + 20
    at.switch_page("app_pages/test.py").run()
    assert not at.exception
    from tm_core.ui import state

    assert state.model_encoder(rec).name == "mobilenet_v2_0.35+fine-tuned"

    # Kept: a project file opened in a new session, and a reload from the server's copy, give the same
    # fine-tuned model (its block's weights, its embeddings, its predictions).
    from tm_core import project_file

    photos = np.stack([smp.data for smp in rec.dataset.samples[:4]])
    want = rec.run.head.predict_proba(state.model_encoder(rec).encode(photos))
    opened = state.Session()
    assert state.open_project_file(opened, project_file.open_project(project_file.save(state.project_file(s)))) == []
    reloaded = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "streamlit_app.py"), default_timeout=300)
    reloaded.query_params[state.PARAM] = s.token
    reloaded.run()
    assert not reloaded.exception
    for back in (opened.current, reloaded.session_state["teachable_studio"].current):
        assert back is not None and back.finetuned is not None and back.label == rec.label
        assert back.finetuned.weights.keys() == rec.finetuned.weights.keys()
        assert all(np.array_equal(a, b) for k in rec.finetuned.weights
                   for a, b in zip(back.finetuned.weights[k], rec.finetuned.weights[k]))
        assert np.array_equal(back.features, rec.features) and back.evaluation.accuracy == rec.evaluation.accuracy
        assert np.allclose(back.run.head.predict_proba(state.model_encoder(back).encode(photos)), want, atol=1e-6)
