"""Three-way merge of one project changed in two places (two tabs, a laptop and a phone, two server
processes) so that neither loses what it added.

``merge(base, mine, theirs)``: ``base`` is what this tab last loaded or saved (a :class:`Snapshot`, a
``ProjectFile``, or None when there is no common ancestor), ``mine`` the tab's project now, ``theirs``
the copy on the server now (written by another tab since). Returns the merged ``ProjectFile`` and
notes for the student about real conflicts. Pure: nothing here knows of Streamlit or the disk.

The rules:

- **Samples**, per class, by content id: a sample is kept when both sides have it, or when the side
  that has it added it (it is not in ``base``). A sample one side deleted is gone when the other side
  still has it unchanged. Test-only marks: the side that changed a sample's mark wins; when both did,
  this tab's.
- **Classes**, by their uid (it survives a rename): added on either side, kept. Deleted on one side:
  gone, unless the other side added samples to it; then it is kept (with that side's samples) and a
  note says so. A class renamed on one side takes that name; renamed differently on both sides, the
  name saved first on the server (the other tab's) is kept, and a note says which name was not.
  Enabled/disabled: the side that changed it wins. Classes new on both sides with the same name (two
  tabs that each uploaded a folder "dog") are one class: their samples are merged. When a rename makes
  two different classes share a name, this tab's one gets " (2)" (the next free number) and a note.
  Order: the server's, then this tab's new classes.
- **Runs** (trained models), by identity (:func:`run_key`: encoder, settings, samples, split, history,
  training time; a later fine-tuning of the last block does not change it): both sides' new runs are
  kept (the server's first); a run label already used gets the next free "Run N" number. A run one
  side no longer has (a project file was opened over it) is gone, unless the other side fine-tuned it
  since. A run changed on both sides (fine-tuned twice): the server's is kept, with a note. A run whose
  samples are no longer all in the project cannot be saved (a project file must reopen) and is left out.
  The current model: this tab's, if it is still there, else the server's.
- **Settings** (training settings, encoder, augmentation...), per field: the side that changed the
  field since ``base`` wins; when both did, this tab's (the last writer).
- **Kind**: when the two differ, a project file of another kind was opened on one side: the side that
  changed the kind since ``base`` wins whole (this tab, when unknown), with a note when it is the other.
- The sample limit (``TM_MAX_SAMPLES``): this tab's newest additions beyond it are left out, with a note.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

import numpy as np

from tm_core.i18n import N_, _, ngettext
from tm_core.naming import renumber, run_number
from tm_core.project import Project, ProjectClass
from tm_core.project_file import ProjectFile, SavedRun

OPENED = {  # another tab opened a project of another kind on this link
    "image": N_("Another tab opened an image project on this link: this tab now shows it."),
    "audio": N_("Another tab opened an audio project on this link: this tab now shows it."),
    "pose": N_("Another tab opened a body pose project on this link: this tab now shows it."),
    "hands": N_("Another tab opened a hand pose project on this link: this tab now shows it."),
}


@dataclass(frozen=True)
class ClassState:
    """What a merge needs of a class as it was: no sample content, only ids."""

    uid: str
    name: str
    enabled: bool
    samples: frozenset[str]
    test_only: frozenset[str]


@dataclass(frozen=True)
class Snapshot:
    """A compact record of a project as saved: what a tab remembers as the base of its next merge."""

    kind: str
    classes: dict[str, ClassState]  # uid → state
    runs: dict[str, str]  # run_key → run_version
    settings: dict
    current: str | None  # run_key of the current model


def _json(obj) -> str:
    def default(o):
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        raise TypeError(type(o).__name__)

    return json.dumps(obj, sort_keys=True, default=default)


def run_key(saved: SavedRun) -> str:
    """The identity of a trained run: the same in every tab and after a save and a load."""
    r = saved.run
    what = {"encoder": saved.encoder, "config": asdict(r.config), "classes": list(r.class_names),
            "samples": list(saved.sample_ids), "labels": [int(x) for x in saved.labels],
            "train": [int(x) for x in r.split.train], "test": [int(x) for x in r.split.test],
            "history": [asdict(h) for h in r.history], "seconds": float(r.seconds), "stopped": bool(r.stopped)}
    return hashlib.sha256(_json(what).encode()).hexdigest()[:20]


def run_version(saved: SavedRun) -> str:
    """Changes when a run is changed after training (its last block fine-tuned, its label)."""
    h = hashlib.sha256(_json([saved.label, saved.run.info, saved.finetuned is not None]).encode())
    for w in (saved.run.head.w1, saved.run.head.b1, saved.run.head.w2):
        h.update(np.ascontiguousarray(w, np.float32).tobytes())
    return h.hexdigest()[:20]


def snapshot(pf: ProjectFile) -> Snapshot:
    classes = {c.uid: ClassState(c.uid, c.name, c.enabled, frozenset(s.id for s in c.samples), frozenset(c.test_only))
               for c in pf.project.classes}
    runs = {run_key(r): run_version(r) for r in pf.runs}
    current = run_key(pf.runs[pf.current]) if pf.current is not None and 0 <= pf.current < len(pf.runs) else None
    return Snapshot(pf.project.kind, classes, runs, json.loads(_json(pf.settings)), current)


def _pick(base, mine, theirs):
    """Three-way choice of one value: the side that changed it; both changed: ``mine``."""
    if mine == theirs or theirs == base:
        return mine
    if mine == base:
        return theirs
    return mine


def _merge_settings(base: dict, mine: dict, theirs: dict) -> dict:
    out = {}
    for key in list(theirs) + [k for k in mine if k not in theirs]:
        b, m, t = base.get(key), mine.get(key), theirs.get(key)
        if isinstance(m, dict) and isinstance(t, dict):
            out[key] = _merge_settings(b if isinstance(b, dict) else {}, m, t)
        elif key not in mine:
            if b is None:
                out[key] = t  # new on the server
        elif key not in theirs:
            if b is None or m != b:
                out[key] = m
        else:
            out[key] = _pick(b, m, t)
    return out


def _merge_class(b: ClassState | None, m: ProjectClass, t: ProjectClass, notes: list[str]) -> ProjectClass:
    base_ids = b.samples if b else frozenset()
    mine_ids, their_ids = {s.id for s in m.samples}, {s.id for s in t.samples}
    samples = [s for s in t.samples if s.id in mine_ids or s.id not in base_ids]
    samples += [s for s in m.samples if s.id not in their_ids and s.id not in base_ids]
    marked = set()
    base_marks = b.test_only if b else frozenset()
    for s in samples:
        here = [c.test_only for c, ids in ((m, mine_ids), (t, their_ids)) if s.id in ids]
        if len(here) == 1:
            on = s.id in here[0]
        else:
            on = _pick(s.id in base_marks, s.id in m.test_only, s.id in t.test_only)
        if on:
            marked.add(s.id)
    if m.name == t.name or b is None or m.name == b.name:
        name = t.name
    elif t.name == b.name:
        name = m.name
    else:
        name = t.name
        notes.append(_("Another tab renamed the class '{old}' to '{theirs}' while this tab named it '{mine}': kept "
                       "'{theirs}' (the name saved first).", old=b.name, theirs=t.name, mine=m.name))
    enabled = _pick(b.enabled if b else t.enabled, m.enabled, t.enabled)
    return ProjectClass(name, samples, enabled, t.uid, t.background or m.background, marked)


def _merge_classes(base: Snapshot | None, mine: Project, theirs: Project, notes: list[str]) -> list[ProjectClass]:
    bc = base.classes if base else {}
    mc, tc = {c.uid: c for c in mine.classes}, {c.uid: c for c in theirs.classes}
    out: list[tuple[ProjectClass, bool]] = []  # (class, its name came from this tab)
    for t in theirs.classes:
        b, m = bc.get(t.uid), mc.get(t.uid)
        if m is not None:
            merged = _merge_class(b, m, t, notes)
            out.append((merged, merged.name != t.name))
        elif b is None:
            out.append((t, False))  # added on the server
        elif {s.id for s in t.samples} - b.samples:
            notes.append(_("This tab deleted the class '{old}' while another tab added samples to it: '{kept}' was "
                           "kept with its samples.", old=b.name, kept=t.name))
            out.append((t, False))
    for m in mine.classes:
        if m.uid in tc:
            continue
        b = bc.get(m.uid)
        if b is None:
            twin = next((c for c, _own in out if c.name == m.name and c.uid not in bc), None)
            if twin is not None:  # new on both sides with one name: one class
                fused = _merge_class(None, m, twin, notes)
                out = [(fused if c is twin else c, own) for c, own in out]
            else:
                out.append((m, True))
        elif {s.id for s in m.samples} - b.samples:
            notes.append(_("Another tab deleted the class '{old}' while this tab added samples to it: '{kept}' was "
                           "kept with its samples.", old=b.name, kept=m.name))
            out.append((m, True))
    names = {c.name for c, own in out if not own}
    for i, (c, own) in enumerate(out):
        if own and c.name in names:
            n = 2
            while f"{c.name} ({n})" in names or any(o.name == f"{c.name} ({n})" for o, _own in out):
                n += 1
            renamed = f"{c.name} ({n})"
            notes.append(_("Another tab already has a class named '{name}': this tab's is now '{new}'.",
                           name=c.name, new=renamed))
            out[i] = (ProjectClass(f"{c.name} ({n})", c.samples, c.enabled, c.uid, c.background, c.test_only), own)
        names.add(out[i][0].name)
    return [c for c, _own in out]


def _number(label: str) -> int | None:
    return run_number(label)  # "Run 3 · …" in any language the app speaks ("학습 3 · …")


def _merge_runs(base: Snapshot | None, mine: ProjectFile, theirs: ProjectFile, notes: list[str]) -> list[SavedRun]:
    br = base.runs if base else {}
    mk = {run_key(r): r for r in mine.runs}
    tk = {run_key(r): r for r in theirs.runs}
    out = []
    for k, t in tk.items():
        if k in mk:
            m = mk[k]
            vb, vm, vt = br.get(k), run_version(m), run_version(t)
            if vm in (vt, vb):
                out.append(t)
            elif vt == vb:
                out.append(m)
            else:
                notes.append(_("{run} was changed in another tab too: the other tab's was kept.", run=t.label))
                out.append(t)
        elif k not in br or run_version(t) != br[k]:
            out.append(t)
    labels = {r.label for r in out}
    for k, m in mk.items():
        if k in tk or (k in br and run_version(m) == br[k]):
            continue
        if m.label in labels:
            top = max([_number(r.label) or 0 for r in out + list(mk.values())] + [len(out)]) + 1
            label = renumber(m.label, top) if _number(m.label) else f"{m.label} ({top})"
            m = SavedRun(label, m.encoder, m.run, m.sample_ids, m.labels, m.finetuned, m.features)
        labels.add(m.label)
        out.append(m)
    return out


def merge(base: Snapshot | ProjectFile | None, mine: ProjectFile, theirs: ProjectFile) -> tuple[ProjectFile, list[str]]:
    """``mine`` and ``theirs`` merged by the rules of this module's docstring; returns (result, notes).

    Neither input is changed (the result shares their samples, which cannot change)."""
    if isinstance(base, ProjectFile):
        base = snapshot(base)
    notes: list[str] = []
    if mine.project.kind != theirs.project.kind:
        if base is not None and base.kind == mine.project.kind:
            said = OPENED.get(theirs.project.kind, OPENED["image"])
            return theirs, [_(said)]
        return mine, []
    project = Project(mine.project.kind, [])
    project.max_samples = mine.project.max_samples
    project.classes = _merge_classes(base, mine.project, theirs.project, notes)
    total = sum(len(c) for c in project.classes)
    if total > project.max_samples:
        their_ids = {s.id for c in theirs.project.classes for s in c.samples}
        over = total - project.max_samples
        for i in reversed(range(len(project.classes))):
            c = project.classes[i]
            drop = set([s.id for s in reversed(c.samples) if s.id not in their_ids][:over])  # this tab's newest
            project.classes[i] = ProjectClass(c.name, [s for s in c.samples if s.id not in drop], c.enabled, c.uid,
                                              c.background, c.test_only - drop)  # a new class: inputs unchanged
            over -= len(drop)
        limit = f"{project.max_samples:,}"
        notes.append(ngettext("The project is full ({limit} samples): {n} sample added in this tab was left out.",
                              "The project is full ({limit} samples): {n} samples added in this tab were left out.",
                              total - project.max_samples, limit=limit))
    known = {s.id for c in project.classes for s in c.samples}
    runs = [r for r in _merge_runs(base, mine, theirs, notes) if set(r.sample_ids) <= known]
    keys = [run_key(r) for r in runs]
    want = [run_key(pf.runs[pf.current]) for pf in (mine, theirs) if pf.current is not None]
    current = next((keys.index(k) for k in want if k in keys), None)
    b_settings = base.settings if base else {}
    settings = _merge_settings(b_settings, json.loads(_json(mine.settings)), json.loads(_json(theirs.settings)))
    features: dict[str, tuple[list[str], np.ndarray]] = {}
    for pf in (theirs, mine):
        for name, (ids, x) in pf.features.items():
            have = features.get(name, ([], np.zeros((0, x.shape[1]), np.float32)))
            seen = set(have[0])
            keep = [i for i, sid in enumerate(ids) if sid in known and sid not in seen]
            if keep and have[1].shape[1] == x.shape[1]:
                features[name] = (have[0] + [ids[i] for i in keep], np.concatenate([have[1], np.asarray(x)[keep]]))
    return ProjectFile(project, settings, runs, current, features), notes


def same(a: ProjectFile, b: ProjectFile) -> bool:
    """Whether two project files hold the same classes, samples, marks, runs, current model and settings."""
    return snapshot(a) == snapshot(b) and [c.uid for c in a.project.classes] == [c.uid for c in b.project.classes] \
        and all([s.id for s in x.samples] == [s.id for s in y.samples] for x, y in zip(a.project.classes, b.project.classes))
