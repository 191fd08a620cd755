"""The Gather page's widgets: the page's words per kind, class cards (name, on/off, clear, delete,
uploads, webcam photo or microphone), the zip import, and the report of what the last action added.

What a sample is made of (crop or pad, one-second windows) is the engine's: ``project.add_files``
and :mod:`tm_core.kinds`.
"""

from __future__ import annotations

import streamlit as st

from tm_core import kinds, media
from tm_core.errors import InputError
from tm_core.i18n import N_, _, ngettext, pgettext
from tm_core.project import Sample
from tm_core.ui import galleries, state, undo
from tm_core.ui.state import Session
from tm_core.ui.widgets import FEW_BACKGROUND, FEW_SAMPLES, FEW_SOUNDS, UPLOAD_IMAGE_TYPES, clicked

GESTURE_TIP = N_("Gestures or hand shapes, like rock, paper, scissors? Start a **Hand pose** project under "
                 "**New project**: it learns the shape of the hand, and on rock-paper-scissors photos it had not "
                 "seen it was right more often than an image project.")
BACKGROUND_CAPTION = N_("Record at least {n} seconds of your room without speaking: the model learns what silence "
                        "and room noise sound like, so it does not hear your other classes in them. This class cannot "
                        "be renamed, disabled or deleted.")  # n: FEW_BACKGROUND

CAPTION = {"image": N_("Image project"), "audio": N_("Audio project"), "pose": N_("Pose project"),
           "hands": N_("Hands project")}  # under the page's introduction


def intro(kind: str) -> None:
    """What to do on this page, in the words of the project's kind."""
    if kind == "audio":
        st.write(_("Give each class a name and add sounds of it: record with the microphone or upload sound files; "
                   "each second becomes one sample. Record at least {background} seconds of **{name}** and {n} "
                   "seconds of each other class, then go to **Train**.", background=FEW_BACKGROUND, n=FEW_SOUNDS,
                   name=kinds.background_name()))
    elif kind == "hands":
        st.write(_("Give each class a name and add pictures of the hand shape or gesture: photos, a folder, or the "
                   "webcam. The model learns the hand's shape from its 21 landmarks (drawn on each picture; left or "
                   "right hand, near or far, turned or not: the same shape) and looks at the picture too. The whole "
                   "picture is used, padded to a square. Aim for at least {n} examples per class, then go to "
                   "**Train**.", n=FEW_SAMPLES))
    elif kinds.is_keypoint(kind):
        st.write(_("Give each class a name and add pictures of a {what} in that pose: photos, a folder, or the "
                   "webcam. The model learns from the {what}'s keypoints (drawn on each picture), not from the "
                   "pixels. The whole picture is used, padded to a square. Aim for at least {n} examples per class, "
                   "then go to **Train**.", what=kinds.found_word(kind), n=FEW_SAMPLES))
    else:
        st.write(_("Give each class a name and add examples of it: photos, a folder, or the webcam. Aim for at least "
                   "{n} varied examples per class (angles, light, backgrounds), then go to **Train**.", n=FEW_SAMPLES))
        st.info(_(GESTURE_TIP), icon=":material/back_hand:")
    st.caption(_(CAPTION.get(kind, kind)))


# ---------------------------------------------------------------------------------------------
# Uploads are taken once: a counter in the widget's key gives a fresh, empty widget after each


def nonce(key: str) -> int:
    """A counter in a widget's key: bumping it gives a fresh, empty widget (uploads are taken once)."""
    return st.session_state.setdefault(f"nonce:{key}", 0)


def reset(key: str) -> None:
    st.session_state[f"nonce:{key}"] = nonce(key) + 1


