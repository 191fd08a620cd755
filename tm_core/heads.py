"""The head and its training loop: many heads at once, each exactly as it would train alone.

A head is Teachable Machine's Dense(h, relu) → Dense(n, softmax, no bias), trained by Keras'
Adam on softmax cross-entropy, step for step (tests compare the two). The loop is NumPy: the
head is two small matrices, and ``keras.Model.fit`` spends seconds on per-step overhead.

Heads that share a batch size and a hidden-layer size train in lockstep as one *stack*: the
same step of every head is one ``np.matmul`` over a leading head axis. NumPy calls the same BLAS
product for each head of the stack as it does for a head alone, and every other operation is
elementwise or a per-head reduction, so each head gets exactly the numbers it gets alone (its
own batches from its own seed, its own learning rate, early stopping and number of epochs); what
the stack saves is Python's overhead per step, which matters for small heads (``STACK_BYTES``).
Adam then updates each head's weights, kept as one flat vector per head (w1, b1 and w2 side by
side), with a dozen whole-vector operations.

Several heads are shared out over threads, one per core that other work leaves free (NumPy lets
go of the GIL in its products and passes over arrays); callbacks still run on the calling thread. In each thread,
stacks take turns epoch by epoch, so every head moves on together and a stop from outside leaves
each with the epochs it has done. A head leaves its stack when its epochs are done or early
stopping ends it.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import threadpool_limits

from tm_core.loop import EarlyStopping, EpochStats

EPSILON = 1e-7  # Keras' (and TensorFlow.js') backend epsilon: Adam's, and the clip of evaluated probabilities
BETA1, BETA2 = 0.9, 0.999  # Keras 3 Adam's defaults
# Heads stacked into one product at most: the five float32 arrays of a stack (weights, gradient, Adam's
# two moments, scratch) within this many bytes. Larger stacks of 1280 × 100 heads were no faster than
# one head at a time, their arrays no longer in the cache; stacks pay off for small heads (pose, hands).
STACK_BYTES = 4 << 20
MAX_THREADS = 4  # threads for training several heads at once, at most (one per core below that)


@dataclass
class Head:
    """The trained classifier on top of the encoder: Dense(h, relu) → Dense(n, softmax, no bias)."""

    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return softmax(np.maximum(np.asarray(x, np.float32) @ self.w1 + self.b1, 0) @ self.w2)

    @property
    def n_classes(self) -> int:
        return self.w2.shape[1]

    def copy(self) -> Head:
        return Head(self.w1.copy(), self.b1.copy(), self.w2.copy())

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


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def loss_and_accuracy(head: Head, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Mean cross-entropy (clipped as Keras clips probabilities) and accuracy."""
    p = np.clip(head.predict_proba(x), EPSILON, 1 - EPSILON)
    return float(-np.log(p[np.arange(len(y)), y]).mean()), float((p.argmax(1) == y).mean())


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


@dataclass
class HeadJob:
    """One head to train: where it starts and how."""

    head: Head  # the initial weights (not changed)
    epochs: int
    batch_size: int
    learning_rate: float
    seed: int  # its batches are shuffled by np.random.default_rng(seed + 1)
    patience: int | None = None  # early stopping on the held-out loss with this patience; None: off


@dataclass
class Fitted:
    """What one job gave: the head kept (the best epoch's with early stopping, else the last)."""

    head: Head
    history: list[EpochStats] = field(default_factory=list)
    stopped: bool = False  # ``should_stop`` said yes before its last epoch
    early_stopped_at: int | None = None
    kept_epoch: int | None = None
    seconds: float = 0.0  # its share of the time its stack took


