"""Another tab's (or another device's) changes to this project show here within seconds.

Several tabs can hold one project link: a laptop gathering, a phone's camera adding photos. Each
saves at the end of its script runs (``state.autosave`` merges with what the server holds:
``tm_core.sync``). :func:`watch` is a small fragment that reruns every :data:`EVERY` seconds and
only asks the store for the copy's revision (a ``stat`` of one file, no reading); when another tab
saved since, it merges the server's copy into this session and reruns the app, so every page shows
it. It does nothing while a training is in progress (a fragment never interrupts a script run, and
a session with a training pending is left alone). While saving fails (a full or read-only disk) it
tries again every :data:`RETRY` seconds, so saving resumes by itself.
"""

from __future__ import annotations

import time

import streamlit as st

from tm_core.ui import state

EVERY = 2.0  # seconds between two revision checks of one session
RETRY = 10.0  # seconds between two save attempts while saving fails


def watch() -> None:
    """Keep this session in step with the server's copy of its project (renders nothing)."""
    if state.project_store() is not None:
        _check()


@st.fragment(run_every=EVERY)
def _check() -> None:
    sess = st.session_state.get(state.KEY)
    store = state.project_store()
    if sess is None or store is None or not sess.token or sess.pending is not None:
        return
    if sess.unsaved:
        if time.monotonic() - st.session_state.get("sync:retried", 0.0) < RETRY:
            return
        st.session_state["sync:retried"] = time.monotonic()
        changed = state.autosave(sess)
        if changed or not sess.unsaved:
            st.rerun(scope="app")  # the sidebar says it is saved again, and shows what came in
        return
    try:
        revision = store.revision(sess.token)
    except OSError:
        return
    if revision is None or revision == sess.revision:
        return
    if state.autosave(sess, pull=True) or sess.unsaved:
        st.rerun(scope="app")  # every page shows what came in (or the sidebar says saving failed)
