"""Training the head on cached embeddings, the way Teachable Machine does.

Teachable Machine's head: Dense(100, relu) → Dense(n, softmax, no bias), both initialised
with variance scaling (fan-in, truncated normal), trained by Adam on categorical
cross-entropy, 15 % of each class held out. The loop is NumPy: the head is two small
matrices, and a Python loop over NumPy does 50 epochs of ~400 samples in a fraction of a
second, where ``keras.Model.fit`` spends seconds on per-step overhead. Its updates are
Keras' own Adam, step for step (tests compare the two).

Training sees arrays only: it knows nothing of encoders or projects.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

import numpy as np
from threadpoolctl import threadpool_limits

from tm_core.errors import InputError
from tm_core.loop import EarlyStopping, EpochStats, epoch_loop, lowest_test_loss_epoch  # noqa: F401 - re-exported

EPSILON = 1e-7  # Keras' (and TensorFlow.js') backend epsilon: Adam's, and the clip of evaluated probabilities


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
            ("epochs", isinstance(self.epochs, int) and 1 <= self.epochs <= 10_000, "a whole number from 1 to 10000"),
            ("batch size", isinstance(self.batch_size, int) and 1 <= self.batch_size <= 4096, "a whole number from 1 to 4096"),
            ("learning rate", 0 < float(self.learning_rate) <= 1, "a number above 0 and at most 1"),
            ("hidden units", isinstance(self.hidden_units, int) and 1 <= self.hidden_units <= 4096, "a whole number from 1 to 4096"),
            ("test fraction", 0 <= float(self.test_fraction) < 1, "at least 0 and below 1"),
            ("early stopping", isinstance(self.early_stopping, (bool, np.bool_)), "on or off (True or False)"),
            ("patience", isinstance(self.patience, int) and not isinstance(self.patience, bool)
             and 1 <= self.patience <= 10_000, "a whole number of epochs from 1 to 10000"),
        ]
        for name, ok, need in checks:
            if not ok:
                raise InputError(name, f"must be {need}")
        return self


@dataclass
class Split:
    """Indices into the dataset: what is trained on and what is held out.

    ``how`` says, per class label, how its held-out samples were chosen (see ``grouped_split``)."""

    train: np.ndarray
    test: np.ndarray
    how: dict[int, str] = field(default_factory=dict)


@dataclass
class Head:
    """The trained classifier on top of the encoder: Dense(h, relu) → Dense(n, softmax, no bias)."""

    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return _softmax(np.maximum(np.asarray(x, np.float32) @ self.w1 + self.b1, 0) @ self.w2)

    @property
    def n_classes(self) -> int:
        return self.w2.shape[1]

    def keras_layers(self) -> list:
        """The head as two built Keras Dense layers holding these weights."""
        import keras

        hidden = keras.layers.Dense(self.w1.shape[1], activation="relu", name="dense_hidden")
        out = keras.layers.Dense(self.n_classes, activation="softmax", use_bias=False, name="dense_classes")
        hidden.build((None, self.w1.shape[0]))
        out.build((None, self.w1.shape[1]))
        hidden.set_weights([self.w1, self.b1])
        out.set_weights([self.w2])
        return [hidden, out]


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


def _copy(head: Head) -> Head:
    return Head(head.w1.copy(), head.b1.copy(), head.w2.copy())


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


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


def _loss_acc(head: Head, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Mean cross-entropy (clipped as Keras clips probabilities) and accuracy."""
    p = np.clip(head.predict_proba(x), EPSILON, 1 - EPSILON)
    return float(-np.log(p[np.arange(len(y)), y]).mean()), float((p.argmax(1) == y).mean())


class _Adam:
    """Keras 3 Adam (β1 0.9, β2 0.999, ε 1e-7), in place on a list of arrays."""

    def __init__(self, params: list[np.ndarray], lr: float, beta1=0.9, beta2=0.999):
        self.params, self.lr, self.b1, self.b2 = params, lr, beta1, beta2
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.tmp = [np.zeros_like(p) for p in params]
        self.t = 0

    def step(self, grads: list[np.ndarray]) -> None:
        self.t += 1
        alpha = self.lr * np.sqrt(1 - self.b2**self.t) / (1 - self.b1**self.t)
        for p, g, m, v, tmp in zip(self.params, grads, self.m, self.v, self.tmp):
            m *= self.b1  # m += (g - m)(1 - β1)
            m += np.multiply(g, 1 - self.b1, out=tmp)
            v *= self.b2  # v += (g² - v)(1 - β2)
            np.multiply(g, g, out=tmp)
            tmp *= 1 - self.b2
            v += tmp
            np.sqrt(v, out=tmp)  # p -= α m / (√v + ε)
            tmp += EPSILON
            np.divide(m, tmp, out=tmp)
            tmp *= alpha
            p -= tmp


