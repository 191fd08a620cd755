"""Teachable Studio: teach a computer to recognise your own examples.

Entry point: page config, navigation over app_pages/, the project summary in the sidebar.
The pages live in app_pages/, never pages/: a pages/ folder beside this file puts a freshly started
server in Streamlit's old multipage mode until some session has run st.navigation, so a first request
for /train ran pages/train.py alone (Streamlit's list of file names, narrow layout, no sidebar summary,
and TensorFlow imported before streamlit_webrtc: the process could segfault).
streamlit_webrtc is imported before anything that can import TensorFlow: the other order
crashes the process (pylibsrtp, pulled in by streamlit_webrtc, segfaults if TensorFlow came first).
"""

import streamlit_webrtc  # noqa: F401  (must precede TensorFlow)
import streamlit as st

from tm_core.i18n import _
from tm_core.ui import language, navigation, sync
from tm_core.ui.widgets import sidebar_summary, where_it_is_kept

language.choose()  # ?lang=, else this session's, else the browser's: everything below speaks it (reads only)
pages = [
    st.Page("app_pages/gather.py", title=_("1 · Gather"), icon=":material/photo_camera:", default=True),
    st.Page("app_pages/train.py", title=_("2 · Train"), icon=":material/model_training:"),
    st.Page("app_pages/overfitting.py", title=_("3 · Experiments"), icon=":material/show_chart:"),
    st.Page("app_pages/test.py", title=_("4 · Test & export"), icon=":material/task_alt:"),
]
navigation.arrive(pages)  # first element-free call: a late event of the page just left does not take the student back
st.set_page_config(page_title="Teachable Studio", page_icon=":material/school:", layout="wide")
language.keep_in_address()  # beside the project's token: a reload or a shared link keeps the language

sess = sync.session()
language.picker()

page = st.navigation(pages)
page.run()
sidebar_summary(sess)  # after the page, so it shows what the page just changed
where_it_is_kept(sess)
sync.watch()  # another tab's (or device's) changes show here within seconds
if sync.autosave(sess):  # what this run changed is on the server before the student can reload ...
    st.rerun()  # ... merged with what another tab saved meanwhile: show that too
