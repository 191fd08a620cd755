"""The objects behind the live camera, without a browser: timing, threads, the av adapter.

Fast (no TensorFlow: the predictor is a stand-in). The browser test checks the same objects
with real frames and a real model.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from tm_core.live import BurstRecorder, LivePrediction
from tm_core.ui import state, webrtc


@pytest.fixture(autouse=True)
def _streamlit_unpatched(monkeypatch):
    """state.keep_keras_session (webrtc.use_model calls it) patches Streamlit's ScriptRunner; undo it after each test."""
    from streamlit.runtime.scriptrunner import script_runner

    monkeypatch.setattr(script_runner, "_clean_problem_modules", script_runner._clean_problem_modules)


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def camera(seed: int = 0, h: int = 360, w: int = 640) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def feed(rec: BurstRecorder, clock: Clock, fps: float, seconds: float, frame=None) -> None:
    frame = camera() if frame is None else frame
    start = clock.t
    for i in range(int(round(seconds * fps))):
        clock.t = start + i / fps
        rec.on_frame(frame)
    clock.t = start + seconds


def test_loopback_only_in_test_mode(monkeypatch):
    import aioice.ice

    original = aioice.ice.get_host_addresses
    monkeypatch.setattr(aioice.ice, "get_host_addresses", original)  # restored after the test
    monkeypatch.delenv(webrtc.LOOPBACK_ENV, raising=False)
    assert not webrtc.enable_loopback_if_testing()
    assert aioice.ice.get_host_addresses is original
    monkeypatch.setenv(webrtc.LOOPBACK_ENV, "1")
    assert webrtc.enable_loopback_if_testing() and webrtc.enable_loopback_if_testing()
    assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True) == ["127.0.0.1"]
    assert aioice.ice.get_host_addresses(use_ipv4=False, use_ipv6=True) == []


def test_streamlit_no_longer_clears_the_keras_session(monkeypatch):
    """Streamlit's clear_session after every run cleared TensorFlow's kernel cache (slow predictions)."""
    import sys
    import types

    from streamlit.runtime.scriptrunner import script_runner

    current = script_runner._clean_problem_modules  # Streamlit's own, even if an earlier test patched it
    monkeypatch.setattr(script_runner, "_clean_problem_modules", getattr(current, "original", current))
    cleared, closed = [], []
    keras = types.SimpleNamespace(backend=types.SimpleNamespace(clear_session=lambda: cleared.append(1)))
    pyplot = types.SimpleNamespace(close=closed.append)
    monkeypatch.setitem(sys.modules, "keras", keras)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", pyplot)
    script_runner._clean_problem_modules()
    assert cleared == [1]  # what Streamlit does by itself
    assert state.keep_keras_session() and state.keep_keras_session()
    script_runner._clean_problem_modules()
    assert cleared == [1] and closed == ["all", "all"]


def test_burst_teachable_machine_defaults():
    clock = Clock()
    rec = BurstRecorder(clock=clock)
    assert (rec.fps, rec.delay, rec.duration, rec.hold_to_record) == (24, 3.0, 6.0, False)
    assert rec.status() == ("idle", 0.0, 0)
    rec.on_frame(camera())  # not armed: ignored
    rec.start()
    feed(rec, clock, 30, 2.9)
    state, left, count = rec.status()
    assert state == "waiting" and left == pytest.approx(0.1) and count == 0
    clock.t += 0.1
    feed(rec, clock, 30, 3.0)
    state, left, count = rec.status()
    assert state == "recording" and left == pytest.approx(3.0) and 70 <= count <= 73
    feed(rec, clock, 30, 4.0)
    state, _, count = rec.status()
    assert state == "done" and count == 24 * 6  # a 30 fps camera, kept at 24 fps
    frames = rec.take()
    assert len(frames) == 144 and all(f.shape == (224, 224, 3) and f.dtype == np.uint8 for f in frames)
    assert rec.status() == ("idle", 0.0, 0)


