"""A class on one address: example projects (one click), a teacher's copy link for students, and a
student's own link for their phone; the ``?copy=`` link a student opens.

Every way in gives a normal project of the student's own: a new token, saved through the store as
any project (``tm_core.store``); an example or a copy is only read. The engine parts are
``tm_core.examples`` (the shipped example projects), ``tm_core.store.CopyStore`` (the copies) and
``tm_core.share`` (links and QR codes).
"""

from __future__ import annotations

import time

import streamlit as st

from tm_core import examples, kinds, share
from tm_core.errors import InputError
from tm_core.i18n import N_, _, ngettext
from tm_core.project_file import ProjectFile
from tm_core.sync import snapshot
from tm_core.ui import state
from tm_core.ui.state import Session
from tm_core.ui.widgets import clicked

_WIDGETS = ("compare", "health:checked", "report")
STAMP = N_("%d %b %H:%M")  # when a share link was made: a time.strftime format (Korean: month and day in words)


def address() -> str | None:
    """The app's address as the browser shows it (``st.context.url``), or ``TM_PUBLIC_URL``."""
    try:
        url = st.context.url
    except Exception:  # noqa: BLE001 - no browser context (AppTest, bare mode)
        url = None
    return share.app_address(url)


def _forget_widgets() -> None:
    for key in [k for k in st.session_state if str(k).startswith("cfg:")] + list(_WIDGETS):
        st.session_state.pop(key, None)  # the widgets show the opened project's settings


def start_from(sess: Session, pf) -> list[str]:
    """Make ``pf`` this session's project under a new token (saved at the end of the run, as any
    change); the project it had stays on the server at its own address. Returns notes."""
    notes = state.open_project_file(sess, pf)
    sess.token, sess.saved, sess.base, sess.revision = state.new_token(), None, None, None
    st.query_params[state.PARAM] = sess.token
    _forget_widgets()
    return notes


# --- example projects ----------------------------------------------------------------------------------

def open_example(sess: Session, name: str) -> None:
    """Open the example ``name`` as a new project of the student's own; the report says whose data it is."""
    try:
        ex = examples.get(name)
        had = sum(sess.project.counts().values())
        notes = start_from(sess, examples.open_example(name))
    except InputError as e:
        st.session_state["report"] = [("error", _("{reason}. Your project is unchanged.", reason=e))]
        return
    n = sum(sess.project.counts().values())
    k = len(sess.project.classes)
    said = [("success", _("Opened the example **{title}**: {samples} in {classes}. It is your own project now: add, "
                          "remove or rename anything, then go to **Train**.", title=_(ex.title),
                          samples=ngettext("{n} sample", "{n} samples", n),
                          classes=ngettext("{n} class", "{n} classes", k))),
            ("info", _("Where the examples come from: {attribution}", attribution=_(ex.attribution)))]
    if had:
        said.append(("info", _("Your previous project is still kept on this server at its old address.")))
    st.session_state["report"] = said + [("warning", note) for note in notes]


def examples_panel(sess: Session) -> None:
    """One button per example: prominent while the project is empty (the start page), else in a popover."""
    shown = examples.examples()
    if not shown:
        return
    empty = not any(c.samples for c in sess.project.classes)
    box = st.container(border=True) if empty else st.popover(_("Examples"), icon=":material/auto_awesome:",
                                                             width="stretch")
    with box:
        if empty:
            st.markdown(_("**No photos or sounds at hand? Start from an example project** (real photos and clips, "
                          "free to use). It opens as your own project."))
        else:
            st.write(_("Open an example as a new project of your own. This project stays on the server at its "
                       "address."))
        cols = st.columns(len(shown)) if empty else [st.container() for _ in shown]
        for col, ex in zip(cols, shown):
            with col:
                if clicked(st, _(ex.title), f"example:{ex.name}", icon=":material/folder_open:", width="stretch",
                             help=_(ex.about)):
                    open_example(sess, ex.name)
                    st.rerun()
                names = (kinds.background_name() if kinds.is_background_name(c) else c for c in ex.classes)
                st.caption(f"{kinds.title(ex.kind)}: {', '.join(names)}")  # a kind, then class names


# --- a teacher's copy link -------------------------------------------------------------------------------

