"""The Gather page's webcam recorder (Teachable Machine's "record"): the camera, its settings, and a
status line polled while recording. The frames are kept by :class:`tm_core.live.BurstRecorder` in
the camera's thread and made into samples by :func:`tm_core.live.add_recording`."""

from __future__ import annotations

import streamlit as st
import streamlit_webrtc
from streamlit_webrtc import WebRtcMode

from tm_core import kinds
from tm_core.i18n import _, ngettext, pgettext
from tm_core.live import BurstRecorder, add_recording
from tm_core.live.burst import DEFAULT_DELAY, DEFAULT_DURATION, DEFAULT_FPS
from tm_core.ui import language, webrtc
from tm_core.ui.gather import report, show_report, test_only
from tm_core.ui.state import Session
from tm_core.ui.widgets import clicked


def webcam_recorder(sess: Session) -> None:
    """Pick a class, press Record: after the delay, frames are taken for the duration and added to the class."""
    project = sess.project
    recorder = webrtc.session_object("burst", BurstRecorder)
    with st.container(border=True):
        st.markdown(_("**:material/videocam: Record from the webcam**"))
        st.caption(_("Press **START** to turn the camera on, pick the class, then **Record**: after the delay, "
                     "frames are taken for the duration and added to the class."))
        cols = st.columns(4)
        names = [c.name for c in project.classes]
        target = cols[0].selectbox(_("Record into"), names, key="burst:class") if names else None
        fps = cols[1].number_input(_("Frames per second"), 1, 30, DEFAULT_FPS, key="burst:fps")
        delay = cols[2].number_input(_("Delay (s)"), 0.0, 10.0, DEFAULT_DELAY, step=0.5, key="burst:delay")
        duration = cols[3].number_input(_("Duration (s)"), 1.0, 30.0, DEFAULT_DURATION, step=0.5, key="burst:duration")
        st.caption(ngettext("One recording gives about {n} picture. They look alike, and that is fine: they stay "
                            "together when the model is tested. For a better model, record a few times with another "
                            "angle, light or background.",
                            "One recording gives about {n} pictures. They look alike, and that is fine: they stay "
                            "together when the model is tested. For a better model, record a few times with another "
                            "angle, light or background.", round(fps * duration)))
        recorder.prepare = kinds.prepare_frame(project.kind)  # one object per session: follows the project's kind
        # Record, Stop, the countdown and what was added sit above the video: at 1400×900 the space
        # under the video is below the fold, where a countdown goes unseen.
        left, right = st.columns(2)
        if clicked(left, pgettext("webcam", "Record"), "burst:record", icon=":material/fiber_manual_record:",
                   disabled=target is None, width="stretch"):
            recorder.configure(fps=fps, delay=delay, duration=duration)
            recorder.start()
            st.session_state["burst:into"] = target
        if clicked(right, _("Stop recording"), "burst:stop", icon=":material/stop:", width="stretch"):
            recorder.stop()
        burst_status(sess, recorder)
        show_report("recorder")
        streamlit_webrtc.webrtc_streamer(  # looked up on each call: AppTest tests stub it
            key="gather-camera", mode=WebRtcMode.SENDRECV, rtc_configuration=webrtc.rtc_configuration(),
            media_stream_constraints={"video": True, "audio": False},
            video_frame_callback=webrtc.video_callback(recorder))


@st.fragment(run_every=0.5)
def burst_status(sess: Session, recorder: BurstRecorder) -> None:
    """Live count while recording; when done, the frames go into the class chosen at Record."""
    language.choose()  # a fragment's own rerun does not run the page's top: keep the page's language
    phase, left, count = recorder.status()
    into = st.session_state.get("burst:into")
    if phase == "waiting":
        st.info(_("Recording into **{into}** in {left:.1f} s…", into=into, left=left))
    elif phase == "recording":
        st.warning(ngettext("Recording into **{into}**: {n} frame, {left:.1f} s left",
                            "Recording into **{into}**: {n} frames, {left:.1f} s left", count, into=into, left=left))
    elif phase == "done":
        frames = recorder.take()
        project = sess.project
        if into is not None and project.has_class(into):
            done = add_recording(project, into, frames, test_only(project.get_class(into)))
            if done.full is not None:
                report(("warning", ngettext("Added {n} webcam frame to {into}, then stopped: {why}.",
                                            "Added {n} webcam frames to {into}, then stopped: {why}.", done.added,
                                            into=into, why=done.full)), at="recorder")
            elif frames:
                report(("success", ngettext("Added {n} webcam frame to {into}.", "Added {n} webcam frames to {into}.",
                                            done.added, into=into)), at="recorder")
            else:  # seen rarely right after a rerun: the stream was up but no frame reached the recorder
                report(("warning", _("Added 0 webcam frames to {into}: no frame came from the camera while recording. "
                                     "Press STOP and START on the camera, then Record again.", into=into)),
                       at="recorder")
        st.rerun(scope="app")
