"""Test the model (webcam, uploaded image) and export it."""

import streamlit_webrtc  # noqa: F401  (before anything that imports TensorFlow)
import streamlit as st
from streamlit_webrtc import WebRtcMode, webrtc_streamer

from tm_core import charts, export, media
from tm_core.errors import InputError
from tm_core.predict import Predictor
from tm_core.ui import state, webrtc
from tm_core.ui.widgets import UPLOAD_IMAGE_TYPES, require_model

sess = state.session()

DOWNLOADS = [
    # (kind, label, file name, what it is)
    ("keras", "model.keras", "model.keras",
     "Keras 3: the whole model, preprocessing inside. Input: RGB pixels (uint8), 224×224."),
    ("tm_h5", "Teachable Machine Keras (.zip)", "converted_keras.zip",
     "keras_model.h5 + labels.txt in Teachable Machine's layout: its published snippet runs it as is."),
    ("tflite_float32", "TFLite float32", "model_float32.tflite",
     "For phones and small boards (LiteRT). Same predictions as the app."),
    ("tflite_int8", "TFLite int8", "model_int8.tflite",
     "About a third of the size, for small devices; may disagree with the app on hard pictures (rock-paper-scissors: 1 in 10)."),
]


def predictor(rec) -> Predictor:
    return Predictor(state.encoder(rec.encoder), rec.run.head, rec.run.class_names)


def live_webcam(rec) -> None:
    """The webcam through the model, bars updated several times a second, top class drawn on the video."""
    st.subheader("Live webcam")
    live = webrtc.session_object("live", lambda: webrtc.LivePrediction(alpha=0.5, mirror=True))
    if live.predictor is None or getattr(live.predictor, "head", None) is not rec.run.head:
        live.set_predictor(predictor(rec))
    left, right = st.columns([3, 2])
    with left:
        webrtc_streamer(key="test-camera", mode=WebRtcMode.SENDRECV, rtc_configuration=webrtc.rtc_configuration(),
                        media_stream_constraints={"video": True, "audio": False},
                        video_frame_callback=webrtc.video_callback(live))
        live.mirror = st.toggle("Mirror the video", value=True, help="Like a mirror; the model sees the same either way.")
    with right:
        live_bars(live)


@st.fragment(run_every=0.3)
def live_bars(live) -> None:
    probs, fps = live.latest()
    if probs is None:
        st.caption("Press START to turn the camera on; the model's answer shows here.")
        return
    for name, p in zip(live.class_names, probs):
        st.progress(float(min(max(p, 0.0), 1.0)), text=f"{name}: {p:.0%}")
    st.caption(f"{fps:.0f} frames/s")


def test_on_image(rec) -> None:
    st.subheader("Test on a picture")
    k = f"test-upload:{st.session_state.setdefault('test-nonce', 0)}"
    upload = st.file_uploader("An image file", type=UPLOAD_IMAGE_TYPES, key=k)
    if upload is None:
        return
    try:
        image = media.image_to_array(upload.getvalue(), upload.name)
    except InputError as e:
        st.error(str(e))
        return
    probs = predictor(rec).predict(image)
    left, right = st.columns([1, 2])
    left.image(image, caption="What the model sees (224×224 centre crop)")
    top = int(probs.argmax())
    right.markdown(f"### {rec.run.class_names[top]} · {probs[top]:.0%}")
    right.altair_chart(charts.probability_chart(rec.run.class_names, probs))


def downloads(rec) -> None:
    st.subheader("Export")
    files = sess.exports.get(rec.id)
    if files is None:
        st.write("Export the model to use it outside the app. Preparing all formats takes about half a minute "
                 "(the int8 version is calibrated on your own samples).")
        if st.button("Prepare export files"):
            status = st.status("Exporting…", expanded=True)
            train_images = [rec.dataset.samples[i].data for i in rec.run.split.train]
            files = export.export_bytes(state.encoder(rec.encoder), rec.run.head, rec.run.class_names,
                                        export.calibration_images(train_images), on_step=status.write)
            files["converted_keras.zip"] = export.tm_keras_zip(files)
            sess.exports = {rec.id: files}
            status.update(label="Export files ready", state="complete")
            st.rerun()
        return
    for kind, label, name, what in DOWNLOADS:
        with st.container(border=True):
            left, right = st.columns([1, 3])
            left.download_button(label, files[name], icon=":material/download:", file_name=name, key=f"dl:{kind}", width="stretch")
            right.caption(what)
            right.code(export.snippet(kind, rec.run.class_names), language="python")


st.title("Test & export")
rec = require_model(sess)
if rec is not None:
    if len(sess.runs) > 1:  # any kept run can be the one to test and export, e.g. the lesson's best
        labels = [r.label for r in sess.runs]
        chosen = st.selectbox("Model", labels, index=labels.index(rec.label),
                              help="The latest training is used unless you pick another run.")
        rec = sess.current = next(r for r in sess.runs if r.label == chosen)
    st.caption(f"Model: {rec.label} · held-out accuracy "
               f"{'–' if rec.evaluation.accuracy is None else f'{rec.evaluation.accuracy:.0%}'}")
    if sess.project_changed_since(rec):
        st.warning("Your samples changed since this model was trained: train again to include them.")
    live_webcam(rec)  # early: the WebRTC component must not come and go between reruns
    test_on_image(rec)
    downloads(rec)