def test_burst_crop_is_the_sample_crop():
    from PIL import Image

    from tm_core import media

    clock = Clock()
    rec = BurstRecorder(delay=0, duration=1, clock=clock)
    frame = camera(3, 480, 640)
    rec.start()
    rec.on_frame(frame)
    np.testing.assert_array_equal(rec.take()[0], media.fit_image(Image.fromarray(frame)))


def test_burst_slow_camera_keeps_every_frame_and_stop_ends_early():
    clock = Clock()
    rec = BurstRecorder(delay=0, duration=6, clock=clock)
    rec.start()
    feed(rec, clock, 15, 2.0)
    assert rec.status()[2] == 30
    rec.stop()
    feed(rec, clock, 15, 1.0)
    assert rec.status() == ("done", 0.0, 30)
    rec.start()  # re-arming forgets unclaimed frames
    assert rec.status()[2] == 0


def test_burst_hold_to_record_and_cap():
    clock = Clock()
    rec = BurstRecorder(hold_to_record=True, max_frames=50, clock=clock)
    rec.start()
    state, left, _ = rec.status()
    assert state == "recording" and left == float("inf")
    feed(rec, clock, 24, 1.0)
    rec.stop()
    assert rec.status() == ("done", 0.0, 24)
    rec.start()
    feed(rec, clock, 24, 5.0)
    assert rec.status() == ("done", 0.0, 50)
    rec.cancel()
    assert rec.status() == ("idle", 0.0, 0) and rec.take() == []
    with pytest.raises(ValueError):
        rec.configure(fps=0)


def test_burst_is_thread_safe():
    rec = BurstRecorder(fps=100, delay=0, duration=30)  # the real clock
    rec.start()
    frame = camera(1, 120, 160)

    def pump():
        for _ in range(60):
            rec.on_frame(frame)
            time.sleep(0.002)

    threads = [threading.Thread(target=pump) for _ in range(4)]
    for t in threads:
        t.start()
    polled = [rec.status()[2] for _ in range(200)]
    for t in threads:
        t.join()
    assert polled == sorted(polled)
    count = rec.status()[2]
    assert 0 < count == len(rec.take())


class SlowPredictor:
    """Stands in for tm_core.predict.Predictor: fixed probabilities after ``delay`` seconds."""

    def __init__(self, probs=(0.2, 0.8), names=("rock", "paper"), delay=0.05):
        self.class_names, self.probs, self.delay = list(names), np.array(probs), delay
        self.calls = 0
        self.shapes = set()

    def predict(self, image):
        self.calls += 1
        self.shapes.add((image.shape, image.dtype))
        time.sleep(self.delay)
        return self.probs


