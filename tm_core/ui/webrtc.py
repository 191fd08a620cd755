"""Live video glue for streamlit-webrtc: what the camera pages hand to ``webrtc_streamer``.

The video callback runs in a streamlit-webrtc worker thread, never in the script thread, and
it is re-created on every rerun. So nothing here calls ``st.*`` or touches
``st.session_state`` from a frame: the page creates (or finds) one :class:`BurstRecorder`
and one :class:`LivePrediction` per browser session with :func:`session_object`, hands them
to :func:`video_callback`, and reads them back while polling (``status()``, ``take()``,
``latest()``). Both are guarded by their own locks.

Typical page::

    import streamlit_webrtc  # before anything that imports TensorFlow
    from tm_core.ui import webrtc

    live = webrtc.session_object("live", webrtc.LivePrediction)
    recorder = webrtc.session_object("burst", webrtc.BurstRecorder)
    ctx = streamlit_webrtc.webrtc_streamer(
        key="camera",
        rtc_configuration=webrtc.rtc_configuration(),
        media_stream_constraints={"video": True, "audio": False},
        video_frame_callback=webrtc.video_callback(recorder, live),
    )
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Protocol, TypeVar

import numpy as np
import streamlit as st
from PIL import Image, ImageDraw, ImageFont

from tm_core import media
from tm_core.ui import state

logger = logging.getLogger(__name__)

LOOPBACK_ENV = "TM_WEBRTC_LOOPBACK"
SESSION_KEY = "teachable_studio_webrtc_session"

T = TypeVar("T")


# ---------------------------------------------------------------------------------------------
# Connection settings


def rtc_configuration() -> dict:
    """The RTCConfiguration for both ends: no ICE servers at all.

    The browser and the server pair over host candidates, which works when both run on the same
    machine (``streamlit run`` on localhost) and on Streamlit Community Cloud. Users behind a NAT
    or firewall that blocks that need a relay: put a STUN/TURN server in ``iceServers`` here, e.g.
    ``{"urls": ["turn:turn.example.org:3478"], "username": ..., "credential": ...}`` with the
    credentials read from ``st.secrets`` (never committed).
    """
    enable_loopback_if_testing()
    return {"iceServers": []}


_loopback_lock = threading.Lock()


def _loopback_only(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    return ["127.0.0.1"] if use_ipv4 else []


def enable_loopback_if_testing() -> bool:
    """In tests (env ``TM_WEBRTC_LOOPBACK=1``), make aioice offer only 127.0.0.1.

    By default aioice skips 127.0.0.1 and offers the machine's interface addresses; browser tests
    must keep all traffic on loopback (Chromium needs ``--allow-loopback-in-peer-connection``).
    Idempotent; returns whether loopback-only mode is on.
    """
    if os.environ.get(LOOPBACK_ENV) != "1":
        return False
    import aioice.ice

    with _loopback_lock:
        if aioice.ice.get_host_addresses is not _loopback_only:
            aioice.ice.get_host_addresses = _loopback_only
    return True


# ---------------------------------------------------------------------------------------------
# Per-session objects


class _Registry:
    """Objects owned by one browser session each, shared with that session's frame callbacks."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.objects: dict[str, dict[str, Any]] = {}  # session key -> name -> object
        self.streamlit_ids: dict[str, str | None] = {}  # session key -> Streamlit's session id

    def get(self, key: str, streamlit_id: str | None, name: str, factory: Callable[[], T]) -> T:
        with self.lock:
            self._prune()
            owned = self.objects.setdefault(key, {})
            self.streamlit_ids[key] = streamlit_id
            if name not in owned:
                owned[name] = factory()
            return owned[name]

    def _prune(self) -> None:
        """Drop (and close) the objects of sessions the Streamlit runtime no longer knows."""
        try:
            from streamlit.runtime import Runtime

            if not Runtime.exists():
                return
            runtime = Runtime.instance()
        except Exception:  # noqa: BLE001 - pruning is best effort
            return
        for key, sid in list(self.streamlit_ids.items()):
            if sid is not None and not runtime.is_active_session(sid):
                for obj in self.objects.pop(key, {}).values():
                    close = getattr(obj, "close", None)
                    if callable(close):
                        close()
                del self.streamlit_ids[key]


@st.cache_resource(show_spinner=False)
def _registry() -> _Registry:
    """One registry per server process; inside it, each session's objects are its own."""
    return _Registry()


