"""Training the head on cached embeddings, the way Teachable Machine does.

Teachable Machine's head: Dense(100, relu) → Dense(n, softmax, no bias), both initialised
with variance scaling (fan-in, truncated normal), trained by Adam on categorical
cross-entropy, 15 % of each class held out. ``train`` trains one head, ``train_many`` several
(a sweep) at once, each exactly as ``train`` would alone; the loop itself, NumPy, is in
``tm_core.heads``.

Training sees arrays only: it knows nothing of encoders or projects.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from tm_core.errors import InputError
from tm_core.heads import EPSILON, Head, HeadJob, fit_heads, one_blas_thread  # noqa: F401 - re-exported
from tm_core.i18n import N_, _
from tm_core.loop import EarlyStopping, EpochStats, lowest_test_loss_epoch  # noqa: F401 - re-exported


@dataclass
class TrainConfig:
    """Hyperparameters, with Teachable Machine's defaults.

    epochs: how many times training goes through every training sample.
    batch_size: how many samples are looked at before each small correction of the weights.
    learning_rate: how big each correction is; too big jumps around, too small learns slowly.
    hidden_units: size of the hidden layer of the head.
    test_fraction: share of each class held out to test on (never trained on).
    seed: fixes the held-out split, the initial weights and the shuffling, so runs repeat.
    early_stopping: after each epoch, look at the loss on the held-out samples; when it has not
        gone down for ``patience`` epochs in a row, stop, and keep the weights of the epoch where
        it was lowest. Off by default (as in Teachable Machine), so the Overfitting lesson still
        shows test accuracy falling. Does nothing when no samples are held out.
    patience: how many epochs in a row without a lower test loss early stopping waits for.
    """

    epochs: int = 50
    batch_size: int = 16
    learning_rate: float = 0.001
    hidden_units: int = 100
    test_fraction: float = 0.15
    seed: int = 0
    early_stopping: bool = False
    patience: int = 5

    def validate(self) -> TrainConfig:
        checks = [
            (N_("epochs"), isinstance(self.epochs, int) and 1 <= self.epochs <= 10_000,
             N_("must be a whole number from 1 to 10000")),
            (N_("batch size"), isinstance(self.batch_size, int) and 1 <= self.batch_size <= 4096,
             N_("must be a whole number from 1 to 4096")),
            (N_("learning rate"), 0 < float(self.learning_rate) <= 1, N_("must be a number above 0 and at most 1")),
            (N_("hidden units"), isinstance(self.hidden_units, int) and 1 <= self.hidden_units <= 4096,
             N_("must be a whole number from 1 to 4096")),
            (N_("test fraction"), 0 <= float(self.test_fraction) < 1, N_("must be at least 0 and below 1")),
            (N_("early stopping"), isinstance(self.early_stopping, (bool, np.bool_)),
             N_("must be on or off (True or False)")),
            (N_("patience"), isinstance(self.patience, int) and not isinstance(self.patience, bool)
             and 1 <= self.patience <= 10_000, N_("must be a whole number of epochs from 1 to 10000")),
        ]
        for name, ok, need in checks:
            if not ok:
                raise InputError(_(name), _(need))
        return self


@dataclass
class Split:
    """Indices into the dataset: what is trained on and what is held out.

    ``how`` says, per class label, how its held-out samples were chosen (see ``grouped_split``)."""

    train: np.ndarray
    test: np.ndarray
    how: dict[int, str] = field(default_factory=dict)


@dataclass
class Run:
    """One training run: its settings, its per-epoch history, the head it made and its split."""

    config: TrainConfig
    class_names: list[str]
    history: list[EpochStats]
    head: Head
    split: Split
    stopped: bool = False  # stopped from outside (``should_stop``, a Stop button) before config.epochs
    seconds: float = 0.0
    info: dict = field(default_factory=dict)  # e.g. encoder name, sample counts
    # Early stopping (config.early_stopping with held-out samples), else both None:
    early_stopped_at: int | None = None  # the epoch after which it ended training, before config.epochs
    kept_epoch: int | None = None  # the epoch whose weights ``head`` holds: the lowest test loss

    def kept_stats(self) -> EpochStats | None:
        """The figures of the epoch the head comes from: the kept epoch, else the last one."""
        epoch = self.kept_epoch if self.kept_epoch is not None else (self.history[-1].epoch if self.history else None)
        return next((s for s in self.history if s.epoch == epoch), None)

    def summary(self) -> dict:
        """JSON-ready description (no weights)."""
        return {
            "config": asdict(self.config),
            "class_names": list(self.class_names),
            "history": [asdict(h) for h in self.history],
            "stopped": self.stopped,
            "seconds": round(self.seconds, 4),
            "n_train": int(len(self.split.train)),
            "n_test": int(len(self.split.test)),
            "early_stopped_at": self.early_stopped_at,
            "kept_epoch": self.kept_epoch,
            **self.info,
        }


def held_out_count(n: int, fraction: float) -> int:
    """How many of a class's ``n`` samples are held out: rounded, but one stays for training."""
    if n < 2 or fraction <= 0:
        return 0
    return min(max(1, int(np.floor(n * fraction + 0.5))), n - 1)


