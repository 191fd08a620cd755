"""One training workflow for every front end: the Train and Experiments pages and ``python -m tm_core train``.

As in MediaPipe Model Maker's core, nothing here draws: hyperparameters are dataclasses
(``TrainConfig``, ``FineTuneConfig``), the steps are plain verbs, and progress and stopping go
through callbacks (``on_progress(stage, done, total)``, ``on_epoch``, ``should_stop``). A
Streamlit Stop (a rerun that interrupts the script) or a Ctrl-C ends a step between batches:
what was embedded stays cached, and a training's finished epochs are kept (``Session.pending``).

:func:`prepare` makes a project's data ready for one encoder, in this order:

1. embed what the cache lacks of the enabled classes (:func:`embed`);
2. the usable subset: pose and hand samples where nothing was found are left out unless kept
   (:func:`usable`);
3. the honest held-out split: whole recordings, marked samples test only (:func:`split`);
4. augmented views of the training part (image, audio), when asked.

Then :func:`train` (one run, the Train page and the CLI), :func:`sweep` (the Experiments page's
one-click lessons), :func:`grid_sweep` (two settings at once, over seeds: :mod:`tm_core.grid`) and :func:`fine_tune` (the last block of an image network) add
their runs to a :class:`~tm_core.session.Session`. The recordings themselves are decided when
files are imported (``project.Recordings``), the same way for the app and the CLI.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from tm_core import augment, experiments, grid, kinds
from tm_core.encoders.pose_features import found
from tm_core.errors import InputError
from tm_core.evaluation import evaluate
from tm_core.features import FeatureCache
from tm_core.finetune import FineTuneConfig, mirrored, supported
from tm_core.finetune import fine_tune as tune_block
from tm_core.i18n import _
from tm_core.loop import EpochStats
from tm_core.project import Dataset, Project
from tm_core.session import PendingRun, RunRecord, Session
from tm_core.training import Split, TrainConfig, grouped_split
from tm_core.training import train as train_head

Progress = Callable[[str, int, int], None]  # (stage, done, total)
EMBEDDING, AUGMENTING, BLOCKS = "embedding", "augmenting", "block inputs"  # the stages on_progress names
EPOCH_STEPS = (5, 20, 50, 200)  # the epochs lesson: one run per count
SAMPLE_STEPS = (5, 10, 20, None)  # the samples lesson: training samples per class (None: all)
RATE_STEPS = (0.00001, 0.001, 0.01, 0.5)  # the learning-rate lesson: too small, Teachable Machine's, larger, far too large
BATCH_STEPS = (8, 16, 64, 256)  # the batch-size lesson
LESSON_STEPS = {"epochs": EPOCH_STEPS, "learning_rate": RATE_STEPS, "batch_size": BATCH_STEPS}
LESSONS = ("epochs", "samples", "learning_rate", "batch_size")


def _stage(on_progress: Progress | None, stage: str, offset: int = 0, total: int | None = None):
    if on_progress is None:
        return None
    return lambda done, n: on_progress(stage, offset + done, total if total is not None else n)


@dataclass
class Prepared:
    """A project's data ready to train on with one encoder."""

    dataset: Dataset  # the usable samples, in project order
    features: np.ndarray  # one embedding per dataset sample
    split: Split
    extra: tuple[np.ndarray, np.ndarray] | None = None  # augmented views of training samples (features, labels)
    left_out: int = 0  # pose, hands: samples where nothing was found, left out
    seen: list[str] | None = None  # ids of every project sample it was prepared from, when some were left out

    @property
    def info(self) -> dict:
        """What a run trained from this keeps in ``Run.info``."""
        info = {"left_out": self.left_out} if self.left_out else {}
        if self.extra is not None and len(self.extra[1]):
            info["augmented_views"] = int(len(self.extra[1]))
        return info


