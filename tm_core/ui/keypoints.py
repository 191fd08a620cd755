"""Keypoint projects (body pose, hands) in the pages: each sample's keypoints and skeleton thumbnail,
and "nothing found" counted.

A sample's keypoints are kept in the session's embeddings cache (:func:`tm_core.keypoints.cache_name`),
so a saved project and an example bring them along and their galleries need no keypoint model; the
thumbnails are cached per browser session. The drawing and the predictor are the engine's
(:mod:`tm_core.keypoints`); what each kind finds is in :mod:`tm_core.kinds`.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from tm_core import encoders
from tm_core import keypoints as engine
from tm_core.features import FeatureCache
from tm_core.project import Sample
from tm_core.ui import state
from tm_core.ui.widgets import in_script_run, session_cache

THUMB = 128  # gallery thumbnails (pixels a side)


def _cache() -> FeatureCache:
    """This session's embeddings cache (saved with the project); outside a script run, a throwaway one."""
    sess = st.session_state.get(state.KEY) if in_script_run() else None
    return sess.cache if sess is not None else FeatureCache()


def sample_keypoints(encoder_name: str, sample_id: str, data) -> np.ndarray:
    """A sample's keypoints (``sample_id``: its content id). ``data``: its pixels, or the Sample itself,
    whose PNG bytes are decoded only when the keypoints are not known yet."""
    return engine.sample_keypoints(_cache(), encoder_name, sample_id, lambda: _pixels(data),
                                   lambda: state.encoder(encoder_name))


def _pixels(data) -> np.ndarray:
    return data.data if isinstance(data, Sample) else data


def sample_found(encoder_name: str, sample) -> bool:
    kp = sample_keypoints(encoder_name, sample.id, sample)
    return bool(encoders.keypoint_class(encoder_name).found(kp[None])[0])


@session_cache(max_entries=5000)
def thumbnail(encoder_name: str, sample_id: str, _data) -> np.ndarray:
    """The sample, small, with its skeleton drawn on it. ``_data`` as in :func:`sample_keypoints`."""
    return engine.thumbnail(_pixels(_data), sample_keypoints(encoder_name, sample_id, _data),
                            encoders.keypoint_class(encoder_name).edges, THUMB)


def missing_count(encoder_name: str, samples) -> int:
    """How many of ``samples`` have nothing found in them."""
    return sum(not sample_found(encoder_name, s) for s in samples)
