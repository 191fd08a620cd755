"""tm_core.evaluation: accuracy, per-class accuracy, confusion matrix and mistakes, on a real run."""

import numpy as np
import pytest

from tm_core.evaluation import evaluate, evaluate_run
from tm_core.training import TrainConfig, train


def test_confusion_per_class_and_mistakes_most_confident_first():
    names = ["rock", "paper", "scissors"]
    probs = np.array([
        [0.9, 0.05, 0.05],  # rock, right
        [0.2, 0.7, 0.1],    # rock, said paper (0.7)
        [0.1, 0.8, 0.1],    # paper, right
        [0.05, 0.05, 0.9],  # paper, said scissors (0.9)
        [0.3, 0.3, 0.4],    # scissors, right
    ])
    ev = evaluate(probs, np.array([0, 0, 1, 1, 2]), names)
    assert ev.accuracy == pytest.approx(3 / 5)
    assert ev.per_class == {"rock": 0.5, "paper": 0.5, "scissors": 1.0}
    assert ev.support == {"rock": 2, "paper": 2, "scissors": 1}
    np.testing.assert_array_equal(ev.confusion, [[1, 1, 0], [0, 1, 1], [0, 0, 1]])
    assert [(m.index, m.true, m.predicted) for m in ev.mistakes] == [(3, "paper", "scissors"), (1, "rock", "paper")]
    assert ev.mistakes[0].confidence == pytest.approx(0.9)
    d = ev.to_dict()
    assert d["n"] == 5 and d["confusion"] == ev.confusion.tolist() and d["class_names"] == names


def test_nothing_to_evaluate_says_none_not_zero():
    ev = evaluate(np.zeros((0, 2)), np.zeros(0, np.int64), ["a", "b"])
    assert ev.accuracy is None and ev.per_class == {"a": None, "b": None} and ev.mistakes == []
    ev = evaluate(np.array([[0.2, 0.8]]), np.array([1]), ["a", "b"])
    assert ev.per_class == {"a": None, "b": 1.0}  # a class with no evaluated sample has no accuracy


def test_evaluate_run_is_the_head_on_its_own_held_out_samples(encoder, rps_split):
    classes, (x, y, _), _ = rps_split
    features = encoder.encode(x)
    run = train(features, y, classes, TrainConfig(epochs=20, test_fraction=0.3))
    ev = evaluate_run(run, features, y)
    assert sum(ev.support.values()) == len(run.split.test) > 0
    expected = evaluate(run.head.predict_proba(features[run.split.test]), y[run.split.test], classes)
    assert ev.accuracy == expected.accuracy and np.array_equal(ev.confusion, expected.confusion)
    # the same figure the run's history reports for its last epoch, and better than chance on real photos
    assert ev.accuracy == pytest.approx(run.history[-1].test_accuracy)
    assert ev.accuracy > 0.6
