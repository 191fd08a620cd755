"""Test-only app: the live camera with a tiny real model, a burst recorder and plain-text readouts.

Run by tests/e2e/test_webrtc_live.py (``streamlit run``, fake camera in Chromium). The readouts
are plain text so the test can parse them; the bars are what the real Test page shows.
"""

import streamlit_webrtc  # noqa: F401  (must precede anything that imports TensorFlow)

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import streamlit as st  # noqa: E402
from streamlit_webrtc import WebRtcMode, webrtc_streamer  # noqa: E402

from tm_core.live import BurstRecorder, LivePrediction  # noqa: E402
from tm_core.ui import webrtc  # noqa: E402

CLASSES = ("rock", "paper")
PHOTOS_PER_CLASS = 6
BURST = {"fps": 24, "delay": 1.0, "duration": 3.0}  # shorter than Teachable Machine's 3 s + 6 s

st.set_page_config(page_title="Live test app")
st.title("Live test app")

live = webrtc.session_object("live", lambda: LivePrediction(alpha=0.5, mirror=True))
recorder = webrtc.session_object("burst", lambda: BurstRecorder(**BURST))

# Rendered early and unconditionally: a component that is sometimes skipped loses its connection.
ctx = webrtc_streamer(
    key="live",
    mode=WebRtcMode.SENDRECV,
    rtc_configuration=webrtc.rtc_configuration(),
    media_stream_constraints={"video": True, "audio": False},
    video_frame_callback=webrtc.video_callback(recorder, live),
)


@st.cache_resource(show_spinner="Training a tiny model…")
def tiny_predictor():
    """A real head on real photos: 6 rock and 6 paper pictures from ../shared/datasets/rps_real."""
    import numpy as np

    from tm_core import media
    from tm_core.predict import Predictor
    from tm_core.training import TrainConfig, train
    from tm_core.ui.state import encoder

    root = REPO.parent / "shared" / "datasets" / "rps_real" / "train"
    images, labels = [], []
    for label, name in enumerate(CLASSES):
        for path in sorted((root / name).iterdir())[:PHOTOS_PER_CLASS]:
            images.append(media.image_to_array(path))
            labels.append(label)
    enc = encoder("mobilenet_v2_0.35")
    run = train(enc.encode(np.stack(images)), np.array(labels), list(CLASSES), TrainConfig(epochs=10))
    return Predictor(enc, run.head, list(CLASSES))


webrtc.use_model(live, tiny_predictor())
st.text("model: ready")

if st.button("Record"):
    recorder.start()


@st.fragment(run_every=0.5)
def readouts() -> None:
    probs, fps = live.latest()
    stats = live.stats()
    if probs is None:
        st.text("probabilities: waiting for frames")
    else:
        for name, p in zip(live.class_names, probs):
            st.progress(float(min(max(p, 0.0), 1.0)), text=f"{name}: {p * 100:.1f}%")
    latency, wait = stats["latency_ms"], stats["wait_ms"]
    st.text(f"frames: {stats['frames']} predictions: {stats['predictions']} fps: {fps:.1f} "
            f"latency_ms: {latency if latency is None else round(latency, 1)} "
            f"wait_ms: {wait if wait is None else round(wait, 1)} "
            f"predictions_per_s: {stats['predictions_per_s']:.1f}")
    state, left, count = recorder.status()
    st.text(f"burst: {state} count: {count} left: {left:.1f}")


readouts()
