"""Several training runs side by side: tidy histories, summaries, early stopping after the fact, sweeps.

Used by the "Experiments" page. A sweep trains the same head several times, changing one
thing (how many epochs, how many training samples per class, the learning rate or the batch
size) and keeping everything else fixed: the same held-out samples, the same initial weights
and the same shuffling seed. So the curves differ only by what the sweep changed, and a
20-epoch run is exactly the first 20 epochs of a 200-epoch run (so that one is trained once).
Sweeps over two settings at once, repeated over seeds, are :mod:`tm_core.grid`.

Everything here works on arrays and :class:`~tm_core.training.Run` objects; nothing draws. The
sentences that tell a student what the runs show are in :mod:`tm_core.lessons`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import NamedTuple

import numpy as np
import pandas as pd

from tm_core.i18n import N_, _, ngettext
from tm_core.loop import EarlyStopping, EpochStats
from tm_core.training import Run, Split, TrainConfig, grouped_split, train

HISTORY_COLUMNS = ["run", "epoch", "metric", "split", "value"]
SUMMARY_COLUMNS = [
    "run",
    "epochs",
    "batch_size",
    "learning_rate",
    "train_samples",
    "test_samples",
    "final_train_accuracy",
    "final_test_accuracy",
    "best_test_accuracy",
    "best_epoch",
    "final_gap",
    "stopped",
    "kept_epoch",
]
# What a student reads above each column of the run comparison table (the page shows these, never the code names).
SUMMARY_TITLES = {
    "run": N_("Run"),
    "epochs": N_("Epochs"),
    "batch_size": N_("Batch size"),
    "learning_rate": N_("Learning rate"),
    "train_samples": N_("Trained on"),
    "test_samples": N_("Tested on"),
    "final_train_accuracy": N_("Train accuracy at the end"),
    "final_test_accuracy": N_("Test accuracy at the end"),
    "best_test_accuracy": N_("Best test accuracy"),
    "best_epoch": N_("Best epoch"),
    "final_gap": N_("Gap at the end"),
    "stopped": N_("Stopped early"),
    "kept_epoch": N_("Epoch kept"),
}
SUMMARY_SHARES = ("final_train_accuracy", "final_test_accuracy", "best_test_accuracy", "final_gap")  # 0..1: shown as %

SweepEpoch = Callable[[int, EpochStats], None]
SweepRun = Callable[[str, Run], None]
SETTING_NAMES = {"learning_rate": N_("learning rate"), "batch_size": N_("batch size")}  # run labels: "learning rate 0.01"


def number_text(x: float) -> str:
    """A setting's value as a student reads it: 0.00001 (not 1e-05), 0.001, 16, 0.5."""
    return f"{x:.7f}".rstrip("0").rstrip(".") if 0 < abs(x) < 1e-4 else f"{x:g}"


# ---------------------------------------------------------------------------------------------
# Frames


def history_frame(runs: Sequence[tuple[str, Run]]) -> pd.DataFrame:
    """One row per (run, epoch, metric, split): columns ``run, epoch, metric, split, value``.

    ``metric`` is ``"accuracy"`` or ``"loss"``, ``split`` is ``"train"`` or ``"test"``. Test rows
    exist only for epochs with held-out values. Runs keep their order, then epochs ascend.
    """
    rows: list[tuple[str, int, str, str, float]] = []
    for label, run in runs:
        for s in run.history:
            rows.append((label, int(s.epoch), "accuracy", "train", float(s.accuracy)))
            rows.append((label, int(s.epoch), "loss", "train", float(s.loss)))
            if s.test_accuracy is not None:
                rows.append((label, int(s.epoch), "accuracy", "test", float(s.test_accuracy)))
            if s.test_loss is not None:
                rows.append((label, int(s.epoch), "loss", "test", float(s.test_loss)))
    frame = pd.DataFrame(rows, columns=HISTORY_COLUMNS)
    return frame.astype({"run": object, "epoch": "int64", "metric": object, "split": object, "value": "float64"})


def tested_epochs(run: Run) -> list[EpochStats]:
    return [s for s in run.history if s.test_accuracy is not None]


def best_epoch(run: Run) -> int | None:
    """The epoch with the highest test accuracy; ties go to the lower test loss, then the earlier epoch.

    None when the run has no held-out values.
    """
    tested = tested_epochs(run)
    if not tested:
        return None
    inf = float("inf")
    best = min(tested, key=lambda s: (-s.test_accuracy, s.test_loss if s.test_loss is not None else inf, s.epoch))
    return int(best.epoch)