def split_per_class(labels: np.ndarray, fraction: float, seed: int) -> Split:
    """Hold out ``fraction`` of each class, chosen at random with ``seed``."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        k = held_out_count(len(idx), fraction)
        test.extend(idx[:k])
        train.extend(idx[k:])
    return Split(np.sort(np.array(train, np.int64)), np.sort(np.array(test, np.int64)))


# How a class's held-out samples were chosen (Split.how values)
MARKED = "marked"  # the samples the student marked "test only"
RECORDINGS = "recordings"  # whole recordings, chosen at random
END_OF_RECORDING = "end"  # the class is one recording (or one far larger than the rest): its last samples
NONE_HELD_OUT = "none"  # too few samples to hold any out
RANDOM = "random"  # samples of their own (single photos): chosen at random


def grouped_split(labels: np.ndarray, fraction: float, seed: int, groups=None, test_only=None) -> Split:
    """Hold out about ``fraction`` of each class without a recording on both sides.

    Near-identical frames of one webcam burst on both sides make a test look perfect (Teachable
    Machine's random 15 % does that). Here samples sharing a ``groups`` value (one burst, one sound
    file, one sub-folder imported as a recording; ``""`` = a sample of its own, such as an uploaded
    photo: see ``project.Recordings``) stay together:

    - a class with samples marked ``test_only`` is tested on exactly those and trained on the rest;
    - otherwise whole recordings are held out, picked at random with ``seed``, as close to the
      fraction as they come (the smallest one, whole, when every recording is larger than that);
    - a class that is a single recording (one burst, one sound recording) holds out its *last* samples in the
      order they were added: the end of the recording, not frames scattered through it. The one
      case where a recording is on both sides, so the page says so.

    Every class keeps at least one training sample. With no groups and nothing marked this is
    ``split_per_class``'s random split.
    """
    labels = np.asarray(labels, np.int64)
    n = len(labels)
    groups = [""] * n if groups is None else list(groups)
    marked = np.zeros(n, bool) if test_only is None else np.asarray(test_only, bool)
    if len(groups) != n or len(marked) != n:
        raise ValueError("groups and test_only need one value per sample")
    if not marked.any() and not any(groups):  # single samples only: the plain random split
        split = split_per_class(labels, fraction, seed)
        split.how = {int(c): RANDOM if (labels[split.test] == c).any() else NONE_HELD_OUT for c in np.unique(labels)}
        return split
    rng = np.random.default_rng(seed)
    train, test, how = [], [], {}
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        if marked[idx].any():
            test.extend(idx[marked[idx]])
            train.extend(idx[~marked[idx]])
            how[int(c)] = MARKED
            continue
        k = held_out_count(len(idx), fraction)
        recordings: dict[str, list[int]] = {}
        for i in idx:
            recordings.setdefault(groups[i] or f"\0{i}", []).append(int(i))
        units = [np.array(v, np.int64) for v in recordings.values()]
        if k == 0:
            train.extend(idx)
            how[int(c)] = NONE_HELD_OUT
            continue
        if len(units) == 1:
            test.extend(units[0][-k:])
            train.extend(units[0][:-k])
            how[int(c)] = END_OF_RECORDING
            continue
        chosen, total = [], 0
        for u in rng.permutation(len(units)):
            size = len(units[u])
            if abs(total + size - k) < abs(total - k) and total + size < len(idx):
                chosen.append(u)
                total += size
        if not chosen:  # every recording is larger than the share to hold out: the smallest one, whole
            chosen = [int(np.argmin([len(u) for u in units]))]
        for j, u in enumerate(units):
            (test if j in chosen else train).extend(u)
        how[int(c)] = RANDOM if all(len(u) == 1 for u in units) else RECORDINGS
    return Split(np.sort(np.array(train, np.int64)), np.sort(np.array(test, np.int64)), how)


def _variance_scaling(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
    """Keras/TF.js VarianceScaling(scale=1, fan_in, truncated normal)."""
    std = np.sqrt(1.0 / fan_in) / 0.87962566103423978  # std of a unit normal truncated at ±2
    w = rng.standard_normal((fan_in, fan_out))
    bad = np.abs(w) > 2
    while bad.any():
        w[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(w) > 2
    return (w * std).astype(np.float32)


def init_head(dim: int, n_classes: int, hidden: int, seed: int) -> Head:
    rng = np.random.default_rng(seed)
    return Head(_variance_scaling(rng, dim, hidden), np.zeros(hidden, np.float32), _variance_scaling(rng, hidden, n_classes))


def _checked(features, labels, class_names) -> tuple[np.ndarray, np.ndarray]:
    x = np.ascontiguousarray(features, np.float32)
    y = np.asarray(labels, np.int64)
    k = len(class_names)
    if x.ndim != 2 or len(x) != len(y):
        raise ValueError(f"features {x.shape} and labels {y.shape} do not match")
    if k < 2 or len(np.unique(y)) < 2:
        raise InputError(_("classes"), _("training needs samples in at least two classes"))
    if y.min() < 0 or y.max() >= k:
        raise ValueError("labels must be in 0..len(class_names)-1")
    return x, y


def _runs(x, y, class_names, configs: Sequence[TrainConfig], split: Split, extra, initial_heads, **callbacks) -> list[Run]:
    """Every config's run on one split, trained together (``tm_core.heads.fit_heads``)."""
    k = len(class_names)
    xtr, ytr, xte, yte = x[split.train], y[split.train], x[split.test], y[split.test]
    if extra is not None and len(extra[1]):
        xtr = np.concatenate([xtr, np.asarray(extra[0], np.float32)])
        ytr = np.concatenate([ytr, np.asarray(extra[1], np.int64)])
    jobs = [HeadJob(start or init_head(x.shape[1], k, c.hidden_units, c.seed), c.epochs, c.batch_size,
                    c.learning_rate, c.seed, c.patience if c.early_stopping else None)
            for c, start in zip(configs, initial_heads)]
    fitted = fit_heads(xtr, ytr, k, xte, yte, jobs, **callbacks)
    return [Run(c, list(class_names), f.history, f.head, split, f.stopped, f.seconds,
                early_stopped_at=f.early_stopped_at, kept_epoch=f.kept_epoch) for c, f in zip(configs, fitted)]


