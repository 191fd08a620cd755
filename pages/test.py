"""Test the model (webcam or microphone, uploaded image or sound) and export it."""

import numpy as np
import pandas as pd
import streamlit_webrtc  # noqa: F401  (before anything that imports TensorFlow)
import streamlit as st
from streamlit_webrtc import WebRtcMode, webrtc_streamer

from tm_core import charts, export, media
from tm_core.errors import InputError
from tm_core.predict import Predictor
from tm_core.ui import explain, keypoints, state, webrtc
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

AUDIO_DOWNLOADS = [
    ("keras", "Keras (.zip)", "keras_audio.zip",
     "model.keras + audio_layers.py + labels.txt: unzip them into one folder. Input: 1 second of 16 kHz mono "
     "sound (16000 float32 values in [-1, 1]); the spectrogram is computed inside."),
    ("tflite_float32", "TFLite float32", "model_float32.tflite",
     "For phones and small boards (LiteRT). Same input, same predictions as the app."),
]


def predictor(rec) -> Predictor:
    enc = state.model_encoder(rec)  # the fine-tuned copy when the run fine-tuned the last block
    make = keypoints.KeypointPredictor if keypoints.is_keypoint(enc.kind) else Predictor
    return make(enc, rec.run.head, rec.run.class_names)


def live_webcam(rec) -> None:
    """The webcam through the model, bars updated several times a second, top class drawn on the video."""
    st.subheader("Live webcam")
    live = webrtc.session_object("live", lambda: webrtc.LivePrediction(alpha=0.5, mirror=True))
    if live.predictor is None or getattr(live.predictor, "head", None) is not rec.run.head:
        live.set_predictor(predictor(rec))
    live.prepare = keypoints.prepare_frame(state.encoder(rec.encoder).kind)  # pose, hands: the whole frame, padded
    left, right = st.columns([3, 2])
    with left:
        webrtc_streamer(key="test-camera", mode=WebRtcMode.SENDRECV, rtc_configuration=webrtc.rtc_configuration(),
                        media_stream_constraints={"video": True, "audio": False},
                        video_frame_callback=webrtc.video_callback(live))
        live.mirror = st.toggle("Mirror the video", value=True, help="Like a mirror; the model sees the same either way.")
    with right:
        live_bars(live)


def bars(names, probs) -> None:
    """One bar per class, as Teachable Machine shows its live output."""
    for name, p in zip(names, probs):
        st.progress(float(min(max(p, 0.0), 1.0)), text=f"{name}: {p:.0%}")


@st.fragment(run_every=0.3)
def live_bars(live) -> None:
    probs, fps = live.latest()
    if probs is None:
        st.caption("Press START to turn the camera on; the model's answer shows here.")
        return
    bars(live.class_names, probs)
    if live.stats()["found"] is False:
        st.caption(f"No {keypoints.thing(sess.project.kind)} in view: the bars show the last answer.")
    st.caption(f"{fps:.0f} frames/s")


# The model learned from sound as recorded: no echo cancelling, noise suppression or gain riding.
RAW_AUDIO = {"echoCancellation": False, "noiseSuppression": False, "autoGainControl": False}


def live_microphone(rec) -> None:
    """The microphone through the model: the last second is classified every hop, bars polled ~3×/s."""
    st.subheader("Live microphone")
    live = webrtc.session_object("live-audio", lambda: webrtc.LiveAudioPrediction(hop_seconds=0.5, alpha=0.5))
    if live.predictor is None or getattr(live.predictor, "head", None) is not rec.run.head:
        live.set_predictor(predictor(rec))
    left, right = st.columns([3, 2])
    with left:
        ctx = webrtc_streamer(key="test-microphone", mode=WebRtcMode.SENDRECV,
                              rtc_configuration=webrtc.rtc_configuration(),
                              media_stream_constraints={"video": False, "audio": RAW_AUDIO},
                              audio_frame_callback=webrtc.audio_callback(live))
        if ctx is not None and not ctx.state.playing and live.latest() is not None:
            live.reset()  # the microphone was stopped: no stale answer next time
        live.hop_seconds = st.slider("Classify every … s", 0.1, 1.0, 0.5, step=0.1, key="live:hop",
                                     help="The last second of sound is classified this often: "
                                          "smaller means more overlap between windows and quicker answers.")
    with right:
        live_audio_bars(live)


@st.fragment(run_every=0.3)
def live_audio_bars(live) -> None:
    probs = live.latest()
    if probs is None:
        st.caption("Press START to turn the microphone on; after one second the model's answer shows here.")
        return
    bars(live.class_names, probs)
    st.caption(f"Loudness {live.level():.2f} · {live.stats()['predictions']} predictions")