def wait_until(check, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_live_prediction_never_queues_and_draws_the_top_class():
    pred = SlowPredictor(delay=0.1)
    live = LivePrediction(pred, alpha=1.0)
    frame = np.zeros((360, 640, 3), np.uint8)
    try:
        assert live.latest()[0] is None
        start, fed = time.monotonic(), 0
        while time.monotonic() - start < 0.5:  # up to 100 fps for 0.5 s against 100 ms predictions
            out = live.on_frame(frame)
            fed += 1
            time.sleep(0.01)
        elapsed = time.monotonic() - start
        wait_until(lambda: live.stats()["predictions"] == pred.calls)
        # One prediction at a time, never a queue: at most one per 100 ms (plus the one running at the
        # end), however many frames came (measured against this run's own clock: a busy machine feeds fewer).
        assert 1 <= pred.calls <= elapsed / 0.1 + 1 and fed > 2 * pred.calls
        assert pred.shapes == {((224, 224, 3), np.dtype(np.uint8))}
        probs, fps = live.latest()
        np.testing.assert_allclose(probs, [0.2, 0.8])
        assert 0.6 * fed / elapsed < fps < 1.4 * fed / elapsed  # the frame rate shown is the one fed
        assert live.stats()["latency_ms"] >= 100
        out = live.on_frame(frame)
        assert out.shape == frame.shape and out[:40, :200].any() and not out[200:].any()  # the label
    finally:
        live.close()


def test_live_prediction_mirrors_the_view_not_the_model_input():
    class Recording(SlowPredictor):
        def predict(self, image):
            self.seen = image.copy()
            return super().predict(image)

    pred = Recording(delay=0)
    live = LivePrediction(pred, mirror=True, overlay=False)
    frame = np.zeros((224, 224, 3), np.uint8)
    frame[:, :50] = 255  # bright on the left
    try:
        out = live.on_frame(frame)
        wait_until(lambda: live.stats()["predictions"] == 1)
        assert out[:, -50:].min() == 255 and out[:, :50].max() == 0
        np.testing.assert_array_equal(pred.seen, frame)
    finally:
        live.close()


def test_live_prediction_swap_discards_the_old_models_answer():
    old, new = SlowPredictor((0.9, 0.1), delay=0.3), SlowPredictor((0.1, 0.2, 0.7), ("a", "b", "c"), delay=0)
    live = LivePrediction(old, alpha=0.5)
    frame = camera()
    try:
        live.on_frame(frame)
        wait_until(lambda: old.calls == 1)
        live.set_predictor(new)  # while old is still predicting
        assert live.class_names == ["a", "b", "c"]
        time.sleep(0.4)
        assert live.latest()[0] is None  # the old answer was dropped
        live.on_frame(frame)
        wait_until(lambda: live.latest()[0] is not None)
        np.testing.assert_allclose(live.latest()[0], [0.1, 0.2, 0.7])
        live.set_predictor(None)
        assert live.on_frame(frame) is frame and live.latest()[0] is None
    finally:
        live.close()


def test_video_callback_feeds_every_target_and_survives_errors():
    import av

    class Broken:
        def on_frame(self, frame):
            raise RuntimeError("boom")

    clock = Clock()
    rec = BurstRecorder(delay=0, duration=5, clock=clock)
    rec.start()
    live = LivePrediction(SlowPredictor(delay=0), mirror=True)
    try:
        frame = av.VideoFrame.from_ndarray(camera(), format="rgb24")
        out = webrtc.video_callback(Broken(), rec, live)(frame)
        assert isinstance(out, av.VideoFrame) and (out.width, out.height) == (640, 360)
        np.testing.assert_array_equal(out.to_ndarray(format="rgb24"), camera()[:, ::-1])
        assert rec.status()[2] == 1
        assert webrtc.video_callback(rec)(frame) is frame  # nothing to draw: the camera's frame
    finally:
        live.close()


SESSION_SCRIPT = """
from tm_core.live import BurstRecorder
from tm_core.ui import webrtc
import streamlit as st
rec = webrtc.session_object("burst", BurstRecorder)
st.text(str(id(rec)))
"""


def test_session_objects_are_per_session():
    from streamlit.testing.v1 import AppTest

    one, two = AppTest.from_string(SESSION_SCRIPT), AppTest.from_string(SESSION_SCRIPT)
    first = one.run().text[0].value
    assert one.run().text[0].value == first  # same session, rerun: same object
    assert two.run().text[0].value != first  # another session: its own


def test_garbage_collector_is_settled_once_per_encoder_not_per_fine_tuned_copy():
    """Each freeze also freezes every other session's objects alive then: a student's fine-tuned
    model going live must not freeze again (their later garbage would never be collected)."""
    import types

    base = types.SimpleNamespace(name="test-encoder-for-gc")
    assert state.settle_garbage_collector(base)
    assert not state.settle_garbage_collector(types.SimpleNamespace(name="test-encoder-for-gc"))
    assert not state.settle_garbage_collector(types.SimpleNamespace(name="test-encoder-for-gc+fine-tuned"))
    assert state.settle_garbage_collector(types.SimpleNamespace(name="another-test-encoder+fine-tuned"))
