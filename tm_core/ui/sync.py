"""Keeping a project in step with its copy on the server, and with the other tabs on its link.

Several tabs can hold one project link: a laptop gathering, a phone's camera adding photos, two
server processes behind one address. :func:`session` (the entry script's first call) restores the
project a new session's address names and saves what the last run changed; :func:`autosave` saves
through the store's ``update``, which holds the project's lock from reading the server copy to
writing, merged (``tm_core.sync``) with what another tab saved since, so neither loses what it
added; the session then takes the merge (:func:`adopt`). :func:`watch` is a small fragment that
reruns every :data:`EVERY` seconds and only asks the store for the copy's revision (reading one
small file, no project); when another tab saved since, it merges the server's copy into this
session and reruns the app, so every page shows it. It does nothing while a training is in
progress (a fragment never interrupts a script run, and a session with a training pending is left
alone). While saving fails (a full or read-only disk) the page keeps working in memory, the sidebar
says so, and saving is tried again every :data:`RETRY` seconds, so it resumes by itself.
"""

from __future__ import annotations

import contextlib
import logging
import time

import numpy as np
import streamlit as st

from tm_core import store as stores
from tm_core.errors import InputError
from tm_core.i18n import _, ngettext
from tm_core.project_file import ProjectFile
from tm_core.sync import merge, run_key, run_version, same, snapshot
from tm_core.ui import language, share, state

_log = logging.getLogger(__name__)

EVERY = 1.0  # seconds between two revision checks of one session (a phone photo shows on the laptop within ~2 s)
RETRY = 10.0  # seconds between two save attempts while saving fails


def session() -> state.Session:
    """``state.session()``, plus what the entry script does first in every run: a new session opens
    the project its address names (a reload), and what the last run changed is saved."""
    new = state.KEY not in st.session_state
    sess = state.session()
    if new:
        restore(sess)
        if sess.token:
            st.query_params[state.PARAM] = sess.token
    autosave(sess)
    return sess


def watch() -> None:
    """Keep this session in step with the server's copy of its project (renders nothing)."""
    if state.project_store() is not None:
        _check()


@st.fragment(run_every=EVERY)
def _check() -> None:
    language.choose()  # a fragment's own run: the notes a merge makes speak the page's language
    sess = st.session_state.get(state.KEY)
    store = state.project_store()
    if sess is None or store is None or not sess.token or sess.pending is not None:
        return
    if sess.unsaved:
        if not st.session_state.get("sync:said"):  # the end of a run failed to save: the sidebar says so now
            st.session_state["sync:said"] = True
            st.rerun(scope="app")
        if time.monotonic() - st.session_state.get("sync:retried", 0.0) < RETRY:
            return
        st.session_state["sync:retried"] = time.monotonic()
        changed = autosave(sess)
        if changed or not sess.unsaved:
            st.rerun(scope="app")  # the sidebar says it is saved again, and shows what came in
        return
    try:
        revision = store.revision(sess.token)
    except OSError:
        return
    if revision is None or revision == sess.revision:
        return
    if autosave(sess, pull=True) or sess.unsaved:
        st.rerun(scope="app")  # every page shows what came in (or the sidebar says saving failed)


# --- saving, merged with the server's copy -------------------------------------------------------------

def adopt(sess: state.Session, pf, base) -> list[str]:
    """Take a merged project (``tm_core.sync``) into the session, keeping what it has of it: the run
    records (their evaluations, exports and fine-tuned networks), the embeddings, the current model if
    it is still there, and the runs it never saved (``base``: the snapshot the merge started from)."""
    notes: list[str] = []
    project = state.own_copy(pf.project)  # containers of its own: the merged file was written, and may be kept
    for c in project.classes:
        old = next((o for o in sess.project.classes if o.uid == c.uid), None)
        if old is None or old.enabled != c.enabled:
            st.session_state.pop(f"on:{c.uid}", None)  # the Gather page's toggle shows the merged state
    for name, (ids, x) in pf.features.items():
        new = [i for i, sid in enumerate(ids) if (name, sid, 0) not in sess.cache]
        if new:
            sess.cache.load(name, [ids[i] for i in new], np.asarray(x)[new])
    had = {run_key(state.saved_run(r)): r for r in sess.runs}
    before = state.settings_of(sess)
    sess.project = project
    if pf.settings != before:
        state.apply_settings(sess, pf, notes)
        for key in [k for k in st.session_state if str(k).startswith("cfg:")]:
            st.session_state.pop(key, None)  # the Train page's widgets show the merged settings
    runs, current = [], None
    for i, saved in enumerate(pf.runs):
        key = run_key(saved)
        rec = had.pop(key, None)
        if rec is not None and run_version(state.saved_run(rec)) != run_version(saved) and saved.label == rec.label:
            rec = None  # changed in the other tab (its last block fine-tuned): take theirs
        if rec is None:
            rec = state.run_record(max([r.id for r in runs + sess.runs], default=0) + 1, saved, pf, sess.cache, notes)
        elif rec.label != saved.label:
            rec.label = saved.label
            sess.exports.pop(rec.id, None)
        if rec is not None:
            runs.append(rec)
            current = rec if i == pf.current else current
    runs += [r for k, r in had.items() if base is None or k not in base.runs]  # never on the server: kept here
    sess.current = sess.current if sess.current in runs else current
    sess.runs = runs
    sess.next_run_id = max(sess.next_run_id, state.next_run_number(sess))
    return notes