def embed(project: Project, cache: FeatureCache, encoder, *, require_background: bool = True,
          on_progress: Progress | None = None, should_stop: Callable[[], bool] | None = None
          ) -> tuple[Dataset, np.ndarray]:
    """Embed what ``cache`` lacks of the project's enabled classes; returns (dataset, features).

    Raises ``InputError`` when the project cannot train (fewer than two classes with samples; an
    audio project without Background Noise unless ``require_background`` is False). Embeddings
    of deleted samples are dropped first; a stop between batches keeps the batches done cached.
    """
    project.check_trainable(require_background=require_background)
    cache.forget({s.id for c in project.classes for s in c.samples})
    ds = project.dataset()
    todo = cache.missing(encoder.name, ds.samples)
    cached = len(ds.samples) - len(todo)
    cache.embed(encoder, todo, on_progress=_stage(on_progress, EMBEDDING, cached, len(ds.samples)),
                should_stop=should_stop)
    return ds, cache.matrix(encoder.name, ds.samples)


def nothing_found(kind: str, features: np.ndarray) -> np.ndarray:
    """Per sample, True where the keypoint model found no person (pose) or hand (hands); all False for other kinds."""
    if not kinds.is_keypoint(kind) or not len(features):
        return np.zeros(len(features), bool)
    return ~found(features)


def usable(kind: str, dataset: Dataset, features: np.ndarray, keep_missing: bool = False
           ) -> tuple[Dataset, np.ndarray, int]:
    """The samples training uses: pose and hand samples where nothing was found are left out unless
    ``keep_missing``. Returns (dataset, features, how many were left out); raises ``InputError``
    naming a class that would be left with no sample."""
    missing = nothing_found(kind, features)
    if keep_missing or not missing.any():
        return dataset, features, 0
    return dataset.subset(~missing), features[~missing], int(missing.sum())


def split(dataset: Dataset, config: TrainConfig) -> Split:
    """The held-out split: ``config.test_fraction`` of each class with ``config.seed``, whole recordings
    on one side, samples marked test only tested (``training.grouped_split``)."""
    return grouped_split(dataset.labels, config.test_fraction, config.seed, dataset.groups, dataset.test_only)


def prepare(project: Project, cache: FeatureCache, encoder, config: TrainConfig, *, augment_views: bool = False,
            keep_missing: bool = False, require_background: bool = True, on_progress: Progress | None = None,
            should_stop: Callable[[], bool] | None = None) -> Prepared:
    """Embed, keep the usable samples, split, and (``augment_views``) embed altered views of the training part."""
    ds, features = embed(project, cache, encoder, require_background=require_background, on_progress=on_progress,
                         should_stop=should_stop)
    seen = [s.id for s in ds.samples]
    ds, features, left_out = usable(project.kind, ds, features, keep_missing)
    held = split(ds, config)
    extra = None
    if augment_views and augment.default_views(project.kind):
        extra = augment.embed_views(cache, encoder, ds, held, on_progress=_stage(on_progress, AUGMENTING),
                                    should_stop=should_stop)
    return Prepared(ds, features, held, extra, left_out, seen if left_out else None)


def train(session: Session, prepared: Prepared, config: TrainConfig, *,
          on_epoch: Callable[[EpochStats], None] | None = None,
          should_stop: Callable[[], bool] | None = None) -> RunRecord | None:
    """Train a head on ``prepared`` and keep the run in ``session`` (it becomes the current model).

    The training is ``session.pending`` while it runs, updated after every epoch (before
    ``on_epoch``): when something interrupts it from outside (a Streamlit Stop), the next
    ``session.finish_pending()`` keeps the epochs done as a stopped run. Returns the record, or
    None when no epoch finished.
    """
    ds = prepared.dataset
    pending = session.pending = PendingRun(config, session.encoder_name, ds, prepared.features, prepared.split,
                                           info=prepared.info, seen=prepared.seen)

    def epoch(stats: EpochStats) -> None:
        pending.history.append(stats)
        if on_epoch is not None:
            on_epoch(stats)

    pending.finished = train_head(prepared.features, ds.labels, ds.class_names, config, split=prepared.split,
                                  on_epoch=epoch, on_head=lambda head: setattr(pending, "head", head),
                                  extra=prepared.extra, should_stop=should_stop)
    return session.finish_pending()


