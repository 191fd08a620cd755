"""What a run's curves say about its settings, before anything is blamed on the data.

:func:`diagnose` reads one run's measured history (and, when given, how its held-out samples
were answered) and names the first of these that fits:

- ``diverged``: the learning rate is far too large: the loss shot up and the model ended up
  no better than guessing, answering one class for (almost) everything;
- ``unstable``: the learning rate is too large: the loss jumped far above where it started, or
  up and down several times, instead of going down steadily;
- ``slow``: the learning rate is too small: still learning at the end, but after every epoch the
  loss was still close to where it began;
- ``too_few_epochs``: still improving when training ended: more epochs would help;
- ``overfitting``: the held-out loss was lowest early and then rose, or held-out accuracy fell,
  while the training loss kept falling;
- ``fine``: none of these.

The thresholds are measured (``benchmarks/diagnose.py``-style sweep, figures below), not set by
the settings' values: a run is called unstable because its loss jumped, never because its
learning rate was 0.5. Nothing here draws; the sentences that explain a diagnosis are :mod:`tm_core.lessons`,
the short words a table shows for each kind are :func:`kind_text`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from tm_core.i18n import N_, _
from tm_core.training import Run

DIVERGED, UNSTABLE, SLOW, TOO_FEW_EPOCHS, OVERFITTING, FINE = (
    "diverged", "unstable", "slow", "too_few_epochs", "overfitting", "fine")
SETTINGS = (DIVERGED, UNSTABLE, SLOW)  # the settings are to blame, not the data
# What a table (a sweep's runs) says for each kind, translated where shown (:func:`kind_text`).
KIND_TEXTS = {
    DIVERGED: N_("Diverged: the learning rate is far too large"),
    UNSTABLE: N_("Unstable: the learning rate is too large"),
    SLOW: N_("Slow: the learning rate is too small"),
    TOO_FEW_EPOCHS: N_("Still improving: more epochs would help"),
    OVERFITTING: N_("Overfitting: the test loss rose at the end"),
    FINE: N_("Fine"),
}

# Measured on real MobileNetV2 embeddings (rps_real and clothing4 photos, all of them and 10 per
# class; learning rates 0.00001 to 0.5, batch sizes 8 to 256, 2 seeds, 50 epochs: 96 runs).
# The highest train loss of an epoch, as a multiple of the loss of guessing (ln of the number
# of classes): with 2 seeds every run at a learning rate of 0.01 or less stayed at or below 1.67×,
# every run at 0.05 or more went to 2.01× or more (most 4× to 1000×); a third seed made one run
# at 0.01 on 10 photos per class jump to 2.6×, and its held-out loss to 4.6: unstable indeed.
JUMP = 1.8
# A "jump": an epoch whose train loss is 30 % and 0.05 above the epoch before. None of the 40 runs
# at 0.01 or less had one; 0.05 and above had 0 to 7 (two or more in 22 of 56).
JUMP_RISE, JUMP_MIN, JUMPS = 1.3, 0.05, 2
# Stuck at guessing: the last epoch's train loss at least 90 % of guessing's (at 0.2 and 0.5 on all
# rps photos: 0.98-1.00×, train accuracy 33-35 %, one class answered; runs at 0.00001, still learning,
# ended at 0.49-0.85× but never jumped).
STUCK_LOSS = 0.9
# Still learning: over the last quarter of the epochs (at least 2) the train loss fell by 3 % and by
# 0.02 (at 0.00001 after 50 epochs it still fell 5-9 % there; runs that had learned, under 0.005).
FALL_REL, FALL_ABS = 0.03, 0.02
# Slow: still learning, and the last epoch's train loss is 40 % or more of the first epoch's
# (at 0.00001 after 50 epochs: 47-76 %; every run at 0.0001 or more: 15 % or less).
SLOW_LEFT = 0.4
# Overfitting: the held-out loss ended 10 % above its lowest (as tm_core.lessons says it).
ROSE = 1.1


@dataclass(frozen=True)
class Diagnosis:
    """``kind`` (one of the constants above) and the measured figures behind it (``figures``)."""

    kind: str
    figures: dict = field(default_factory=dict)

    @property
    def settings_at_fault(self) -> bool:
        return self.kind in SETTINGS


def kind_text(kind: str) -> str:
    """A diagnosis ``kind`` in a few words, in the language of the code running (the kind itself if unknown)."""
    return _(KIND_TEXTS[kind]) if kind in KIND_TEXTS else str(kind)


def guessing_loss(n_classes: int) -> float:
    """The cross-entropy of answering every class with equal probability: ln(number of classes)."""
    return math.log(max(2, n_classes))


def jumps(losses) -> int:
    """How many epochs' train loss rose by more than ``JUMP_RISE``× and ``JUMP_MIN`` over the epoch before."""
    a = np.asarray(losses, np.float64)
    if len(a) < 2:
        return 0
    return int(np.sum((a[1:] > a[:-1] * JUMP_RISE) & (a[1:] - a[:-1] > JUMP_MIN)))