def report(*messages: tuple[str, str], at: str = "") -> None:
    """What the last action added or refused, shown where it was done (``at``: a class's uid, "zip",
    "recorder"; "" at the top of the page) until the next action replaces it.

    Kept across reruns on purpose: the page reruns after taking an upload, and the camera
    component can rerun it again at any time, so a show-once message could vanish unread. A new
    report also ends the offer to undo the last removal (see :mod:`tm_core.ui.undo`).
    """
    st.session_state["report"] = [] if at else list(messages)
    st.session_state["report:at"] = (at, list(messages)) if at else None
    st.session_state.pop(undo.KEY, None)


def show_report(at: str = "") -> None:
    """The last report made ``at`` that place ("": the page's top)."""
    if at:
        placed = st.session_state.get("report:at")
        messages = placed[1] if placed and placed[0] == at else []
    else:
        messages = st.session_state.get("report", [])
    for kind, text in messages:
        getattr(st, kind)(text)


def take(sess: Session, items, where: str, at: str = "") -> None:
    """Add decoded items to the project and report ``at`` a place (see :func:`report`) what was added and
    what was not."""
    added, errors = 0, []
    with st.spinner(_("Reading {things} for {where}…", things=kinds.said(kinds.words(sess.project.kind))[1],
                      where=where)):
        for result in items:
            if isinstance(result, Sample):
                added += 1
            else:
                errors.append(result)
    messages = [("success" if added else "info",
                 ngettext("Added {n} sample to {where}.", "Added {n} samples to {where}.", added, where=where))]
    if errors:
        listed = "\n".join(f"- {e}" for e in errors[:30]) + ("\n- …" if len(errors) > 30 else "")
        messages.append(("warning", ngettext("{n} file was not added:\n\n{files}", "{n} files were not added:\n\n{files}",
                                             len(errors), files=listed)))
    decided = sess.project.last_import  # separate photos or frames of one video: what the honest test does
    messages += [("info", sentence) for sentence in (decided.sentences() if decided is not None else [])]
    report(*messages, at=at)


def test_only(cls) -> bool:
    """Whether new samples of ``cls`` go in as test only (the class card's toggle)."""
    return bool(st.session_state.get(f"testonly:{cls.uid}", False))


def add_files(sess: Session, cls, files) -> None:
    """``(name, bytes)`` files (any iterable: read one at a time) into ``cls`` as one upload, reported."""
    take(sess, sess.project.add_files(((cls.name, name, data) for name, data in files), test_only=test_only(cls)),
         cls.name, at=cls.uid)


def upload_into(sess: Session, cls, k: str, label: str, **options) -> None:
    """A file uploader whose files all go to ``cls`` as one upload; taken once, then the uploader starts empty."""
    files = st.file_uploader(label, key=f"{k}:{nonce(k)}", label_visibility="collapsed", **options)
    if files:
        add_files(sess, cls, ((f.name, f.getvalue()) for f in files))
        state.release_uploads(*files)
        reset(k)
        st.rerun()


def recorded_into(sess: Session, cls, k: str, value, name: str) -> None:
    """A camera photo or a microphone recording, taken once into ``cls``."""
    if value is not None:
        add_files(sess, cls, [(name, value.getvalue())])
        reset(k)
        st.rerun()


# ---------------------------------------------------------------------------------------------
# A class card


def split_controls(cls) -> bool:
    """The class's test-only toggles; True when the gallery should show a test-only box per sample."""
    left, right = st.columns(2)
    left.toggle(_("Add new samples as test only"), key=f"testonly:{cls.uid}",
                help=_("Samples added while this is on are never trained on: the model is tested on them only."))
    return right.toggle(_("Choose test-only samples"), key=f"choose:{cls.uid}", disabled=not cls.samples,
                        help=_("Tick samples to keep them for testing only. Under each one: train or test in the last "
                               "training."))