def stats_at(run: Run, epoch: int | None) -> EpochStats | None:
    if epoch is None:
        return None
    return next((s for s in run.history if s.epoch == epoch), None)


def summary_frame(runs: Sequence[tuple[str, Run]]) -> pd.DataFrame:
    """One row per run: its settings, sample counts, final and best accuracies and the final gap.

    ``epochs`` counts the epochs done (fewer than planned when stopped); ``final_gap`` is the
    last epoch's train minus test accuracy (None without held-out samples); ``kept_epoch`` is the
    epoch whose weights a run trained with early stopping kept (None for the others, whose model
    is the last epoch's).
    """
    rows = []
    for label, run in runs:
        last = run.history[-1] if run.history else None
        best = best_epoch(run)
        best_stats = stats_at(run, best)
        final_train = last.accuracy if last else None
        final_test = last.test_accuracy if last else None
        rows.append(
            {
                "run": label,
                "epochs": len(run.history),
                "batch_size": run.config.batch_size,
                "learning_rate": run.config.learning_rate,
                "train_samples": int(len(run.split.train)),
                "test_samples": int(len(run.split.test)),
                "final_train_accuracy": final_train,
                "final_test_accuracy": final_test,
                "best_test_accuracy": best_stats.test_accuracy if best_stats else None,
                "best_epoch": best,
                "final_gap": (final_train - final_test) if final_train is not None and final_test is not None else None,
                "stopped": bool(run.stopped),
                "kept_epoch": run.kept_epoch,
            }
        )
    frame = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    return frame.astype({"best_epoch": "Int64", "kept_epoch": "Int64", "epochs": "int64", "train_samples": "int64", "test_samples": "int64"})


# ---------------------------------------------------------------------------------------------
# Early stopping, after the fact


class EarlyStop(NamedTuple):
    """Where early stopping stops and what it keeps.

    ``stopped_at``: the epoch after which training ends, None when the test loss never went
    ``patience`` epochs without a new lowest before the planned end. ``kept``: the epoch with the
    lowest test loss up to there, whose weights early stopping keeps.
    """

    stopped_at: int | None
    kept: int


def early_stop_epoch(run_or_history: Run | Sequence[EpochStats], patience: int, epochs: int | None = None) -> EarlyStop | None:
    """Where early stopping with ``patience`` would have stopped this run, and which epoch it would have kept.

    The same rule as :func:`tm_core.training.train` with ``early_stopping``: after each epoch
    with a test loss, a strictly lower loss is the new best; training ends after the epoch that
    is ``patience`` epochs past the best, unless that is the planned last epoch (``epochs``: a
    run's ``config.epochs``; for a bare history its last epoch). Computed from the history only,
    so it works on any run; on a run trained with early stopping it gives what that run did.
    None when no epoch has a test loss.
    """
    if isinstance(run_or_history, Run):
        history = list(run_or_history.history)
        epochs = run_or_history.config.epochs if epochs is None else epochs
    else:
        history = list(run_or_history)
    if epochs is None:
        epochs = max((int(s.epoch) for s in history), default=0)
    rule = EarlyStopping(patience, epochs)  # raises ValueError for a patience that is no whole number of epochs
    for s in history:
        rule.update(int(s.epoch), s.test_loss)
        if rule.stopped_at is not None:
            return EarlyStop(rule.stopped_at, rule.best_epoch)
    return None if rule.best_epoch is None else EarlyStop(None, rule.best_epoch)


def chart_marks(runs: Sequence[tuple[str, Run]], patience: int
                ) -> tuple[dict[str, int], dict[str, tuple[int | None, int]], dict[str, int]]:
    """What the Overfitting page marks on the runs' curves: each run's best epoch, where early stopping
    would stop and which epoch it would keep, and the patience each run is judged with (a run trained
    with early stopping: its own; any other: ``patience``). Runs without held-out values get no marks."""
    best = {label: e for label, run in runs if (e := best_epoch(run)) is not None}
    own = {label: run.config.patience if run.kept_epoch is not None else patience for label, run in runs}
    stops = {label: tuple(s) for label, run in runs if (s := early_stop_epoch(run, own[label]))}
    return best, stops, own


# ---------------------------------------------------------------------------------------------
# Sweeps


