"""Audio projects through the app's pages (AppTest) and the live microphone glue, on real Speech Commands clips."""

import contextlib
import io
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from conftest import app, click, sess, uploader

BACKGROUND = "Background Noise"


@pytest.fixture(scope="module")
def speech(datasets_dir) -> Path:
    return datasets_dir / "speech_commands" / "train"


def clips(root: Path, word: str, n: int, offset: int = 0) -> list[Path]:
    return sorted((root / word).glob("*.wav"))[offset:offset + n]


def audio_app() -> AppTest:
    """A new audio project made with the Gather page's "New project" control."""
    at = app()
    at.radio(key="new:kind").set_value("audio").run()
    click(at, "Start a new audio project")
    return at


def wavs(files: list[Path]) -> list[tuple[str, bytes, str]]:
    return [(f.name, f.read_bytes(), "audio/wav") for f in files]


def test_new_audio_project_starts_with_background_noise_that_cannot_be_renamed_or_deleted(speech, no_webrtc_component):
    from tm_core.encoders import default_encoder

    at = audio_app()
    s = sess(at)
    assert s.project.kind == "audio" and [c.name for c in s.project.classes] == [BACKGROUND, "Class 2"]
    assert s.encoder_name == default_encoder("audio")
    assert [t.value for t in at.text_input] == [BACKGROUND, "Class 2"]
    assert at.text_input[0].disabled and not at.text_input[1].disabled
    bg = s.project.background
    assert at.toggle(key=f"on:{bg.uid}").disabled
    assert not [b for b in at.button if b.key == f"del:{bg.uid}"]  # no delete for Background Noise
    assert any("20 seconds of your room" in c.value for c in at.caption)
    no_webrtc_component.clear()
    at.run()
    assert not no_webrtc_component  # the webcam recorder is for image projects only
    assert [t.label for t in at.tabs][:3] == ["Record", "Upload sounds", "Upload a folder"]
    assert any("cannot be renamed, disabled or deleted" in c.value for c in at.caption)  # and why

    # with samples, starting over needs a confirmation
    list(sess(at).project.add_files((BACKGROUND, f.name, f) for f in clips(speech, "background_noise", 2)))
    at.run()
    at.radio(key="new:kind").set_value("image").run()
    assert next(b for b in at.button if b.label == "Start a new image project").disabled
    at.checkbox(key="new:confirm").check().run()
    click(at, "Start a new image project")
    assert sess(at).project.kind == "image" and [t.value for t in at.text_input] == ["Class 1", "Class 2"]
    assert sess(at).encoder_name == default_encoder("image")


def test_upload_sounds_record_and_delete(speech):
    at = audio_app()
    p = sess(at).project
    bg, cls = p.background, p.classes[1]
    at.text_input[1].set_value("yes").run()
    assert cls.name == "yes"
    uploader(at, f"up:{bg.uid}").set_value(wavs(clips(speech, "background_noise", 12))).run()
    assert not at.exception
    files = wavs(clips(speech, "yes", 12)) + [("x.wav", np.random.default_rng(0).bytes(3000), "audio/wav")]
    uploader(at, f"up:{cls.uid}").set_value(files).run()
    assert not at.exception
    assert p.counts() == {BACKGROUND: 12, "yes": 12}
    assert any("Added 12 samples to yes" in s.value for s in at.success)
    assert any("x.wav" in w.value and "not added" in w.value for w in at.warning)
    assert any("Background Noise** has 12 samples" in w.value for w in at.warning)  # TM asks for 20
    assert len(at.get("image")) >= 24  # spectrogram thumbnails
    assert at.get("audio")  # playback

    # a 3-second recording becomes 3 one-second samples
    from tm_core import media

    wave = np.concatenate([media.load_audio(f) for f in clips(speech, "yes", 3, offset=20)])
    rec = next(a for a in at.get("audio_input") if a.key.startswith(f"rec:{cls.uid}"))
    rec.set_value(("recording.wav", media.wav_bytes(wave), "audio/wav")).run()
    assert not at.exception
    assert len(p.get_class("yes")) == 15 and any("Added 3 samples to yes" in s.value for s in at.success)
    sample = p.get_class("yes").samples[-1]
    at.button(key=f"rm:{cls.uid}:{sample.id}").click().run()
    assert len(p.get_class("yes")) == 14


@pytest.fixture(scope="module")
def trained(speech):
    """An audio project (Background Noise, yes, no; 12 real clips each) trained through the Train page."""
    import streamlit_webrtc

    with pytest.MonkeyPatch.context() as mp:  # module scope: the autouse stub is not there yet
        mp.setattr(streamlit_webrtc, "webrtc_streamer", lambda **kw: None)
        return _trained(speech)