def sweep_steps(lesson: str, prepared: Prepared) -> list:
    """The runs of a lesson: epoch counts, training samples per class (sizes at or above the smallest
    class's training count would all train on everything, so they go, except "all"), learning rates
    or batch sizes."""
    if lesson == "samples":
        smallest = int(np.bincount(prepared.dataset.labels[prepared.split.train]).min())
        return [n for n in SAMPLE_STEPS if n is None or n < smallest]
    return list(LESSON_STEPS[lesson])


def sweep(session: Session, prepared: Prepared, lesson: str, *, steps=None,
          on_epoch: Callable[[int, int, int, EpochStats], None] | None = None,
          should_stop: Callable[[], bool] | None = None) -> list[RunRecord]:
    """A one-click lesson: the same data trained once per step, each run kept in ``session`` as soon as
    it is complete (an interruption, such as a Streamlit Stop, keeps the runs done).

    ``lesson`` is ``"epochs"`` (one run per epoch count: one training, the shorter runs its first
    epochs), ``"samples"`` (one per training-set size, picked at random), ``"learning_rate"`` or
    ``"batch_size"`` (one per value, all else as ``session.config``). Every run shares
    ``prepared.split`` and trains without early stopping, to show the whole curve.
    ``on_epoch(training index, trainings, planned epochs, stats)``.
    """
    if lesson not in LESSONS:
        raise ValueError(f"lesson must be one of {', '.join(LESSONS)}")
    steps = sweep_steps(lesson, prepared) if steps is None else list(steps)
    ds, features = prepared.dataset, prepared.features
    config = replace(session.config, early_stopping=False)
    records = []

    def keep(label: str, run) -> None:
        if prepared.left_out:
            run.info["left_out"] = prepared.left_out
        records.append(session.add_run(run, session.encoder_name, ds, features, label=_("Lesson · {label}", label=label),
                                       seen=prepared.seen))

    trainings = 1 if lesson == "epochs" else len(steps)
    planned = max(steps) if lesson == "epochs" else config.epochs
    callback = None if on_epoch is None else (lambda i, stats: on_epoch(i, trainings, planned, stats))
    common = dict(split=prepared.split, on_epoch=callback, should_stop=should_stop, on_run=keep)
    if lesson == "epochs":
        experiments.epoch_sweep(features, ds.labels, ds.class_names, steps, config, **common)
    elif lesson == "samples":
        experiments.samples_sweep(features, ds.labels, ds.class_names, steps, config, order="random", **common)
    else:
        experiments.value_sweep(features, ds.labels, ds.class_names, lesson, steps, config, **common)
    return records


def grid_sweep(session: Session, prepared: Prepared, spec: grid.GridSpec, *,
               on_progress: Callable[[int, int], None] | None = None,
               should_stop: Callable[[], bool] | None = None,
               prepare_network: Callable[[str], Prepared] | None = None) -> int:
    """Train every cell of ``spec`` on ``prepared`` (no embedding: the cached features) and keep each run
    in ``session`` as soon as its row of the grid is done, labelled "Sweep 2 · learning rate 0.01 ·
    batch size 16 · seed 0". Returns the sweep's number; :func:`grid_results` finds its runs again
    (after an interruption too). ``on_progress(epochs done, epochs planned)``.

    A sweep over the pretrained network (``grid.NETWORK``) trains each network's runs on that
    network's features: ``prepare_network(name)`` gives them (embedding only what its cache lacks;
    ``prepared`` serves the session's own network). Every network's runs share one held-out split."""
    number = 1 + max((r.run.info.get("grid", 0) for r in session.runs), default=0)
    base = replace(session.config, early_stopping=False)
    networks = spec.axes.get(grid.NETWORK, (session.encoder_name,))
    if grid.NETWORK in spec.axes and prepare_network is None:
        raise ValueError("a sweep over the pretrained network needs prepare_network")
    total = sum(c.config.epochs for c in spec.cells(base))
    done = 0

    for network in networks:
        if should_stop is not None and should_stop():
            break
        ready = prepared if network == session.encoder_name else prepare_network(network)
        if list(ready.split.test) != list(prepared.split.test) or [s.id for s in ready.dataset.samples] != [
                s.id for s in prepared.dataset.samples]:
            raise InputError(network, _("sees other samples than {network}: its runs could not be compared",
                                        network=session.encoder_name))
        part = grid.GridSpec({grid.NETWORK: (network,), **{k: v for k, v in spec.axes.items() if k != grid.NETWORK}},
                             spec.seeds) if grid.NETWORK in spec.axes else spec

        def keep(pairs, ready=ready, network=network) -> None:
            for cell, run in pairs:
                run.info.update(grid=number, axes=list(spec.axes), **({"left_out": ready.left_out} if ready.left_out else {}))
                session.add_run(run, network, ready.dataset, ready.features,
                                label=_("Sweep {number} · {cell}", number=number, cell=cell.label), seen=ready.seen)

        def progress(d: int, _n: int, offset=done) -> None:
            if on_progress is not None:
                on_progress(offset + d, total)

        finished = grid.run_grid(ready.features, ready.dataset.labels, ready.dataset.class_names, part, base,
                                 split=ready.split, extra=ready.extra, on_progress=progress, should_stop=should_stop,
                                 on_runs=keep)
        done += sum(c.config.epochs for c in part.cells(base))
        if len(finished) < part.runs:  # stopped
            break
    return number


