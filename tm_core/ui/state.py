"""What one browser session owns, and the heavy objects every session shares.

A user's project, embeddings, runs and models live in ``st.session_state`` (never in a module
global or a shared cache), and a copy on disk that only the token in the user's page address
reaches (``tm_core.store``: a reload restores it). Encoders are shared through
``st.cache_resource``: they are frozen, and every session uses them read-only.

The session model itself (``Session``, ``RunRecord``, ``PendingRun``) is UI-free, in
``tm_core.session`` (re-exported here), and the training steps are ``tm_core.workflow``: this
module only binds them to Streamlit (the shared encoders, the session in ``st.session_state``).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import asdict, fields

import numpy as np
import streamlit as st

from tm_core import store, workflow
from tm_core.encoders import default_encoder, encoder_names
from tm_core.errors import InputError
from tm_core.evaluation import evaluate_run
from tm_core.features import FeatureCache
from tm_core.i18n import _
from tm_core.project import Dataset, Project, ProjectClass
from tm_core.project_file import ProjectFile, SavedRun
from tm_core.session import PendingRun, RunRecord, Session  # noqa: F401 - the session model, re-exported
from tm_core.training import TrainConfig

KEY = "teachable_studio"


def session() -> Session:
    """This browser session's state, created on first use. Call it at the top of a script run: it
    also keeps a training that the previous run left unfinished (a Stop click reruns the script)
    and keeps the project's address in the page. The entry script calls ``tm_core.ui.sync.session``,
    which also restores the project on a new session (a reload) and saves what the previous run changed."""
    if KEY not in st.session_state:
        st.session_state[KEY] = Session()
    sess = st.session_state[KEY]
    sess.finish_pending()
    if sess.token and st.query_params.get(PARAM) != sess.token:
        st.query_params[PARAM] = sess.token  # switching pages clears the address's parameters
    return sess


def new_project(kind: str) -> Session:
    """Replace this session's project with an empty one of ``kind`` (image, audio); returns the session.

    The old project's copy on the server is deleted and the new one gets a new address. Widget
    state that belonged to the old project (the encoder picked on the Train page, the last
    report and data check on the Gather page) is dropped too."""
    sess = session()
    store = project_store()
    if store is not None and sess.token:
        store.delete(sess.token)
    sess.new_project(kind)
    sess.token, sess.saved, sess.base, sess.revision = new_token(), None, None, None
    st.query_params[PARAM] = sess.token
    for key in ("cfg:encoder", "report", "compare", "cfg:keep_missing", "cfg:augment", "health:checked"):
        st.session_state.pop(key, None)
    return sess


_loaded: set[str] = set()  # encoders this process has loaded (no spinner for them)


def encoder(name: str):
    """One encoder per name for the whole server: frozen weights, shared read-only. Its first load says so
    in the page's language (a cache's own spinner text is fixed when the module is imported)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    if name in _loaded or get_script_run_ctx(suppress_warning=True) is None:
        enc = _encoder(name)
    else:
        with st.spinner(_("Loading the pretrained network (first time only)…")):
            enc = _encoder(name)
    _loaded.add(name)
    return enc


@st.cache_resource(show_spinner=False)
def _encoder(name: str):
    from tm_core.encoders import get_encoder

    enc = get_encoder(name)
    keep_keras_session()
    settle_garbage_collector(enc)
    return enc


def _forget_encoders() -> None:
    """Drop every shared encoder (``encoder.clear()``, as on a cached function): the next use loads it again."""
    _encoder.clear()
    _loaded.clear()


encoder.clear = _forget_encoders  # type: ignore[attr-defined]


def prepare(sess: Session, config: TrainConfig, *, augment_views: bool = False,
            on_progress: workflow.Progress | None = None, network: str | None = None) -> workflow.Prepared:
    """``workflow.prepare`` of this session's project with its shared encoder (or ``network``'s) and its
    choices (keep pictures where nothing was found). A Stop (a rerun) interrupts between batches; what
    was embedded stays in ``sess.cache`` for the next try."""
    return workflow.prepare(sess.project, sess.cache, encoder(network or sess.encoder_name), config,
                            augment_views=augment_views, keep_missing=sess.keep_missing, on_progress=on_progress)


@st.cache_resource(show_spinner=False)
def block_inputs(name: str):
    """What enters the encoder's last block, as an encoder for the features cache (shared, read-only)."""
    from tm_core.finetune import BlockInputs

    return BlockInputs(encoder(name))


def model_encoder(rec: RunRecord):
    """The encoder a run's model uses: the shared frozen one, or its fine-tuned copy (kept with the run)."""
    base = encoder(rec.encoder)
    return rec.finetuned.encoder(base) if rec.finetuned is not None else base


