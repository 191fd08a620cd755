"""What one browser session owns, and the heavy objects every session shares.

A user's project, embeddings, runs and models live in ``st.session_state`` only (never in a
module global, a shared cache or on disk). Encoders are shared through ``st.cache_resource``:
they are frozen, and every session uses them read-only.
"""

from __future__ import annotations

import gc
import sys
import threading
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import streamlit as st

from tm_core.augment import on_by_default
from tm_core.encoders import default_encoder
from tm_core.evaluation import Evaluation, evaluate_run
from tm_core.features import FeatureCache
from tm_core.project import Dataset, Project
from tm_core.training import EpochStats, Head, Run, Split, TrainConfig

KEY = "teachable_studio"


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

    def add_run(self, run: Run, encoder: str, dataset: Dataset, features: np.ndarray, label: str = "",
                seen: list[str] | None = None) -> RunRecord:
        rid = self.next_run_id
        self.next_run_id += 1
        c = run.config
        label = label or f"Run {rid} · {c.epochs} epochs · batch {c.batch_size} · lr {c.learning_rate:g}"
        if run.stopped:
            label += f" · stopped at {len(run.history)}"
        record = RunRecord(rid, label, run, encoder, dataset, evaluate_run(run, features, dataset.labels), seen)
        self.runs.append(record)
        return record

    def finish_pending(self) -> RunRecord | None:
        """Keep an interrupted training as a stopped run (if it finished an epoch) and make it current."""
        p, self.pending = self.pending, None
        if p is None or p.head is None:
            return None
        run = Run(p.config, p.dataset.class_names, list(p.history), p.head, p.split,
                  stopped=len(p.history) < p.config.epochs, info=dict(p.info))
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

    def project_changed_since(self, record: RunRecord | None) -> bool:
        """True when the enabled classes or their samples differ from what ``record`` was trained on."""
        if record is None:
            return False
        ds = self.project.dataset()
        seen = record.seen if record.seen is not None else [s.id for s in record.dataset.samples]
        return ds.class_names != record.dataset.class_names or [s.id for s in ds.samples] != seen


def session() -> Session:
    """This browser session's state, created on first use. Call it once, at the top of a script run:
    it also keeps a training that the previous run left unfinished (a Stop click reruns the script)."""
    if KEY not in st.session_state:
        st.session_state[KEY] = Session()
    sess = st.session_state[KEY]
    sess.finish_pending()
    return sess


def new_project(kind: str) -> Session:
    """Replace this session's project with an empty one of ``kind`` (image, audio); returns the session.

    Widget state that belonged to the old project (the encoder picked on the Train page, the
    last report on the Gather page) is dropped too."""
    sess = session()
    sess.new_project(kind)
    for key in ("cfg:encoder", "report", "compare", "cfg:keep_missing", "cfg:augment"):
        st.session_state.pop(key, None)
    return sess


@st.cache_resource(show_spinner="Loading the pretrained network (first time only)…")
def encoder(name: str):
    """One encoder per name for the whole server: frozen weights, shared read-only."""
    from tm_core.encoders import get_encoder

    enc = get_encoder(name)
    keep_keras_session()
    settle_garbage_collector(enc)
    return enc


def embed_dataset(sess: Session, on_progress: Callable[[int, int], None] | None = None) -> tuple[Dataset, np.ndarray]:
    """Embed what is not cached yet of the project's enabled classes; returns (dataset, features).

    Embeddings of deleted samples are dropped first. A Stop (a rerun) interrupts between batches;
    the batches already embedded stay cached for the next try.
    """
    sess.project.check_trainable()
    sess.cache.forget({s.id for c in sess.project.classes for s in c.samples})
    ds = sess.project.dataset()
    enc = encoder(sess.encoder_name)
    todo = sess.cache.missing(enc.name, ds.samples)
    cached = len(ds.samples) - len(todo)
    sess.cache.embed(enc, todo, on_progress=(lambda d, _t: on_progress(cached + d, len(ds.samples))) if on_progress else None)
    return ds, sess.cache.matrix(enc.name, ds.samples)


