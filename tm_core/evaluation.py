"""How good is a model: accuracy, per-class accuracy, confusion matrix, mistakes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Mistake:
    index: int  # position in the evaluated set
    true: str
    predicted: str
    confidence: float  # probability given to the predicted class


@dataclass
class Evaluation:
    class_names: list[str]
    accuracy: float | None  # None when there was nothing to evaluate
    per_class: dict[str, float | None]  # None for a class with no evaluated samples
    support: dict[str, int]  # evaluated samples per class
    confusion: np.ndarray  # rows: true class, columns: predicted class
    mistakes: list[Mistake]

    def to_dict(self) -> dict:
        return {
            "accuracy": self.accuracy,
            "per_class": self.per_class,
            "support": self.support,
            "class_names": self.class_names,
            "confusion": self.confusion.tolist(),
            "n": int(self.confusion.sum()),
        }


def evaluate(probs: np.ndarray, labels: np.ndarray, class_names: list[str]) -> Evaluation:
    """Compare predicted probabilities (n, k) with true integer labels (n,)."""
    probs = np.asarray(probs, np.float64).reshape(len(labels), len(class_names))
    labels = np.asarray(labels, np.int64)
    k = len(class_names)
    pred = probs.argmax(1) if len(labels) else np.zeros(0, np.int64)
    confusion = np.zeros((k, k), np.int64)
    np.add.at(confusion, (labels, pred), 1)
    support = confusion.sum(1)
    per_class = {
        name: (float(confusion[i, i] / support[i]) if support[i] else None) for i, name in enumerate(class_names)
    }
    mistakes = [
        Mistake(int(i), class_names[labels[i]], class_names[pred[i]], float(probs[i, pred[i]]))
        for i in np.flatnonzero(pred != labels)
    ]
    mistakes.sort(key=lambda m: -m.confidence)
    accuracy = float((pred == labels).mean()) if len(labels) else None
    return Evaluation(list(class_names), accuracy, per_class, dict(zip(class_names, support.tolist())), confusion, mistakes)


def evaluate_run(run, features: np.ndarray, labels: np.ndarray) -> Evaluation:
    """A run's head on its own held-out samples (``features``/``labels`` of the whole dataset)."""
    idx = run.split.test
    return evaluate(run.head.predict_proba(features[idx]), np.asarray(labels)[idx], run.class_names)
