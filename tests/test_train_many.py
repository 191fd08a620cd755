"""Training many heads at once (a sweep): every run is the run ``train`` gives alone.

Real embeddings: rock / paper / scissors photos through MobileNetV2 0.35, and their mirror
images as the augmented extra samples.
"""

import threading

import numpy as np
import pytest

from tm_core import heads
from tm_core.errors import InputError
from tm_core.training import TrainConfig, init_head, split_per_class, train, train_many


@pytest.fixture(scope="module")
def rps30(encoder, rps_train):
    """Embeddings of 30 real photos per class, a split, and the mirrored training photos' embeddings."""
    from conftest import split_photos

    classes, (images, labels, _), _ = split_photos(rps_train, 30, 1)
    x = encoder.encode(images)
    split = split_per_class(labels, 0.2, 0)
    extra = (encoder.encode(images[split.train[:20], :, ::-1]), labels[split.train[:20]])
    return x, labels, classes, split, extra


@pytest.fixture(params=[1, 2], ids=["one thread", "two threads"])
def threads(request, monkeypatch):
    """Train on one thread, or on two whatever the machine's load (``spare_cores`` reads it)."""
    monkeypatch.setattr(heads, "spare_cores", lambda: request.param)
    return request.param


def assert_same_run(a, b):
    for w in ("w1", "b1", "w2"):
        np.testing.assert_allclose(getattr(a.head, w), getattr(b.head, w), rtol=0, atol=1e-5)
    assert [s.epoch for s in a.history] == [s.epoch for s in b.history]
    for s, t in zip(a.history, b.history):
        assert s.accuracy == t.accuracy and s.test_accuracy == t.test_accuracy
        assert s.loss == pytest.approx(t.loss, abs=1e-5) and s.test_loss == pytest.approx(t.test_loss, abs=1e-5)
    assert (a.stopped, a.early_stopped_at, a.kept_epoch) == (b.stopped, b.early_stopped_at, b.kept_epoch)
    assert a.config == b.config and a.split is b.split


MIX = [  # epochs, batch size, learning rate, seed, hidden units, early stopping (patience)
    TrainConfig(epochs=8, batch_size=16, learning_rate=0.001, seed=0),
    TrainConfig(epochs=5, batch_size=16, learning_rate=0.01, seed=1),
    TrainConfig(epochs=8, batch_size=16, learning_rate=0.001, seed=2, hidden_units=32),
    TrainConfig(epochs=12, batch_size=7, learning_rate=0.5, seed=0),
    TrainConfig(epochs=30, batch_size=8, learning_rate=0.05, seed=3, early_stopping=True, patience=2),
    TrainConfig(epochs=10, batch_size=500, learning_rate=0.0001, seed=4),
    TrainConfig(epochs=6, batch_size=64, learning_rate=0.001, seed=0, early_stopping=True, patience=10),
]


def test_each_run_is_the_run_train_gives_alone(rps30, threads):
    x, y, classes, split, extra = rps30
    seen = {i: [] for i in range(len(MIX))}
    threads = set()

    def on_epoch(i, stats):
        seen[i].append(stats)
        threads.add(threading.current_thread())

    runs = train_many(x, y, classes, MIX, split=split, extra=extra, on_epoch=on_epoch)
    alone = [train(x, y, classes, c, split=split, extra=extra) for c in MIX]
    for i, (a, b) in enumerate(zip(runs, alone)):
        assert_same_run(a, b)
        assert seen[i] == a.history  # every epoch reported, in order
    assert threads == {threading.current_thread()}  # callbacks on the calling thread (Streamlit draws only there)
    assert [len(r.history) for r in runs][:4] == [8, 5, 8, 12]
    assert runs[4].early_stopped_at is not None and len(runs[4].history) < 30  # early stopping ended that one
    assert not any(r.stopped for r in runs) and all(r.seconds > 0 for r in runs)
    assert runs[3].history[-1].accuracy != runs[0].history[-1].accuracy or runs[3].history != runs[0].history


def test_small_heads_share_one_product_and_still_train_as_alone(rps30, threads):
    """Heads with one batch size and a small hidden layer train as a stack, leaving it one by one."""
    from tm_core.heads import HeadJob, _lanes

    x, y, classes, split, _ = rps30
    configs = [TrainConfig(epochs=e, batch_size=16, learning_rate=lr, seed=s, hidden_units=8, early_stopping=es)
               for e, lr, s, es in [(9, 0.001, 0, False), (4, 0.01, 1, False), (20, 0.05, 2, True), (9, 0.001, 3, False),
                                    (6, 0.5, 0, False), (20, 0.05, 4, True)]]
    jobs = [HeadJob(init_head(x.shape[1], 3, 8, c.seed), c.epochs, 16, c.learning_rate, c.seed) for c in configs]
    assert max(len(stack) for lane in _lanes(jobs, len(split.train), threads) for stack in lane) >= 3
    runs = train_many(x, y, classes, configs, split=split)
    for run, config in zip(runs, configs):
        assert_same_run(run, train(x, y, classes, config, split=split))
    assert [len(r.history) for r in runs][:2] == [9, 4]


