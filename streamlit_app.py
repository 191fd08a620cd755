"""Teachable Studio: teach a computer to recognise your own examples.

Entry point: page config, navigation over pages/, the project summary in the sidebar.
streamlit_webrtc is imported before anything that can import TensorFlow: the other order
crashes the process (pylibsrtp, pulled in by streamlit_webrtc, segfaults if TensorFlow came first).
"""

import streamlit_webrtc  # noqa: F401  (must precede TensorFlow)
import streamlit as st

from tm_core.ui import sync
from tm_core.ui.widgets import sidebar_summary, where_it_is_kept

st.set_page_config(page_title="Teachable Studio", page_icon=":material/school:", layout="wide")

sess = sync.session()

page = st.navigation([
    st.Page("pages/gather.py", title="1 · Gather", icon=":material/photo_camera:", default=True),
    st.Page("pages/train.py", title="2 · Train", icon=":material/model_training:"),
    st.Page("pages/overfitting.py", title="3 · Experiments", icon=":material/show_chart:"),
    st.Page("pages/test.py", title="4 · Test & export", icon=":material/task_alt:"),
])
page.run()
sidebar_summary(sess)  # after the page, so it shows what the page just changed
where_it_is_kept(sess)
sync.watch()  # another tab's (or device's) changes show here within seconds
if sync.autosave(sess):  # what this run changed is on the server before the student can reload ...
    st.rerun()  # ... merged with what another tab saved meanwhile: show that too