def fine_tune(sess: Session, rec: RunRecord, on_progress: workflow.Progress | None = None,
              on_epoch: Callable | None = None) -> RunRecord:
    """``workflow.fine_tune`` with the shared encoder and block inputs: ``rec`` then holds the fine-tuned
    model. A Stop (a rerun) interrupts it: ``rec`` stays the frozen model it was."""
    return workflow.fine_tune(sess, rec, encoder(rec.encoder), block_inputs(rec.encoder), on_progress=on_progress,
                              on_epoch=on_epoch)


# ---------------------------------------------------------------------------------------------
# Serving models in a Streamlit process: keep TensorFlow's compiled functions and the GC quiet


_gc_lock = threading.Lock()
_gc_settled: set[int | str] = set()


def settle_garbage_collector(model: object | None = None) -> bool:
    """Hide every object alive now from Python's cyclic garbage collector (``gc.freeze``), once per model.

    A process that has loaded TensorFlow and a Keras model holds ~400,000 Python objects; each
    full collection walks them all (~0.2 s, holding the GIL). aiortc allocates enough per packet
    to trigger those collections again and again: measured in the browser test, live video fell
    from 30 to 4-10 frames a second and a 15 ms prediction took 300-500 ms. Frozen objects are
    still freed by reference counting. Called by :meth:`LivePrediction.set_predictor`; call it
    once after loading a model elsewhere. Returns whether it froze now.

    Once per encoder name: a student's fine-tuned copy counts as its encoder. Freezing again for
    every fine-tuned model would also freeze every other session's objects alive at that moment,
    and whatever of them later became cyclic garbage could never be collected (a memory leak that
    grows with the number of students). ``id`` of a freed model could also be reused.
    """
    name = getattr(model, "name", None)
    key = name.split("+")[0] if isinstance(name, str) else id(model)
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
                with contextlib.suppress(Exception):  # as Streamlit: never fail a run over this
                    sys.modules["matplotlib.pyplot"].close("all")

        clean_problem_modules_except_keras.keeps_keras = True  # type: ignore[attr-defined]
        clean_problem_modules_except_keras.original = current  # type: ignore[attr-defined]
        script_runner._clean_problem_modules = clean_problem_modules_except_keras
        return True


# From the first script run on, not only once a model is loaded: the pages import Keras, and every
# run of every session (a Gather page's 0.5 s status fragment too) then cost 0.2 s of GIL-holding
# clear_session() + gc.collect(). With three students on the Gather page and nobody trained yet the
# whole server stalled: uploads were not taken for minutes (tests/e2e/test_concurrency.py).
keep_keras_session()


# --- saving and opening the whole project (tm_core.project_file) ------------------------------------

def saved_run(r: RunRecord):
    return SavedRun(r.label, r.encoder, r.run, [s.id for s in r.dataset.samples], r.dataset.labels,
                    r.finetuned, r.features if r.finetuned is not None else None)


def project_file(sess: Session):
    """What "Save project" writes: the project, the settings, every run (its head, split and history;
    a fine-tuned block's weights and that network's embeddings) and the cached embeddings, so
    reopening needs no backbone pass. A run trained on samples deleted since is left out: a project
    file names its runs' samples, and one naming samples it does not hold would not open again."""
    known = {s.id for c in sess.project.classes for s in c.samples}
    kept = [r for r in sess.runs if {s.id for s in r.dataset.samples} <= known]
    current = next((i for i, r in enumerate(kept) if r is sess.current), None)
    embeddings = {name: v for name, v in sess.cache.export().items() if v[1].ndim == 2}  # not fine-tuning's block inputs
    return ProjectFile(sess.project, settings_of(sess), [saved_run(r) for r in kept], current, embeddings)


def settings_of(sess: Session) -> dict:
    return {"config": asdict(sess.config), "encoder": sess.encoder_name, "augment": sess.augment,
            "keep_missing": sess.keep_missing}


def own_copy(project: Project) -> Project:
    """The project with containers of its own (the samples, which never change, are shared)."""
    out = Project(project.kind, [])
    out.max_samples = project.max_samples
    out.classes = [ProjectClass(c.name, list(c.samples), c.enabled, c.uid, c.background, set(c.test_only))
                   for c in project.classes]
    return out


def run_record(rid: int, saved, pf, cache: FeatureCache, notes: list[str]) -> RunRecord | None:
    """A saved run as this session keeps it (its evaluation, its embeddings), or None with a note
    when it cannot be used here."""
    by_id = {s.id: s for c in pf.project.classes for s in c.samples}
    marked = set().union(*(c.test_only for c in pf.project.classes))
    samples = [by_id[sid] for sid in saved.sample_ids]
    test_only = np.array([s.id in marked for s in samples], bool)
    ds = Dataset(samples, saved.labels, list(saved.run.class_names), test_only if test_only.any() else None)
    if saved.encoder not in encoder_names(pf.project.kind):
        notes.append(_("{run} was trained with {network}, which this version does not have: left out.",
                       run=saved.label, network=saved.encoder))
        return None
    if saved.finetuned is not None:
        try:  # the fine-tuned layers must fit this version's network
            saved.finetuned.encoder(encoder(saved.encoder))
        except (ValueError, KeyError) as e:
            notes.append(_("{run}: its fine-tuned block does not fit this version's network ({error}): left out.",
                           run=saved.label, error=e))
            return None
        features = saved.features
    else:
        missing = cache.missing(saved.encoder, samples)
        if missing:
            cache.embed(encoder(saved.encoder), missing)
        features = cache.matrix(saved.encoder, samples)
    if features.shape[1] != saved.run.head.w1.shape[0]:
        notes.append(_("{run} does not fit its network's numbers here: left out.", run=saved.label))
        return None
    everything = [s.id for s in pf.project.dataset().samples] if saved.run.info.get("left_out") else None
    return RunRecord(rid, saved.label, saved.run, saved.encoder, ds, evaluate_run(saved.run, features, ds.labels),
                     everything, features, saved.finetuned)