def test_early_stopping_is_each_runs_own(rps30):
    x, y, classes, split, _ = rps30
    configs = [TrainConfig(epochs=30, batch_size=16, learning_rate=0.05, seed=3, early_stopping=True, patience=p)
               for p in (1, 2, 4)] + [TrainConfig(epochs=30, batch_size=16, learning_rate=0.05, seed=3)]
    runs = train_many(x, y, classes, configs, split=split)
    for run, config in zip(runs, configs):
        assert_same_run(run, train(x, y, classes, config, split=split))
    stops = [r.early_stopped_at for r in runs]
    assert stops[0] is not None and stops[0] < stops[1] < (stops[2] or 31) and stops[3] is None
    assert len(runs[3].history) == 30
    for run in runs[:3]:  # the head kept is the lowest test loss epoch's, not the last one's
        assert run.kept_epoch == min(run.history, key=lambda s: s.test_loss).epoch < len(run.history)


def test_stop_keeps_the_epochs_every_run_has_done(rps30, threads):
    x, y, classes, split, _ = rps30
    configs = [TrainConfig(epochs=40, batch_size=b, learning_rate=lr, seed=s)
               for b, lr, s in [(8, 0.001, 0), (16, 0.01, 1), (16, 0.001, 2), (64, 0.1, 0)]]
    calls = []
    runs = train_many(x, y, classes, configs, split=split, on_epoch=lambda i, s: calls.append(i),
                      should_stop=lambda: len(calls) >= 10)
    assert all(r.stopped and len(r.history) < 40 for r in runs)
    assert sum(len(r.history) for r in runs) >= 10
    for run, config in zip(runs, configs):
        done = len(run.history)
        if done == 0:  # never started: the initial head
            np.testing.assert_array_equal(run.head.w1, init_head(x.shape[1], 3, 100, config.seed).w1)
            continue
        alone = train(x, y, classes, TrainConfig(**{**config.__dict__, "epochs": done}), split=split)
        np.testing.assert_allclose(run.head.w1, alone.head.w1, rtol=0, atol=1e-5)  # the head of its last epoch
        assert run.history == alone.history


def test_stop_before_the_first_epoch_and_an_empty_list(rps30, threads):
    x, y, classes, split, _ = rps30
    runs = train_many(x, y, classes, MIX[:3], split=split, should_stop=lambda: True)
    assert [(r.stopped, r.history) for r in runs] == [(True, [])] * 3
    assert train_many(x, y, classes, [], split=split) == []


def test_an_error_in_a_callback_ends_every_run_and_is_raised(rps30, threads):
    x, y, classes, split, _ = rps30

    def on_epoch(i, stats):
        if stats.epoch == 2:
            raise RuntimeError("the page went away")

    with pytest.raises(RuntimeError, match="page went away"):
        train_many(x, y, classes, MIX[:4], split=split, on_epoch=on_epoch)
    assert not [t for t in threading.enumerate() if t.name.startswith("heads-lane")]  # no training left running


def test_bad_settings_are_refused_with_their_name(rps30):
    x, y, classes, split, _ = rps30
    with pytest.raises(InputError, match="batch size"):
        train_many(x, y, classes, [TrainConfig(), TrainConfig(batch_size=0)], split=split)
    with pytest.raises(InputError, match="two classes"):
        train_many(x, y * 0, classes, [TrainConfig()], split=split)


def test_spare_cores_sees_the_cores_other_work_holds_now_not_a_minute_ago():
    """Real busy processes, one per core: ``busy_cores`` sees them and a sweep keeps to one thread; a moment
    after they end the cores read free again (the 1-minute load average, used before, still counted them)."""
    import subprocess
    import sys
    import time

    cores = heads.usable_cores()
    burn = "import time\nend = time.monotonic() + 10\nwhile time.monotonic() < end:\n    pass\n"
    burners = [subprocess.Popen([sys.executable, "-c", burn]) for _ in range(cores)]
    try:
        time.sleep(0.5)
        busy = heads.busy_cores(0.3)
        assert busy is not None and busy >= 0.7 * cores, busy
        assert heads.spare_cores() == 1
    finally:
        for p in burners:
            p.kill()
            p.wait(10)
    time.sleep(0.3)
    after = heads.busy_cores(0.3)
    assert after is not None and after < busy - 0.5 * cores, (busy, after)
