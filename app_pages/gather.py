"""Gather: the project kind, classes and their samples (upload, folder, zip of class folders, webcam or
microphone), gallery."""

import streamlit as st
import streamlit_webrtc  # noqa: F401  (before anything that imports TensorFlow)

from tm_core.i18n import _
from tm_core.ui import gather, health, recorder, share, state
from tm_core.ui.widgets import class_warnings, save_and_open, start_over

sess = state.session()
project = sess.project

st.title(_("Gather examples"))
gather.intro(project.kind)
left, mid, right = st.columns([1, 1, 1.2], vertical_alignment="top")
with left:
    gather.new_project_control(sess)
with mid:
    save_and_open(sess)
with right:
    start_over(sess)

gather.show_report()
share.examples_panel(sess)
for note in class_warnings(sess):
    st.warning(note)

if project.kind != "audio":
    recorder.webcam_recorder(sess)  # early and unconditionally: the WebRTC component must not come and go
for cls in list(project.classes):
    gather.class_card(sess, cls)
gather.add_class_or_zip(sess)

health.gather_panel(sess)
share.phone_panel(sess)
share.share_panel(sess)