def _sweep(
    features: np.ndarray,
    labels: np.ndarray,
    class_names: list[str],
    plan: list[tuple[str, TrainConfig, Split, dict]],
    on_epoch: SweepEpoch | None,
    should_stop: Callable[[], bool] | None,
    on_run: SweepRun | None = None,
) -> list[tuple[str, Run]]:
    """Train each planned run in turn; a stop ends the sweep and keeps what was done."""
    done: list[tuple[str, Run]] = []
    for index, (label, config, split, info) in enumerate(plan):
        if should_stop is not None and should_stop():
            break
        callback = None if on_epoch is None else (lambda stats, i=index: on_epoch(i, stats))
        run = train(features, labels, class_names, config, split=split, on_epoch=callback, should_stop=should_stop)
        run.info.update(info)
        if run.history:  # a run stopped before its first epoch has nothing to show
            done.append((label, run))
            if on_run is not None:
                on_run(label, run)
        if run.stopped:
            break
    return done


def sweep_split(labels: np.ndarray, config: TrainConfig, groups=None, test_only=None) -> Split:
    """The held-out split every run of a sweep shares: ``config.test_fraction`` of each class, ``config.seed``,
    recordings kept on one side (``training.grouped_split``)."""
    return grouped_split(np.asarray(labels, np.int64), config.test_fraction, config.seed, groups, test_only)


def _epochs_label(n: int) -> str:
    """A run's name, made in the language of the code training it (it stays the run's name)."""
    return ngettext("{n} epoch", "{n} epochs", n)


def epoch_sweep(
    features: np.ndarray,
    labels: np.ndarray,
    class_names: list[str],
    epochs: Sequence[int] = (5, 20, 50, 200),
    config: TrainConfig | None = None,
    *,
    split: Split | None = None,
    on_epoch: SweepEpoch | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_run: SweepRun | None = None,
) -> list[tuple[str, Run]]:
    """One run per epoch count, labelled ``"5 epochs"``, all on the same held-out split: ONE training.

    Runs with the same seed differ only in where they stop, so the longest run is trained once
    and each shorter one is its first ``n`` epochs, with the head it had then: exactly what
    training ``n`` epochs alone gives, in the time of the longest run alone. ``on_epoch(0,
    stats)`` is called after every epoch of that training; ``on_run(label, run)`` as soon as a
    run is complete (the shortest first). ``should_stop()`` ends it after the current epoch:
    the runs already complete are returned, and the interrupted longest one (``run.stopped``),
    unless it had not done any epoch.
    """
    config = (config or TrainConfig()).validate()
    split = split or sweep_split(labels, config)
    counts = sorted({int(n) for n in epochs})
    longest = replace(config, epochs=counts[-1]).validate()
    done: list[tuple[str, Run]] = []
    history: list[EpochStats] = []
    seconds = [time.perf_counter()]

    def info(n: int) -> dict:
        return {"sweep": "epochs", "label": _epochs_label(n), "planned_epochs": n}

    pending: list = []  # (epochs, head) of a run complete with the epoch whose figures come next

    def on_head(head) -> None:  # after each epoch, before its figures reach on_epoch
        n = len(history) + 1
        if n in counts and n < counts[-1]:
            pending.append((n, head))

    def epoch(stats: EpochStats) -> None:
        history.append(stats)
        for n, head in pending:
            run = Run(replace(config, epochs=n), list(class_names), list(history), head, split,
                      seconds=time.perf_counter() - seconds[0], info=info(n))
            done.append((_epochs_label(n), run))
            if on_run is not None:
                on_run(_epochs_label(n), run)
        pending.clear()
        if on_epoch is not None:
            on_epoch(0, stats)

    run = train(features, labels, class_names, longest, split=split, on_epoch=epoch, on_head=on_head,
                should_stop=should_stop)
    run.info.update(info(counts[-1]))
    if run.history:
        label = _epochs_label(counts[-1])
        done.append((label, run))
        if on_run is not None:
            on_run(label, run)
    return done


