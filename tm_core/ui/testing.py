"""The Test page's widgets: which model, the live webcam or microphone, a picture or a sound to test.

The live objects (:mod:`tm_core.live`) run in streamlit-webrtc's threads and are only read here,
by polling fragments; a sound's answer is :func:`tm_core.predict.predict_clip`'s.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st
import streamlit_webrtc
from streamlit_webrtc import WebRtcMode

from tm_core import charts, keypoints, kinds, media
from tm_core.errors import InputError
from tm_core.i18n import N_, _, ngettext
from tm_core.keypoints import KeypointPredictor
from tm_core.live import LiveAudioPrediction, LivePrediction
from tm_core.predict import Predictor, predict_clip
from tm_core.ui import explain, language, state, webrtc
from tm_core.ui.state import RunRecord, Session
from tm_core.ui.widgets import UPLOAD_IMAGE_TYPES

# The model learned from sound as recorded: no echo cancelling, noise suppression or gain riding.
RAW_AUDIO = {"echoCancellation": False, "noiseSuppression": False, "autoGainControl": False}
# What a keypoint model did not find (``kinds.thing``), one whole sentence each (translated where shown).
NOT_IN_VIEW = {"person": N_("No person in view: the bars show the last answer."),
               "hand": N_("No hand in view: the bars show the last answer.")}
NOT_FOUND = {"person": N_("No person found in this picture."), "hand": N_("No hand found in this picture.")}


def predictor(rec: RunRecord) -> Predictor:
    """The run's model: its encoder (the fine-tuned copy when the run fine-tuned the last block) and head."""
    return keypoints.predictor(state.model_encoder(rec), rec.run.head, rec.run.class_names)


def kind_of(rec: RunRecord) -> str:
    return state.encoder(rec.encoder).kind


def choose_model(sess: Session, rec: RunRecord) -> RunRecord:
    """Any kept run can be the one to test and export (e.g. the lesson's best); says how good it is."""
    if len(sess.runs) > 1:
        labels = [r.label for r in sess.runs]
        chosen = st.selectbox(_("Model"), labels, index=labels.index(rec.label),
                              help=_("The latest training is used unless you pick another run."))
        rec = sess.current = next(r for r in sess.runs if r.label == chosen)
    accuracy = '–' if rec.evaluation.accuracy is None else f'{rec.evaluation.accuracy:.0%}'
    st.caption(_("Model: {model} · test accuracy {accuracy}", model=rec.label, accuracy=accuracy))
    if sess.project_changed_since(rec):
        st.warning(_("Your samples changed since this model was trained: train again to include them."))
    return rec


def bars(names, probs) -> None:
    """One bar per class, as Teachable Machine shows its live output."""
    for name, p in zip(names, probs):
        st.progress(float(min(max(p, 0.0), 1.0)), text=f"{name}: {p:.0%}")


def _live_model(live, rec: RunRecord) -> None:
    """Give the session's live view this run's model, unless it has it already."""
    if live.predictor is None or getattr(live.predictor, "head", None) is not rec.run.head:
        webrtc.use_model(live, predictor(rec))


# ---------------------------------------------------------------------------------------------
# Live


def live_webcam(rec: RunRecord) -> None:
    """The webcam through the model, bars updated several times a second, top class drawn on the video."""
    st.subheader(_("Live webcam"))
    kind = kind_of(rec)
    live = webrtc.session_object("live", lambda: LivePrediction(alpha=0.5, mirror=True))
    _live_model(live, rec)
    live.prepare = kinds.prepare_frame(kind)  # as the samples were made: crop, or pad for pose and hands
    left, right = st.columns([3, 2])
    with left:
        ctx = streamlit_webrtc.webrtc_streamer(  # looked up on each call: AppTest tests stub it
            key="test-camera", mode=WebRtcMode.SENDRECV, rtc_configuration=webrtc.rtc_configuration(),
            media_stream_constraints={"video": True, "audio": False},
            video_frame_callback=webrtc.video_callback(live), translations=webrtc.translations())
        if ctx is not None and not ctx.state.playing and live.latest()[0] is not None:
            live.reset()  # the camera was stopped: no stale bars or frame rate beside a stopped video
        live.mirror = st.toggle(_("Mirror the video"), value=True,
                                help=_("Like a mirror; the model sees the same either way."))
    with right:
        live_bars(live, kinds.thing(kind))


@st.fragment(run_every=0.3)
def live_bars(live: LivePrediction, thing: str) -> None:
    language.choose()  # re-run on its own: the page's language is set here, not by the page's run
    probs, fps = live.latest()
    if probs is None or not fps:  # not started, or no frame for a while: the camera was stopped
        st.caption(_("Press START to turn the camera on; the model's answer shows here."))
        return
    bars(live.class_names, probs)
    if live.stats()["found"] is False:
        st.caption(_(NOT_IN_VIEW.get(thing, NOT_IN_VIEW["person"])))
    rate = f"{fps:.0f}"
    st.caption(_("{fps} frames/s", fps=rate))