_blas_lock = threading.Lock()
_blas_users = 0
_blas_limiter = None


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """BLAS on one thread while any training runs in this process.

    ``threadpool_limits`` changes a process-wide setting and restores what it saw on entry: two
    trainings overlapping in one server (two students) left BLAS on 2 threads for the second one
    as soon as the first ended, and on 1 thread for good after the second. Here the first training
    in sets the limit and the last one out restores it.
    """
    global _blas_users, _blas_limiter
    with _blas_lock:
        if _blas_users == 0:
            _blas_limiter = threadpool_limits(limits=1, user_api="blas")
        _blas_users += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_users -= 1
            if _blas_users == 0:
                _blas_limiter.restore_original_limits()
                _blas_limiter = None


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
    x = np.ascontiguousarray(features, np.float32)
    y = np.asarray(labels, np.int64)
    k = len(class_names)
    if x.ndim != 2 or len(x) != len(y):
        raise ValueError(f"features {x.shape} and labels {y.shape} do not match")
    if k < 2 or len(np.unique(y)) < 2:
        raise InputError("classes", "training needs samples in at least two classes")
    if y.min() < 0 or y.max() >= k:
        raise ValueError("labels must be in 0..len(class_names)-1")
    split = split or split_per_class(y, config.test_fraction, config.seed)
    xtr, ytr, xte, yte = x[split.train], y[split.train], x[split.test], y[split.test]
    if extra is not None and len(extra[1]):
        xtr = np.concatenate([xtr, np.asarray(extra[0], np.float32)])
        ytr = np.concatenate([ytr, np.asarray(extra[1], np.int64)])
    onehot = np.eye(k, dtype=np.float32)[ytr]

    head = _copy(initial_head or init_head(x.shape[1], k, config.hidden_units, config.seed))
    opt = _Adam([head.w1, head.b1, head.w2], config.learning_rate)

    def train_batch(b: np.ndarray) -> tuple[float, float]:
        """One Adam step on the rows ``b``; their summed loss and how many were right."""
        xb, tb = xtr[b], onehot[b]
        h = xb @ head.w1
        h += head.b1
        np.maximum(h, 0, out=h)
        z = h @ head.w2
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        s = e.sum(axis=1, keepdims=True)
        p = e / s
        loss = float((np.log(s[:, 0]) - (z * tb).sum(1)).sum())  # cross-entropy from logits
        correct = float((p.argmax(1) == ytr[b]).sum())
        d = (p - tb) / len(b)  # d loss / d logits for softmax + mean cross-entropy
        gw2 = h.T @ d
        dh = d @ head.w2.T
        dh *= h > 0
        opt.step([xb.T @ dh, dh.sum(0), gw2])
        return loss, correct

    def after_epoch(_stats: EpochStats, best: Head | None) -> None:
        if on_head is not None:
            on_head(_copy(best if best is not None else head))

    watch = config.early_stopping and len(yte) > 0
    start = time.perf_counter()
    # One BLAS thread: these matrices are tiny, and a second BLAS thread spin-waiting for a core
    # that another process holds made 50 epochs take 10-30 s instead of 0.5 s (benchmarks/head_training.py).
    with one_blas_thread():
        done = epoch_loop(config.epochs, len(ytr), config.batch_size, np.random.default_rng(config.seed + 1),
                          train_batch, (lambda: _loss_acc(head, xte, yte)) if len(yte) else None,
                          early_stopping=EarlyStopping(config.patience, config.epochs) if watch else None,
                          snapshot=lambda: _copy(head), after_epoch=after_epoch, on_epoch=on_epoch,
                          should_stop=should_stop)
    return Run(config, list(class_names), done.history, done.best if done.best is not None else head, split,
               done.stopped, time.perf_counter() - start, early_stopped_at=done.early_stopped_at,
               kept_epoch=done.kept_epoch)
