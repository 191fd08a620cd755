"""Audio projects in the engine: YAMNet rebuilt in Keras, speech features, views, training, export, CLI.

Real clips only (speech_commands: 16 kHz, 1 s; fsdd_digits: 8 kHz, trimmed), the real YAMNet file.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tm_core import augment, export, media
from tm_core.errors import InputError
from tm_core.features import FeatureCache
from tm_core.predict import ExportedModel, Predictor, TFLiteModel
from tm_core.project import BACKGROUND, Project
from tm_core.training import TrainConfig, split_per_class, train

REPO = Path(__file__).resolve().parent.parent
WORDS = ("yes", "no")


@pytest.fixture(scope="module")
def speech(datasets_dir) -> Path:
    return datasets_dir / "speech_commands" / "train"


def clips(root: Path, cls: str, n: int, offset: int = 0) -> list[Path]:
    return sorted((root / cls).iterdir())[offset:offset + n]


@pytest.fixture(scope="module")
def audio_encoder(models_dir):
    from tm_core.encoders import get_encoder

    return get_encoder("yamnet_speech")


@pytest.fixture(scope="module")
def yamnet_weights(models_dir):
    from tm_core.encoders import audio

    return audio.load_weights()


# --- YAMNet in Keras --------------------------------------------------------------------------


def test_keras_yamnet_matches_the_tflite_file_on_real_clips(yamnet_weights, models_dir, speech):
    """Front end and body agree with the file, within the rounding of its int8 hybrid kernels."""
    import keras
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from tm_core.encoders import audio

    model = audio.yamnet_model(yamnet_weights, 15_600, scores=True)  # YAMNet's own 0.975 s patch
    it = Interpreter(model_path=str(models_dir / "audio" / audio.YAMNET_FILE),
                     experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
                     experimental_preserve_all_tensors=True)
    it.allocate_tensors()
    details = it.get_tensor_details()
    computed = {op["outputs"][0]: op for op in it._get_ops_details()}

    def output_of(prefix):
        return next(d["index"] for d in details if d["index"] in computed and d["name"].startswith(prefix))

    log_mel_idx, layer12_idx = output_of("yamnet_frames/tf_op_layer_Log"), output_of("yamnet_frames/layer12/pointwise_conv/relu")
    scores_idx = next(o["index"] for o in it.get_output_details() if o["name"] == "Identity")
    sub = keras.Model(model.input, [model.get_layer("log_mel").output, model.get_layer("layer12_pw").output,
                                    model.get_layer("scores").output])
    files = [f for cls in ("yes", "up", "background_noise") for f in clips(speech, cls, 2)]
    for f in files:
        wave = media.load_audio(f)[:15_600]
        it.set_tensor(it.get_input_details()[0]["index"], wave)
        it.invoke()
        ours = [a.numpy()[0].ravel() for a in sub(wave[None])]
        theirs = [it.get_tensor(i).ravel() for i in (log_mel_idx, layer12_idx, scores_idx)]
        cos = [float(a @ b / np.linalg.norm(a) / np.linalg.norm(b)) for a, b in zip(ours[:2], theirs[:2])]
        # The file's mel matrix and convolutions are int8 "hybrid" ops that quantize their inputs on
        # the fly: quiet mel bands carry that rounding into the log. Measured: cos 0.998-0.99999.
        assert cos[0] > 0.995 and cos[1] > 0.99, (f.name, cos)
        assert ours[2].argmax() == theirs[2].argmax(), f.name  # the same AudioSet class on top


def test_log_mel_layer_gives_yamnets_frames(yamnet_weights):
    from tm_core.encoders import audio

    m = audio.yamnet_model(yamnet_weights, 16_000)
    out = m(np.zeros((2, 16_000), np.float32))
    assert tuple(out["log_mel"].shape) == (2, 98, 64)  # 1 + (16000 - 400) // 160
    assert np.allclose(out["log_mel"].numpy(), np.log(0.001), atol=1e-4)  # silence: the log offset only


def test_audio_encoder_shapes_batches_and_silence(audio_encoder, speech):
    waves = np.stack([media.load_audio(f) for f in clips(speech, "yes", 3)])
    batch = audio_encoder.encode(waves)
    assert batch.shape == (3, audio_encoder.dim) and batch.dtype == np.float32 and audio_encoder.dim == 3584
    assert np.allclose(audio_encoder.encode(waves[1]), batch[1:2], atol=1e-5)
    assert not np.allclose(batch[0], batch[1])
    with pytest.raises(ValueError):
        audio_encoder.encode(np.zeros((1, 8_000), np.float32))


# --- Project, views, training -----------------------------------------------------------------


def test_audio_project_starts_with_background_noise_that_stays(speech):
    p = Project("audio")
    assert [c.name for c in p.classes] == [BACKGROUND, "Class 2"] and p.background is p.classes[0]
    for action in (lambda: p.rename_class(BACKGROUND, "noise"), lambda: p.delete_class(BACKGROUND),
                   lambda: p.set_enabled(BACKGROUND, False)):
        with pytest.raises(InputError, match="audio projects need it"):
            action()
    added = list(p.add_files([("Class 2", f.name, f) for f in clips(speech, "yes", 4)]))
    assert len(added) == 4 and all(s.data.shape == (16_000,) for s in added)
    with pytest.raises(InputError, match="Background Noise samples"):
        p.check_trainable()
    with pytest.raises(InputError, match="two enabled classes"):
        p.check_trainable(require_background=False)
    # a long recording becomes one sample per second; a background folder goes to Background Noise
    long = media.wav_bytes(np.concatenate([media.load_audio(f) for f in clips(speech, "background_noise", 3)]))
    got = list(p.add_files([("background_noise", "room.wav", long), ("Class 2", "junk.wav", b"RIFF0000WAVEjunk")]))
    assert [s.name for s in got if not isinstance(s, InputError)] == ["room.wav · 1/3", "room.wav · 2/3", "room.wav · 3/3"]
    assert isinstance(got[-1], InputError) and "junk.wav" in str(got[-1])
    assert p.counts() == {BACKGROUND: 3, "Class 2": 4}
    p.check_trainable()


def test_views_are_deterministic_label_preserving_and_only_of_training_samples(audio_encoder, speech):
    p = Project("audio", class_names=[])
    for cls in ("background_noise", *WORDS):
        list(p.add_files([(cls, f.name, f) for f in clips(speech, cls, 10)]))
    ds = p.dataset()
    cache = FeatureCache()
    cache.embed(audio_encoder, ds.samples)
    split = split_per_class(ds.labels, 0.2, 0)
    _feats, labels = augment.embed_views(cache, audio_encoder, ds, split)
    assert len(labels) == augment.AUDIO_VIEWS * len(split.train)
    assert np.array_equal(labels[: len(split.train)], ds.labels[split.train])
    test_ids = {ds.samples[i].id for i in split.test}
    viewed = {key[1] for key in cache._store if key[2] > 0}
    assert viewed == {ds.samples[i].id for i in split.train} and not viewed & test_ids
    s = ds.samples[split.train[0]]
    noise = [ds.samples[i].data for i in split.train if ds.labels[i] == 0]
    v1 = augment.audio_view(s.data, s.id, 1, noise)
    assert np.array_equal(v1, augment.audio_view(s.data, s.id, 1, noise)) and v1.shape == (16_000,)
    assert not np.array_equal(v1, augment.audio_view(s.data, s.id, 2, noise))
    assert np.abs(v1).max() <= 1.0
    # cached: a second call embeds nothing new
    before = len(cache)
    augment.embed_views(cache, audio_encoder, ds, split)
    assert len(cache) == before


def test_extra_training_rows_are_trained_on_never_tested(audio_encoder, speech):
    x = np.random.default_rng(0).normal(size=(40, 8)).astype(np.float32)
    y = np.repeat([0, 1], 20)
    split = split_per_class(y, 0.25, 0)
    cfg = TrainConfig(epochs=3)
    plain = train(x, y, ["a", "b"], cfg, split=split)
    more = train(x, y, ["a", "b"], cfg, split=split, extra=(x[split.train] + 0.1, y[split.train]))
    assert np.array_equal(more.split.test, plain.split.test) and np.array_equal(more.split.train, plain.split.train)
    assert not np.allclose(more.head.w1, plain.head.w1)  # twice the batches per epoch


# --- Export, CLI ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def audio_export(audio_encoder, speech, tmp_path_factory):
    p = Project("audio", class_names=[])
    for cls in ("background_noise", *WORDS):
        list(p.add_files([(cls, f.name, f) for f in clips(speech, cls, 12)]))
    ds = p.dataset()
    cache = FeatureCache()
    cache.embed(audio_encoder, ds.samples)
    run = train(cache.matrix(audio_encoder.name, ds.samples), ds.labels, ds.class_names, TrainConfig(epochs=10))
    out = tmp_path_factory.mktemp("audio_export")
    written = export.export_all(out, audio_encoder, run.head, ds.class_names, np.zeros((0, 16_000), np.float32))
    assert set(written) == set(export.AUDIO_FILES)
    unseen = np.stack([media.load_audio(f) for cls in ("background_noise", *WORDS) for f in clips(speech, cls, 2, 50)])
    return out, Predictor(audio_encoder, run.head, ds.class_names), ds.class_names, unseen


@pytest.mark.slow
def test_exported_audio_models_predict_what_the_app_predicts(audio_export):
    out, predictor, names, unseen = audio_export
    app = predictor.predict(unseen)
    keras_model = ExportedModel(out)
    assert keras_model.class_names == names and keras_model.kind == "audio"
    assert np.abs(keras_model.predict(unseen) - app).max() < 1e-4
    tflite = TFLiteModel(out / "model_float32.tflite")
    assert np.abs(tflite.predict(unseen) - app).max() < 1e-4


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["keras", "tflite_float32"])
def test_audio_snippets_run_as_written(audio_export, speech, tmp_path, kind):
    out, predictor, names, _ = audio_export
    for f in out.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    clip = clips(speech, "yes", 1, 60)[0]
    (tmp_path / "clip.wav").write_bytes(clip.read_bytes())
    (tmp_path / "snippet.py").write_text(export.audio_snippet(kind, names))
    r = subprocess.run([sys.executable, "snippet.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    probs = predictor.predict(media.load_audio(clip))
    assert r.stdout.strip() == f"0 s: {names[int(probs.argmax())]} {float(probs.max()):.2f}"


def cli(*args):
    import os

    return subprocess.run([sys.executable, "-m", "tm_core", *map(str, args)], cwd=REPO, capture_output=True, text=True,
                          timeout=600, env={**os.environ, "PYTHONPATH": str(REPO)})


@pytest.mark.slow
def test_cli_trains_evaluates_and_predicts_audio(speech, tmp_path):
    data, test = tmp_path / "data", tmp_path / "test"
    for cls in ("background_noise", *WORDS):
        for root, offset, n in ((data, 0, 15), (test, 60, 5)):
            (root / cls).mkdir(parents=True)
            for f in clips(speech, cls, n, offset):
                (root / cls / f.name).write_bytes(f.read_bytes())
    (data / "yes" / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot audio")
    out = tmp_path / "out"
    r = cli("train", data, "--kind", "audio", "--out", out, "--epochs", 20, "--no-tflite", "--augment")
    assert r.returncode == 0, r.stderr
    assert "skipped yes/broken.wav" in r.stderr and "augmented views" in r.stderr and "Traceback" not in r.stderr
    assert (out / "labels.txt").read_text() == f"0 {BACKGROUND}\n1 no\n2 yes\n"
    run = json.loads((out / "run.json").read_text())
    assert run["encoder"] == "yamnet_speech" and run["augmented_views"] == 3 * (45 - run["n_test"])
    r = cli("evaluate", out, test)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["n"] == 15 and result["accuracy"] >= 0.6  # 3 classes, 5 unseen speakers each
    r = cli("predict", out, clips(speech, "yes", 1, 70)[0], tmp_path / "missing.wav")
    assert r.returncode == 2 and "missing.wav" in r.stderr
    assert r.stdout.count("\n") == 1 and ": " in r.stdout
