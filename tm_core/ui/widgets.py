"""Small pieces of page the app shows in several places."""

from __future__ import annotations

import time

import streamlit as st

from tm_core import health, kinds, naming, project_file
from tm_core.encoders import available, encoder_names
from tm_core.errors import InputError
from tm_core.i18n import N_, _, ngettext
from tm_core.ui import state
from tm_core.ui.state import RunRecord, Session

# What image uploaders offer: the formats people have. media decodes every format Pillow reads
# (a folder upload takes them all).
UPLOAD_IMAGE_TYPES = ["jpg", "jpeg", "png", "webp", "gif", "bmp", "tif", "tiff"]
FEW_SAMPLES = 10  # below this a class is hard to learn and its held-out accuracy means little
FEW_SOUNDS = 8  # audio: Teachable Machine asks for at least 8 one-second samples per class
FEW_BACKGROUND = 20  # ... and 20 of Background Noise
PROJECT_KINDS = {"image": N_("Image project"), "audio": N_("Audio project"), "pose": N_("Body pose project"),
                 "hands": N_("Hand pose project")}


def in_script_run() -> bool:
    """Is this called from a script run (a browser session or AppTest), not a test or script calling
    the function directly?"""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    return get_script_run_ctx(suppress_warning=True) is not None


CLICK_KEPT = 10.0  # seconds a click waits for a run that reaches its button (see ``clicked``)


def clicked(where, label: str, key: str, **kwargs) -> bool:
    """``where.button(label, key=key, **kwargs)``: True in the run that reaches the button after it was
    clicked, even when the run the click started was stopped early.

    Streamlit forgets a click when another rerun stops the run it started (its trigger is reset), and
    streamlit-webrtc's component sends its first message a second or more after a page with a camera or
    microphone opens: a student's quick first click (an example, "Add a class") did nothing. So the click
    is noted in the session (``on_click`` runs before the page does) and taken by the first run to reach the
    button within :data:`CLICK_KEPT` seconds."""
    flag = f"{key}:clicked"
    pressed = where.button(label, key=key, on_click=_note_click, args=(flag,), **kwargs)
    when = st.session_state.pop(flag, None)
    return pressed or (when is not None and time.monotonic() - when < CLICK_KEPT)


def _note_click(flag: str) -> None:
    st.session_state[flag] = time.monotonic()  # when the click arrived


def session_cache(max_entries: int):
    """``st.cache_data`` kept per browser session (dropped when it ends), for pictures and numbers derived
    from a student's samples: only the encoders are shared between sessions. Outside a script run (a
    test, a script) the function is simply called."""
    def wrap(fn):
        cached = st.cache_data(max_entries=max_entries, show_spinner=False, scope="session")(fn)

        def call(*args):
            return cached(*args) if in_script_run() else fn(*args)

        call.__doc__, call.__name__, call.cached = fn.__doc__, fn.__name__, cached
        return call

    return wrap


def pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.0%}"


def sidebar_summary(sess: Session) -> None:
    """The project at a glance: kind, classes and counts, trained or not."""
    p = sess.project
    with st.sidebar:
        st.subheader(_("Project"))
        kind = _(PROJECT_KINDS[p.kind]) if p.kind in PROJECT_KINDS else p.kind
        total = sum(p.counts().values())
        st.caption(_("{project} · {classes} · {samples}", project=kind,
                     classes=ngettext("{n} class", "{n} classes", len(p.classes)),
                     samples=ngettext("{n} sample", "{n} samples", total)))
        for c in p.classes:
            st.markdown(ngettext("- **{cls}**: {n} sample", "- **{cls}**: {n} samples", len(c), cls=c.name)
                        if c.enabled else
                        ngettext("- **{cls}**: {n} sample *(disabled)*", "- **{cls}**: {n} samples *(disabled)*",
                                 len(c), cls=c.name))
        rec = sess.current
        if rec is None:
            st.caption(_("Not trained yet."))
        else:
            st.caption(_("Trained: {run} · test accuracy {accuracy}", run=rec.label,
                         accuracy=pct(rec.evaluation.accuracy)))
            if sess.project_changed_since(rec):
                st.caption(":orange[{}]".format(_("The samples changed since: train again to include them.")))