def _trained(speech):
    at = audio_app()
    p = sess(at).project
    p.rename_class("Class 2", "yes")
    p.add_class("no")
    for cls, word in ((BACKGROUND, "background_noise"), ("yes", "yes"), ("no", "no")):
        added = list(p.add_files((cls, f.name, f.read_bytes()) for f in clips(speech, word, 12)))
        assert len(added) == 12
    at.switch_page("app_pages/train.py").run()
    assert not at.exception
    assert at.selectbox(key="cfg:encoder").value == "yamnet_speech"
    at.number_input(key="cfg:epochs").set_value(30).run()
    assert at.toggle(key="cfg:augment").value is False  # off by default (README: measured)
    at.toggle(key="cfg:augment").set_value(True).run()
    click(at, "Train model")
    return at


def test_train_page_trains_an_audio_model_on_augmented_views(trained):
    at = trained
    s = sess(at)
    rec = s.current
    assert rec is not None and rec.encoder == "yamnet_speech" and len(rec.run.history) == 30
    assert len(rec.run.split.test) == 6 and rec.evaluation.accuracy is not None
    n_train = len(rec.run.split.train)
    assert rec.run.info["augmented_views"] == 3 * n_train
    views = {k[2] for k in s.cache._store}
    assert views == {0, 1, 2, 3} and len(s.cache) == 36 + 3 * n_train
    assert any("altered copies" in m.value for m in at.markdown)


def test_test_page_classifies_a_sound_and_exports_audio_files(trained, speech, tmp_path, monkeypatch, no_webrtc_component):
    at = trained
    at.switch_page("app_pages/test.py").run()
    assert not at.exception
    assert no_webrtc_component[-1]["key"] == "test-microphone"
    constraints = no_webrtc_component[-1]["media_stream_constraints"]
    assert constraints["video"] is False and constraints["audio"]["noiseSuppression"] is False  # sound as recorded
    up = uploader(at, "test-upload:")
    bg = clips(speech, "background_noise", 1, offset=60)[0]
    up.set_value((bg.name, bg.read_bytes(), "audio/wav")).run()
    assert not at.exception
    top = next(m.value for m in at.markdown if m.value.startswith("### "))
    assert top.split(" · ")[0] == f"### {BACKGROUND}"
    assert at.get("vega_lite_chart")

    # a 3-second recording: three windows, a table second by second
    from tm_core import media

    wave = np.concatenate([media.load_audio(f) for f in clips(speech, "background_noise", 3, offset=70)])
    uploader(at, "test-upload:").set_value(None).run()
    next(a for a in at.get("audio_input") if a.key.startswith("test-record:")).set_value(("recording.wav", media.wav_bytes(wave), "audio/wav")).run()
    assert not at.exception
    assert len(at.dataframe) == 1 and len(at.dataframe[0].value) == 3
    uploader(at, "test-upload:").set_value(("x.wav", b"RIFF nonsense", "audio/wav")).run()
    assert any("x.wav" in e.value for e in at.error)

    click(at, "Prepare export files")
    files = sess(at).exports[sess(at).current.id]
    assert set(files) >= {"model.keras", "audio_layers.py", "labels.txt", "model_float32.tflite", "keras_audio.zip"}
    assert set(zipfile.ZipFile(io.BytesIO(files["keras_audio.zip"])).namelist()) == {
        "model.keras", "audio_layers.py", "labels.txt"}
    assert len(at.get("download_button")) == 2 and len(at.code) == 2
    # the snippets run as written next to the downloaded files and a clip
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    zipfile.ZipFile(io.BytesIO(files["keras_audio.zip"])).extractall(tmp_path)
    (tmp_path / "model_float32.tflite").write_bytes(files["model_float32.tflite"])
    (tmp_path / "clip.wav").write_bytes(bg.read_bytes())
    sys.modules.pop("audio_layers", None)
    for code in at.code:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(code.value, {})
        assert out.getvalue().split(": ")[1].startswith(BACKGROUND), code.value


# ---------------------------------------------------------------------------------------------
# The live microphone, without a browser: real clips in 20 ms chunks at 48 kHz


@pytest.fixture(scope="module")
def speech_predictor(speech, models_dir):
    from tm_core import media
    from tm_core.encoders import get_encoder
    from tm_core.predict import Predictor
    from tm_core.training import TrainConfig, train

    enc = get_encoder("yamnet_speech")
    names = [BACKGROUND, "yes", "no"]
    x, y = [], []
    for label, word in enumerate(("background_noise", "yes", "no")):
        for f in clips(speech, word, 30):
            x.append(media.load_audio(f))
            y.append(label)
    run = train(enc.encode(np.stack(x)), np.array(y), names, TrainConfig(epochs=40, test_fraction=0.0))
    return Predictor(enc, run.head, names)


def stream(live, wave16k: np.ndarray, rate: int = 48_000, chunk_ms: int = 20) -> list[np.ndarray]:
    """Feed a 16 kHz wave as the browser would (resampled to ``rate``, int16 chunks); the raw probabilities seen."""
    import soxr

    up = soxr.resample(wave16k, 16_000, rate)
    pcm = np.clip(np.rint(up * 32768), -32768, 32767).astype(np.int16)
    step = rate * chunk_ms // 1000
    seen, last = [], None
    for i in range(0, len(pcm), step):
        live.on_audio(pcm[i:i + step], rate)
        live.wait()
        now = live.stats()["last"]
        if now is not None and (last is None or not np.array_equal(now, last)):
            seen.append(now)
            last = now
    return seen


