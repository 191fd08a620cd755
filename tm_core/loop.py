"""The one early-stopping rule and the epoch loop of fine-tuning.

Fine-tuning (``tm_core.finetune``, Keras) hands :func:`epoch_loop` how one batch updates the
weights and how the held-out samples are scored; the loop owns the rest: epochs, shuffled
batches, the figures of each epoch, ``on_epoch``, a stop asked from outside, and early stopping
with patience and the weights of the best epoch kept. Head training (``tm_core.heads``) steps
many heads at once, so it runs its own lockstep loop, with the same shuffles (a
``permutation`` per epoch), the same :class:`EpochStats` and the same :class:`EarlyStopping`.
``experiments.early_stop_epoch`` replays a finished history through that rule too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np

Weights = TypeVar("Weights")


@dataclass
class EpochStats:
    epoch: int  # 1-based
    loss: float  # mean over the epoch's batches, as Keras and Teachable Machine report it
    accuracy: float
    test_loss: float | None  # on the held-out samples after the epoch; None without any
    test_accuracy: float | None


class EarlyStopping:
    """Stop when the held-out loss has not gone below its lowest for ``patience`` epochs.

    After each epoch with a finite test loss, a strictly lower loss is the new best (an equal one is
    no improvement); training ends after the epoch that is ``patience`` epochs past the best, unless
    that is the planned last epoch (``epochs``). The weights worth keeping are the best epoch's.
    """

    def __init__(self, patience: int, epochs: int):
        if isinstance(patience, bool) or not isinstance(patience, (int, np.integer)) or patience < 1:
            raise ValueError("patience must be a whole number of epochs, at least 1")
        self.patience, self.epochs = int(patience), int(epochs)
        self.best_loss, self.best_epoch, self.stopped_at = float("inf"), None, None

    def update(self, epoch: int, test_loss: float | None) -> bool:
        """Take one epoch's test loss; True when it is the new best. Sets ``stopped_at`` when it is time to stop."""
        if test_loss is None or not np.isfinite(test_loss):
            return False
        if test_loss < self.best_loss:
            self.best_loss, self.best_epoch = float(test_loss), int(epoch)
            return True
        if self.best_epoch is not None and epoch - self.best_epoch >= self.patience and epoch < self.epochs:
            self.stopped_at = int(epoch)
        return False


@dataclass
class LoopResult(Generic[Weights]):
    history: list[EpochStats] = field(default_factory=list)
    stopped: bool = False  # ``should_stop`` said yes before the planned last epoch
    early_stopped_at: int | None = None
    kept_epoch: int | None = None  # with early stopping: the epoch of ``best``
    best: Weights | None = None  # with early stopping: a snapshot of the best epoch's weights


def epoch_loop(
    epochs: int,
    n_train: int,
    batch_size: int,
    rng: np.random.Generator,
    train_batch: Callable[[np.ndarray], tuple[float, float]],
    evaluate: Callable[[], tuple[float, float]] | None = None,
    *,
    early_stopping: EarlyStopping | None = None,
    snapshot: Callable[[], Weights] | None = None,
    after_epoch: Callable[[EpochStats, Weights | None], None] | None = None,
    on_epoch: Callable[[EpochStats], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> LoopResult[Weights]:
    """Train for up to ``epochs`` epochs over ``n_train`` training rows in shuffled batches.

    ``train_batch(rows)`` updates the weights on those rows and returns (summed loss, number right);
    ``evaluate()`` returns (loss, accuracy) on the held-out samples (None: there are none).
    ``should_stop`` is asked before each epoch. With ``early_stopping``, ``snapshot()`` copies the
    weights of each new best epoch; ``after_epoch(stats, best so far)`` runs before ``on_epoch``.
    """
    result: LoopResult[Weights] = LoopResult()
    for epoch in range(1, epochs + 1):
        if should_stop is not None and should_stop():
            result.stopped = True
            break
        order = rng.permutation(n_train)
        loss_sum = correct = 0.0
        for i in range(0, len(order), batch_size):
            loss_b, correct_b = train_batch(order[i : i + batch_size])
            loss_sum += loss_b
            correct += correct_b
        stats = EpochStats(epoch, loss_sum / n_train, correct / n_train, None, None)
        if evaluate is not None:
            stats.test_loss, stats.test_accuracy = evaluate()
        result.history.append(stats)
        if early_stopping is not None and early_stopping.update(epoch, stats.test_loss):
            result.best = snapshot() if snapshot is not None else None
        if after_epoch is not None:
            after_epoch(stats, result.best)
        if on_epoch is not None:
            on_epoch(stats)
        if early_stopping is not None and early_stopping.stopped_at is not None:
            break
    if early_stopping is not None:
        result.early_stopped_at, result.kept_epoch = early_stopping.stopped_at, early_stopping.best_epoch
    return result


def lowest_test_loss_epoch(history: list[EpochStats]) -> int | None:
    """The epoch with the lowest test loss (the earliest of equals); None without test losses."""
    tested = [s for s in history if s.test_loss is not None and np.isfinite(s.test_loss)]
    return int(min(tested, key=lambda s: (s.test_loss, s.epoch)).epoch) if tested else None