def apply_settings(sess: Session, pf, notes: list[str]) -> None:
    s = pf.settings
    known = {f.name for f in fields(TrainConfig)}
    try:
        sess.config = TrainConfig(**{k: v for k, v in s.get("config", {}).items() if k in known}).validate()
    except (TypeError, ValueError, InputError):
        notes.append(_("The training settings in the file were not valid here: the defaults are used."))
    names = encoder_names(pf.project.kind)
    sess.encoder_name = s.get("encoder") if s.get("encoder") in names else default_encoder(pf.project.kind)
    sess.augment, sess.keep_missing = bool(s.get("augment", False)), bool(s.get("keep_missing", False))


def next_run_number(sess: Session) -> int:
    """After every run's id and every "Run N" label number, so a new run's label is never taken."""
    numbers = [r.id for r in sess.runs] + [int(w[1]) for r in sess.runs
                                           if len(w := r.label.split(" ·")[0].split()) == 2 and w[1].isdigit()]
    return max(numbers, default=0) + 1


def open_project_file(sess: Session, pf) -> list[str]:
    """Replace the session's project with an opened project file; returns notes for the student
    (e.g. a run whose network cannot be loaded here). The file was fully checked before this."""
    notes = list(pf.notes)  # what the reader left out (e.g. training settings not valid)
    cache = FeatureCache()
    for name, (ids, x) in pf.features.items():
        cache.load(name, ids, x)
    fresh = Session(project=pf.project, cache=cache)
    apply_settings(fresh, pf, notes)
    for i, saved in enumerate(pf.runs):
        rec = run_record(fresh.next_run_id, saved, pf, cache, notes)
        if rec is not None:
            fresh.next_run_id += 1
            fresh.runs.append(rec)
            if i == pf.current:
                fresh.current = rec
    fresh.next_run_id = next_run_number(fresh)
    fresh.token, fresh.base, fresh.revision = sess.token, sess.base, sess.revision  # the same address: the
    sess.__dict__.update(fresh.__dict__)                                            # opened project replaces its copy
    return notes


# --- kept on the server as the student works (tm_core.store) -----------------------------------------

PARAM = "project"  # the page address's parameter holding the project's token
_stores: dict[str, object] = {}
_stores_lock = threading.Lock()


def project_store():
    """The server's project store (``TM_DATA_DIR``), or None when that folder does not exist and cannot
    be made (the app then works as before, without keeping projects across reloads). A folder that
    cannot be written (read-only, full) still gives the store: projects are opened from it, and the
    sidebar says while saving fails (``autosave``)."""
    where = os.environ.get("TM_DATA_DIR", "")
    with _stores_lock:
        if where not in _stores:
            s = store.from_env()
            try:
                s.root.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                if not s.root.is_dir():
                    logging.getLogger(__name__).warning("projects are not kept across reloads: cannot make %s (%s)",
                                                        s.root, e)
                    s = None
            _stores[where] = s
        return _stores[where]


def new_token() -> str:
    return store.new_token()


def release_uploads(*files) -> int:
    """Drop uploaded files from Streamlit's memory once they have been taken; returns how many.

    The page then gives the uploader a new key (an empty uploader), but Streamlit keeps the old
    widget's files in memory until the session ends: a 30 MB zip would stay there for hours."""
    try:
        from streamlit.runtime import Runtime
        from streamlit.runtime.scriptrunner import get_script_run_ctx

        ctx, manager = get_script_run_ctx(), Runtime.instance().uploaded_file_mgr
        for f in files:
            manager.remove_file(ctx.session_id, f.file_id)
        return len(files)
    except Exception:  # noqa: BLE001 - no runtime (AppTest, bare mode) or another Streamlit: keep them
        return 0


def give_back_memory() -> bool:
    """Return the heap memory Python and NumPy have freed to the system (glibc's ``malloc_trim``).

    After a big upload or a training, glibc keeps the freed pages of their temporary buffers, so
    the server's resident memory (what a host like Streamlit Community Cloud counts) would stay at
    its peak for good. Returns False where there is no glibc."""
    import ctypes

    try:
        return bool(ctypes.CDLL(None).malloc_trim(0))
    except (OSError, AttributeError):
        return False