@pytest.mark.parametrize("threaded", [False, True])
def test_live_audio_prediction_classifies_a_streamed_clip(speech, speech_predictor, threaded):
    from tm_core import media
    from tm_core.live import LiveAudioPrediction

    live = LiveAudioPrediction(speech_predictor, hop_seconds=0.5, threaded=threaded)
    noise = [media.load_audio(f) for f in clips(speech, "background_noise", 2, offset=80)]
    yes = media.load_audio(clips(speech, "yes", 1, offset=80)[0])
    seen = stream(live, np.concatenate([noise[0], yes, noise[1]]))
    assert 4 <= len(seen) <= 6  # one window a half second once a full second was heard (3 s of sound)
    tops = [speech_predictor.class_names[int(p.argmax())] for p in seen]
    assert tops[0] == BACKGROUND and "yes" in tops, tops
    assert live.latest() is not None and abs(live.latest().sum() - 1) < 1e-6
    assert live.stats()["chunks"] == 150
    live.reset()
    assert live.latest() is None and live.level() == 0.0
    live.close()


def test_audio_callback_hears_stereo_frames_and_answers_with_silence():
    import av

    from tm_core.ui.webrtc import audio_callback

    class Ear:
        def __init__(self):
            self.heard = []

        def on_audio(self, samples, rate):
            self.heard.append((np.array(samples), rate))

    ear = Ear()
    t = np.arange(960) / 48_000
    left = (np.sin(2 * np.pi * 440 * t) * 16000).astype(np.int16)
    interleaved = np.stack([left, left], axis=1).reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(interleaved, format="s16", layout="stereo")
    frame.sample_rate = 48_000
    out = audio_callback(ear)(frame)
    (samples, rate), = ear.heard
    assert rate == 48_000 and samples.shape == (960, 2) and np.array_equal(samples[:, 0], left)
    assert out.samples == 960 and not out.to_ndarray().any()


@pytest.mark.slow
def test_overfitting_page_runs_the_lesson_for_an_audio_project(trained):
    """Same page, same charts and runs as for images (the lesson trains without views)."""
    at = trained
    at.switch_page("app_pages/overfitting.py").run()
    assert not at.exception and at.title[0].value == "Experiments"
    click(at, "Train for 5, 20, 50, 200 epochs")
    lessons = [r for r in sess(at).runs if r.label.startswith("Lesson")]
    assert [len(r.run.history) for r in lessons] == [5, 20, 50, 200]
    assert all(r.encoder == "yamnet_speech" for r in lessons)
    assert len(at.get("vega_lite_chart")) == 3 and len(at.dataframe) == 1


# ---------------------------------------------------------------------------------------------
# A sound's answer (tm_core.predict.predict_clip): its one-second windows each predicted, the mean


@pytest.mark.slow
def test_a_one_second_word_is_one_window(speech, speech_predictor):
    from tm_core import media, predict

    wave = media.load_audio(clips(speech, "yes", 1, offset=90)[0])
    answer = predict.predict_clip(speech_predictor, wave, "yes.wav")
    assert len(answer.windows) == 1 and answer.per_window.shape == (1, 3)
    np.testing.assert_allclose(answer.probs, speech_predictor.predict(answer.windows[0]), atol=1e-6)
    assert speech_predictor.class_names[answer.top] == "yes" and answer.best_window == 0


@pytest.mark.slow
def test_a_longer_sound_is_the_mean_of_its_seconds(speech, speech_predictor):
    from tm_core import media, predict

    noise = [media.load_audio(f) for f in clips(speech, "background_noise", 2, offset=90)]
    words = [media.load_audio(clips(speech, w, 1, offset=95)[0]) for w in ("yes", "no")]
    wave = np.concatenate([noise[0][:16000], words[0][:16000], noise[1][:16000], words[1][:16000]])
    answer = predict.predict_clip(speech_predictor, wave, "four seconds")
    assert len(answer.windows) == 4 and answer.per_window.shape == (4, 3)
    for window, row in zip(answer.windows, answer.per_window):  # each second as if it were alone
        np.testing.assert_allclose(row, speech_predictor.predict(window), atol=1e-5)
    np.testing.assert_allclose(answer.probs, answer.per_window.mean(axis=0), atol=1e-7)
    tops = [speech_predictor.class_names[int(i)] for i in answer.per_window.argmax(axis=1)]
    assert tops[1] == "yes" and tops[3] == "no", tops
    assert answer.best_window == int(answer.per_window[:, answer.top].argmax())
    same = predict.predict_windows(speech_predictor, media.clip_windows(wave), "four seconds")
    np.testing.assert_allclose(same.per_window, answer.per_window, atol=1e-6)


@pytest.mark.slow
def test_no_sound_is_an_input_error_naming_it(speech_predictor):
    from tm_core import predict
    from tm_core.errors import InputError

    with pytest.raises(InputError, match=r"empty\.wav: has no sound to classify"):
        predict.predict_clip(speech_predictor, np.zeros(0, np.float32), "empty.wav")