def session_id() -> str:
    """This browser session's key for :func:`session_object` (kept in ``st.session_state``)."""
    if SESSION_KEY not in st.session_state:
        st.session_state[SESSION_KEY] = uuid.uuid4().hex
    return st.session_state[SESSION_KEY]


def session_object(name: str, factory: Callable[[], T]) -> T:
    """The object called ``name`` owned by this browser session, made by ``factory`` on first use.

    Call from the script thread (it reads ``st.session_state``); hand the object to the callback.
    Objects of sessions that have closed are dropped (and ``close()``-d) on a later call.
    """
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return _registry().get(session_id(), ctx.session_id if ctx else None, name, factory)


# ---------------------------------------------------------------------------------------------
# Burst recording


def _crop(frame_rgb: np.ndarray) -> np.ndarray:
    """The one crop for camera frames: Teachable Machine's 224×224 cover-fit, as for files."""
    return media.fit_image(Image.fromarray(np.asarray(frame_rgb, np.uint8)))


class BurstRecorder:
    """Collects camera frames made into samples for Teachable Machine's "record" button.

    Each kept frame goes through ``prepare`` (default: the 224×224 crop of image projects; pose and
    hand projects set ``tm_core.ui.keypoints.prepare_frame``, the whole frame padded to a square).

    Teachable Machine's defaults: 24 fps, hold-to-record off, a 3 s delay then 6 s of recording.
    ``start()`` arms it; frames passed to ``on_frame`` after the delay are kept (at most ``fps``
    a second) until ``duration`` has elapsed, ``stop()`` is called or ``max_frames`` are kept.
    With ``hold_to_record`` there is no delay and no duration: it records from ``start()`` (button
    pressed) to ``stop()`` (released), up to ``max_frames``. Frames are kept unmirrored, as the
    camera sends them. Thread-safe; never calls Streamlit.
    """

    def __init__(self, fps: float = 24, delay: float = 3.0, duration: float = 6.0,
                 hold_to_record: bool = False, max_frames: int = 1000,
                 clock: Callable[[], float] = time.monotonic):
        self._lock = threading.Lock()
        self._clock = clock
        self._frames: list[np.ndarray] = []
        self._armed = False
        self._begin = self._end = 0.0  # when recording starts and ends (clock time)
        self._last = 0.0  # when the last frame was kept
        self._stopped_at: float | None = None
        self.prepare: Callable[[np.ndarray], np.ndarray] = _crop  # camera frame (RGB) -> sample
        self.configure(fps, delay, duration, hold_to_record, max_frames)

    def configure(self, fps: float | None = None, delay: float | None = None, duration: float | None = None,
                  hold_to_record: bool | None = None, max_frames: int | None = None) -> None:
        """Change settings; they apply from the next ``start()``."""
        with self._lock:
            if fps is not None:
                if not 0 < fps <= 120:
                    raise ValueError("fps must be above 0 and at most 120")
                self.fps = float(fps)
            if delay is not None:
                if delay < 0:
                    raise ValueError("delay must be at least 0")
                self.delay = float(delay)
            if duration is not None:
                if duration <= 0:
                    raise ValueError("duration must be above 0")
                self.duration = float(duration)
            if hold_to_record is not None:
                self.hold_to_record = bool(hold_to_record)
            if max_frames is not None:
                if max_frames < 1:
                    raise ValueError("max_frames must be at least 1")
                self.max_frames = int(max_frames)

    def start(self) -> None:
        """Arm: forget unclaimed frames, wait ``delay`` seconds, then record."""
        with self._lock:
            now = self._clock()
            self._frames = []
            self._armed = True
            self._stopped_at = None
            self._begin = now if self.hold_to_record else now + self.delay
            self._end = float("inf") if self.hold_to_record else self._begin + self.duration

    def stop(self) -> None:
        """End recording now (or cancel the countdown); what was kept stays for ``take()``."""
        with self._lock:
            if self._armed and self._stopped_at is None:
                self._stopped_at = self._clock()

    def cancel(self) -> None:
        """Disarm and drop everything recorded."""
        with self._lock:
            self._armed = False
            self._frames = []
            self._stopped_at = None

    def _state(self, now: float) -> str:
        if not self._armed:
            return "idle"
        if self._stopped_at is not None or len(self._frames) >= self.max_frames or now >= self._end:
            return "done"
        return "waiting" if now < self._begin else "recording"

    def status(self) -> tuple[str, float, int]:
        """``(state, seconds_left, count)``: state is idle, waiting, recording or done.

        seconds_left is the countdown while waiting, the recording time left while recording
        (``inf`` with hold-to-record) and 0 otherwise; count is the number of frames kept.
        """
        with self._lock:
            now = self._clock()
            state = self._state(now)
            left = {"waiting": self._begin - now, "recording": self._end - now}.get(state, 0.0)
            return state, max(0.0, left), len(self._frames)

    def _wants(self, now: float) -> bool:
        if self._state(now) != "recording":
            return False
        # At most fps frames a second since recording began (half a period early is on time:
        # cameras jitter), never two frames closer than half a period, and never more than
        # fps × duration in all.
        period = 1.0 / self.fps
        allowed = int((now - self._begin) * self.fps + 0.5) + 1
        if not self.hold_to_record:
            allowed = min(allowed, round(self.duration * self.fps))
        return len(self._frames) < allowed and (not self._frames or now - self._last >= period / 2)

    def on_frame(self, frame_rgb: np.ndarray) -> None:
        """Offer one camera frame (RGB, any size); kept (made a sample by ``prepare``) when it is wanted."""
        with self._lock:
            if not self._wants(self._clock()):
                return
        crop = self.prepare(frame_rgb)  # outside the lock: the page may poll meanwhile
        with self._lock:
            now = self._clock()
            if self._wants(now):
                self._frames.append(crop)
                self._last = now

    def take(self) -> list[np.ndarray]:
        """The samples recorded so far (RGB uint8, as ``prepare`` made them), and back to idle."""
        with self._lock:
            frames, self._frames = self._frames, []
            self._armed = False
            self._stopped_at = None
            return frames