def live_microphone(rec: RunRecord) -> None:
    """The microphone through the model: the last second is classified every hop, bars polled ~3×/s."""
    st.subheader(_("Live microphone"))
    live = webrtc.session_object("live-audio", lambda: LiveAudioPrediction(hop_seconds=0.5, alpha=0.5))
    _live_model(live, rec)
    left, right = st.columns([3, 2])
    with left:
        ctx = streamlit_webrtc.webrtc_streamer(
            key="test-microphone", mode=WebRtcMode.SENDRECV, rtc_configuration=webrtc.rtc_configuration(),
            media_stream_constraints={"video": False, "audio": RAW_AUDIO},
            audio_frame_callback=webrtc.audio_callback(live), translations=webrtc.translations())
        if ctx is not None and not ctx.state.playing and live.latest() is not None:
            live.reset()  # the microphone was stopped: no stale answer next time
        live.hop_seconds = st.slider(_("Classify every … s"), 0.1, 1.0, 0.5, step=0.1, key="live:hop",
                                     help=_("The last second of sound is classified this often: "
                                            "smaller means more overlap between windows and quicker answers."))
    with right:
        live_audio_bars(live)


@st.fragment(run_every=0.3)
def live_audio_bars(live: LiveAudioPrediction) -> None:
    language.choose()  # re-run on its own: the page's language is set here, not by the page's run
    probs = live.latest()
    if probs is None:
        st.caption(_("Press START to turn the microphone on; after one second the model's answer shows here."))
        return
    bars(live.class_names, probs)
    n, level = live.stats()["predictions"], f"{live.level():.2f}"
    st.caption(ngettext("Loudness {level} · {n} prediction", "Loudness {level} · {n} predictions", n, level=level))


# ---------------------------------------------------------------------------------------------
# One sound, one picture


def test_on_sound(rec: RunRecord) -> None:
    """A recording or a sound file: cut into 1-second windows, each predicted, the mean shown."""
    st.subheader(_("Test on a sound"))
    n = st.session_state.setdefault("test-nonce", 0)
    record, upload = st.tabs([_("Record"), _("Upload a sound")])
    with record:
        clip = st.audio_input(_("Record a sound"), key=f"test-record:{n}")
    with upload:
        file = st.file_uploader(_("A sound file"), type=list(media.AUDIO_EXTENSIONS), key=f"test-upload:{n}")
    source = file if file is not None else clip
    if source is None:
        return
    name = getattr(source, "name", "recording") or "recording"
    try:
        wave = media.load_audio(source.getvalue(), name)
        answer = predict_clip(predictor(rec), wave, name)
    except InputError as e:
        st.error(str(e))
        return
    names, top, windows = rec.run.class_names, answer.top, len(answer.windows)
    left, right = st.columns([1, 2])
    left.audio(wave, sample_rate=media.SAMPLE_RATE)
    seconds = f"{len(wave) / media.SAMPLE_RATE:.1f}"
    left.image(media.spectrogram_image(wave), width="stretch", caption=ngettext(
        "{seconds} s · {n} one-second window", "{seconds} s · {n} one-second windows", windows, seconds=seconds))
    right.markdown(f"### {names[top]} · {answer.probs[top]:.0%}")
    right.altair_chart(charts.probability_chart(names, answer.probs))
    if windows > 1:
        st.caption(_("Second by second (the answer above is their mean):"))
        table = pd.DataFrame(answer.per_window, columns=names)
        table.insert(0, _("second"), [f"{i}–{i + 1} s" for i in range(windows)])
        table.insert(1, _("answer"), [names[int(i)] for i in answer.per_window.argmax(axis=1)])
        st.dataframe(table, hide_index=True, column_config={
            c: st.column_config.ProgressColumn(c, min_value=0.0, max_value=1.0, format="percent") for c in names})
    explain.test_sound(rec, answer)


def test_on_image(rec: RunRecord) -> None:
    st.subheader(_("Test on a picture"))
    n = st.session_state.setdefault("test-nonce", 0)
    from_file, from_camera = st.tabs([_("Upload a picture"), _("Webcam photo")])
    upload = from_file.file_uploader(_("An image file"), type=UPLOAD_IMAGE_TYPES, key=f"test-upload:{n}")
    photo = from_camera.camera_input(_("Take a photo to test"), key=f"test-photo:{n}")
    upload = upload if upload is not None else photo
    if upload is None:
        return
    kind = kinds.get(kind_of(rec))
    try:
        image = kinds.prepare_image(kind.name, upload.getvalue(), upload.name)  # as the samples were made
    except InputError as e:
        st.error(str(e))
        return
    left, right = st.columns([1, 2])
    model = predictor(rec)
    if isinstance(model, KeypointPredictor):
        probs, kp = model.predict_frame(image, live=False)  # as the samples were looked at
        left.image(model.draw(image, kp), caption=_("What the model sees: the whole picture, padded to a square, "
                                                    "and the keypoints found"))
        if probs is None:
            right.warning(_(NOT_FOUND.get(kind.finds, NOT_FOUND["person"])))
            return
    else:
        probs = model.predict(image)
        left.image(image, caption=_("What the model sees ({size}×{size} centre crop)", size=kind.image_size))
    top = int(probs.argmax())
    right.markdown(f"### {rec.run.class_names[top]} · {probs[top]:.0%}")
    right.altair_chart(charts.probability_chart(rec.run.class_names, probs))
    explain.test_picture(rec, image, probs)
