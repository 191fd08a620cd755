"""The lessons' sentences, measured from real curves: real rock-paper-scissors photos, real MobileNetV2.

A too-large learning rate must be called unstable or diverging because its loss jumped, a
too-small one slow because its loss was still high and falling, and a well-behaved run never
either, whatever its rate.
"""

import math

import numpy as np
import pytest

from tm_core import diagnose as dx
from tm_core import lessons, workflow
from tm_core.evaluation import evaluate_run
from tm_core.loop import EpochStats
from tm_core.training import Run, Split, TrainConfig, init_head, split_per_class, train


@pytest.fixture(scope="module")
def rps40(encoder, rps_train):
    """Embeddings of 40 real photos per class of rock / paper / scissors, one held-out split (15 %)."""
    from conftest import split_photos

    classes, (images, labels, _), _ = split_photos(rps_train, 40, 1)
    x = encoder.encode(images)
    return x, labels, classes, split_per_class(labels, 0.15, 0)


def run_at(data, **config) -> tuple[Run, dx.Diagnosis]:
    x, y, classes, split = data
    run = train(x, y, classes, TrainConfig(**config), split=split)
    return run, dx.diagnose(run, evaluate_run(run, x, y).confusion)


@pytest.mark.slow
def test_a_too_large_rate_is_called_unstable_or_diverging_because_its_loss_jumped(rps40):
    guess = math.log(3)
    for seed in (0, 1, 2):
        run, d = run_at(rps40, learning_rate=0.5, seed=seed)
        assert d.kind in (dx.UNSTABLE, dx.DIVERGED), (seed, d)
        assert max(s.loss for s in run.history) > dx.JUMP * guess  # measured: the loss went far above guessing
        text = " ".join(lessons.diagnosis_sentences(run, diagnosis=d))
        assert "learning rate" in text and "too large" in text and "overfitting" not in text
    # at 0.2 the model ends answering one class for every held-out photo: said, with the class it answers
    x, y, classes, _split = rps40
    run, d = run_at(rps40, learning_rate=0.2)
    confusion = evaluate_run(run, x, y).confusion
    assert d.kind == dx.DIVERGED and d.settings_at_fault
    answered = np.flatnonzero(np.asarray(confusion).sum(0))
    assert len(answered) == 1 and d.figures["one_class"] == classes[answered[0]]
    text = " ".join(lessons.diagnosis_sentences(run, confusion))
    assert f"It answers {classes[answered[0]]} for every test sample." in text
    assert "smaller learning rate" in text and "before changing your samples" in text
    # the epochs lesson of such a run talks of the settings, not of overfitting nor of the data
    story = lessons.lesson_text([("lr 0.2", run)])
    assert "too large" in story and "overfitting" not in story


@pytest.mark.slow
def test_a_too_small_rate_is_called_slow_because_its_loss_is_still_high_and_falling(rps40):
    for seed in (0, 1):
        run, d = run_at(rps40, learning_rate=0.00001, seed=seed)
        assert d.kind == dx.SLOW, (seed, d)
        losses = [s.loss for s in run.history]
        assert losses[-1] >= dx.SLOW_LEFT * losses[0] and losses[-1] < losses[-5]
        text = " ".join(lessons.diagnosis_sentences(run, diagnosis=d))
        assert text.startswith("Learning was slow: after 50 epochs") and f"({losses[-1]:.2f})" in text


@pytest.mark.slow
def test_well_behaved_runs_are_never_called_diverging_unstable_or_slow(rps40):
    for batch in (8, 16, 64):
        for seed in (0, 1, 2):
            run, d = run_at(rps40, learning_rate=0.001, batch_size=batch, seed=seed)
            assert d.kind not in dx.SETTINGS, (batch, seed, d)
            assert max(s.loss for s in run.history) < math.log(3) * 1.5
    _long, d = run_at(rps40, epochs=200)
    assert d.kind == dx.OVERFITTING  # held-out loss lowest early, then rising while train loss falls
    assert d.figures["final_test_loss"] > d.figures["lowest_test_loss"] * dx.ROSE
    short, d = run_at(rps40, epochs=5)
    assert d.kind == dx.TOO_FEW_EPOCHS and short.history[-1].loss < short.history[-3].loss
    assert lessons.diagnosis_sentences(short, diagnosis=d)[-1] == "More epochs would help."


