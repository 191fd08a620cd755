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

import gc
import sys
import threading
from typing import Callable

import numpy as np
import streamlit as st

from tm_core import workflow
from tm_core.encoders import default_encoder
from tm_core.errors import InputError
from tm_core.evaluation import evaluate_run
from tm_core.features import FeatureCache
from tm_core.session import PendingRun, RunRecord, Session  # noqa: F401 - the session model, re-exported
from tm_core.training import TrainConfig

KEY = "teachable_studio"


def session() -> Session:
    """This browser session's state, created on first use. Call it at the top of a script run: it
    also keeps a training that the previous run left unfinished (a Stop click reruns the script),
    restores the project kept on the server when the page address names one (a reload), keeps
    that address in the page, and saves what the previous run changed (see ``autosave``)."""
    if KEY not in st.session_state:
        st.session_state[KEY] = Session()
        restore(st.session_state[KEY])
    sess = st.session_state[KEY]
    sess.finish_pending()
    if sess.token and st.query_params.get(PARAM) != sess.token:
        st.query_params[PARAM] = sess.token  # switching pages clears the address's parameters
    autosave(sess)
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
    sess.token, sess.saved = new_token(), None
    st.query_params[PARAM] = sess.token
    for key in ("cfg:encoder", "report", "compare", "cfg:keep_missing", "cfg:augment", "health:checked"):
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


def prepare(sess: Session, config: TrainConfig, *, augment_views: bool = False,
            on_progress: workflow.Progress | None = None) -> workflow.Prepared:
    """``workflow.prepare`` of this session's project with its shared encoder and its choices (keep
    pictures where nothing was found). A Stop (a rerun) interrupts between batches; what was embedded
    stays in ``sess.cache`` for the next try."""
    return workflow.prepare(sess.project, sess.cache, encoder(sess.encoder_name), config, augment_views=augment_views,
                            keep_missing=sess.keep_missing, on_progress=on_progress)


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
                try:
                    sys.modules["matplotlib.pyplot"].close("all")
                except Exception:  # noqa: BLE001 - as Streamlit: never fail a run over this
                    pass

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

def project_file(sess: Session):
    """What "Save project" writes: the project, the settings, every run (its head, split and history;
    a fine-tuned block's weights and that network's embeddings) and the cached embeddings, so
    reopening needs no backbone pass."""
    from dataclasses import asdict

    from tm_core.project_file import ProjectFile, SavedRun

    kept = list(sess.runs)
    runs = [SavedRun(r.label, r.encoder, r.run, [s.id for s in r.dataset.samples], r.dataset.labels,
                     r.finetuned, r.features if r.finetuned is not None else None) for r in kept]
    current = next((i for i, r in enumerate(kept) if r is sess.current), None)
    settings = {"config": asdict(sess.config), "encoder": sess.encoder_name, "augment": sess.augment,
                "keep_missing": sess.keep_missing}
    embeddings = {name: v for name, v in sess.cache.export().items() if v[1].ndim == 2}  # not fine-tuning's block inputs
    return ProjectFile(sess.project, settings, runs, current, embeddings)


