"""Keypoint projects (body pose, hands) in the pages: each sample's keypoints and skeleton thumbnail,
kept per browser session, and "nothing found" counted.

The drawing and the predictor are the engine's (:mod:`tm_core.keypoints`); what each kind finds is
in :mod:`tm_core.kinds`.
"""

from __future__ import annotations

import numpy as np

from tm_core import keypoints as engine
from tm_core.project import Sample
from tm_core.ui import state
from tm_core.ui.widgets import session_cache

THUMB = 128  # gallery thumbnails (pixels a side)


@session_cache(max_entries=20000)
def sample_keypoints(encoder_name: str, sample_id: str, _data) -> np.ndarray:
    """A sample's keypoints (keyed by its content id: samples never change). ``_data``: its pixels, or the
    Sample itself, so a picture is decoded from its PNG bytes only when not cached yet."""
    return state.encoder(encoder_name).keypoints(_pixels(_data))[0]


def _pixels(data) -> np.ndarray:
    return data.data if isinstance(data, Sample) else data


def sample_found(encoder_name: str, sample) -> bool:
    kp = sample_keypoints(encoder_name, sample.id, sample)
    return bool(state.encoder(encoder_name).found(kp[None])[0])


@session_cache(max_entries=5000)
def thumbnail(encoder_name: str, sample_id: str, _data) -> np.ndarray:
    """The sample, small, with its skeleton drawn on it. ``_data`` as in :func:`sample_keypoints`."""
    return engine.thumbnail(_pixels(_data), sample_keypoints(encoder_name, sample_id, _data),
                            state.encoder(encoder_name).edges, THUMB)


def missing_count(encoder_name: str, samples) -> int:
    """How many of ``samples`` have nothing found in them."""
    return sum(not sample_found(encoder_name, s) for s in samples)
