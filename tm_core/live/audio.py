"""The live microphone through the model: the last second classified every hop. Never calls Streamlit."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import soxr

from tm_core import media
from tm_core.live.base import LiveModel, Predicts, logger


class LiveAudioPrediction(LiveModel):
    """Classifies the microphone's last second, every ``hop_seconds``; the page polls ``latest()``.

    ``on_audio(samples, rate)`` takes any chunk of sound (mono ``(n,)`` or ``(n, channels)``,
    float in [-1, 1] or int16/int32 PCM, any rate): it is mixed to mono, resampled to 16 kHz
    (one ``soxr.ResampleStream`` per rate, so chunk edges are seamless) and kept in a 1-second ring
    buffer. Once the buffer is full, each time ``hop_seconds`` of new sound has arrived the last
    second is predicted — in a background thread (``threaded``, the default: the audio thread never
    waits for the model; a hop that comes while a prediction runs is taken as soon as it ends) or
    inline (``threaded=False``, for tests). Probabilities are smoothed (:class:`~tm_core.predict.Smoother`).
    Thread-safe; never calls Streamlit.
    """

    def __init__(self, predictor: Predicts | None = None, hop_seconds: float = 0.5, alpha: float = 0.5,
                 threaded: bool = True):
        super().__init__(alpha)
        self.hop_seconds = hop_seconds
        self.threaded = threaded
        self._ring = np.zeros(media.SAMPLE_RATE, np.float32)
        self._filled = 0  # samples in the ring (up to one second)
        self._since = 0  # samples received since the last prediction started
        self._resampler = None
        self._rate: int | None = None
        self._raw: np.ndarray | None = None
        self._chunks = 0
        self._predictions = 0
        self._latency_ms: list[float] = []
        self.set_predictor(predictor)

    def _forget_probs(self) -> None:  # not the sound heard
        super()._forget_probs()
        self._raw = None

    @property
    def hop_seconds(self) -> float:
        return self._hop / media.SAMPLE_RATE

    @hop_seconds.setter
    def hop_seconds(self, seconds: float) -> None:
        if not 0 < seconds <= 10:
            raise ValueError("hop_seconds must be above 0 and at most 10")
        self._hop = max(1, round(seconds * media.SAMPLE_RATE))

    # -- the audio thread ------------------------------------------------------------------

    @staticmethod
    def _mono_float(samples: np.ndarray) -> np.ndarray:
        x = np.asarray(samples)
        if np.issubdtype(x.dtype, np.integer):
            x = x.astype(np.float32) / float(np.iinfo(x.dtype).max + 1)
        x = x.astype(np.float32, copy=False)
        if x.ndim == 2:
            x = x.mean(axis=1)
        elif x.ndim != 1:
            raise ValueError(f"audio chunk must be (n,) or (n, channels), not {x.shape}")
        return x

    def on_audio(self, samples: np.ndarray, rate: int) -> None:
        """Hear one chunk of sound (see the class docstring); may start a prediction."""
        x = self._mono_float(samples)
        rate = int(rate)
        with self._lock:
            self._chunks += 1
            if rate != self._rate:
                self._rate = rate
                self._resampler = None if rate == media.SAMPLE_RATE else soxr.ResampleStream(
                    rate, media.SAMPLE_RATE, 1, dtype="float32")
            y = x if self._resampler is None else self._resampler.resample_chunk(x)
            y = np.asarray(y, np.float32).reshape(-1)[-media.SAMPLE_RATE:]
            n = len(y)
            if n:
                self._ring = np.concatenate([self._ring[n:], y])
                self._filled = min(media.SAMPLE_RATE, self._filled + n)
                self._since += n
            window = self._take_window()
        if window is not None:
            self._start(*window)

    def _take_window(self):
        """Under the lock: (predictor, generation, window) when a prediction is due, else None."""
        predictor = self._predictor
        if (predictor is None or self._closed or self._busy or self._filled < media.SAMPLE_RATE
                or self._since < self._hop):
            return None
        self._busy = True
        self._since = 0
        return predictor, self._generation, self._ring.copy()

    def _start(self, predictor, generation, window) -> None:
        if not self.threaded:
            self._predict(predictor, generation, window)
            return
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tm-live-audio")
            executor = self._executor
        try:
            executor.submit(self._predict, predictor, generation, window)
        except Exception:  # noqa: BLE001 - a closed executor: skip
            with self._lock:
                self._busy = False

    def _predict(self, predictor, generation: int, window: np.ndarray) -> None:
        try:
            begin = time.monotonic()
            probs = np.asarray(predictor.predict(window), np.float64)
            end = time.monotonic()
            with self._lock:
                if generation == self._generation:
                    self._raw = probs
                    self._probs = self.smoother.update(probs)
                    self._predictions += 1
                    self._latency_ms = (self._latency_ms + [(end - begin) * 1000])[-100:]
        except Exception:  # noqa: BLE001 - one bad window must not end the stream
            logger.exception("live audio prediction failed")
        finally:
            with self._lock:
                self._busy = False
                again = self._take_window()  # a hop that came while predicting
            if again is not None:
                self._start(*again)

    # -- reading, from the script thread ---------------------------------------------------

    def latest(self) -> np.ndarray | None:
        """The smoothed probabilities of the last predictions (None before the first second is heard)."""
        with self._lock:
            return None if self._probs is None else self._probs.copy()

    def level(self) -> float:
        """Loudness of the last second heard (RMS, 0..1), for a level meter."""
        with self._lock:
            return float(np.sqrt(np.mean(self._ring**2))) if self._filled else 0.0

    def stats(self) -> dict:
        with self._lock:
            lat = self._latency_ms
            return {"chunks": self._chunks, "predictions": self._predictions, "heard_s": self._filled / media.SAMPLE_RATE,
                    "latency_ms": float(np.median(lat)) if lat else None,
                    "last": None if self._raw is None else self._raw.copy()}

    def wait(self, timeout: float = 10.0) -> None:
        """Until no prediction is running (for tests)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self._lock:
                if not self._busy:
                    return
            time.sleep(0.005)

    def reset(self) -> None:
        """Forget what was heard and predicted (e.g. when the microphone stops)."""
        with self._lock:
            self._generation += 1
            self._ring[:] = 0
            self._filled = self._since = self._chunks = self._predictions = 0
            self._resampler, self._rate = None, None
            self._probs = self._raw = None
            self._latency_ms = []
            self.smoother.reset()