def open_copy_link(sess: Session, store) -> bool:
    """A new session whose address has ``?copy=<token>``: a new project of the student's own, started from
    the teacher's copy (the copy is only read). Returns whether the address had one."""
    token = st.query_params.get(share.COPY)
    if not token:
        return False
    del st.query_params[share.COPY]
    try:
        mine, pf, revision = store.copies().start_project(token, store)
    except (InputError, OSError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        st.session_state["report"] = [("error", _("{reason}. This is a new, empty project.", reason=reason))]
        sess.token = state.new_token()
        st.query_params[state.PARAM] = sess.token
        return True
    notes = state.open_project_file(sess, pf)
    sess.token, sess.saved, sess.base, sess.revision = mine, sess.fingerprint(), snapshot(pf), revision
    st.query_params[state.PARAM] = mine
    n = sum(sess.project.counts().values())
    st.session_state["report"] = [("success", _("This is your own copy of your teacher's project: {samples}, "
                                                "{models}. What you change here changes only your copy. Keep this "
                                                "page's address to come back to it.",
                                                samples=ngettext("{n} sample", "{n} samples", n),
                                                models=ngettext("{n} trained model", "{n} trained models",
                                                                len(sess.runs))))] + \
        [("warning", note) for note in notes]
    return True


def share_panel(sess: Session) -> None:
    """"Share a copy with students": a read-only copy of this project behind its own link and QR code;
    the copies made from this project, each with Withdraw."""
    store = state.project_store()
    if store is None or not sess.token:
        return
    with st.expander(_("Share a copy with students"), icon=":material/share:"):
        st.write(_("Make a link to a copy of this project as it is now. Every student who opens the link gets a "
                   "new project of their own, started from the copy: their changes never reach the copy or "
                   "your project. You can withdraw the link at any time."))
        n = sum(sess.project.counts().values())
        runs = st.checkbox(_("Include the trained models"), key="share:runs", disabled=not sess.runs,
                           help=_("Students get your trained models too, and can test them straight away."))
        if clicked(st, _("Make a share link"), "share:make", icon=":material/link:", disabled=not n):
            pf = state.project_file(sess)
            if not (runs and sess.runs):
                pf = ProjectFile(pf.project, pf.settings, [], None, pf.features)
            try:
                made = store.copies().create(pf, sess.token)
            except (InputError, OSError) as e:
                st.error(_("The copy could not be made: {reason}", reason=e))
            else:
                st.session_state.setdefault("share:made", {})[store.copies().copy_id(made)] = made
        made: dict = st.session_state.get("share:made", {})
        for copy_id, when in store.copies().owned_by(sess.token):
            with st.container(border=True):
                token = made.get(copy_id)
                stamp = time.strftime(_(STAMP), time.localtime(when))
                if token:
                    url = share.link(address(), share.COPY, token)
                    st.markdown(_("Link for your students (made {when}):", when=stamp))
                    st.code(url, language=None)
                    st.image(share.qr_png(url), caption=_("Students can scan this with a phone."), width=220)
                else:
                    st.markdown(_("A link made {when} (its address is shown only in the tab that made it).",
                                  when=stamp))
                if clicked(st, _("Withdraw this link"), f"share:withdraw:{copy_id}", icon=":material/link_off:"):
                    store.copies().withdraw(copy_id, sess.token)
                    made.pop(copy_id, None)
                    st.rerun()


# --- the student's own phone --------------------------------------------------------------------------------

def phone_panel(sess: Session) -> None:
    """A QR code and a link of this project's own address: open it on a phone and take photos there."""
    if state.project_store() is None or not sess.token:
        return
    audio = sess.project.kind == "audio"
    with st.expander(_("Use your phone as a microphone") if audio else _("Use your phone as a camera"),
                     icon=":material/smartphone:"):
        url = share.link(address(), share.PROJECT, sess.token)
        left, right = st.columns([1, 2])
        left.image(share.qr_png(url), width=200)
        with right:
            if audio:
                st.write(_("Scan this code with your phone, or open the link below on it. On the phone, record "
                           "sounds with **{record}** in a class: they show up here within a few seconds.",
                           record=_("Record")))
            else:
                st.write(_("Scan this code with your phone, or open the link below on it. On the phone, take photos "
                           "with **{photo}** in a class: they show up here within a few seconds.",
                           photo=_("Webcam photo")))
            st.markdown("[{label}]({url})".format(label=_("Open on your phone"), url=url))
            st.caption(_("This is your project's private address: anyone who has it can change your project, so do "
                         "not share it."))