def value_sweep(
    features: np.ndarray,
    labels: np.ndarray,
    class_names: list[str],
    setting: str,
    values: Sequence,
    config: TrainConfig | None = None,
    *,
    split: Split | None = None,
    on_epoch: SweepEpoch | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_run: SweepRun | None = None,
) -> list[tuple[str, Run]]:
    """One run per value of ``setting`` (``"learning_rate"`` or ``"batch_size"``), everything else fixed:
    the same held-out split, initial weights and seed. Labels read ``"learning rate 0.01"``, ``"batch size 64"``.
    Callbacks as in :func:`samples_sweep`."""
    if setting not in SETTING_NAMES:
        raise ValueError(f"setting must be one of {', '.join(SETTING_NAMES)}")
    config = (config or TrainConfig()).validate()
    split = split or sweep_split(labels, config)
    plan = []
    for v in values:
        run_config = replace(config, **{setting: type(getattr(config, setting))(v)}).validate()
        label = f"{_(SETTING_NAMES[setting])} {number_text(getattr(run_config, setting))}"  # a name and a value
        plan.append((label, run_config, split, {"sweep": setting, "label": label, setting: getattr(run_config, setting)}))
    return _sweep(features, labels, class_names, plan, on_epoch, should_stop, on_run)


def first_per_class(labels: np.ndarray, indices: np.ndarray, n: int | None, seed: int | None = None) -> np.ndarray:
    """The first ``n`` of ``indices`` of each class, sorted; all of them when ``n`` is None.

    "First" is in the order of ``indices``, or, with a ``seed``, in a random order fixed by it
    (so the 5 chosen are always among the 10 chosen).
    """
    indices = np.asarray(indices, np.int64)
    if n is None:
        return np.sort(indices)
    if n < 1:
        raise ValueError("samples per class must be at least 1")
    if seed is not None:
        indices = np.random.default_rng(seed).permutation(indices)
    y = np.asarray(labels)[indices]
    keep = np.zeros(len(indices), bool)
    for c in np.unique(y):
        keep[np.flatnonzero(y == c)[:n]] = True
    return np.sort(indices[keep])


def _per_class_text(counts: list[int]) -> str:
    lo, hi = min(counts), max(counts)
    return _("{n} per class", n=lo) if lo == hi else _("{low}–{high} per class", low=lo, high=hi)


def samples_sweep(
    features: np.ndarray,
    labels: np.ndarray,
    class_names: list[str],
    per_class: Sequence[int | None] = (5, 10, 20, None),
    config: TrainConfig | None = None,
    *,
    split: Split | None = None,
    order: str = "first",
    on_epoch: SweepEpoch | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_run: SweepRun | None = None,
) -> list[tuple[str, Run]]:
    """One run per training-set size, all tested on the same held-out samples.

    Each run trains on the first ``n`` training samples of each class (in dataset order, the
    order they were added; ``order="random"`` picks them at random with ``config.seed``
    instead, each smaller set inside the larger ones), ``None`` meaning all of them. Labels read ``"5 per class"`` and
    ``"all (127 per class)"``. A size that gives the same training set as an earlier run (a
    class has fewer than ``n``, so nothing is left out) is skipped. ``on_epoch(run index, stats)``
    after every epoch of every run, ``on_run(label, run)`` as each run ends; ``should_stop()`` ends
    the sweep after the current epoch, keeping the finished runs and the interrupted one.
    """
    config = (config or TrainConfig()).validate()
    if order not in ("first", "random"):
        raise ValueError('order must be "first" or "random"')
    y = np.asarray(labels, np.int64)
    split = split or sweep_split(y, config)
    seed = config.seed if order == "random" else None
    plan = []
    seen: set[bytes] = set()
    for n in per_class:
        train_idx = first_per_class(y, split.train, n, seed)
        key = train_idx.tobytes()
        if key in seen:
            continue
        seen.add(key)
        counts = [int((y[train_idx] == c).sum()) for c in np.unique(y[split.train])]
        label = _("all ({per_class})", per_class=_per_class_text(counts)) if n is None else _("{n} per class", n=n)
        info = {"sweep": "samples", "label": label, "per_class": n, "train_per_class": counts, "order": order}
        plan.append((label, config, Split(train_idx, split.test.copy()), info))
    return _sweep(features, y, class_names, plan, on_epoch, should_stop, on_run)


__all__ = [
    "HISTORY_COLUMNS",
    "SUMMARY_COLUMNS",
    "SUMMARY_SHARES",
    "SUMMARY_TITLES",
    "EarlyStop",
    "best_epoch",
    "chart_marks",
    "early_stop_epoch",
    "epoch_sweep",
    "first_per_class",
    "history_frame",
    "number_text",
    "samples_sweep",
    "stats_at",
    "summary_frame",
    "sweep_split",
    "tested_epochs",
    "value_sweep",
]
