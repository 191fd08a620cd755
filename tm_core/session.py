"""A student's session, without any user interface: the project, its embeddings, the settings
and the training runs (``Session``, ``RunRecord``, ``PendingRun``).

The app keeps one in ``st.session_state`` (``tm_core.ui.state``); the command line makes one
for its run. Nothing here draws or knows of Streamlit.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from tm_core.augment import on_by_default
from tm_core.encoders import default_encoder
from tm_core.evaluation import Evaluation, evaluate_run
from tm_core.features import FeatureCache
from tm_core.i18n import _
from tm_core.naming import run_name, run_number
from tm_core.project import Dataset, Project
from tm_core.training import EpochStats, Head, Run, Split, TrainConfig, lowest_test_loss_epoch


@dataclass
class RunRecord:
    """A finished (or stopped) training run, kept so runs can be compared on the Overfitting page."""

    id: int
    label: str  # e.g. "Run 3 · 50 epochs · lr 0.001"
    run: Run
    encoder: str
    dataset: Dataset  # the samples and labels it was trained on (same order as its split)
    evaluation: Evaluation  # on its held-out samples
    seen: list[str] | None = None  # ids of every project sample it was trained from, when some were left out
    features: np.ndarray | None = None  # one embedding per dataset sample: mistakes and nearest samples use them
    finetuned: object | None = None  # tm_core.finetune.FineTuned when the last block was fine-tuned (run.head is its head)


@dataclass
class PendingRun:
    """A training in progress, updated after every epoch, so a Stop (a rerun that interrupts the
    script) keeps the epochs already done: the next script run turns it into a stopped run."""

    config: TrainConfig
    encoder: str
    dataset: Dataset
    features: np.ndarray
    split: Split
    history: list[EpochStats] = field(default_factory=list)
    head: Head | None = None
    info: dict = field(default_factory=dict)  # goes to Run.info, e.g. how many augmented views were trained on
    seen: list[str] | None = None  # as RunRecord.seen
    finished: Run | None = None  # what train() returned, when it ran to its end (or stopped early by itself)


@dataclass
class Session:
    project: Project = field(default_factory=Project)
    cache: FeatureCache = field(default_factory=FeatureCache)
    config: TrainConfig = field(default_factory=TrainConfig)
    encoder_name: str = field(default_factory=default_encoder)
    runs: list[RunRecord] = field(default_factory=list)
    current: RunRecord | None = None  # the model the Test page uses
    pending: PendingRun | None = None
    exports: dict[int, dict[str, bytes]] = field(default_factory=dict)  # run id -> file name -> bytes (latest run only)
    next_run_id: int = 1
    # image, audio: also train on altered copies of the training samples (tm_core.augment); the default per kind
    augment: bool = field(default_factory=lambda: on_by_default("image"))
    keep_missing: bool = False  # pose, hands: also train on samples where nothing was found
    finetune: bool = False  # images: fine-tune the backbone's last block after the head (see tm_core.finetune)
    token: str = ""  # the project's key on the server (tm_core.store), kept in the page address
    saved: tuple | None = None  # ``fingerprint()`` when the server copy was last synced (see ui.sync.autosave)
    base: object | None = None  # tm_core.sync.Snapshot of that copy: what the next merge starts from
    revision: str | None = None  # the store's revision of that copy (another tab's save changes it)
    unsaved: str = ""  # why the last save failed (a full or read-only disk); "" when saved

    def add_run(self, run: Run, encoder: str, dataset: Dataset, features: np.ndarray, label: str = "",
                seen: list[str] | None = None) -> RunRecord:
        rid = self.next_run_id
        self.next_run_id += 1
        c = run.config
        label = label or _("{run} · {epochs} epochs · batch {batch} · lr {lr}", run=run_name(self.next_run_number()),
                           epochs=c.epochs, batch=c.batch_size, lr=format(c.learning_rate, "g"))
        if run.stopped:
            label = _("{label} · stopped at {done}", label=label, done=len(run.history))
        elif run.early_stopped_at is not None:
            label = _("{label} · early stop at {stopped}, kept {kept}", label=label, stopped=run.early_stopped_at,
                      kept=run.kept_epoch)
        taken = {r.label for r in self.runs}
        if label in taken:  # a lesson taken again: "Lesson · 5 epochs (2)", so every run keeps a name of its own
            label = next(f"{label} ({n})" for n in itertools.count(2) if f"{label} ({n})" not in taken)
        record = RunRecord(rid, label, run, encoder, dataset, evaluate_run(run, features, dataset.labels), seen, features)
        self.runs.append(record)
        return record

    def next_run_number(self) -> int:
        """The N of the next "Run N": one more than the highest so far. Plain runs are numbered apart from the
        runs an Overfitting lesson adds (labelled by their lesson), so the list reads Run 1, 2, 3."""
        numbers = [n for r in self.runs if (n := run_number(r.label)) is not None]
        return max(numbers, default=0) + 1

    def finish_pending(self) -> RunRecord | None:
        """Keep a finished training, or an interrupted one as a stopped run (if it finished an epoch), and make it current.

        With early stopping on, an interrupted run's head is the one of its lowest test loss so
        far (``train`` hands that to ``on_head``), and ``kept_epoch`` says so.
        """
        p, self.pending = self.pending, None
        if p is None or p.head is None:
            return None
        if p.finished is not None:
            run = p.finished
            run.info = {**run.info, **p.info}
        else:
            kept = lowest_test_loss_epoch(p.history) if p.config.early_stopping else None
            run = Run(p.config, p.dataset.class_names, list(p.history), p.head, p.split,
                      stopped=len(p.history) < p.config.epochs, info=dict(p.info), kept_epoch=kept)
        self.current = self.add_run(run, p.encoder, p.dataset, p.features, seen=p.seen)
        return self.current

    def new_project(self, kind: str) -> None:
        """Start over with an empty ``Project(kind)``: embeddings, runs, model and exports go too."""
        self.project = Project(kind)
        self.cache = FeatureCache()
        self.runs, self.current, self.pending, self.exports = [], None, None, {}
        self.encoder_name = default_encoder(kind)
        self.augment = on_by_default(kind)
        self.keep_missing = False

    def fingerprint(self) -> tuple:
        """Everything a saved project holds, cheaply compared: what ``autosave`` checks for changes."""
        p = self.project
        return (p.kind, tuple((c.name, c.uid, c.enabled, c.background, tuple(s.id for s in c.samples),
                               tuple(sorted(c.test_only))) for c in p.classes),
                repr(self.config), self.encoder_name, self.augment, self.keep_missing, len(self.cache),
                tuple((id(r.run), r.label, r.finetuned is None) for r in self.runs),
                None if self.current is None else id(self.current))

    def project_changed_since(self, record: RunRecord | None) -> bool:
        """True when the enabled classes or their samples differ from what ``record`` was trained on."""
        if record is None:
            return False
        ds = self.project.dataset()
        seen = record.seen if record.seen is not None else [s.id for s in record.dataset.samples]
        return (ds.class_names != record.dataset.class_names or [s.id for s in ds.samples] != seen
                or _marked(ds) & {s.id for s in record.dataset.samples} != _marked(record.dataset))

    def sample_splits(self) -> dict[str, str]:
        """Sample id → "train" or "test" in the current model's split (samples it did not see are absent)."""
        rec = self.current
        if rec is None:
            return {}
        ids = [s.id for s in rec.dataset.samples]
        out = {ids[i]: "train" for i in rec.run.split.train}
        out.update({ids[i]: "test" for i in rec.run.split.test})
        return out


def _marked(ds: Dataset) -> set[str]:
    return set() if ds.test_only is None else {s.id for s, m in zip(ds.samples, ds.test_only) if m}