def still_falling(losses) -> tuple[bool, int]:
    """(Did the train loss fall by ``FALL_REL`` and ``FALL_ABS`` over the last quarter of the epochs?, epochs looked at)."""
    a = np.asarray(losses, np.float64)
    if len(a) < 2:
        return False, 0
    q = min(len(a) - 1, max(2, len(a) // 4))
    before, end = a[-1 - q], a[-1]
    return bool(before - end >= FALL_ABS and before - end >= FALL_REL * before), q


def one_class(confusion) -> int | None:
    """The class every held-out sample was given, when all went to one (and the held-out samples had several)."""
    if confusion is None:
        return None
    m = np.asarray(confusion)
    if m.ndim != 2 or m.sum() == 0 or (m.sum(1) > 0).sum() < 2:
        return None
    predicted = np.flatnonzero(m.sum(0))
    return int(predicted[0]) if len(predicted) == 1 else None


def overfit(run: Run) -> dict | None:
    """Where the held-out loss was lowest and what it rose to, when it rose ``ROSE``× while train loss fell."""
    tested = [s for s in run.history if s.test_loss is not None and np.isfinite(s.test_loss)]
    if len(tested) < 2:
        return None
    low = min(tested, key=lambda s: (s.test_loss, s.epoch))
    last = tested[-1]
    if low.epoch < last.epoch and last.test_loss > low.test_loss * ROSE + 1e-3 and run.history[-1].loss < low.loss:
        return {"lowest_epoch": int(low.epoch), "lowest_test_loss": float(low.test_loss),
                "final_test_loss": float(last.test_loss)}
    return None


def diagnose(run: Run, confusion=None) -> Diagnosis:
    """The first of diverged, unstable, slow, too few epochs, overfitting that the run's curves show, else fine.

    ``confusion``: the held-out confusion matrix (rows true, columns predicted), when known: every
    held-out sample answered with one class is also a sign of divergence.
    """
    h = run.history
    if not h:
        return Diagnosis(FINE, {})
    k = len(run.class_names)
    guess = guessing_loss(k)
    losses = np.array([s.loss for s in h], np.float64)
    finite = np.isfinite(losses)
    top = int(np.nanargmax(np.where(finite, losses, np.inf))) if len(losses) else 0
    figures = {
        "guessing_loss": guess, "first_loss": float(losses[0]), "highest_loss": float(losses[top]),
        "highest_epoch": int(h[top].epoch), "final_loss": float(losses[-1]),
        "final_accuracy": float(h[-1].accuracy), "final_test_accuracy": h[-1].test_accuracy,
        "jumps": jumps(losses[finite]), "epochs": len(h),
    }
    stuck = bool(losses[-1] >= STUCK_LOSS * guess)  # after all its epochs, no better than guessing
    answered = one_class(confusion)
    if answered is not None:
        figures["one_class"] = run.class_names[answered]
    jumped = figures["highest_loss"] > JUMP * guess or figures["jumps"] >= JUMPS
    if not finite.all() or (jumped and (stuck or answered is not None)):  # a slow run never jumps
        return Diagnosis(DIVERGED, figures)
    if jumped:
        return Diagnosis(UNSTABLE, figures)
    falling, q = still_falling(losses)
    figures.update(last_epochs=q, loss_before=float(losses[-1 - q]) if len(losses) > q else float(losses[0]))
    tested = [s for s in h if s.test_loss is not None]
    test_falling = len(tested) >= 2 and tested[-1].test_loss < tested[-1 - min(q, len(tested) - 1)].test_loss
    if falling and (h[-1].accuracy < 0.99 or test_falling):
        left = losses[-1] / losses[0] if losses[0] > 0 else 0.0
        figures["left"] = float(left)
        return Diagnosis(SLOW if left >= SLOW_LEFT else TOO_FEW_EPOCHS, figures)
    rose = overfit(run)
    if rose is not None:
        figures.update(rose)
        return Diagnosis(OVERFITTING, figures)
    return Diagnosis(FINE, figures)


__all__ = ["DIVERGED", "FINE", "KIND_TEXTS", "OVERFITTING", "SETTINGS", "SLOW", "TOO_FEW_EPOCHS", "UNSTABLE",
           "Diagnosis", "diagnose", "guessing_loss", "jumps", "kind_text", "one_class", "overfit", "still_falling"]