def restore(sess: state.Session) -> None:
    """A new browser session: open the project its page address names, if this server keeps one;
    otherwise give it a fresh address. Tells the student either way (a toast, or a report on Gather).
    A saved project that is damaged is kept aside on the server (``store.DamagedProject``) and the
    student is told so in the page: the new, empty project never silently takes its place."""
    store = state.project_store()
    if store is None:
        return
    with contextlib.suppress(OSError):  # a read-only or vanished folder: nothing to sweep now
        store.sweep()
    if share.open_copy_link(sess, store):  # a teacher's ?copy= link: a new project of the student's own
        return
    token = st.query_params.get(state.PARAM)
    if token:
        try:
            pf, revision = store.load_with_revision(token)
        except stores.DamagedProject as e:
            problem = _("Your saved project could not be opened. The server says: {reason}. It was not deleted; "
                        "this is a new, empty project at the same address.", reason=e.reason)
            st.session_state["report"] = [("error", problem)]
            st.session_state["sync:problem"] = problem
            sess.token = token
            sess.saved = sess.fingerprint()  # its empty project is not written over the address (another tab
            return                           # may still hold the project): only what the student adds is
        except (InputError, OSError) as e:
            st.session_state["report"] = [("warning", _("{error}: this is a new, empty project.", error=e))]
        else:
            notes = state.open_project_file(sess, pf)
            sess.token, sess.saved, sess.base, sess.revision = token, sess.fingerprint(), snapshot(pf), revision
            n = sum(sess.project.counts().values())
            st.toast(_("Welcome back: your project is here again ({samples}, {models}).",
                       samples=ngettext("{n} sample", "{n} samples", n),
                       models=ngettext("{n} trained model", "{n} trained models", len(sess.runs))),
                     icon=":material/restore:")
            if notes:
                st.session_state["report"] = [("warning", note) for note in notes]
            return
    sess.token = state.new_token()


def autosave(sess: state.Session, pull: bool = False) -> bool:
    """Save the project on the server if it changed since the last save, merged with what another tab
    or server process saved since (``tm_core.sync``); with ``pull``, merge the server's copy in even
    when nothing changed here. Returns whether the session's project changed (it took the merge).

    The store's ``update`` holds the project's lock from reading the server copy to writing the merge,
    so two tabs saving at once both keep what they added. A new, empty project is written too (a few small
    files), so the address the page shows from its first moment keeps naming it. A failure (a full or read-only disk, a copy that cannot be read) never stops the page:
    the session keeps working in memory, ``sess.unsaved`` says why (the sidebar shows it), and the
    next script run tries again."""
    store = state.project_store()
    if store is None or not sess.token or sess.pending is not None:
        return False
    now = sess.fingerprint()
    if now == sess.saved and not pull and not sess.unsaved:
        try:  # nothing changed here: did another tab save? (a stat, cheap)
            if store.revision(sess.token) in (None, sess.revision):
                return False
        except OSError:
            return False
        pull = True
    pf = state.project_file(sess)
    mine = ProjectFile(state.own_copy(pf.project), pf.settings, pf.runs, pf.current, pf.features)  # the session goes on
    base, notes = sess.base, []

    def change(current, revision):
        if current is None:  # nobody else saved since this tab last did (not read), or there is no copy
            return mine
        merged, found = merge(base, mine, current)
        notes[:] = found
        return current if same(merged, current) else merged

    for attempt in (1, 2):
        try:
            result, revision = store.update(sess.token, change, known=sess.revision)
            break
        except stores.DamagedProject as e:  # kept aside by the store: the next attempt writes this tab's
            st.session_state["sync:problem"] = _("The copy of your project on the server could not be opened "
                                                 "({reason}): this tab's project is saved in its place.",
                                                 reason=e.reason)
            if attempt == 2:
                sess.unsaved = str(e)
                return False
        except (OSError, InputError) as e:
            _log.warning("could not save project: %s", e)
            if not sess.unsaved:
                st.toast(_("Your project could not be saved on the server (it is still here in this tab): use Save "
                           "project to keep a copy."), icon=":material/warning:")
            sess.unsaved = (e.strerror if isinstance(e, OSError) and e.strerror else str(e)).lower()
            return False
    sess.base, sess.revision, sess.unsaved = snapshot(result), revision, ""
    st.session_state.pop("sync:said", None)
    changed = result is not mine and not same(result, mine)
    if changed:
        notes += adopt(sess, result, base)
    if notes:  # shown in the sidebar for a minute, and on Gather with the last action's report
        st.session_state["sync:notes"] = notes
        st.session_state.pop("sync:notes-since", None)
        st.session_state["report"] = list(st.session_state.get("report", [])) + [("warning", n) for n in notes]
    sess.saved = sess.fingerprint()
    state.give_back_memory()  # a change (an upload, a training) freed its temporary buffers: return them
    return changed