class _Stack:
    """Jobs with one batch size and one hidden size, one epoch at a time in lockstep.

    Every job's weights are one row of ``p`` (w1, b1, w2 flattened side by side), and so are its
    gradient ``g``, Adam's ``m`` and ``v`` and a scratch row ``tmp``; ``_views`` reads a block of
    rows as (w1, b1, w2) stacks.
    """

    def __init__(self, members: list[int], jobs: Sequence[HeadJob], data: _Data):
        self.data, self.members = data, list(members)
        first = jobs[members[0]].head
        self.d, self.h = first.w1.shape
        self.k = first.w2.shape[1]
        self.batch_size = jobs[members[0]].batch_size
        self.p = np.stack([np.concatenate([jobs[i].head.w1.ravel(), jobs[i].head.b1.ravel(), jobs[i].head.w2.ravel()])
                           for i in members]).astype(np.float32)
        self.g, self.m, self.v, self.tmp = (np.zeros_like(self.p) for _ in range(4))
        self.t = 0  # Adam's step count: the same for every member, as they step together
        self.epoch = 0
        self.jobs = [jobs[i] for i in members]
        self.rngs = [np.random.default_rng(job.seed + 1) for job in self.jobs]
        watch = len(data.y_test) > 0
        self.stops = [EarlyStopping(job.patience, job.epochs) if job.patience is not None and watch else None
                      for job in self.jobs]
        self.results = [Fitted(jobs[i].head) for i in members]
        self.best: list[Head | None] = [None] * len(members)
        self._weights, self._grads = self._views(self.p), self._views(self.g)

    def _views(self, a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n, dh, h = len(a), self.d * self.h, self.h
        return a[:, :dh].reshape(n, self.d, h), a[:, dh : dh + h], a[:, dh + h :].reshape(n, h, self.k)

    def head(self, row: int) -> Head:
        w1, b1, w2 = self._views(self.p[row : row + 1])
        return Head(w1[0], b1[0], w2[0])

    def _step(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One Adam step of every member on its own rows (members × batch); their summed losses and counts right."""
        data = self.data
        xb, tb = data.x_train[rows], data.onehot[rows]
        (w1, b1, w2), (g1, gb, g2) = self._weights, self._grads
        hid = np.matmul(xb, w1)
        hid += b1[:, None, :]
        np.maximum(hid, 0, out=hid)
        z = np.matmul(hid, w2)
        z -= z.max(axis=2, keepdims=True)
        e = np.exp(z)
        s = e.sum(axis=2, keepdims=True)
        p = e / s
        losses = (np.log(s[:, :, 0]) - (z * tb).sum(2)).sum(1)  # cross-entropy from logits
        correct = (p.argmax(2) == data.y_train[rows]).sum(1)
        d = (p - tb) / rows.shape[1]  # d loss / d logits for softmax + mean cross-entropy
        np.matmul(hid.transpose(0, 2, 1), d, out=g2)
        dh = np.matmul(d, w2.transpose(0, 2, 1))
        dh *= hid > 0
        np.matmul(xb.transpose(0, 2, 1), dh, out=g1)
        for r in range(len(rows)):  # per member: the same reduction order as a head alone
            dh[r].sum(0, out=gb[r])
        self.t += 1
        for r, job in enumerate(self.jobs):
            _adam_step(self.p[r], self.g[r], self.m[r], self.v[r], self.tmp[r], job.learning_rate, self.t)
        return losses, correct

    def run_epoch(self, on_epoch, on_head) -> float:
        """One epoch of every member; the seconds it took."""
        start = time.perf_counter()
        data, n = self.data, len(self.data.y_train)
        self.epoch += 1
        orders = np.stack([rng.permutation(n) for rng in self.rngs])
        loss_sum, correct = [0.0] * len(self.members), [0.0] * len(self.members)
        for i in range(0, n, self.batch_size):
            losses, right = self._step(orders[:, i : i + self.batch_size])
            for r in range(len(self.members)):  # Python floats, summed in the order a head alone sums them
                loss_sum[r] += float(losses[r])
                correct[r] += float(right[r])
        done = []
        for r, job in enumerate(self.jobs):
            stats = EpochStats(self.epoch, loss_sum[r] / n, correct[r] / n, None, None)
            if len(data.y_test):
                stats.test_loss, stats.test_accuracy = loss_and_accuracy(self.head(r), data.x_test, data.y_test)
            result, stop = self.results[r], self.stops[r]
            result.history.append(stats)
            if stop is not None and stop.update(self.epoch, stats.test_loss):
                self.best[r] = self.head(r).copy()
            if on_head is not None:
                on_head(self.members[r], (self.best[r] or self.head(r)).copy())
            if on_epoch is not None:
                on_epoch(self.members[r], stats)
            if self.epoch >= job.epochs or (stop is not None and stop.stopped_at is not None):
                done.append(r)
        seconds = time.perf_counter() - start
        for result in self.results:
            result.seconds += seconds / len(self.results)
        if done:
            self._finish(done)
        return seconds

    def _finish(self, rows: list[int], stopped: bool = False) -> None:
        """Hand the results of these members back and take them out of the stack."""
        for r in rows:
            result, stop = self.results[r], self.stops[r]
            result.stopped = stopped
            if stop is not None:
                result.early_stopped_at, result.kept_epoch = stop.stopped_at, stop.best_epoch
            result.head = self.best[r] if self.best[r] is not None else self.head(r).copy()
            self.data.fitted[self.members[r]] = result
        keep = [r for r in range(len(self.members)) if r not in rows]
        for name in ("p", "g", "m", "v", "tmp"):
            setattr(self, name, getattr(self, name)[keep])
        self._weights, self._grads = self._views(self.p), self._views(self.g)
        for name in ("members", "jobs", "rngs", "stops", "results", "best"):
            setattr(self, name, [getattr(self, name)[r] for r in keep])

    def stop(self) -> None:
        self._finish(list(range(len(self.members))), stopped=True)


def _adam_step(p, g, m, v, tmp, lr: float, t: int) -> None:
    """Keras 3 Adam (β1 0.9, β2 0.999, ε 1e-7), in place on one head's flat weights."""
    alpha = lr * np.sqrt(1 - BETA2**t) / (1 - BETA1**t)
    m *= BETA1  # m += (g - m)(1 - β1)
    m += np.multiply(g, 1 - BETA1, out=tmp)
    v *= BETA2  # v += (g² - v)(1 - β2)
    np.multiply(g, g, out=tmp)
    tmp *= 1 - BETA2
    v += tmp
    np.sqrt(v, out=tmp)  # p -= α m / (√v + ε)
    tmp += EPSILON
    np.divide(m, tmp, out=tmp)
    tmp *= alpha
    p -= tmp


@dataclass
class _Data:
    x_train: np.ndarray
    y_train: np.ndarray
    onehot: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    fitted: dict[int, Fitted] = field(default_factory=dict)


def _lanes(jobs: Sequence[HeadJob], n_train: int, n_lanes: int) -> list[list[list[int]]]:
    """Jobs shared out over ``n_lanes`` threads, about the same work each; in each lane, its stacks.

    The work of a job is guessed from its sizes: Adam's dozen passes over its weights every step,
    and the matrix products on every sample of every epoch (nanoseconds measured on a 2-core server).
    """
    def cost(job: HeadJob) -> float:
        (d, h), k = job.head.w1.shape, job.head.w2.shape[1]
        steps = -(-n_train // job.batch_size)
        return job.epochs * (steps * ((d * h + h + h * k) * 1.2 + 40_000) + n_train * d * h * 0.09)

    loads, lanes = [0.0] * n_lanes, [[] for _ in range(n_lanes)]
    for i in sorted(range(len(jobs)), key=lambda i: -cost(jobs[i])):  # largest first, to the least loaded lane
        lane = loads.index(min(loads))
        loads[lane] += cost(jobs[i])
        lanes[lane].append(i)
    stacked = []
    for lane in lanes:
        groups: dict[tuple, list[int]] = {}
        for i in sorted(lane):
            groups.setdefault((jobs[i].batch_size, jobs[i].head.w1.shape), []).append(i)
        stacks = []
        for members in groups.values():  # as many heads in a stack as keep its arrays in the cache
            w1, w2 = jobs[members[0]].head.w1, jobs[members[0]].head.w2
            size = max(1, STACK_BYTES // (5 * 4 * (w1.size + w1.shape[1] + w2.size)))
            stacks += [members[j : j + size] for j in range(0, len(members), size)]
        if stacks:
            stacked.append(stacks)
    return stacked


def _run_lane(stacks: list[_Stack], on_epoch, on_head, should_stop) -> None:
    """The stacks of one lane, an epoch each in turn, until all are done or ``should_stop`` says yes."""
    while stacks:
        for stack in stacks:
            if should_stop is not None and should_stop():
                for s in stacks:
                    s.stop()
                return
            stack.run_epoch(on_epoch, on_head)
        stacks = [s for s in stacks if s.members]


def _run_threads(lanes: list[list[_Stack]], on_epoch, on_head, should_stop) -> None:
    """Each lane in a thread of its own (NumPy lets go of the GIL in its products and passes over arrays).

    Callbacks and ``should_stop`` run on the calling thread (a Streamlit script's, which alone may
    draw), fed from a queue; a stop or an error there ends every lane after its current epoch.
    """
    events: queue.SimpleQueue = queue.SimpleQueue()
    stop = threading.Event()
    errors: list[BaseException] = []

    def post(kind):
        return None if kind is None else (lambda i, value: events.put((kind, i, value)))

    def work(stacks: list[_Stack]) -> None:
        try:
            _run_lane(stacks, post(on_epoch), post(on_head), stop.is_set)
        except BaseException as e:  # noqa: BLE001 - raised again on the calling thread
            errors.append(e)
            stop.set()
        finally:
            events.put(None)

    threads = [threading.Thread(target=work, args=(lane,), name=f"heads-lane-{n}", daemon=True)
               for n, lane in enumerate(lanes)]
    for thread in threads:
        thread.start()
    running = len(threads)
    try:
        while running:
            try:
                event = events.get(timeout=0.05)
            except queue.Empty:
                event = ()
            if event is None:
                running -= 1
            elif event:
                callback, i, value = event
                callback(i, value)
            if should_stop is not None and not stop.is_set() and should_stop():
                stop.set()
    finally:
        stop.set()  # only still needed when a callback raised: the lanes end after their epoch
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


BUSY_WINDOW = 0.1  # seconds over which ``busy_cores`` watches the machine


def _busy_ticks() -> tuple[int, int]:
    """(busy, all) clock ticks of every core since boot, from the first line of /proc/stat."""
    with open("/proc/stat", encoding="ascii") as f:
        user, nice, system, idle, iowait, irq, softirq, steal = (int(v) for v in f.readline().split()[1:9])
    busy = user + nice + system + irq + softirq + steal
    return busy, busy + idle + iowait


def busy_cores(window: float = BUSY_WINDOW) -> float | None:
    """How many cores were busy over the next ``window`` seconds (this thread sleeps meanwhile, so the
    figure is everything else: other processes, and other threads of this one, e.g. other students'
    sessions in a Streamlit server); None where /proc/stat cannot be read."""
    try:
        busy0, all0 = _busy_ticks()
        time.sleep(window)
        busy1, all1 = _busy_ticks()
    except (OSError, ValueError):
        return None
    if all1 <= all0:
        return None
    return usable_cores() * (busy1 - busy0) / (all1 - all0)


def spare_cores() -> int:
    """Cores that other work leaves free now, at least 1, at most ``MAX_THREADS``.

    Threads pay off only on free cores: on a 2-core machine busy with other jobs, two threads
    trained a sweep no faster than one (each waited for the GIL while the other was held off the
    core), so then training keeps to one thread (benchmarks/sweep.py). "Now" is what the cores did
    over the last tenth of a second (``busy_cores``); the 1-minute load average, used before and
    still where /proc/stat is missing, lags: right after this server had embedded photos it still
    counted that work and kept a sweep on one thread on an idle machine (10.4 s instead of 6.3 s).
    """
    cores = usable_cores()
    busy = busy_cores()
    if busy is None:
        try:
            busy = os.getloadavg()[0]
        except (AttributeError, OSError):  # not available here: assume the cores are free
            busy = 0.0
    return max(1, min(cores, MAX_THREADS, int(cores - busy + 0.5)))


def fit_heads(
    x_train: np.ndarray,
    y_train: np.ndarray,
    n_classes: int,
    x_test: np.ndarray,
    y_test: np.ndarray,
    jobs: Sequence[HeadJob],
    *,
    on_epoch: Callable[[int, EpochStats], None] | None = None,
    on_head: Callable[[int, Head], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    threads: int | None = None,
) -> list[Fitted]:
    """Train every job's head on the same training and held-out samples; one ``Fitted`` per job.

    Callbacks get the job's index first. After each epoch of a job: ``on_head`` gets a copy of the
    head it would keep now (the best so far with early stopping), then ``on_epoch`` its figures.
    ``should_stop`` is asked before each epoch; when it says yes, every unfinished job ends with
    the epochs it has done (``stopped``). With ``patience`` and held-out samples, a job ends after
    the epoch where its test loss has not gone below its lowest for ``patience`` epochs, and keeps
    the weights of the epoch with the lowest test loss.

    Several jobs are shared out over ``threads`` threads (default: one per spare core, see
    ``spare_cores``); callbacks still run on the calling thread. Every job gets the same numbers
    whatever the threads and stacks.
    """
    data = _Data(np.ascontiguousarray(x_train, np.float32), np.asarray(y_train, np.int64),
                 np.eye(n_classes, dtype=np.float32)[np.asarray(y_train, np.int64)],
                 np.ascontiguousarray(x_test, np.float32), np.asarray(y_test, np.int64))
    n_threads = 1 if len(jobs) == 1 else max(1, min(threads or spare_cores(), len(jobs)))
    # One BLAS thread: these matrices are tiny, and a second BLAS thread spin-waiting for a core
    # that another process holds made 50 epochs take 10-30 s instead of 0.5 s (benchmarks/head_training.py).
    with one_blas_thread():
        lanes = [[_Stack(members, jobs, data) for members in lane] for lane in _lanes(jobs, len(data.y_train), n_threads)]
        if len(lanes) == 1:
            _run_lane(lanes[0], on_epoch, on_head, should_stop)
        elif should_stop is not None and should_stop():  # asked before the first epoch, as one lane does
            for stack in (stack for lane in lanes for stack in lane):
                stack.stop()
        elif lanes:
            _run_threads(lanes, on_epoch, on_head, should_stop)
    return [data.fitted[i] for i in range(len(jobs))]
