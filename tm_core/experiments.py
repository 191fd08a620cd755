"""Several training runs side by side: tidy histories, summaries, sweeps and a plain-words lesson.

Used by the "Overfitting" page. A sweep trains the same head several times, changing one
thing (how many epochs, or how many training samples per class) and keeping everything else
fixed: the same held-out samples, the same initial weights and the same shuffling seed. So the
curves differ only by what the sweep changed, and a 20-epoch run is exactly the first 20
epochs of a 200-epoch run.

Everything here works on arrays and :class:`~tm_core.training.Run` objects; nothing draws.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import NamedTuple

import numpy as np
import pandas as pd

from tm_core.training import EpochStats, Run, Split, TrainConfig, grouped_split, train

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

SweepEpoch = Callable[[int, EpochStats], None]


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


def _tested(run: Run) -> list[EpochStats]:
    return [s for s in run.history if s.test_accuracy is not None]


def best_epoch(run: Run) -> int | None:
    """The epoch with the highest test accuracy; ties go to the lower test loss, then the earlier epoch.

    None when the run has no held-out values.
    """
    tested = _tested(run)
    if not tested:
        return None
    inf = float("inf")
    best = min(tested, key=lambda s: (-s.test_accuracy, s.test_loss if s.test_loss is not None else inf, s.epoch))
    return int(best.epoch)


def _stats_at(run: Run, epoch: int | None) -> EpochStats | None:
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
        best_stats = _stats_at(run, best)
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
    if isinstance(patience, bool) or not isinstance(patience, (int, np.integer)) or patience < 1:
        raise ValueError("patience must be a whole number of epochs, at least 1")
    if epochs is None:
        epochs = max((int(s.epoch) for s in history), default=0)
    best_loss, best = float("inf"), None
    for s in history:
        if s.test_loss is None or not np.isfinite(s.test_loss):
            continue
        if s.test_loss < best_loss:
            best_loss, best = float(s.test_loss), int(s.epoch)
        elif best is not None and s.epoch - best >= patience and s.epoch < epochs:
            return EarlyStop(int(s.epoch), best)
    return None if best is None else EarlyStop(None, best)


def early_stop_text(run: Run, patience: int) -> str | None:
    """One sentence: where early stopping (``patience``) would have stopped ``run`` and what it would have kept.

    A run trained with early stopping says what it did instead. None without held-out values.
    """
    if run.kept_epoch is not None:  # trained with early stopping: its head is the kept epoch's
        kept = _stats_at(run, run.kept_epoch)
        last = run.history[-1]
        did = (f"stopped at epoch {run.early_stopped_at}" if run.early_stopped_at is not None
               else f"ran all {len(run.history)} epochs")
        tail = "" if kept.epoch == last.epoch else f" ({_pct(last.test_accuracy)} at epoch {last.epoch})"
        return (f"Trained with early stopping (patience {run.config.patience}): it {did} and kept epoch "
                f"{kept.epoch}, test accuracy {_pct(kept.test_accuracy)}{tail}.")
    stop = early_stop_epoch(run, patience)
    if stop is None:
        return None
    kept, last = _stats_at(run, stop.kept), run.history[-1]
    if stop.stopped_at is None:
        if kept.epoch == last.epoch:
            return (f"With early stopping (patience {patience}) training would have run all {len(run.history)} epochs "
                    f"and kept the last one: the test loss was still at its lowest.")
        did = f"run all {len(run.history)} epochs"
    else:
        did = f"stopped at epoch {stop.stopped_at}"
    if _pct(kept.test_accuracy) == _pct(last.test_accuracy):
        than = ", the same as at the end"
    else:
        than = f" instead of {_pct(last.test_accuracy)} at the end"
    return (f"With early stopping (patience {patience}) training would have {did} and kept epoch {kept.epoch}: "
            f"test accuracy {_pct(kept.test_accuracy)}{than}.")


# ---------------------------------------------------------------------------------------------
# Sweeps


def _sweep(
    features: np.ndarray,
    labels: np.ndarray,
    class_names: list[str],
    plan: list[tuple[str, TrainConfig, Split, dict]],
    on_epoch: SweepEpoch | None,
    should_stop: Callable[[], bool] | None,
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
        if run.stopped:
            break
    return done


def sweep_split(labels: np.ndarray, config: TrainConfig, groups=None, test_only=None) -> Split:
    """The held-out split every run of a sweep shares: ``config.test_fraction`` of each class, ``config.seed``,
    recordings kept on one side (``training.grouped_split``)."""
    return grouped_split(np.asarray(labels, np.int64), config.test_fraction, config.seed, groups, test_only)


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
) -> list[tuple[str, Run]]:
    """One run per epoch count, labelled ``"5 epochs"``, all on the same held-out split.

    ``on_epoch(run_index, stats)`` is called after every epoch of every run. ``should_stop()``
    ends the whole sweep after the current epoch: finished runs are returned, and the
    interrupted one too (``run.stopped``), unless it had not done any epoch.
    """
    config = (config or TrainConfig()).validate()
    split = split or sweep_split(labels, config)
    plan = []
    for n in epochs:
        run_config = replace(config, epochs=int(n)).validate()
        label = f"{n} epoch" if n == 1 else f"{n} epochs"
        plan.append((label, run_config, split, {"sweep": "epochs", "label": label, "planned_epochs": int(n)}))
    return _sweep(features, labels, class_names, plan, on_epoch, should_stop)


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
    return f"{lo} per class" if lo == hi else f"{lo}–{hi} per class"


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
) -> list[tuple[str, Run]]:
    """One run per training-set size, all tested on the same held-out samples.

    Each run trains on the first ``n`` training samples of each class (in dataset order, the
    order they were added; ``order="random"`` picks them at random with ``config.seed``
    instead, each smaller set inside the larger ones), ``None`` meaning all of them. Labels read ``"5 per class"`` and
    ``"all (127 per class)"``. A size that gives the same training set as an earlier run (a
    class has fewer than ``n``, so nothing is left out) is skipped. Callbacks as in
    :func:`epoch_sweep`.
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
        label = f"all ({_per_class_text(counts)})" if n is None else f"{n} per class"
        info = {"sweep": "samples", "label": label, "per_class": n, "train_per_class": counts, "order": order}
        plan.append((label, config, Split(train_idx, split.test.copy()), info))
    return _sweep(features, y, class_names, plan, on_epoch, should_stop)