# ---------------------------------------------------------------------------------------------
# Live prediction


class _Predicts(Protocol):
    class_names: list[str]

    def predict(self, images: np.ndarray) -> np.ndarray: ...


class _RateMeter:
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


_fonts: dict[int, Any] = {}


def _font(size: int):
    if size not in _fonts:
        try:
            _fonts[size] = ImageFont.load_default(size=size)
        except TypeError:  # Pillow without FreeType: the small bitmap font
            _fonts[size] = ImageFont.load_default()
    return _fonts[size]


def draw_label(frame_rgb: np.ndarray, text: str) -> np.ndarray:
    """``text`` in white on a dark box at the top left of a copy of the frame."""
    img = Image.fromarray(np.asarray(frame_rgb, np.uint8))
    draw = ImageDraw.Draw(img)
    size = max(12, img.height // 16)
    font = _font(size)
    pad = max(3, size // 4)
    left, top, right, bottom = draw.textbbox((pad * 2, pad * 2), text, font=font)
    draw.rectangle((left - pad, top - pad, right + pad, bottom + pad), fill=(0, 0, 0))
    draw.text((pad * 2, pad * 2), text, fill=(255, 255, 255), font=font)
    return np.asarray(img)


class _LiveModel:
    """What both live views share: a swappable model, smoothed probabilities, a prediction thread.

    ``_generation`` counts model swaps and resets, so a prediction that finishes after one is dropped.
    """

    def __init__(self, alpha: float):
        from tm_core.predict import Smoother

        self._lock = threading.Lock()
        self._predictor: _Predicts | None = None
        self._generation = 0
        self.smoother = Smoother(alpha)
        self._executor: ThreadPoolExecutor | None = None
        self._busy = False
        self._closed = False
        self._probs: np.ndarray | None = None

    @property
    def predictor(self) -> _Predicts | None:
        with self._lock:
            return self._predictor

    def _forget_probs(self) -> None:
        """Clear the probabilities (called with the lock held)."""
        self._probs = None
        self.smoother.reset()

    def set_predictor(self, predictor: _Predicts | None) -> None:
        """Swap the model (``None``: no predictions); clears the smoothed probabilities.

        Setting a model also stops Streamlit from clearing TensorFlow's caches after each script
        run (:func:`tm_core.ui.state.keep_keras_session`) and, the first time a model's encoder is seen, hides its
        objects from the cyclic garbage collector (:func:`tm_core.ui.state.settle_garbage_collector`): without
        these, live video stutters and predictions take 300-700 ms instead of 15-30 ms.
        """
        with self._lock:
            if predictor is self._predictor:
                return
            self._predictor = predictor
            self._generation += 1
            self._forget_probs()
        if predictor is not None:
            state.keep_keras_session()
            state.settle_garbage_collector(getattr(predictor, "encoder", predictor))

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


class LivePrediction(_LiveModel):
    """Predicts camera frames for the live test view; the page polls ``latest()``.

    Each frame is cropped as samples are (``media.fit_image``) and predicted in one background
    thread: when the previous prediction is still running, or less than ``min_interval_ms`` has
    passed since the last one began, the frame is shown without starting another (frames never
    queue up). Probabilities are smoothed with a :class:`~tm_core.predict.Smoother`. The frame
    sent back carries the top class and its percentage, mirrored first when ``mirror`` is set
    (prediction always sees the unmirrored crop, like recorded samples). Thread-safe.

    ``prepare`` turns a frame into the model's input (default: the 224×224 crop; keypoint projects
    pad the whole frame). A predictor with ``predict_frame(input) -> (probs or None, extra)`` and
    ``draw(frame, extra) -> frame`` (``tm_core.ui.keypoints.KeypointPredictor``) also draws what it
    found (a skeleton) on the frames shown; probs None means nothing was found: the bars keep their
    last values and ``stats()["found"]`` is False.
    """

    def __init__(self, predictor: _Predicts | None = None, alpha: float = 0.5, mirror: bool = False,
                 min_interval_ms: float = 0.0, overlay: bool = True):
        super().__init__(alpha)
        self.mirror = mirror
        self.overlay = overlay
        self.min_interval_ms = min_interval_ms
        self.prepare: Callable[[np.ndarray], np.ndarray] = _crop  # camera frame (RGB) -> model input
        self._extra: Any = None  # what predict_frame found on the last frame (e.g. keypoints)
        self._found: bool | None = None
        self._last_start = -1e9
        self._probs_time: float | None = None
        self._frames = 0
        self._predictions = 0
        self._latency_ms: list[float] = []  # the last 100 predictions
        self._wait_ms: list[float] = []  # from the frame to the prediction's start, the last 100
        self._frame_rate = _RateMeter()
        self._prediction_rate = _RateMeter()
        self.set_predictor(predictor)

    def _forget_probs(self) -> None:
        super()._forget_probs()
        self._probs_time = None
        self._extra = self._found = None

    # -- the video thread ------------------------------------------------------------------

    def on_frame(self, frame_rgb: np.ndarray) -> np.ndarray:
        """Start a prediction on this frame if none is running; return the frame to show."""
        now = time.monotonic()
        with self._lock:
            self._frames += 1
            self._frame_rate.tick(now)
            predictor, generation = self._predictor, self._generation
            start = (predictor is not None and not self._busy and not self._closed
                     and (now - self._last_start) * 1000 >= self.min_interval_ms)
            if start:
                self._busy = True
                self._last_start = now
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tm-live-predict")
                executor = self._executor
            probs, extra = self._probs, self._extra
            names = list(predictor.class_names) if predictor is not None else []
        if start:
            try:
                executor.submit(self._predict, predictor, generation, self.prepare(frame_rgb), now)
            except Exception:  # noqa: BLE001 - a failed crop or a closed executor: skip this frame
                logger.exception("live prediction could not start")
                with self._lock:
                    self._busy = False
        out = frame_rgb
        draw = getattr(predictor, "draw", None)
        if self.overlay and extra is not None and draw is not None:
            out = draw(out, extra)  # before mirroring: what was found sits where it is in the frame
        out = np.ascontiguousarray(np.asarray(out, np.uint8)[:, ::-1]) if self.mirror else out
        if self.overlay and probs is not None and len(probs) == len(names):
            top = int(np.argmax(probs))
            out = draw_label(out, f"{names[top]} {probs[top] * 100:.0f}%")
        return out

    def _predict(self, predictor: _Predicts, generation: int, crop: np.ndarray, seen: float) -> None:
        try:
            begin = time.monotonic()
            extra = None
            if hasattr(predictor, "predict_frame"):
                probs, extra = predictor.predict_frame(crop)
            else:
                probs = predictor.predict(crop)
            end = time.monotonic()
            with self._lock:
                if generation != self._generation:
                    return  # the model changed meanwhile
                self._extra, self._found = extra, probs is not None
                if probs is not None:
                    self._probs = self.smoother.update(np.asarray(probs, np.float64))
                self._probs_time = end
                self._predictions += 1
                self._prediction_rate.tick(end)
                self._latency_ms = (self._latency_ms + [(end - begin) * 1000])[-100:]
                self._wait_ms = (self._wait_ms + [(begin - seen) * 1000])[-100:]
        except Exception:  # noqa: BLE001 - one bad frame must not end the stream
            logger.exception("live prediction failed")
        finally:
            with self._lock:
                self._busy = False

    # -- reading, from the script thread ---------------------------------------------------

    def latest(self) -> tuple[np.ndarray | None, float]:
        """``(smoothed probabilities or None, frames per second seen lately)``."""
        with self._lock:
            probs = None if self._probs is None else self._probs.copy()
            return probs, self._frame_rate.rate(time.monotonic())

    def stats(self) -> dict:
        """Counters for the page and for tests.

        frames and predictions (counts), fps and predictions_per_s (over the last 2 s),
        latency_ms (median time of one ``predict``), wait_ms (median time from the frame's
        arrival to its prediction's start: crop and thread hand-over), age_s of the probabilities.
        """
        with self._lock:
            now = time.monotonic()
            lat, wait = self._latency_ms, self._wait_ms
            return {
                "frames": self._frames,
                "predictions": self._predictions,
                "fps": self._frame_rate.rate(now),
                "predictions_per_s": self._prediction_rate.rate(now),
                "latency_ms": float(np.median(lat)) if lat else None,
                "wait_ms": float(np.median(wait)) if wait else None,
                "age_s": None if self._probs_time is None else now - self._probs_time,
                "found": self._found,  # did the last prediction find what it looks for (None: not known)
            }

    def reset(self) -> None:
        """Forget probabilities and counters (e.g. when the camera stops)."""
        with self._lock:
            self._generation += 1
            self._probs = self._probs_time = self._extra = self._found = None
            self._frames = self._predictions = 0
            self._latency_ms, self._wait_ms = [], []
            self._frame_rate, self._prediction_rate = _RateMeter(), _RateMeter()
            self.smoother.reset()


# ---------------------------------------------------------------------------------------------
# Live audio prediction


class LiveAudioPrediction(_LiveModel):
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

    def __init__(self, predictor: _Predicts | None = None, hop_seconds: float = 0.5, alpha: float = 0.5,
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
        import soxr

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


def frame_samples(frame) -> tuple[np.ndarray, int]:
    """An ``av.AudioFrame`` as ``(samples (n,) or (n, channels), sample rate)``, in its own dtype."""
    arr = frame.to_ndarray()
    channels = len(frame.layout.channels)
    if frame.format.is_planar:  # (channels, n)
        arr = arr.T
    else:  # (1, n * channels), interleaved
        arr = arr.reshape(-1, channels)
    return (arr[:, 0] if channels == 1 else arr), frame.sample_rate


def audio_callback(*targets: Any) -> Callable:
    """An ``audio_frame_callback`` for ``webrtc_streamer``: every target hears each frame
    (``on_audio(samples, rate)``); the frame sent back is silence, so nothing echoes in the browser."""
    import av

    def callback(frame: av.AudioFrame) -> av.AudioFrame:
        try:
            samples, rate = frame_samples(frame)
        except Exception:  # noqa: BLE001
            logger.exception("audio frame could not be read")
            return frame
        for target in targets:
            try:
                target.on_audio(samples, rate)
            except Exception:  # noqa: BLE001 - an exception here would stop the whole stream
                logger.exception("audio frame callback failed in %r", target)
        silent = av.AudioFrame.from_ndarray(np.zeros_like(frame.to_ndarray()), format=frame.format.name,
                                            layout=frame.layout.name)
        silent.sample_rate, silent.pts = frame.sample_rate, frame.pts
        if frame.time_base is not None:
            silent.time_base = frame.time_base
        return silent

    return callback


# ---------------------------------------------------------------------------------------------
# The adapter


class _FrameTarget(Protocol):
    def on_frame(self, frame_rgb: np.ndarray) -> np.ndarray | None: ...


def video_callback(*targets: _FrameTarget) -> Callable:
    """A ``video_frame_callback`` for ``webrtc_streamer`` feeding RGB frames to ``targets``.

    Every target gets the camera's frame (as an RGB uint8 array); the frame sent back to the
    browser is the one returned by the last target that returns an array (a ``LivePrediction``),
    or the camera's own. A target that raises is logged and skipped: the stream goes on.
    """
    import av

    def callback(frame: av.VideoFrame) -> av.VideoFrame:
        rgb = frame.to_ndarray(format="rgb24")
        shown = None
        for target in targets:
            try:
                result = target.on_frame(rgb)
            except Exception:  # noqa: BLE001 - an exception here would stop the whole stream
                logger.exception("video frame callback failed in %r", target)
                continue
            if result is not None:
                shown = result
        if shown is None:
            return frame
        return av.VideoFrame.from_ndarray(np.ascontiguousarray(shown, np.uint8), format="rgb24")

    return callback