def test_on_sound(rec) -> None:
    """A recording or a sound file: cut into 1-second windows, each predicted, the mean shown."""
    st.subheader("Test on a sound")
    n = st.session_state.setdefault("test-nonce", 0)
    record, upload = st.tabs(["Record", "Upload a sound"])
    with record:
        clip = st.audio_input("Record a sound", key=f"test-record:{n}")
    with upload:
        file = st.file_uploader("A sound file", type=list(media.AUDIO_EXTENSIONS), key=f"test-upload:{n}")
    source = file if file is not None else clip
    if source is None:
        return
    try:
        wave = media.load_audio(source.getvalue(), getattr(source, "name", "recording") or "recording")
    except InputError as e:
        st.error(str(e))
        return
    windows = media.clip_windows(wave)
    if not windows:
        st.error(f"{source.name}: has no sound")
        return
    per_window = predictor(rec).predict(np.stack(windows))
    probs = per_window.mean(axis=0)
    names = rec.run.class_names
    top = int(probs.argmax())
    left, right = st.columns([1, 2])
    left.audio(wave, sample_rate=media.SAMPLE_RATE)
    left.image(media.spectrogram_image(wave), caption=f"{len(wave) / media.SAMPLE_RATE:.1f} s · "
               f"{len(windows)} one-second window{'s' if len(windows) != 1 else ''}", width="stretch")
    right.markdown(f"### {names[top]} · {probs[top]:.0%}")
    right.altair_chart(charts.probability_chart(names, probs))
    if len(windows) > 1:
        st.caption("Second by second (the answer above is their mean):")
        table = pd.DataFrame(per_window, columns=names)
        table.insert(0, "second", [f"{i}–{i + 1} s" for i in range(len(windows))])
        table.insert(1, "answer", [names[int(i)] for i in per_window.argmax(axis=1)])
        st.dataframe(table, hide_index=True, column_config={
            c: st.column_config.ProgressColumn(c, min_value=0.0, max_value=1.0, format="percent") for c in names})
    explain.test_sound(rec, windows, per_window)


def test_on_image(rec) -> None:
    st.subheader("Test on a picture")
    n = st.session_state.setdefault("test-nonce", 0)
    from_file, from_camera = st.tabs(["Upload a picture", "Webcam photo"])
    upload = from_file.file_uploader("An image file", type=UPLOAD_IMAGE_TYPES, key=f"test-upload:{n}")
    photo = from_camera.camera_input("Take a photo to test", key=f"test-photo:{n}")
    upload = upload if upload is not None else photo
    if upload is None:
        return
    kind = state.encoder(rec.encoder).kind
    try:
        if keypoints.is_keypoint(kind):
            image = media.image_to_array(upload.getvalue(), upload.name, media.KEYPOINT_IMAGE_SIZE, pad=True)
        else:
            image = media.image_to_array(upload.getvalue(), upload.name)
    except InputError as e:
        st.error(str(e))
        return
    left, right = st.columns([1, 2])
    if keypoints.is_keypoint(kind):
        model = predictor(rec)
        probs, kp = model.predict_frame(image, live=False)  # as the samples were looked at
        left.image(model.draw(image, kp), caption="What the model sees: the whole picture, padded to a square, "
                   "and the keypoints found")
        if probs is None:
            right.warning(f"No {keypoints.thing(kind)} found in this picture.")
            return
    else:
        probs = predictor(rec).predict(image)
        left.image(image, caption="What the model sees (224×224 centre crop)")
    top = int(probs.argmax())
    right.markdown(f"### {rec.run.class_names[top]} · {probs[top]:.0%}")
    right.altair_chart(charts.probability_chart(rec.run.class_names, probs))
    explain.test_picture(rec, image, probs)


def downloads(rec) -> None:
    st.subheader("Export")
    kind = state.encoder(rec.encoder).kind
    audio, keypoint = kind == "audio", keypoints.is_keypoint(kind)
    files = sess.exports.get(rec.id)
    if files is None:
        st.write("Export the model to use it outside the app. Preparing " +
                 ("the files takes a few seconds." if audio or keypoint else "all formats takes about half a minute "
                  "(the int8 version is calibrated on your own samples)."))
        if st.button("Prepare export files"):
            status = st.status("Exporting…", expanded=True)
            enc = state.model_encoder(rec)
            if audio:
                calibration = np.zeros((0, media.SAMPLE_RATE), np.float32)
            elif keypoint:  # the head on keypoint features: no int8 version to calibrate
                calibration = np.zeros((0,))
            else:
                calibration = export.calibration_images([rec.dataset.samples[i].data for i in rec.run.split.train])
            files = export.export_bytes(enc, rec.run.head, rec.run.class_names, calibration, on_step=status.write)
            if audio:
                files["keras_audio.zip"] = export.audio_keras_zip(files)
            elif keypoint:
                files[keypoints.downloads(kind)[0][2]] = keypoints.zip_all(kind, files)
            else:
                files["converted_keras.zip"] = export.tm_keras_zip(files)
            sess.exports = {rec.id: files}
            status.update(label="Export files ready", state="complete")
            st.rerun()
        return
    listed = AUDIO_DOWNLOADS if audio else keypoints.downloads(kind) if keypoint else DOWNLOADS
    for form, label, name, what in listed:
        with st.container(border=True):
            left, right = st.columns([1, 3])
            left.download_button(label, files[name], icon=":material/download:", file_name=name, key=f"dl:{form}", width="stretch")
            right.caption(what)
            if audio:
                code = export.audio_snippet(form, rec.run.class_names)
            elif keypoint:
                code = keypoints.snippet(state.encoder(rec.encoder), form, rec.run.class_names)
            else:
                code = export.snippet(form, rec.run.class_names)
            right.code(code, language="python")


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
    if state.encoder(rec.encoder).kind == "audio":
        live_microphone(rec)  # early: the WebRTC component must not come and go between reruns
        test_on_sound(rec)
    else:
        live_webcam(rec)
        test_on_image(rec)
    downloads(rec)