def open_project_file(sess: Session, pf) -> list[str]:
    """Replace the session's project with an opened project file; returns notes for the student
    (e.g. a run whose network cannot be loaded here). The file was fully checked before this."""
    from dataclasses import fields

    from tm_core.encoders import encoder_names
    from tm_core.project import Dataset

    notes = []
    cache = FeatureCache()
    for name, (ids, x) in pf.features.items():
        cache.load(name, ids, x)
    by_id = {s.id: s for c in pf.project.classes for s in c.samples}
    marked = set().union(*(c.test_only for c in pf.project.classes))
    everything = [s.id for s in pf.project.dataset().samples]
    fresh = Session(project=pf.project, cache=cache)
    s = pf.settings
    known = {f.name for f in fields(TrainConfig)}
    try:
        fresh.config = TrainConfig(**{k: v for k, v in s.get("config", {}).items() if k in known}).validate()
    except (TypeError, ValueError, InputError):
        notes.append("The training settings in the file were not valid here: the defaults are used.")
    names = encoder_names(pf.project.kind)
    fresh.encoder_name = s.get("encoder") if s.get("encoder") in names else default_encoder(pf.project.kind)
    fresh.augment, fresh.keep_missing = bool(s.get("augment", False)), bool(s.get("keep_missing", False))
    for i, saved in enumerate(pf.runs):
        samples = [by_id[sid] for sid in saved.sample_ids]
        test_only = np.array([s.id in marked for s in samples], bool)
        ds = Dataset(samples, saved.labels, list(saved.run.class_names), test_only if test_only.any() else None)
        if saved.encoder not in names:
            notes.append(f"{saved.label} was trained with {saved.encoder}, which this version does not have: left out.")
            continue
        if saved.finetuned is not None:
            try:  # the fine-tuned layers must fit this version's network
                saved.finetuned.encoder(encoder(saved.encoder))
            except (ValueError, KeyError) as e:
                notes.append(f"{saved.label}: its fine-tuned block does not fit this version's network ({e}): left out.")
                continue
            features = saved.features
        else:
            missing = cache.missing(saved.encoder, samples)
            if missing:
                cache.embed(encoder(saved.encoder), missing)
            features = cache.matrix(saved.encoder, samples)
        if features.shape[1] != saved.run.head.w1.shape[0]:
            notes.append(f"{saved.label} does not fit its network's numbers here: left out.")
            continue
        rec = RunRecord(fresh.next_run_id, saved.label, saved.run, saved.encoder, ds,
                        evaluate_run(saved.run, features, ds.labels),
                        everything if saved.run.info.get("left_out") else None, features, saved.finetuned)
        fresh.next_run_id += 1
        fresh.runs.append(rec)
        if i == pf.current:
            fresh.current = rec
    fresh.token = sess.token  # the same address: the opened project replaces the server's copy
    sess.__dict__.update(fresh.__dict__)
    return notes


# --- kept on the server as the student works (tm_core.store) -----------------------------------------

PARAM = "project"  # the page address's parameter holding the project's token
_stores: dict[str, object] = {}
_stores_lock = threading.Lock()


def project_store():
    """The server's project store (``TM_DATA_DIR``), or None when that folder cannot be written
    (the app then works as before, without keeping projects across reloads)."""
    import logging
    import os

    from tm_core import store

    where = os.environ.get("TM_DATA_DIR", "")
    with _stores_lock:
        if where not in _stores:
            s = store.from_env()
            try:
                s.root.mkdir(parents=True, exist_ok=True)
                probe = s.root / f".probe-{os.getpid()}"
                probe.write_bytes(b"")
                probe.unlink()
            except OSError as e:
                logging.getLogger(__name__).warning("projects are not kept across reloads: cannot write %s (%s)",
                                                    s.root, e)
                s = None
            _stores[where] = s
        return _stores[where]


def new_token() -> str:
    from tm_core import store

    return store.new_token()


def restore(sess: Session) -> None:
    """A new browser session: open the project its page address names, if this server keeps one;
    otherwise give it a fresh address. Tells the student either way (a toast, or a report on Gather)."""
    store = project_store()
    if store is None:
        return
    store.sweep()
    token = st.query_params.get(PARAM)
    if token:
        try:
            pf = store.load(token)
        except InputError as e:
            st.session_state["report"] = [("warning", f"{e}: this is a new, empty project.")]
        else:
            notes = open_project_file(sess, pf)
            sess.token, sess.saved = token, sess.fingerprint()
            n = sum(sess.project.counts().values())
            st.toast(f"Welcome back: your project is here again ({n} samples, {len(sess.runs)} trained models).",
                     icon=":material/restore:")
            if notes:
                st.session_state["report"] = [("warning", note) for note in notes]
            return
    sess.token = new_token()


def autosave(sess: Session) -> bool:
    """Save the project on the server if it changed since the last save; returns whether it saved.

    Only what changed is written (new samples, the manifest, changed heads and embeddings). A
    project that never had a sample is not written at all. A failure (a full disk) is logged and
    shown once, and never stops the page."""
    store = project_store()
    if store is None or not sess.token:
        return False
    now = sess.fingerprint()
    if now == sess.saved:
        return False
    if sess.saved is None and not any(c.samples for c in sess.project.classes) and not store.exists(sess.token):
        return False
    try:
        store.save(sess.token, project_file(sess))
    except OSError as e:
        import logging

        logging.getLogger(__name__).warning("could not save project: %s", e)
        if sess.saved != "failed":
            st.toast("Your project could not be saved on the server (it is still here in this tab): "
                     "use Save project to keep a copy.", icon=":material/warning:")
        sess.saved = "failed"
        return False
    sess.saved = now
    give_back_memory()  # a change (an upload, a training) freed its temporary buffers: return them
    return True


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