@pytest.mark.slow
def test_the_learning_rate_lesson_names_the_fastest_the_crawling_and_the_unsettled(rps40):
    x, y, classes, split = rps40
    runs = [(f"learning rate {r:g}", train(x, y, classes, TrainConfig(learning_rate=r), split=split))
            for r in workflow.RATE_STEPS]
    text = lessons.lesson_text(runs)
    assert "With learning rate 0.00001 it crawled" in text
    assert "With learning rate 0.5 it never settled" in text or "With learning rate 0.5 it diverged" in text
    fastest = text.split(" the model learned fastest")[0].rsplit("learning rate ", 1)[1]
    run = next(r for label, r in runs if label == f"learning rate {fastest}")
    assert not dx.diagnose(run).settings_at_fault  # the fastest is a steady one, by its own curve
    reached = next(s.epoch for s in run.history if s.accuracy >= lessons.REACHED)
    assert f"reached 90 % by epoch {reached}." in text
    best = max(runs, key=lambda r: max(s.test_accuracy for s in r[1].history))
    assert f"The best test accuracy came with {best[0]}" in text


@pytest.mark.slow
def test_the_batch_size_lesson_counts_updates_and_times_epochs(rps40):
    x, y, classes, split = rps40
    runs = [(f"batch size {b}", train(x, y, classes, TrainConfig(batch_size=b, epochs=10), split=split))
            for b in workflow.BATCH_STEPS]
    n = len(split.train)
    assert [lessons.updates_per_epoch(r) for _, r in runs] == [math.ceil(n / b) for b in workflow.BATCH_STEPS]
    text = lessons.lesson_text(runs)
    assert (f"With batch size 8 the model made {math.ceil(n / 8)} weight updates per epoch; with batch size 256, "
            f"only {math.ceil(n / 256)}.") in text
    small, big = runs[0][1], runs[-1][1]
    assert (f"after the first epoch, train accuracy was {small.history[0].accuracy * 100:.0f} % with batch size 8 and "
            f"{big.history[0].accuracy * 100:.0f} % with batch size 256") in text
    assert f"One epoch took {small.seconds / 10 * 1000:.0f} ms with batch size 8" in text


def history_run(losses, accuracy=0.5, classes=3) -> Run:
    history = [EpochStats(i + 1, loss, accuracy, None, None) for i, loss in enumerate(losses)]
    return Run(TrainConfig(epochs=len(losses)), [f"c{i}" for i in range(classes)], history,
               init_head(4, classes, 3, 0), Split(np.arange(10), np.arange(0)))


def test_diagnosis_rules_on_exact_histories():
    assert dx.diagnose(history_run([1.1, float("nan"), 1.0])).kind == dx.DIVERGED
    assert dx.diagnose(history_run([5.0, 1.09, 1.099, 1.1])).kind == dx.DIVERGED  # jumped, then stuck at guessing
    assert dx.diagnose(history_run([5.0, 0.5, 0.2, 0.1], 0.9)).kind == dx.UNSTABLE  # jumped, then learned
    assert dx.jumps([0.5, 0.8, 0.4, 0.7, 0.3]) == 2 and dx.jumps([0.01, 0.03]) == 0  # tiny rises are no jumps
    assert dx.diagnose(history_run([1.1, 1.05, 1.0, 0.95, 0.9])).kind == dx.SLOW  # 82 % left, still falling
    assert dx.diagnose(history_run([1.0, 0.5, 0.3, 0.2, 0.1])).kind == dx.TOO_FEW_EPOCHS
    assert dx.diagnose(history_run([1.0, 0.1, 0.1, 0.1, 0.1], 1.0)).kind == dx.FINE
    assert dx.diagnose(history_run([])).kind == dx.FINE
    assert dx.one_class([[3, 0], [2, 0]]) == 0 and dx.one_class([[3, 0], [0, 2]]) is None
