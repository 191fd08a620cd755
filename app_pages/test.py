"""Test the model (webcam or microphone, uploaded image or sound) and export it."""

import streamlit as st
import streamlit_webrtc  # noqa: F401  (before anything that imports TensorFlow)

from tm_core.i18n import _
from tm_core.ui import downloads, state, testing
from tm_core.ui.widgets import require_model

sess = state.session()

st.title(_("Test & export"))
rec = require_model(sess)
if rec is not None:
    rec = testing.choose_model(sess, rec)
    if testing.kind_of(rec) == "audio":
        testing.live_microphone(rec)  # early: the WebRTC component must not come and go between reruns
        testing.test_on_sound(rec)
    else:
        testing.live_webcam(rec)
        testing.test_on_image(rec)
    downloads.downloads(sess, rec)
