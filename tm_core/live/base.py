"""What the live views share: a swappable model, smoothed probabilities, one prediction thread.

The camera or microphone thread offers frames; the page's thread reads the latest answer. Every
object here is guarded by its own lock and never calls Streamlit.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

import numpy as np

from tm_core.predict import Smoother

logger = logging.getLogger(__name__)


class Predicts(Protocol):
    class_names: list[str]

    def predict(self, images: np.ndarray) -> np.ndarray: ...


class RateMeter:
    """Events per second, over a sliding window of the last ``window`` seconds."""

    def __init__(self, window: float = 2.0):
        self.window = window
        self.times: list[float] = []

    def tick(self, now: float) -> None:
        self.times.append(now)
        cut = now - self.window
        while self.times and self.times[0] < cut:
            self.times.pop(0)

    def rate(self, now: float) -> float:
        times = [t for t in self.times if t >= now - self.window]
        if len(times) < 2:
            return 0.0
        return (len(times) - 1) / max(times[-1] - times[0], 1e-6)


class LiveModel:
    """What both live views share: a swappable model, smoothed probabilities, a prediction thread.

    ``_generation`` counts model swaps and resets, so a prediction that finishes after one is dropped.
    """

    def __init__(self, alpha: float):
        self._lock = threading.Lock()
        self._predictor: Predicts | None = None
        self._generation = 0
        self.smoother = Smoother(alpha)
        self._executor: ThreadPoolExecutor | None = None
        self._busy = False
        self._closed = False
        self._probs: np.ndarray | None = None

    @property
    def predictor(self) -> Predicts | None:
        with self._lock:
            return self._predictor

    def _forget_probs(self) -> None:
        """Clear the probabilities (called with the lock held)."""
        self._probs = None
        self.smoother.reset()

    def set_predictor(self, predictor: Predicts | None) -> None:
        """Swap the model (``None``: no predictions); clears the smoothed probabilities.

        In a Streamlit server, swap it with ``tm_core.ui.webrtc.use_model``, which also keeps TensorFlow's
        caches and the garbage collector quiet: without that, live video stutters.
        """
        with self._lock:
            if predictor is self._predictor:
                return
            self._predictor = predictor
            self._generation += 1
            self._forget_probs()

    @property
    def class_names(self) -> list[str]:
        p = self.predictor
        return list(p.class_names) if p is not None else []

    def close(self) -> None:
        """Stop the prediction thread (after the running prediction, if any)."""
        with self._lock:
            self._closed = True
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