# ---------------------------------------------------------------------------------------------
# The lesson in words


def _pct(x: float) -> str:
    return f"{x * 100:.0f} %"


def _pictures(accuracy_difference: float, n_test: int) -> int:
    """An accuracy difference on ``n_test`` held-out samples as a whole number of samples."""
    return int(round(accuracy_difference * n_test))


def _fell(best: float, final: float, n_test: int) -> bool:
    """Did test accuracy fall from its best by more than noise: two more pictures wrong, or 5 points."""
    drop = best - final
    return drop > 1e-9 and (round(drop * n_test) >= 2 or drop >= 0.05)


def _train_sentence(run: Run) -> str:
    acc = [s.accuracy for s in run.history]
    top = max(acc)
    first_top = acc.index(top)
    epoch_top = run.history[first_top].epoch
    stayed = all(a >= top - 1e-9 for a in acc[first_top:])
    if len(acc) == 1:
        return f"After its only epoch, train accuracy was {_pct(acc[0])}."
    if top >= 1 - 1e-9:
        tail = " and stayed there" if stayed else ""
        return f"Train accuracy reached 100 % by epoch {epoch_top}{tail}."
    if first_top == len(acc) - 1:
        return f"Train accuracy kept rising, from {_pct(acc[0])} at epoch 1 to {_pct(acc[-1])} at epoch {epoch_top}."
    return f"Train accuracy rose from {_pct(acc[0])} to {_pct(top)} (epoch {epoch_top}) and ended at {_pct(acc[-1])}."


def _test_sentences(run: Run) -> list[str]:
    tested = _tested(run)
    b = best_epoch(run)
    best = _stats_at(run, b)
    last = tested[-1]
    n_test = len(run.split.test)
    out = []
    if b == last.epoch:
        out.append(
            f"Test accuracy was still at its best at the last epoch ({_pct(best.test_accuracy)} at epoch {b}): "
            "more epochs might still help."
        )
    elif _fell(best.test_accuracy, last.test_accuracy, n_test):
        out.append(
            f"Test accuracy was best at epoch {b} ({_pct(best.test_accuracy)}) and ended at {_pct(last.test_accuracy)} "
            f"({_pictures(best.test_accuracy - last.test_accuracy, n_test)} fewer of the {n_test} held-out pictures right): "
            f"after epoch {b} the model learned details of the training pictures that do not help with new ones."
        )
    else:
        after = [s.test_accuracy for s in tested if s.epoch >= b]
        lo, hi = min(after), max(after)
        spread = f"around {_pct(hi)}" if _pct(lo) == _pct(hi) else f"between {_pct(lo)} and {_pct(hi)}"
        out.append(
            f"Test accuracy levelled off: it was best at epoch {b} ({_pct(best.test_accuracy)}) and stayed {spread} "
            f"to the end, so the epochs after {b} did not make it better on new pictures."
        )
    losses = [(s.epoch, s.test_loss) for s in tested if s.test_loss is not None]
    if len(losses) >= 2:
        low_epoch, low = min(losses, key=lambda e: (e[1], e[0]))
        final = losses[-1][1]
        if low_epoch < losses[-1][0] and final > low * 1.1 + 1e-3:
            train_then = _stats_at(run, low_epoch).loss
            falling = " while train loss kept falling" if run.history[-1].loss < train_then else ""
            out.append(
                f"Test loss was lowest at epoch {low_epoch} ({low:.2f}) and rose to {final:.2f} by the end{falling}, "
                "a classic sign of overfitting."
            )
        elif low_epoch < losses[-1][0]:
            out.append(f"Test loss was lowest at epoch {low_epoch} ({low:.2f}) and stayed close to that ({final:.2f} at the end).")
        else:
            out.append(f"Test loss was still falling at the end ({losses[0][1]:.2f} at epoch {losses[0][0]}, {final:.2f} at epoch {low_epoch}).")
    return out