def class_header(sess: Session, cls, fixed: bool) -> None:
    """Name, "Use in training", Clear and Delete (none of them for Background Noise but Clear)."""
    project, key = sess.project, cls.uid
    top = st.columns([4, 1.3, 1, 1], vertical_alignment="bottom")
    new_name = top[0].text_input(_("Class name"), cls.name, key=f"name:{key}:{cls.name}", disabled=fixed)
    if new_name.strip() != cls.name:
        try:
            project.rename_class(cls.name, new_name)
            st.rerun()
        except InputError as e:
            top[0].error(e.reason)
    enabled = top[1].toggle(_("Use in training"), cls.enabled, key=f"on:{key}", disabled=fixed,
                            help=_("A disabled class keeps its samples but is left out of training."))
    if enabled != cls.enabled:
        try:
            project.set_enabled(cls.name, enabled)
            st.rerun()
        except InputError as e:
            top[1].error(e.reason)
    with top[2].popover(_("Clear"), disabled=not cls.samples, help=_("Remove every sample of this class")):
        st.write(ngettext("Remove the {n} sample of **{name}**? You can undo it right after.",
                          "Remove all {n} samples of **{name}**? You can undo it right after.", len(cls), name=cls.name))
        if clicked(st, _("Yes, clear"), f"clear:{key}", type="primary"):
            undo.clear_class(sess, cls.name)
            st.rerun()
    if not fixed:
        with top[3].popover(_("Delete"), help=_("Delete this class and its samples")):
            st.write(ngettext("Delete **{name}** and its {n} sample? You can undo it right after.",
                              "Delete **{name}** and its {n} samples? You can undo it right after.", len(cls),
                              name=cls.name))
            if clicked(st, _("Yes, delete"), f"del:{key}", type="primary"):
                undo.delete_class(sess, cls.name)
                st.rerun()


def picture_inputs(sess: Session, cls) -> None:
    """Image, pose and hand classes: upload images or a folder, or take a webcam photo."""
    key = cls.uid
    upload, folder, camera = st.tabs([_("Upload images"), _("Upload a folder"), _("Webcam photo")])
    with upload:
        upload_into(sess, cls, f"up:{key}", _("Images"), type=UPLOAD_IMAGE_TYPES, accept_multiple_files=True)
    with folder:
        upload_into(sess, cls, f"dir:{key}", _("A folder of images"), accept_multiple_files="directory")
    with camera:
        k = f"cam:{key}"
        recorded_into(sess, cls, k, st.camera_input(_("Take a photo"), key=f"{k}:{nonce(k)}"), "webcam photo")


def sound_inputs(sess: Session, cls) -> None:
    """Audio classes: record with the microphone (cut into 1-second samples), upload files or a folder."""
    key = cls.uid
    record, upload, folder = st.tabs([pgettext("sound", "Record"), _("Upload sounds"), _("Upload a folder")])
    with record:
        k = f"rec:{key}"
        clip = st.audio_input(pgettext("sound", "Record"), key=f"{k}:{nonce(k)}", label_visibility="collapsed")
        st.caption(_("Each second of the recording becomes one sample (Teachable Machine's \"extract samples\")."))
        recorded_into(sess, cls, k, clip, "recording")
    with upload:
        upload_into(sess, cls, f"up:{key}", _("Sound files"), type=list(media.AUDIO_EXTENSIONS),
                    accept_multiple_files=True)
        st.caption(_("{types}; any length: each second becomes one sample.", types=", ".join(media.AUDIO_EXTENSIONS)))
    with folder:
        upload_into(sess, cls, f"dir:{key}", _("A folder of sounds"), accept_multiple_files="directory")


def count_line(n: int, tests: int, audio: bool) -> str:
    """A class card's count: "**12** samples", "(one second each)" for sounds, and how many are test only."""
    if audio and tests:
        return ngettext("**{n}** sample (one second each), {tests} of them test only",
                        "**{n}** samples (one second each), {tests} of them test only", n, tests=tests)
    if audio:
        return ngettext("**{n}** sample (one second each)", "**{n}** samples (one second each)", n)
    if tests:
        return ngettext("**{n}** sample, {tests} of them test only", "**{n}** samples, {tests} of them test only", n,
                        tests=tests)
    return ngettext("**{n}** sample", "**{n}** samples", n)