def where_it_is_kept(sess: Session | None = None) -> None:
    """The sidebar's lines on how the project is kept on the server (when it is): saved as the student
    works, or plainly not (a full or read-only disk) with the way out; a saved copy that could not be
    opened; what a merge with another tab's changes could not keep as both tabs had it."""
    store = state.project_store()
    if store is None:
        return
    problem = st.session_state.get("sync:problem")
    if problem:
        st.sidebar.error(problem, icon=":material/report:")
    if sess is not None and sess.unsaved:
        st.sidebar.warning(_("**Your work is not being saved on the server** ({why}). It is all still here in this "
                             "tab, but a reload would lose what changed: use **Save project** on Gather to keep a "
                             "copy. Saving resumes by itself when the server can write again.", why=sess.unsaved),
                           icon=":material/cloud_off:")
    else:
        days = f"{store.max_age / 86400:g}"
        st.sidebar.caption(_("Saved on this server as you work: reloading this page brings it back, and other tabs or "
                             "devices open on this address stay in step. Keep this page's address to come back "
                             "later; it is private to you, so do not share it. Projects unused for {days} days are "
                             "removed: **Save project** on Gather keeps a copy.", days=days))
    notes = st.session_state.get("sync:notes")
    if notes:
        shown = st.session_state.setdefault("sync:notes-since", time.monotonic())
        if time.monotonic() - shown < 60:  # a minute, across the reruns that follow
            for note in notes:
                st.sidebar.info(note, icon=":material/sync_problem:")
        else:
            st.session_state.pop("sync:notes", None)
            st.session_state.pop("sync:notes-since", None)


def start_over(sess: Session) -> None:
    """A button that deletes the project from the server and starts an empty one of the same kind."""
    with st.popover(_("Start over"), icon=":material/delete_forever:", width="stretch"):
        n = sum(sess.project.counts().values())
        kind = _(PROJECT_KINDS[sess.project.kind]) if sess.project.kind in PROJECT_KINDS else sess.project.kind
        st.write(_("Delete this project ({project}) from this server and start an empty one: its {samples} and "
                   "{models} are gone for good (unless you saved the file).", project=kind,
                   samples=ngettext("{n} sample", "{n} samples", n),
                   models=ngettext("{n} trained model", "{n} trained models", len(sess.runs))))
        sure = st.checkbox(_("Yes, delete my project"), key="startover:confirm")
        if clicked(st, _("Delete and start over"), "startover:go", type="primary", disabled=not sure):
            state.new_project(sess.project.kind)
            st.session_state.pop("startover:confirm", None)
            st.rerun()


def save_and_open(sess: Session) -> None:
    """Download the whole project as one file, or open one (it replaces the project in this tab)."""
    st.download_button(_("Save project"), lambda: project_file.save(state.project_file(sess)),
                       file_name=naming.project_file_name([c.name for c in sess.project.classes], sess.project.kind,
                                                          project_file.SUFFIX), mime="application/zip",
                       icon=":material/download:", on_click="ignore", width="stretch",
                       help=_("One file with every sample, class, setting and trained model: open it here again "
                              "later."))
    with st.expander(_("Open a project file")):
        key = f"open-project:{st.session_state.get('open-project-nonce', 0)}"
        upload = st.file_uploader(_("Project file"), type=["zip"], key=key, label_visibility="collapsed",
                                  help=_("A file saved with Save project. It replaces the project in this tab."))
        if upload is not None:
            st.session_state["open-project-nonce"] = st.session_state.get("open-project-nonce", 0) + 1
            try:
                with st.spinner(_("Opening…")):
                    opened = project_file.open_project(upload.getvalue(), upload.name)
                    state.release_uploads(upload)
            except InputError as e:
                st.session_state["report"] = [("error", _("{error}. Your current project is unchanged.", error=e))]
            else:
                notes = state.open_project_file(sess, opened)
                for k in [k for k in st.session_state if str(k).startswith("cfg:")] + ["compare", "health:checked"]:
                    st.session_state.pop(k, None)  # the widgets show the opened project's settings
                n = sum(sess.project.counts().values())
                opened = _("Opened {file}: {samples}, {models}.", file=upload.name,
                           samples=ngettext("{n} sample", "{n} samples", n),
                           models=ngettext("{n} trained model", "{n} trained models", len(sess.runs)))
                st.session_state["report"] = [("success", opened)] + [("warning", note) for note in notes]
            st.rerun()


