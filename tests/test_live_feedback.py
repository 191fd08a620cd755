"""Live test view feedback (issue 19, item 10): the bars say what the video's label says, and after
STOP neither the bars nor the frame rate stay beside a stopped camera."""

import time
from types import SimpleNamespace

import numpy as np
import pytest
import streamlit_webrtc

from tm_core.live import LivePrediction

from conftest import frame_targets


class Stepping:
    """A model whose answer moves on at every call (the real one's moves as the student moves)."""

    def __init__(self):
        self.class_names = ["rock", "paper"]
        self.calls = 0

    def predict(self, image):
        self.calls += 1
        p = min(0.1 * self.calls, 1.0)
        return np.array([1 - p, p])


def settle(live: LivePrediction) -> None:
    end = time.monotonic() + 5
    while live._busy and time.monotonic() < end:
        time.sleep(0.005)


def test_the_bars_show_what_the_video_label_shows():
    live = LivePrediction(Stepping(), alpha=0.5)
    frame = np.zeros((240, 320, 3), np.uint8)
    try:
        live.on_frame(frame)  # starts prediction 1; nothing drawn yet
        settle(live)
        first, _ = live.latest()
        assert first is not None  # before any label: the newest answer
        live.on_frame(frame)  # draws the first answer, starts prediction 2
        settle(live)
        newest = live.smoother.value
        assert not np.allclose(newest, first)  # the model has moved on since that frame was labelled
        shown, _ = live.latest()
        np.testing.assert_allclose(shown, first)  # the bars keep what the video says until the next frame
        live.on_frame(frame)  # the next frame carries the newest answer, and so do the bars
        np.testing.assert_allclose(live.latest()[0], newest)
    finally:
        live.close()


@pytest.mark.slow
def test_stop_clears_the_live_bars_and_the_frame_rate(rps_train, monkeypatch, no_webrtc_component):
    from test_app import trained_app

    playing = {"on": True}

    def streamer(**kw):  # the component cannot run under AppTest: its state says whether the camera plays
        no_webrtc_component.append(kw)
        return SimpleNamespace(state=SimpleNamespace(playing=playing["on"]))

    monkeypatch.setattr(streamlit_webrtc, "webrtc_streamer", streamer)
    at = trained_app(rps_train)
    at.switch_page("app_pages/test.py").run()
    assert not at.exception
    live, = frame_targets(no_webrtc_component[-1])
    frame = np.asarray(__import__("PIL.Image", fromlist=["Image"]).open(
        sorted((rps_train / "rock").iterdir())[100]).convert("RGB"))
    for _ in range(3):
        live.on_frame(frame)
        settle(live)
    assert live.latest()[0] is not None
    playing["on"] = False  # STOP
    at.run()
    assert not at.exception
    assert live.latest()[0] is None
    assert not any("frames/s" in c.value for c in at.caption)
    assert not [p for p in at.get("progress")]
    assert any("Press START to turn the camera on" in c.value for c in at.caption)
