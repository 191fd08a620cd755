"""The Gather page's galleries: each class's samples as thumbnails (pictures, pictures with their
skeleton, sounds as spectrograms), with a delete button and a test-only box under each."""

from __future__ import annotations

import numpy as np
import streamlit as st

from tm_core import kinds, media
from tm_core.i18n import _, pgettext
from tm_core.ui import keypoints, undo
from tm_core.ui.state import Session
from tm_core.ui.widgets import clicked, session_cache

GALLERY = 24  # thumbnails shown per class before "show all"


def gallery(sess: Session, cls, picture=lambda s: s.png or s.data, columns: int = 8, width: int = 80,
            caption: int = 18, label=None, choose: bool = False) -> bool:
    """Thumbnails of the newest samples (all on request), each with a delete button; False if there are none.

    Each caption starts with the sample's side in the last training ("train", "test") or "test only";
    with ``choose``, a box under each sample keeps it for testing only."""
    project = sess.project
    if not cls.samples:
        st.caption(_("No samples yet."))
        return False
    show_all = len(cls) <= GALLERY or st.toggle(_("Show all {n}", n=len(cls)), key=f"all:{cls.uid}")
    shown = cls.samples if show_all else cls.samples[-GALLERY:]
    cols = st.columns(columns)
    sides = sess.sample_splits()  # a sample's side in the last training: "train", "test"
    said = {"train": pgettext("sample side", "train"), "test": pgettext("sample side", "test")}
    test_only = pgettext("sample side", "test only")
    for i, sample in enumerate(reversed(shown)):
        with cols[i % columns]:
            text = label(sample) if label else sample.name[-caption:] or None
            side = test_only if sample.id in cls.test_only else said.get(sides.get(sample.id))
            st.image(picture(sample), caption=" · ".join(t for t in (side, text) if t) or None, width=width)
            if choose:
                marked = st.checkbox(test_only, sample.id in cls.test_only, key=f"to:{cls.uid}:{sample.id}")
                if marked != (sample.id in cls.test_only):
                    project.set_test_only(cls.name, sample.id, marked)
                    st.rerun()
            if clicked(st, "✕", f"rm:{cls.uid}:{sample.id}", help=_("Delete this sample")):
                undo.remove_samples(sess, [(cls.name, sample.id)], _("Deleted a sample of {name}.", name=cls.name),
                                    cls.uid)
                st.rerun()
    return True


def keypoint_gallery(sess: Session, cls, choose: bool = False) -> None:
    """Pose, hands: each sample with the skeleton found in it, "no person" / "no hand" under those where none was."""
    name, what = sess.encoder_name, kinds.found_word(sess.project.kind)
    if cls.samples:
        with st.spinner(_("Finding the {what} in each picture…", what=what)):
            missing = keypoints.missing_count(name, cls.samples)
        if missing:
            st.warning(_("{n} without a {what}: no {what} was found in {n} of {total} pictures. They are left out of "
                         "training unless you keep them on the Train page.", n=missing, what=what, total=len(cls)))
    nothing = _("no {what}", what=what)
    gallery(sess, cls, lambda s: keypoints.thumbnail(name, s.id, s), width=90,
            label=lambda s: (s.name[-18:] or None) if keypoints.sample_found(name, s) else nothing, choose=choose)


@session_cache(max_entries=5000)
def spectrogram(sample_id: str, _wave: np.ndarray) -> np.ndarray:
    """A sample's spectrogram picture (keyed by its content id: samples never change)."""
    return media.spectrogram_image(_wave)


def sound_gallery(sess: Session, cls, choose: bool = False) -> None:
    """Spectrogram thumbnails with a delete button each, and playback of any sample."""
    if not gallery(sess, cls, lambda s: spectrogram(s.id, s.data), columns=6, width=110, caption=22, choose=choose):
        return
    unnamed = _("sample")
    by_label = {f"{i + 1}. {s.name or unnamed}": s for i, s in enumerate(cls.samples)}
    labels = list(by_label)
    left, right = st.columns([2, 3], vertical_alignment="bottom")
    pick = left.selectbox(_("Listen to"), labels, index=len(labels) - 1, key=f"play:{cls.uid}")
    right.audio(by_label[pick].data, sample_rate=media.SAMPLE_RATE)


def samples_gallery(sess: Session, cls, choose: bool = False) -> None:
    """The class's gallery as its project kind shows it."""
    kind = sess.project.kind
    if kind == "audio":
        sound_gallery(sess, cls, choose)
    elif kinds.is_keypoint(kind):
        keypoint_gallery(sess, cls, choose)
    else:
        gallery(sess, cls, choose=choose)