def class_warnings(sess: Session) -> list[str]:
    """What a teacher would point out about the gathered samples."""
    project = sess.project
    audio = project.kind == "audio"
    notes = []
    for c in project.classes:
        if not c.enabled:
            continue
        n = len(c)
        if audio and c.background:
            if n < FEW_BACKGROUND:
                notes.append(ngettext("**{cls}** has {n} sample: record at least {least} seconds of your room without "
                                      "speaking, so the model learns what is *not* one of your sounds.",
                                      "**{cls}** has {n} samples: record at least {least} seconds of your room without "
                                      "speaking, so the model learns what is *not* one of your sounds.",
                                      n, cls=c.name, least=FEW_BACKGROUND))
            continue
        few = FEW_SOUNDS if audio else FEW_SAMPLES
        if n < few and audio:
            notes.append(ngettext("**{cls}** has only {n} sample: aim for at least {least} (one second each), said in "
                                  "different ways.",
                                  "**{cls}** has only {n} samples: aim for at least {least} (one second each), said "
                                  "in different ways.", n, cls=c.name, least=few) if n else
                         _("**{cls}** has no samples yet: aim for at least {least} (one second each), said in "
                           "different ways.", cls=c.name, least=few))
        elif n < few:
            notes.append(ngettext("**{cls}** has only {n} sample: aim for at least {least}, from different angles and "
                                  "backgrounds.",
                                  "**{cls}** has only {n} samples: aim for at least {least}, from different angles "
                                  "and backgrounds.", n, cls=c.name, least=few) if n else
                         _("**{cls}** has no samples yet: aim for at least {least}, from different angles and "
                           "backgrounds.", cls=c.name, least=few))
    counts = {c.name: len(c) for c in project.classes if c.enabled and not (audio and c.background)}
    unequal = health.imbalance(counts, kinds.words(project.kind))
    if unequal is not None:
        notes.append(unequal.sentence)
    return notes


def require_model(sess: Session) -> RunRecord | None:
    """The current model, or a message pointing to the Train page."""
    if sess.current is None:
        st.info(_("No model yet: gather samples for at least two classes, then train one."))
        st.page_link("app_pages/train.py", label=_("Go to Train"), icon=":material/model_training:")
    return sess.current


# Said beside the Train button (and on Check my data) when no pretrained network of the project's kind is
# on this server and none can be downloaded (offline, no TM_MODELS_DIR).
# Translated where shown: _(TRAIN_NEEDS_MODELS).
TRAIN_NEEDS_MODELS = N_("The pretrained network files are missing on this server, so training cannot start: ask "
                        "whoever runs it to install them (see the README, section Deploy).")
CHECK_NEEDS_MODELS = N_("The pretrained network files are missing on this server, so your samples cannot be checked: "
                        "ask whoever runs it to install them (see the README, section Deploy).")
PICK_ANOTHER = N_("The pretrained network picked under Advanced cannot be used here ({reason}): pick another one "
                  "there.")


def network_problem(kind: str, name: str) -> str | None:
    """Why the pretrained network ``name`` cannot be used now, in one sentence, or None when it can."""
    ok, reason = available(name, kind)
    if ok:
        return None
    if not any(available(n, kind)[0] for n in encoder_names(kind)):
        return _(TRAIN_NEEDS_MODELS)
    return _(PICK_ANOTHER, reason=reason)


def why_not_trainable(sess: Session, encoder: str | None = None) -> str | None:
    """Why training cannot start (too few samples, the pretrained network missing), or None when it can."""
    try:
        sess.project.check_trainable()
    except InputError as e:
        return _("{reason}. Add samples on the Gather page.", reason=e.reason[:1].upper() + e.reason[1:])
    return network_problem(sess.project.kind, encoder or sess.encoder_name)


def trainable(sess: Session, encoder: str | None = None) -> bool:
    """Whether training can start; if not, says why."""
    why = why_not_trainable(sess, encoder)
    if why is not None:
        st.info(why)
    return why is None
