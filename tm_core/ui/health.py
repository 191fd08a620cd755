"""Data health in the pages: "Check my data" on the Gather page, confusions on the Train page.

Each finding is one sentence with what to do, and an expander with the samples involved.
The findings themselves come from :mod:`tm_core.health`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np
import streamlit as st

from tm_core import health, kinds, media
from tm_core.errors import AssetError, InputError
from tm_core.i18n import _, ngettext
from tm_core.project import Dataset, Sample
from tm_core.ui import state, undo, widgets

KEY = "health:checked"  # session_state: (fingerprint of the samples checked, findings)
SHOWN_GROUPS = 6  # near-copy groups shown in an expander
SHOWN_SAMPLES = 8  # thumbnails per row


def words(kind: str) -> tuple[str, str]:
    return kinds.words(kind)


def near_copy_encoder(sess: state.Session) -> tuple[str, Callable[[Sample], np.ndarray] | None]:
    """The encoder whose embeddings judge near copies, and how a sample is fed to it.

    Image and audio projects use the project's encoder when a threshold was measured for it (its
    embeddings are then shared with training); pose and hand projects look at the picture itself
    with MobileNetV2, their samples (256 px, padded) brought down to its 224 px."""
    kind = sess.project.kind
    if kind in ("image", "audio"):
        if sess.encoder_name in health.NEAR_COPY:
            return sess.encoder_name, None
        return (health.PICTURE_ENCODER if kind == "image" else "yamnet_speech"), None
    return health.PICTURE_ENCODER, lambda s: kinds.crop_frame(s.data)


def fingerprint(ds: Dataset) -> str:
    h = hashlib.sha256("\n".join(ds.class_names).encode())
    for s, y in zip(ds.samples, ds.labels.tolist()):
        h.update(f"{y}:{s.id};".encode())
    return h.hexdigest()


def run_check(sess: state.Session, ds: Dataset, on_progress: Callable[[int, int], None] | None = None) -> list[health.Finding]:
    """Embed what is not cached yet (kept in the session's cache) and check the dataset."""
    name, transform = near_copy_encoder(sess)
    enc = state.encoder(name)
    todo = sess.cache.missing(name, ds.samples)
    cached = len(ds.samples) - len(todo)
    sess.cache.embed(enc, todo, transform=transform,
                     on_progress=(lambda d, _t: on_progress(cached + d, len(ds.samples))) if on_progress else None)
    return health.check(ds, sess.cache.matrix(name, ds.samples), encoder=name)


def cannot_check(sess: state.Session, error: Exception) -> str:
    """One sentence for the student when the check's pretrained network cannot be loaded here."""
    name, _view = near_copy_encoder(sess)
    kind = "image" if name == health.PICTURE_ENCODER else sess.project.kind
    if widgets.network_problem(kind, name) == _(widgets.TRAIN_NEEDS_MODELS) or isinstance(error, AssetError):
        return _(widgets.CHECK_NEEDS_MODELS)
    return _("Your samples cannot be checked here: {error}.", error=error)


def gather_panel(sess: state.Session) -> None:
    """The "Check my data" section: a button that embeds (with progress) and lists the findings,
    with one-click fixes where the fix is certain (keep a duplicate in one class, remove near copies)."""
    ds = sess.project.dataset()
    with st.container(border=True):
        st.markdown(_("**:material/health_and_safety: Check my data**"))
        st.caption(_("Looks for the same sample in two classes, near copies from different recordings or files, "
                     "and classes far larger than others, and says what to do about each. The frames of one "
                     "recording look alike on purpose, so they are not counted as near copies."))
        if not ds.samples:
            st.caption(_("Add samples first."))
            return
        fp = fingerprint(ds)
        if widgets.clicked(st, _("Check my data"), "health:check", icon=":material/search:"):
            progress = st.progress(0.0, text=_("Starting…"))
            thing = kinds.said(words(sess.project.kind))[0]
            try:
                findings = run_check(sess, ds, lambda d, n: progress.progress(
                    d / n, text=_("Looking at {thing} {d} of {n}", thing=thing, d=d, n=n)))
            except (InputError, AssetError) as e:  # the pretrained network cannot be had here: say so, no traceback
                progress.empty()
                st.error(cannot_check(sess, e), icon=":material/block:")
                return
            progress.empty()
            st.session_state[KEY] = (fp, findings)
        undo.offer(sess, "health")
        checked = st.session_state.get(KEY)
        if checked is None:
            return
        if checked[0] != fp:
            st.caption(_("Your samples changed since the last check: check again."))
            return
        findings = [f for f in checked[1] if f.kind != "imbalance"]  # the page's top already says that one
        if not findings:
            n = len(ds.samples)
            st.success(ngettext("Nothing else to point out in this {n} sample.",
                                "Nothing else to point out in these {n} samples.", n) if findings != checked[1]
                       else ngettext("Nothing to point out in this {n} sample.",
                                     "Nothing to point out in these {n} samples.", n))
        show(findings, ds, sess.project.kind, fixes=sess)


def fix(sess: state.Session, removals: list[tuple[str, str]], message: str) -> None:
    """Delete ``(class, sample id)`` pairs, check again (the embeddings are cached: no waiting) and rerun."""
    undo.remove_samples(sess, removals, message, "health")  # the panel offers Undo beside the findings
    ds = sess.project.dataset()
    st.session_state[KEY] = (fingerprint(ds), run_check(sess, ds) if ds.samples else [])
    st.rerun()


def show(findings: list[health.Finding], ds: Dataset, kind: str, fixes: state.Session | None = None) -> None:
    """Each finding as a warning or a note, with the samples involved in an expander (and, given the
    session in ``fixes``, buttons for the fixes that need no judgement)."""
    by_id = {s.id: s for s in ds.samples}
    w = kinds.said(words(kind))
    for i, f in enumerate(findings):
        (st.warning if f.severity == health.WARNING else st.info)(f.sentence)
        if fixes is not None and f.kind == "duplicate":
            cols = st.columns(len(f.classes) + 1)  # buttons side by side, not spread across the page
            for col, keep in zip(cols, f.classes):
                other = next(c for c in f.classes if c != keep)
                n = len(f.samples)
                if widgets.clicked(col, ngettext("Keep it in {name} only", "Keep them in {name} only", n, name=keep),
                                   f"health:keep:{i}:{keep}"):
                    fix(fixes, [(other, sid) for sid in f.samples],
                        _("Removed {n} {things} from {name}.", n=n, things=w[0 if n == 1 else 1], name=other))
        if fixes is not None and f.redundant:
            k = len(f.redundant)
            if widgets.clicked(st, ngettext("Remove the {n} near copy from {name}",
                                            "Remove the {n} near copies from {name}", k, name=f.classes[0]),
                               f"health:near:{i}", help=_("One of each group stays.")):
                fix(fixes, [(f.classes[0], sid) for sid in f.redundant],
                    ngettext("Removed {n} near copy from {name}.", "Removed {n} near copies from {name}.", k,
                             name=f.classes[0]))
        groups = f.groups or ((f.samples,) if f.samples else ())
        if not groups:
            continue
        n = len(f.samples)
        with st.expander(_("See the {n} {things}", n=n, things=w[0 if n == 1 else 1])):
            if f.redundant:
                st.caption(_("Each row is a group of near copies; the first one would stay."))
            for group in groups[:SHOWN_GROUPS]:
                thumbnails([by_id[sid] for sid in group if sid in by_id][:SHOWN_SAMPLES], kind)
            if len(groups) > SHOWN_GROUPS:
                st.caption(_("… and {n} more.", n=len(groups) - SHOWN_GROUPS))


def thumbnails(samples: list[Sample], kind: str) -> None:
    if not samples:
        return
    pictures = [media.spectrogram_image(s.data) if kind == "audio" else s.png or s.data for s in samples]
    st.image(pictures, width=90 if kind == "audio" else 72, caption=[s.name[-16:] or " " for s in samples])


def confusion_notes(sess: state.Session) -> None:
    """After training: which classes the current model mixes up on its held-out samples."""
    rec = sess.current
    if rec is None:
        return
    ids = [rec.dataset.samples[i].id for i in rec.run.split.test]
    findings = health.confusions(rec.evaluation, words(sess.project.kind), ids)
    show(findings, rec.dataset, sess.project.kind)
