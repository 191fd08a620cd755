"""streamlit-webrtc glue: the connection settings, one object per browser session, and the frame
callbacks that hand camera and microphone frames to the engine's live objects (:mod:`tm_core.live`).

The callbacks run in streamlit-webrtc worker threads, never in the script thread, and they are
re-created on every rerun. So nothing they reach calls ``st.*`` or touches ``st.session_state``:
the page creates (or finds) one ``BurstRecorder`` and one ``LivePrediction`` per browser session
with :func:`session_object`, hands them to :func:`video_callback`, and reads them back while
polling (``status()``, ``take()``, ``latest()``). Each is guarded by its own lock.

Typical page::

    import streamlit_webrtc  # before anything that imports TensorFlow
    from tm_core.live import BurstRecorder, LivePrediction
    from tm_core.ui import webrtc

    live = webrtc.session_object("live", LivePrediction)
    webrtc.use_model(live, predictor)
    recorder = webrtc.session_object("burst", BurstRecorder)
    ctx = streamlit_webrtc.webrtc_streamer(
        key="camera",
        rtc_configuration=webrtc.rtc_configuration(),
        media_stream_constraints={"video": True, "audio": False},
        video_frame_callback=webrtc.video_callback(recorder, live),
        translations=webrtc.translations(),  # its START/STOP/SELECT DEVICE buttons in the page's language
    )
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

import aioice.ice
import av
import numpy as np
import streamlit as st
from streamlit.runtime import Runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx

from tm_core.i18n import N_, _
from tm_core.ui import ice, state

logger = logging.getLogger(__name__)

LOOPBACK_ENV = "TM_WEBRTC_LOOPBACK"
SESSION_KEY = "teachable_studio_webrtc_session"

T = TypeVar("T")


# ---------------------------------------------------------------------------------------------
# Connection settings


def rtc_configuration(secrets: Mapping | None = None, environ: Mapping | None = None) -> dict:
    """The RTCConfiguration for both ends (browser and server): STUN and TURN servers from the app's
    secrets and the environment (:mod:`tm_core.ui.ice`; by default Google's public STUN server).

    ``secrets`` defaults to ``st.secrets`` when a secrets.toml exists, ``environ`` to ``os.environ``.
    In browser tests (``TM_WEBRTC_LOOPBACK=1``) there are none: all traffic stays on 127.0.0.1.
    """
    if enable_loopback_if_testing():
        return {"iceServers": []}
    secrets = st.secrets if secrets is None else secrets
    if hasattr(secrets, "load_if_toml_exists") and not secrets.load_if_toml_exists():
        secrets = {}  # no secrets.toml: reading st.secrets would raise
    return {"iceServers": ice.ice_servers(ice.settings(secrets, os.environ if environ is None else environ))}


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
    with _loopback_lock:
        if aioice.ice.get_host_addresses is not _loopback_only:
            aioice.ice.get_host_addresses = _loopback_only
    return True


# ---------------------------------------------------------------------------------------------
# The component's own words

# streamlit-webrtc's ``translations=`` keys (``streamlit_webrtc.Translations``) and its own English words
# (its frontend's defaults, so English is unchanged).
# Its device dialog's "Done" button has no key: it stays English.
_COMPONENT_WORDS = {
    "start": N_("Start"),
    "stop": N_("Stop"),
    "select_device": N_("Select Device"),
    "media_api_not_available": N_("Media API not available"),
    "device_ask_permission": N_("Please allow the app to use your media devices"),
    "device_not_available": N_("Device not available"),
    "device_access_denied": N_("Access denied"),
    "turn_camera_on": N_("Turn camera on"),
    "turn_camera_off": N_("Turn camera off"),
    "mute_microphone": N_("Mute microphone"),
    "unmute_microphone": N_("Unmute microphone"),
    "select_camera": N_("Select camera"),
    "select_microphone": N_("Select microphone"),
}


def translations() -> dict[str, str]:
    """The ``translations=`` of every ``webrtc_streamer`` call: the component's buttons and messages in the
    language of the code running now (the page's)."""
    return {key: _(text) for key, text in _COMPONENT_WORDS.items()}


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
    ctx = get_script_run_ctx()
    return _registry().get(session_id(), ctx.session_id if ctx else None, name, factory)


def use_model(live, predictor) -> None:
    """Give a live view (``LivePrediction``, ``LiveAudioPrediction``) its model (``None``: none).

    In this server, setting a model also stops Streamlit from clearing TensorFlow's caches after
    each script run (:func:`tm_core.ui.state.keep_keras_session`) and, the first time a model's
    encoder is seen, hides its objects from the cyclic garbage collector
    (:func:`tm_core.ui.state.settle_garbage_collector`): without these, live video stutters and
    predictions take 300-700 ms instead of 15-30 ms.
    """
    if predictor is not None and predictor is not live.predictor:
        state.keep_keras_session()
        state.settle_garbage_collector(getattr(predictor, "encoder", predictor))
    live.set_predictor(predictor)


# ---------------------------------------------------------------------------------------------
# Frame callbacks


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

    def callback(frame: av.AudioFrame) -> av.AudioFrame:
        try:
            samples, rate = frame_samples(frame)
        except Exception:
            logger.exception("audio frame could not be read")
            return frame
        for target in targets:
            try:
                target.on_audio(samples, rate)
            except Exception:
                logger.exception("audio frame callback failed in %r", target)
        silent = av.AudioFrame.from_ndarray(np.zeros_like(frame.to_ndarray()), format=frame.format.name,
                                            layout=frame.layout.name)
        silent.sample_rate, silent.pts = frame.sample_rate, frame.pts
        if frame.time_base is not None:
            silent.time_base = frame.time_base
        return silent

    return callback


class _FrameTarget(Protocol):
    def on_frame(self, frame_rgb: np.ndarray) -> np.ndarray | None: ...


def video_callback(*targets: _FrameTarget) -> Callable:
    """A ``video_frame_callback`` for ``webrtc_streamer`` feeding RGB frames to ``targets``.

    Every target gets the camera's frame (as an RGB uint8 array); the frame sent back to the
    browser is the one returned by the last target that returns an array (a ``LivePrediction``),
    or the camera's own. A target that raises is logged and skipped: the stream goes on.
    """

    def callback(frame: av.VideoFrame) -> av.VideoFrame:
        rgb = frame.to_ndarray(format="rgb24")
        shown = None
        for target in targets:
            try:
                result = target.on_frame(rgb)
            except Exception:
                logger.exception("video frame callback failed in %r", target)
                continue
            if result is not None:
                shown = result
        if shown is None:
            return frame
        return av.VideoFrame.from_ndarray(np.ascontiguousarray(shown, np.uint8), format="rgb24")

    return callback
