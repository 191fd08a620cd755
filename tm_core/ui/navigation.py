"""Keeping the page a student went to: a late event from the page they just left must not take them back.

A sidebar click makes the server run the new page. The browser, while it replaces the old page, still
sends that page's events stamped with the old page. The camera component (streamlit-webrtc, on Gather
and on Test) sends one as it is taken off the page, and its first state a few seconds after the page
appears: a click on "2 · Train" right after "Welcome back" (when the first run is slow) opened Train,
and that late event then ran Gather again.

A page change the student asks for arrives without the address's parameters (a sidebar link, a page
link: the browser drops them) or as the browser's back or forward. A run of another page soon after a
page change is therefore the late event of the page just left when it carries the address's parameters
(within :data:`WINDOW` seconds), or when it comes faster than anyone clicks twice (:data:`QUICK`).
:func:`arrive` sends such a run back to the page the student went to. It is the entry script's first
call, before anything that lets Streamlit interrupt the run: a late event can end the new page's run
within milliseconds, and the page change must be on record by then. Only a browser sends late events
(its runs carry the browser's context: time zone, address); AppTest's page switches keep the address's
parameters and are never late.
"""

from __future__ import annotations

import time

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

KEY = "nav:went"  # (url path of the page this session last went to, time.monotonic() when)
WINDOW = 5.0  # seconds: a run of another page carrying the address's parameters is a late event
QUICK = 0.5  # seconds: any run of another page this soon after a page change is a late event


def requested(pages: list, ctx) -> object:
    """The page this run is for, as ``st.navigation`` will choose it: by the page's hash (a click), by
    its address (a first request such as ``/train``), else the first (the default page)."""
    for p in pages:
        if p._script_hash == ctx.page_script_hash:  # Streamlit's key for a page: a hash of its url path
            return p
    name = getattr(ctx.pages_manager, "intended_page_name", None) or ""
    return next((p for p in pages if name and p.url_path == name), pages[0])


def arrive(pages: list) -> None:
    """Record the page this run is for; a late event of the page just left switches back instead."""
    ctx = get_script_run_ctx()
    if ctx is None or ctx.context_info is None:  # no browser (a plain import, AppTest): no late events
        return
    here = requested(pages, ctx).url_path
    now = time.monotonic()
    went = st.session_state.get(KEY)
    if went is not None and went[0] != here and not ctx.is_history_navigation:
        since = now - went[1]
        back = next((p for p in pages if p.url_path == went[0]), None)
        if back is not None and (since < QUICK or (ctx.query_string and since < WINDOW)):
            st.switch_page(back)  # ends this run: the next one is the page the student went to
    if went is None or went[0] != here:
        st.session_state[KEY] = (here, now)