def usable_dataset(sess: Session, ds: Dataset, features: np.ndarray) -> tuple[Dataset, np.ndarray, int]:
    """Pose and hand projects: the samples where nothing was found left out (unless ``sess.keep_missing``).

    Returns (dataset, features, how many were left out); other kinds come back as they are.
    Raises ``InputError`` naming a class that would be left with no sample.
    """
    from tm_core.ui import keypoints

    if not keypoints.is_keypoint(sess.project.kind) or sess.keep_missing or not len(features):
        return ds, features, 0
    missing = ~keypoints.found(features)
    if not missing.any():
        return ds, features, 0
    return ds.subset(~missing), features[~missing], int(missing.sum())


def embed_views(sess: Session, ds: Dataset, split: Split,
                on_progress: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Augmented views of the training part of ``split`` (image and audio projects; empty for pose, hands), cached.

    Like :func:`embed_dataset`, a Stop (a rerun) interrupts between batches and what was embedded
    stays in ``sess.cache`` for the next try.
    """
    from tm_core import augment

    return augment.embed_views(sess.cache, encoder(sess.encoder_name), ds, split, on_progress=on_progress)


# ---------------------------------------------------------------------------------------------
# Serving models in a Streamlit process: keep TensorFlow's compiled functions and the GC quiet


_gc_lock = threading.Lock()
_gc_settled: set[int] = set()


def settle_garbage_collector(model: object | None = None) -> bool:
    """Hide every object alive now from Python's cyclic garbage collector (``gc.freeze``), once per model.

    A process that has loaded TensorFlow and a Keras model holds ~400,000 Python objects; each
    full collection walks them all (~0.2 s, holding the GIL). aiortc allocates enough per packet
    to trigger those collections again and again: measured in the browser test, live video fell
    from 30 to 4-10 frames a second and a 15 ms prediction took 300-500 ms. Frozen objects are
    still freed by reference counting. Called by :meth:`LivePrediction.set_predictor`; call it
    once after loading a model elsewhere. Returns whether it froze now.
    """
    key = id(model)
    with _gc_lock:
        if key in _gc_settled:
            return False
        _gc_settled.add(key)
        gc.collect()
        gc.freeze()
        return True


_keras_lock = threading.Lock()


def keep_keras_session() -> bool:
    """Stop Streamlit from calling ``keras.backend.clear_session()`` after every script run.

    Streamlit (1.67, ``ScriptRunner._clean_problem_modules``) does that after each run, fragment
    runs included, whenever Keras is imported. It clears TensorFlow's kernel cache (so the next
    call of every ``tf.function`` is instantiated and optimised again: 300-700 ms of CPU for
    MobileNetV2 here, against 15-30 ms for a prediction) and runs a full garbage collection.
    A page polling at 2 Hz then made a quarter of the live predictions that slow. Matplotlib
    figures are still closed as Streamlit does. Idempotent; returns whether the patch is on.
    """
    try:
        from streamlit.runtime.scriptrunner import script_runner
    except ImportError:  # a Streamlit without that module: nothing to undo
        return False
    with _keras_lock:
        current = getattr(script_runner, "_clean_problem_modules", None)
        if current is None:
            return False
        if getattr(current, "keeps_keras", False):
            return True

        def clean_problem_modules_except_keras() -> None:
            if "matplotlib.pyplot" in sys.modules:
                try:
                    sys.modules["matplotlib.pyplot"].close("all")
                except Exception:  # noqa: BLE001 - as Streamlit: never fail a run over this
                    pass

        clean_problem_modules_except_keras.keeps_keras = True  # type: ignore[attr-defined]
        clean_problem_modules_except_keras.original = current  # type: ignore[attr-defined]
        script_runner._clean_problem_modules = clean_problem_modules_except_keras
        return True
