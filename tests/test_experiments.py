"""Several runs compared: tidy frames, best epoch, summaries, sweeps and the lesson in words."""

import re

import numpy as np
import pandas as pd
import pytest

from tm_core.experiments import (
    HISTORY_COLUMNS,
    SUMMARY_COLUMNS,
    best_epoch,
    epoch_sweep,
    first_per_class,
    history_frame,
    samples_sweep,
    summary_frame,
)
from tm_core.lessons import lesson_text
from tm_core.training import EpochStats, Run, Split, TrainConfig, init_head, split_per_class, train


def blobs(n_per_class=40, k=3, d=16, seed=0, spread=2.5):
    """Overlapping Gaussian blobs: a head learns them, and can overfit them."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d)) * 1.5
    x = np.concatenate([centres[c] + spread * rng.normal(size=(n_per_class, d)) for c in range(k)]).astype(np.float32)
    return x, np.repeat(np.arange(k), n_per_class), [f"Class {i + 1}" for i in range(k)]


def make_run(train_acc, test_acc=None, test_loss=None, train_loss=None, n_train=30, n_test=20, **config):
    """A run with exactly this history (a dummy head): for testing the bookkeeping to the digit."""
    n = len(train_acc)
    train_loss = train_loss or [1.0 / (e + 1) for e in range(n)]
    history = [
        EpochStats(e + 1, train_loss[e], train_acc[e], test_loss[e] if test_loss else None, test_acc[e] if test_acc else None)
        for e in range(n)
    ]
    cfg = TrainConfig(epochs=max(n, 1), **config)
    split = Split(np.arange(n_train), np.arange(n_train, n_train + n_test))
    return Run(cfg, ["a", "b"], history, init_head(4, 2, 3, 0), split)


# ---------------------------------------------------------------------------------------------
# Frames and best epoch


def test_history_frame_is_tidy_with_exact_values():
    a = make_run([0.5, 0.75], [0.4, 0.6], [1.2, 0.9], train_loss=[1.0, 0.5])
    b = make_run([0.25], n_test=0)  # no held-out samples: train rows only
    df = history_frame([("A", a), ("B", b)])
    assert list(df.columns) == HISTORY_COLUMNS and len(df) == 2 * 4 + 1 * 2
    assert df["epoch"].dtype == np.int64 and df["value"].dtype == np.float64
    assert df["run"].drop_duplicates().tolist() == ["A", "B"]
    got = {(r.run, r.epoch, r.metric, r.split): r.value for r in df.itertuples()}
    assert got == {
        ("A", 1, "accuracy", "train"): 0.5, ("A", 1, "loss", "train"): 1.0,
        ("A", 1, "accuracy", "test"): 0.4, ("A", 1, "loss", "test"): 1.2,
        ("A", 2, "accuracy", "train"): 0.75, ("A", 2, "loss", "train"): 0.5,
        ("A", 2, "accuracy", "test"): 0.6, ("A", 2, "loss", "test"): 0.9,
        ("B", 1, "accuracy", "train"): 0.25, ("B", 1, "loss", "train"): 1.0,
    }  # fmt: skip
    assert set(df.loc[df["run"] == "B", "split"]) == {"train"}


def test_history_frame_of_no_epochs_is_empty_with_its_columns():
    empty = history_frame([("stopped at once", make_run([]))])
    assert empty.empty and list(empty.columns) == HISTORY_COLUMNS
    assert history_frame([]).columns.tolist() == HISTORY_COLUMNS


def test_best_epoch_highest_test_accuracy_then_lowest_loss_then_earliest():
    run = make_run([0.5] * 5, [0.5, 0.8, 0.8, 0.8, 0.7], [1.0, 0.4, 0.3, 0.3, 0.2])
    assert best_epoch(run) == 3  # 0.8 three times; loss 0.3 twice; the earlier
    assert best_epoch(make_run([0.5, 0.6], [0.9, 0.9], [0.5, 0.5])) == 1
    assert best_epoch(make_run([0.5, 0.6], n_test=0)) is None
    assert best_epoch(make_run([])) is None


def test_summary_frame_one_row_per_run_with_exact_values():
    a = make_run([0.5, 0.9, 1.0], [0.4, 0.8, 0.7], [1.0, 0.5, 0.6], n_train=34, n_test=6, batch_size=8, learning_rate=0.01)
    a.stopped = True
    b = make_run([0.6], n_train=10, n_test=0)
    df = summary_frame([("a", a), ("b", b)])
    assert list(df.columns) == SUMMARY_COLUMNS and len(df) == 2
    ra, rb = df.iloc[0].to_dict(), df.iloc[1].to_dict()
    assert pd.isna(ra.pop("kept_epoch"))  # trained without early stopping: the model is the last epoch's
    assert ra == {
        "run": "a", "epochs": 3, "batch_size": 8, "learning_rate": 0.01, "train_samples": 34, "test_samples": 6,
        "final_train_accuracy": 1.0, "final_test_accuracy": 0.7, "best_test_accuracy": 0.8, "best_epoch": 2,
        "final_gap": pytest.approx(0.3), "stopped": True,
    }  # fmt: skip
    assert rb["epochs"] == 1 and rb["final_train_accuracy"] == 0.6 and not rb["stopped"]
    assert all(pd.isna(rb[c]) for c in ("final_test_accuracy", "best_test_accuracy", "best_epoch", "final_gap"))


# ---------------------------------------------------------------------------------------------
# Sweeps


def test_epoch_sweep_shares_one_split_and_each_run_is_a_prefix_of_the_longer():
    x, y, names = blobs()
    calls = []
    runs = epoch_sweep(x, y, names, epochs=(1, 5, 20), config=TrainConfig(seed=3), on_epoch=lambda i, s: calls.append((i, s.epoch)))
    assert [label for label, _ in runs] == ["1 epoch", "5 epochs", "20 epochs"]
    assert [len(r.history) for _, r in runs] == [1, 5, 20] and not any(r.stopped for _, r in runs)
    first = runs[0][1].split
    for _, r in runs:
        np.testing.assert_array_equal(r.split.test, first.test)
        np.testing.assert_array_equal(r.split.train, first.train)
        assert r.info["sweep"] == "epochs"
    assert runs[1][1].history == runs[2][1].history[:5]  # same init, same shuffles: comparable curves
    assert calls == [(0, e) for e in range(1, 21)]  # one training: the shorter runs are its first epochs
    alone = train(x, y, names, TrainConfig(seed=3, epochs=5), split=first)  # exactly what 5 epochs alone give
    assert alone.history == runs[1][1].history and runs[1][1].config.epochs == 5
    for a, b in zip((alone.head.w1, alone.head.b1, alone.head.w2), (runs[1][1].head.w1, runs[1][1].head.b1, runs[1][1].head.w2)):
        np.testing.assert_array_equal(a, b)


def test_stop_ends_the_sweep_after_the_current_epoch_and_keeps_the_partial_run():
    x, y, names = blobs()
    seen = []
    kept = []
    runs = epoch_sweep(x, y, names, epochs=(5, 20, 50), on_epoch=lambda i, s: seen.append(i), should_stop=lambda: len(seen) >= 8,
                       on_run=lambda label, run: kept.append(label))
    assert [(label, len(r.history), r.stopped) for label, r in runs] == [("5 epochs", 5, False), ("50 epochs", 8, True)]
    assert kept == ["5 epochs", "50 epochs"]  # each handed over as soon as it was complete
    seen.clear()  # a stop right at the end of a run: that run is whole, the next never starts
    runs = samples_sweep(x, y, names, per_class=(5, None), on_epoch=lambda i, s: seen.append(i), should_stop=lambda: len(seen) >= 50)
    assert [(len(r.history), r.stopped) for _, r in runs] == [(50, False)]
    assert epoch_sweep(x, y, names, should_stop=lambda: True) == []


def test_samples_sweep_trains_on_the_first_n_of_each_class_and_tests_on_the_same_samples():
    x, y, names = blobs(n_per_class=40)
    runs = samples_sweep(x, y, names, per_class=(2, 5, None, 100), config=TrainConfig(epochs=10))
    # 15 % of 40 held out = 6, so 34 left per class; 100 per class is the same set as "all" and is skipped
    assert [label for label, _ in runs] == ["2 per class", "5 per class", "all (34 per class)"]
    full = runs[-1][1].split
    for (_label, run), n in zip(runs, (2, 5, 34)):
        np.testing.assert_array_equal(run.split.test, full.test)
        assert len(run.split.train) == 3 * n and len(np.intersect1d(run.split.train, run.split.test)) == 0
        for c in range(3):
            in_class = full.train[y[full.train] == c]
            np.testing.assert_array_equal(run.split.train[y[run.split.train] == c], in_class[:n])
        assert run.info["per_class"] == (None if n == 34 else n) and len(run.history) == 10


def test_samples_sweep_random_order_nests_smaller_sets_in_larger_ones():
    x, y, names = blobs(n_per_class=30, seed=1)
    runs = samples_sweep(x, y, names, per_class=(3, 8), order="random", config=TrainConfig(epochs=2, seed=5))
    small, big = (r.split.train for _, r in runs)
    assert set(small) < set(big) and len(small) == 9 and len(big) == 24
    full = split_per_class(y, 0.15, 5)
    np.testing.assert_array_equal(runs[0][1].split.test, full.test)
    assert not np.array_equal(small, first_per_class(y, full.train, 3))  # not simply the first ones
    again = samples_sweep(x, y, names, per_class=(3,), order="random", config=TrainConfig(epochs=2, seed=5))
    np.testing.assert_array_equal(again[0][1].split.train, small)
    with pytest.raises(ValueError):
        samples_sweep(x, y, names, per_class=(3,), order="sorted")


def test_uneven_classes_are_labelled_with_their_range():
    x, y, names = blobs(n_per_class=40)
    keep = np.r_[0:40, 40:60, 80:120]  # 40, 20, 40 samples: 34, 17, 34 to train on
    runs = samples_sweep(x[keep], y[keep], names, per_class=(20, None), config=TrainConfig(epochs=1))
    assert [label for label, _ in runs] == ["20 per class", "all (17–34 per class)"]


# ---------------------------------------------------------------------------------------------
# The lesson


def sentences(text):
    return [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]


def test_lesson_when_test_accuracy_peaks_then_falls_and_test_loss_rises():
    run = make_run(
        [0.6, 0.9, 1.0, 1.0, 1.0, 1.0],
        [0.6, 0.8, 0.9, 0.85, 0.8, 0.8],
        [0.9, 0.5, 0.3, 0.35, 0.5, 0.6],
        train_loss=[0.9, 0.4, 0.1, 0.05, 0.02, 0.01],
    )
    text = lesson_text([("6 epochs", run)])
    assert 2 <= len(sentences(text)) <= 4
    assert "reached 100 % by epoch 3 and stayed there" in text
    assert "best at epoch 3 (90 %) and ended at 80 %" in text and "2 fewer of the 20 test pictures" in text
    assert "Test loss was lowest at epoch 3 (0.30) and rose to 0.60" in text and "train loss kept falling" in text


def test_lesson_never_claims_a_fall_that_the_numbers_do_not_show():
    # best 90 % at epoch 2, then 88 %: one picture of 50, noise, not a fall
    run = make_run([0.7, 0.95, 1.0, 1.0], [0.8, 0.9, 0.9, 0.88], [0.5, 0.3, 0.32, 0.31], n_test=50)
    text = lesson_text([("4 epochs", run)])
    assert "levelled off" in text and "best at epoch 2 (90 %)" in text and "between 88 % and 90 %" in text
    assert "ended at" not in text and "learned details" not in text and "rose" not in text
    assert "Test loss was lowest at epoch 2 (0.30) and stayed close" in text

    improving = make_run([0.5, 0.7, 0.8], [0.4, 0.6, 0.7], [1.0, 0.8, 0.6])
    text = lesson_text([("3 epochs", improving)])
    assert "still at its best at the last epoch (70 % at epoch 3)" in text and "still falling" in text
    assert "100 %" not in text and "kept rising, from 50 % at epoch 1 to 80 % at epoch 3" in text

    text = lesson_text([("no test", make_run([0.5, 1.0], n_test=0))])
    assert "no test pictures" in text and "best" not in text
    assert "nothing to compare" in lesson_text([("empty", make_run([]))])


def test_lesson_of_a_samples_sweep_compares_the_smallest_and_largest_sets():
    small = make_run([1.0, 1.0], [0.5, 0.45], [1.0, 1.2], n_train=15, n_test=60)
    big = make_run([0.9, 1.0], [0.8, 0.9], [0.5, 0.4], n_train=300, n_test=60)
    text = lesson_text([("5 per class", small), ("all (100 per class)", big)])
    assert "on 5 per class, the model ended at 100 % train and 45 % test" in text
    assert "27 more of the 60 test pictures right" in text and "from 55 to 10 points" in text
    assert "best test accuracy at epoch 2 (90 %)" in text and len(sentences(text)) <= 4


# ---------------------------------------------------------------------------------------------
# Real photos


@pytest.fixture(scope="module")
def rps_small(encoder, rps_train):
    """Embeddings of 20 real photos per class of rock / paper / scissors (computed once)."""
    from conftest import split_photos

    classes, (images, labels, _), _ = split_photos(rps_train, 20, 1)
    return encoder.encode(images), labels, classes


def test_sweeps_on_real_embeddings(rps_small):
    x, y, classes = rps_small
    config = TrainConfig(seed=0)
    runs = epoch_sweep(x, y, classes, epochs=(5, 60), config=config)
    assert [(label, len(r.history)) for label, r in runs] == [("5 epochs", 5), ("60 epochs", 60)]
    test = runs[0][1].split.test
    assert len(test) == 9  # 15 % of 20 = 3 held out per class
    np.testing.assert_array_equal(runs[1][1].split.test, test)
    long = runs[1][1]
    assert long.history[-1].accuracy == 1.0 >= long.history[-1].test_accuracy  # it learns its training set
    assert long.history[-1].loss < long.history[0].loss
    b = best_epoch(long)
    best_acc = long.history[b - 1].test_accuracy
    assert best_acc == max(s.test_accuracy for s in long.history) and best_acc > 1 / 3
    text = lesson_text(runs)
    assert f"epoch {b}" in text and f"({best_acc * 100:.0f} %)" in text

    sized = samples_sweep(x, y, classes, per_class=(5, None), config=TrainConfig(epochs=30))
    assert [label for label, _ in sized] == ["5 per class", "all (17 per class)"]
    for _, run in sized:
        np.testing.assert_array_equal(run.split.test, test)  # the same held-out photos for every run
        assert run.history[-1].accuracy >= run.history[-1].test_accuracy
    summary = summary_frame(sized)
    assert summary["train_samples"].tolist() == [15, 51] and summary["test_samples"].tolist() == [9, 9]
    assert str(best_epoch(sized[-1][1])) in lesson_text(sized)