def class_card(sess: Session, cls) -> None:
    audio = sess.project.kind == "audio"
    fixed = audio and cls.background  # Background Noise: always there, always used, named as in Teachable Machine
    with st.container(border=True):
        class_header(sess, cls, fixed)
        show_report(cls.uid)  # what the last upload into this class added or refused, where it was done
        undo.offer(sess, cls.uid)
        if fixed:
            st.caption(_(BACKGROUND_CAPTION, n=FEW_BACKGROUND))
        st.markdown(count_line(len(cls), len(cls.test_only), audio))
        choose = split_controls(cls)
        (sound_inputs if audio else picture_inputs)(sess, cls)
        galleries.samples_gallery(sess, cls, choose)


# ---------------------------------------------------------------------------------------------
# More classes: one at a time, or a zip of class folders; or a new project


def add_class_or_zip(sess: Session) -> None:
    project = sess.project
    undo.offer(sess, "classes")  # a deleted class comes back where it was
    left, right = st.columns(2)
    if clicked(left, _("Add a class"), "class:add", icon=":material/add:", width="stretch"):
        project.add_class()
        st.rerun()
    with right.expander(_("Import a zip of class folders")):
        if project.kind == "audio":
            st.caption(_("A zip with one folder per class (`yes/1.wav`, `no/2.wav`, …); a `background_noise` folder "
                         "goes into {background}. Folders become classes; existing classes with the same name get "
                         "the new samples.", background=project.background.name if project.background
                         else kinds.background_name()))
        else:
            st.caption(_("A zip with one folder per class (`rock/1.jpg`, `paper/2.jpg`, …). "
                         "Folders become classes; existing classes with the same name get the new samples."))
        k = "zip"
        archive = st.file_uploader(_("Zip file"), type=["zip"], key=f"{k}:{nonce(k)}", label_visibility="collapsed")
        if archive is not None:
            try:
                listing = media.read_zip(archive.getvalue(), archive.name)
                for cls in list(project.classes):  # the untouched starter classes make way for the zip's
                    if not cls.samples and kinds.is_numbered_name(cls.name) and cls.name not in listing.classes:
                        project.delete_class(cls.name)
                where = ngettext("{n} class from {file}", "{n} classes from {file}", len(listing.classes),
                                 file=archive.name)
                take(sess, project.add_listing(listing), where, at="zip")
            except InputError as e:
                report(("error", str(e)), at="zip")
            state.release_uploads(archive)
            reset(k)
            st.rerun()
    show_report("zip")


START_NEW = {"image": N_("Start a new image project"), "audio": N_("Start a new audio project"),
             "pose": N_("Start a new pose project"), "hands": N_("Start a new hands project")}


def new_project_control(sess: Session) -> None:
    """Start over with another kind of project (Teachable Machine's start page)."""
    with st.popover(_("New project"), icon=":material/add_circle:"):
        said = {k: f"{kinds.title(k)} · {kinds.pitch(k)}" for k in kinds.KINDS}  # translated here, in this run:
        kind = st.radio(_("Kind of project"), list(kinds.KINDS), key="new:kind", format_func=said.get)  # not later
        n = sum(sess.project.counts().values())
        confirmed = True
        if n:
            confirmed = st.checkbox(ngettext("I understand that the {n} sample and the models of this project will be "
                                             "lost (deleted from this server too)",
                                             "I understand that the {n} samples and the models of this project will "
                                             "be lost (deleted from this server too)", n), key="new:confirm")
        if clicked(st, _(START_NEW[kind]), f"new:start:{kind}", type="primary", disabled=not confirmed):
            state.new_project(kind)
            st.session_state.pop("new:confirm", None)
            st.rerun()
