"""The live camera through the model: each frame prepared as samples are, predicted in a background
thread, the top class drawn on the frame sent back. Never calls Streamlit."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from tm_core.kinds import crop_frame
from tm_core.live.base import LiveModel, Predicts, RateMeter, logger

FONT_ENV = "TM_LABEL_FONT"  # a font file (.ttf, .otf, .ttc) for labels the default font cannot draw
# Fonts with Hangul (and the other CJK scripts) where Linux (fonts-noto-cjk, fonts-nanum), macOS and Windows
# keep them; (file, face index in a collection: the Korean face of Noto Sans CJK).
CJK_FONTS = (
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc", 1),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 1),
    ("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc", 1),
    ("/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc", 1),
    ("/usr/share/fonts/truetype/nanum/NanumGothicBold.ttf", 0),
    ("/usr/share/fonts/truetype/nanum/NanumGothic.ttf", 0),
    ("/System/Library/Fonts/AppleSDGothicNeo.ttc", 0),
    ("C:/Windows/Fonts/malgun.ttf", 0),
)
LATIN_END = 0x250  # the default font draws Latin (up to Latin Extended-B); beyond it, the CJK font

_fonts: dict[tuple, Any] = {}
_fonts_lock = threading.Lock()


@functools.cache
def cjk_font_file() -> tuple[str, int] | None:
    """The font file (and face index) labels in Hangul are drawn with: ``$TM_LABEL_FONT``, else a known CJK
    font on this machine, else what fontconfig has for Korean; None when there is none."""
    env = os.environ.get(FONT_ENV)
    if env:
        if Path(env).is_file():
            return env, 0
        logger.warning("%s=%s is not a file: looking for a CJK font instead", FONT_ENV, env)
    for file, index in CJK_FONTS:
        if Path(file).is_file():
            return file, index
    if shutil.which("fc-match"):
        try:
            out = subprocess.run(["fc-match", "-f", "%{file}\\n%{index}", ":lang=ko"], capture_output=True,
                                 text=True, timeout=5, check=False).stdout.split("\n")
            if len(out) == 2 and Path(out[0]).is_file() and out[0].lower().endswith((".ttf", ".otf", ".ttc")):
                font = out[0], int(out[1] or 0)
                try:  # fontconfig answers with its closest font, which may have no Hangul
                    if ImageFont.truetype(font[0], 12, index=font[1]).getmask("가").getbbox():
                        return font
                except OSError:
                    pass
        except (OSError, subprocess.SubprocessError, ValueError):
            pass
    return None


def _default_font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: the small bitmap font
        return ImageFont.load_default()


def _font(size: int, text: str = ""):
    """The font ``text`` is drawn in: the default one, or the CJK one when ``text`` has letters beyond Latin
    (a class named in Hangul) and this machine has one."""
    cjk = cjk_font_file() if any(ord(c) >= LATIN_END for c in text) else None
    key = (size, cjk)
    with _fonts_lock:
        if key not in _fonts:
            font = None
            if cjk is not None:
                try:
                    font = ImageFont.truetype(cjk[0], size, index=cjk[1])
                except OSError as err:  # a broken file or a Pillow without FreeType
                    logger.warning("cannot load the label font %s (%s): using the default font", cjk[0], err)
            _fonts[key] = font or _default_font(size)
        return _fonts[key]


def draw_label(frame_rgb: np.ndarray, text: str) -> np.ndarray:
    """``text`` in white on a dark box at the top left of a copy of the frame (a class named in Hangul in a
    CJK font: :func:`cjk_font_file`)."""
    img = Image.fromarray(np.asarray(frame_rgb, np.uint8))
    draw = ImageDraw.Draw(img)
    size = max(12, img.height // 16)
    font = _font(size, text)
    pad = max(3, size // 4)
    left, top, right, bottom = draw.textbbox((pad * 2, pad * 2), text, font=font)
    draw.rectangle((left - pad, top - pad, right + pad, bottom + pad), fill=(0, 0, 0))
    draw.text((pad * 2, pad * 2), text, fill=(255, 255, 255), font=font)
    return np.asarray(img)


class LivePrediction(LiveModel):
    """Predicts camera frames for the live test view; the page polls ``latest()``.

    Each frame is cropped as samples are (``media.fit_image``) and predicted in one background
    thread: when the previous prediction is still running, or less than ``min_interval_ms`` has
    passed since the last one began, the frame is shown without starting another (frames never
    queue up). Probabilities are smoothed with a :class:`~tm_core.predict.Smoother`. The frame
    sent back carries the top class and its percentage, mirrored first when ``mirror`` is set
    (prediction always sees the unmirrored crop, like recorded samples). Thread-safe.

    ``prepare`` turns a frame into the model's input (default: the 224×224 crop; set it to
    ``tm_core.kinds.prepare_frame(kind)``: keypoint projects pad the whole frame). A predictor with
    ``predict_frame(input) -> (probs or None, extra)`` and ``draw(frame, extra) -> frame``
    (``tm_core.keypoints.KeypointPredictor``) also draws what it
    found (a skeleton) on the frames shown; probs None means nothing was found: the bars keep their
    last values and ``stats()["found"]`` is False.
    """

    def __init__(self, predictor: Predicts | None = None, alpha: float = 0.5, mirror: bool = False,
                 min_interval_ms: float = 0.0, overlay: bool = True):
        super().__init__(alpha)
        self.mirror = mirror
        self.overlay = overlay
        self.min_interval_ms = min_interval_ms
        self.prepare: Callable[[np.ndarray], np.ndarray] = crop_frame  # camera frame (RGB) -> model input
        self._extra: Any = None  # what predict_frame found on the last frame (e.g. keypoints)
        self._found: bool | None = None
        self._last_start = -1e9
        self._probs_time: float | None = None
        self._shown: np.ndarray | None = None  # the probabilities last written on a frame
        self._frames = 0
        self._predictions = 0
        self._latency_ms: list[float] = []  # the last 100 predictions
        self._wait_ms: list[float] = []  # from the frame to the prediction's start, the last 100
        self._frame_rate = RateMeter()
        self._prediction_rate = RateMeter()
        self.set_predictor(predictor)

    def _forget_probs(self) -> None:
        super()._forget_probs()
        self._probs_time = self._shown = None
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
            with self._lock:  # what the video says is what the bars say (see ``latest``)
                if generation == self._generation:
                    self._shown = probs
        return out

    def _predict(self, predictor: Predicts, generation: int, crop: np.ndarray, seen: float) -> None:
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
        """``(smoothed probabilities or None, frames per second seen lately)``: the probabilities last
        written on the video (with ``overlay``), so the bars and the video's label say the same; the
        newest ones before any frame was labelled."""
        with self._lock:
            probs = self._shown if self._shown is not None else self._probs
            probs = None if probs is None else probs.copy()
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
            self._probs = self._probs_time = self._extra = self._found = self._shown = None
            self._frames = self._predictions = 0
            self._latency_ms, self._wait_ms = [], []
            self._frame_rate, self._prediction_rate = RateMeter(), RateMeter()
            self.smoother.reset()