def train(
    features: np.ndarray,
    labels: np.ndarray,
    class_names: list[str],
    config: TrainConfig | None = None,
    *,
    split: Split | None = None,
    on_epoch: Callable[[EpochStats], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    initial_head: Head | None = None,
    on_head: Callable[[Head], None] | None = None,
    extra: tuple[np.ndarray, np.ndarray] | None = None,
) -> Run:
    """Train a head on ``features`` (n, d) with integer ``labels`` (n,) in 0..len(class_names)-1.

    ``extra`` = (features, labels) of augmented views of training samples: trained on together
    with ``split.train`` every epoch, never tested (build it only from the training part).

    ``on_epoch`` gets each epoch's train and test loss and accuracy as soon as it ends.
    ``should_stop`` is asked before each epoch; when it says yes, training ends and the run
    keeps the epochs already done (``run.stopped`` is True). ``on_head`` gets a copy of the
    head after each epoch, before ``on_epoch``: what a caller interrupted from outside (a
    Streamlit rerun) keeps.

    With ``config.early_stopping`` and held-out samples, training ends after the epoch where
    the test loss has not gone below its lowest for ``config.patience`` epochs, and the head
    goes back to the weights of the epoch with the lowest test loss (``run.kept_epoch``;
    ``run.early_stopped_at`` when it ended before ``config.epochs``). ``on_head`` then gets the
    best head so far after each epoch, so its last call, like ``run.head``, is the kept head.
    """
    config = (config or TrainConfig()).validate()
    x, y = _checked(features, labels, class_names)
    split = split or split_per_class(y, config.test_fraction, config.seed)
    return _runs(x, y, class_names, [config], split, extra, [initial_head],
                 on_epoch=None if on_epoch is None else (lambda _i, stats: on_epoch(stats)),
                 on_head=None if on_head is None else (lambda _i, head: on_head(head)),
                 should_stop=should_stop)[0]


def train_many(features, labels, class_names, configs: Sequence[TrainConfig], *, split: Split,
               extra: tuple[np.ndarray, np.ndarray] | None = None,
               on_epoch: Callable[[int, EpochStats], None] | None = None,
               should_stop: Callable[[], bool] | None = None) -> list[Run]:
    """One run per config on the same ``split`` (and ``extra``), each the run ``train`` gives alone.

    Same seeds, batches, early stopping and kept epoch as ``train(features, labels, class_names,
    config, split=split, extra=extra)``, but runs with one batch size and hidden size train
    together, step by step, which is several times faster than one after another (a sweep).
    ``on_epoch(i, stats)`` gets the figures of an epoch of ``configs[i]``; every run moves on an
    epoch at a time. ``should_stop`` is asked between epochs; when it says yes, every run keeps
    the epochs it has done (``run.stopped`` for those not finished).
    """
    configs = [c.validate() for c in configs]
    x, y = _checked(features, labels, class_names)
    return _runs(x, y, class_names, configs, split, extra, [None] * len(configs),
                 on_epoch=on_epoch, should_stop=should_stop)
