"""Undo for the actions that remove samples or classes (one sample's ✕, Clear, Delete a class, the
fixes of Check my data): each removes through the project's own methods and keeps what it took, so
an Undo button beside where the student clicked puts it back. The last removal can be undone until
the next one replaces it; Start over, which deletes the project from the server, asks instead.

Only what was removed comes back (samples at their places, a class at its place): samples added or
names changed since are kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import streamlit as st

from tm_core.i18n import _, ngettext
from tm_core.project import ProjectClass, Sample
from tm_core.ui.state import Session
from tm_core.ui.widgets import clicked

KEY = "undo"


@dataclass
class Removal:
    """What one action removed: whole classes (with their positions) or some samples of classes."""

    message: str  # what was done, in a sentence ("Removed all 12 samples of rock.")
    where: str  # where the Undo button shows: a class's uid, or a place name ("classes", "health")
    classes: list[tuple[int, ProjectClass]] = field(default_factory=list)
    # class uid → (index when removed, sample, test only), in the order they were removed
    samples: dict[str, list[tuple[int, Sample, bool]]] = field(default_factory=dict)


def _class_by_uid(sess: Session, uid: str) -> ProjectClass | None:
    return next((c for c in sess.project.classes if c.uid == uid), None)


def remove_samples(sess: Session, removals: list[tuple[str, str]], message: str, where: str) -> int:
    """Delete ``(class name, sample id)`` pairs (missing ones are skipped), remembering them for Undo;
    returns how many were deleted."""
    removal = Removal(message, where)
    for name, sid in removals:
        if not sess.project.has_class(name):
            continue
        cls = sess.project.get_class(name)
        index = next((i for i, s in enumerate(cls.samples) if s.id == sid), None)
        if index is None:
            continue
        removal.samples.setdefault(cls.uid, []).append((index, cls.samples[index], sid in cls.test_only))
        sess.project.delete_sample(name, sid)
    if removal.samples:
        st.session_state[KEY] = removal
    return sum(len(v) for v in removal.samples.values())


def clear_class(sess: Session, name: str) -> None:
    """Remove every sample of class ``name``, remembered for Undo on its card."""
    cls = sess.project.get_class(name)
    n = len(cls)
    remove_samples(sess, [(name, s.id) for s in list(cls.samples)],
                   _("Removed all {n} samples of {name}.", n=n, name=name) if n != 1
                   else _("Removed the only sample of {name}.", name=name), cls.uid)


def delete_class(sess: Session, name: str) -> None:
    """Delete class ``name`` and its samples, remembered for Undo where the class list ends."""
    cls = sess.project.get_class(name)
    index = sess.project.classes.index(cls)
    sess.project.delete_class(name)
    n = len(cls)
    st.session_state[KEY] = Removal(ngettext("Deleted the class {name} and its {n} sample.",
                                             "Deleted the class {name} and its {n} samples.", n, name=name),
                                    "classes", classes=[(index, cls)])


def pending(where: str) -> Removal | None:
    removal = st.session_state.get(KEY)
    return removal if isinstance(removal, Removal) and removal.where == where else None


def restore(sess: Session, removal: Removal) -> str:
    """Put back what ``removal`` took; returns what was done, in a sentence."""
    project = sess.project
    for index, cls in sorted(removal.classes, key=lambda pair: pair[0]):
        if _class_by_uid(sess, cls.uid) is None:
            if project.has_class(cls.name):  # a class of the same name was made since: keep both
                n = 2
                while project.has_class(f"{cls.name} ({n})"):
                    n += 1
                cls.name = f"{cls.name} ({n})"
            project.classes.insert(min(index, len(project.classes)), cls)
    lost = 0
    for uid, kept in removal.samples.items():
        cls = _class_by_uid(sess, uid)
        if cls is None:  # the class was deleted since
            lost += len(kept)
            continue
        for index, sample, test_only in reversed(kept):  # the other way round: each goes back where it was
            if any(s.id == sample.id for s in cls.samples):
                continue
            cls.samples.insert(min(index, len(cls.samples)), sample)
            if test_only:
                cls.test_only.add(sample.id)
    if lost:
        return _("Put back what could be: the class of {n} of the samples was deleted since.", n=lost)
    return _("Put back.")


def offer(sess: Session, where: str) -> None:
    """The last removal made at ``where``, in a sentence, with an Undo button (nothing when there is none)."""
    removal = pending(where)
    if removal is None:
        return
    with st.container(horizontal=True, vertical_alignment="center"):
        st.info(removal.message, icon=":material/delete:")
        if clicked(st, _("Undo"), f"undo:{where}", icon=":material/undo:"):
            st.session_state.pop(KEY, None)
            st.toast(restore(sess, removal))
            st.rerun()
