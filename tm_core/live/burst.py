"""Teachable Machine's webcam "record" button: frames kept at a steady rate, then made into samples.

The recorder is fed from the camera's thread and read from the page's; it never calls Streamlit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tm_core.errors import InputError
from tm_core.kinds import crop_frame
from tm_core.project import Project
from tm_core.recordings import new_group

# Teachable Machine's webcam defaults: 24 frames a second for 6 s after a countdown, hold-to-record off.
# One recording is then 144 frames that look alike: the honest split keeps them together, and the data
# check does not count frames of one recording as near copies (tm_core.health).
DEFAULT_FPS, DEFAULT_DELAY, DEFAULT_DURATION = 24, 3.0, 6.0


class BurstRecorder:
    """Collects camera frames made into samples for Teachable Machine's "record" button.

    Each kept frame goes through ``prepare`` (default: the 224×224 crop of image projects; set it to
    ``tm_core.kinds.prepare_frame(kind)``: pose and hands pad the whole frame to a square).

    Teachable Machine's defaults: 24 fps, hold-to-record off, a 3 s delay then 6 s of recording.
    ``start()`` arms it; frames passed to ``on_frame`` after the delay are kept (at most ``fps``
    a second) until ``duration`` has elapsed, ``stop()`` is called or ``max_frames`` are kept.
    With ``hold_to_record`` there is no delay and no duration: it records from ``start()`` (button
    pressed) to ``stop()`` (released), up to ``max_frames``. Frames are kept unmirrored, as the
    camera sends them. Thread-safe; never calls Streamlit.
    """

    def __init__(self, fps: float = DEFAULT_FPS, delay: float = DEFAULT_DELAY, duration: float = DEFAULT_DURATION,
                 hold_to_record: bool = False, max_frames: int = 1000,
                 clock: Callable[[], float] = time.monotonic):
        self._lock = threading.Lock()
        self._clock = clock
        self._frames: list[np.ndarray] = []
        self._armed = False
        self._begin = self._end = 0.0  # when recording starts and ends (clock time)
        self._last = 0.0  # when the last frame was kept
        self._stopped_at: float | None = None
        self.prepare: Callable[[np.ndarray], np.ndarray] = crop_frame  # camera frame (RGB) -> sample
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


@dataclass
class Recorded:
    """What :func:`add_recording` did: how many frames became samples, and why it stopped early if it did."""

    into: str
    added: int
    offered: int
    full: InputError | None = None  # the project's sample limit, reached part way


def add_recording(project: Project, into: str, frames: list[np.ndarray], test_only: bool = False) -> Recorded:
    """A burst's frames (as ``BurstRecorder.take()`` gives them) as samples of class ``into``: one
    recording, so one group (its frames are never split between training and test). Stops at the
    project's sample limit, keeping what fitted. A class deleted meanwhile: nothing is added."""
    if not project.has_class(into):
        return Recorded(into, 0, len(frames))
    group, added = new_group("burst"), 0
    for frame in frames:
        try:
            added += project.add_sample(into, frame, "webcam", group, test_only) is not None
        except InputError as e:
            return Recorded(into, added, len(frames), e)
    return Recorded(into, added, len(frames))