def grid_results(session: Session, number: int) -> tuple[list[tuple[grid.Cell, object]], list[str]]:
    """The finished runs of sweep ``number`` in ``session``: ((cell, run) pairs, their labels), in training order."""
    recs = [r for r in session.runs if r.run.info.get("grid") == number]
    pairs = [(grid.Cell(dict(r.run.info["values"]), int(r.run.info["seed"]), r.run.config), r.run) for r in recs]
    return pairs, [r.label for r in recs]


def can_fine_tune(record: RunRecord | None) -> bool:
    return record is not None and supported(record.encoder)


def fine_tune(session: Session, record: RunRecord, encoder, blocks, config: FineTuneConfig | None = None, *,
              on_progress: Progress | None = None, on_epoch: Callable[[EpochStats], None] | None = None,
              should_stop: Callable[[], bool] | None = None) -> RunRecord:
    """Fine-tune the last block of ``record``'s encoder from its head; ``record`` then holds the fine-tuned model.

    ``encoder`` is the frozen network the run used, ``blocks`` its ``finetune.BlockInputs``. The
    block inputs of every sample (and a mirrored copy of each training one) are cached in
    ``session.cache`` like embeddings. An interruption leaves ``record`` the frozen model it was.
    """
    ds, held = record.dataset, record.run.split
    train_samples = [ds.samples[i] for i in held.train]
    total = len(ds.samples) + len(train_samples)
    session.cache.embed(blocks, ds.samples, on_progress=_stage(on_progress, BLOCKS, 0, total), should_stop=should_stop)
    session.cache.embed(blocks, train_samples, view=1, transform=lambda smp: mirrored(smp.data),
                        on_progress=_stage(on_progress, BLOCKS, len(ds.samples), total), should_stop=should_stop)
    inputs = session.cache.matrix(blocks.name, ds.samples)
    mirror = session.cache.matrix(blocks.name, train_samples, view=1)
    ft = tune_block(encoder, record.run.head, inputs, ds.labels, held, config,
                    extra=(mirror, ds.labels[held.train]), on_epoch=on_epoch, should_stop=should_stop)
    info = dict(record.run.info, fine_tuned={"epochs": len(ft.history), "learning_rate": ft.config.learning_rate,
                                             "test_accuracy_before": record.evaluation.accuracy})
    record.run = replace(record.run, head=ft.head, info=info)
    record.finetuned = ft
    model = ft.encoder(encoder)
    # The fine-tuned network's embeddings of every sample: the mistakes and nearest samples panels
    # read them with the new head (the frozen ones would no longer match it).
    record.features = np.concatenate([model.encode(np.stack([s.data for s in ds.samples[i:i + 64]]))
                                      for i in range(0, len(ds.samples), 64)])
    if len(held.test):
        record.evaluation = evaluate(ft.head.predict_proba(record.features[held.test]), ds.labels[held.test],
                                     ds.class_names)
    record.label = _("{label} · last block fine-tuned", label=record.label)
    session.exports.pop(record.id, None)
    return record