def _epochs_lesson(label: str, run: Run) -> str:
    sentences = [_train_sentence(run)]
    if not _tested(run):
        sentences.append("There were no held-out pictures, so this run cannot show how well the model does on new ones.")
    else:
        sentences += _test_sentences(run)
    if len(sentences) < 4 and run.stopped:
        sentences.append(f"The run was stopped after {len(run.history)} of {run.config.epochs} epochs.")
    return " ".join(sentences[:4])


def _samples_lesson(runs: Sequence[tuple[str, Run]]) -> str:
    tested = [(label, run) for label, run in runs if _tested(run)]
    if len(tested) < 2:
        return _epochs_lesson(*runs[-1])
    (small_label, small), (big_label, big) = tested[0], tested[-1]
    small_last, big_last = small.history[-1], big.history[-1]
    sentences = [
        f"Trained on {small_label}, the model ended at {_pct(small_last.accuracy)} train and "
        f"{_pct(small_last.test_accuracy)} test accuracy; on {big_label}, at {_pct(big_last.accuracy)} train and "
        f"{_pct(big_last.test_accuracy)} test, on the same held-out pictures."
    ]
    gap_small = small_last.accuracy - small_last.test_accuracy
    gap_big = big_last.accuracy - big_last.test_accuracy
    n_test = len(big.split.test)
    more = _pictures(big_last.test_accuracy - small_last.test_accuracy, n_test)
    gap = f"the gap between train and test accuracy went from {gap_small * 100:.0f} to {gap_big * 100:.0f} points"
    if more >= 2:
        sentences.append(
            f"With more training pictures the model got {more} more of the {n_test} held-out pictures right, and {gap}."
        )
    elif more <= -2:
        sentences.append(f"Here the larger training set got {-more} fewer of the {n_test} held-out pictures right, and {gap}.")
    else:
        sentences.append(
            f"Here more training pictures hardly changed test accuracy ({more:+d} of {n_test} held-out pictures): "
            "these classes may already be easy to tell apart."
        )
    if all(run.history[-1].accuracy >= 1 - 1e-9 for _, run in tested):
        sentences.append("Train accuracy was 100 % in every run, so train accuracy alone does not tell how well a model works on new pictures.")
    b = best_epoch(big)
    sentences.append(f"Trained on {big_label}, the model had its best test accuracy at epoch {b} ({_pct(_stats_at(big, b).test_accuracy)}).")
    return " ".join(sentences[:4])


def lesson_text(runs: Sequence[tuple[str, Run]]) -> str:
    """Two to four plain sentences for a student, computed from the runs' numbers.

    For runs that differ in training-set size (a samples sweep) it compares the smallest and
    the largest; otherwise it tells the story of the longest run: when train accuracy topped
    out, when test accuracy was best and whether it fell afterwards, and what test loss did.
    """
    runs = [(label, run) for label, run in runs if run.history]
    if not runs:
        return "No run has finished an epoch yet, so there is nothing to compare."
    sizes = {len(run.split.train) for _, run in runs}
    if len(sizes) > 1:
        return _samples_lesson(runs)
    label, run = max(runs, key=lambda r: len(r[1].history))
    return _epochs_lesson(label, run)


__all__ = [
    "HISTORY_COLUMNS",
    "SUMMARY_COLUMNS",
    "EarlyStop",
    "best_epoch",
    "early_stop_epoch",
    "early_stop_text",
    "epoch_sweep",
    "first_per_class",
    "history_frame",
    "lesson_text",
    "samples_sweep",
    "summary_frame",
    "sweep_split",
]
