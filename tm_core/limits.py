"""The limits that keep one student's uploads from filling the server, each configurable.

Every limit has a default and an environment variable (read once, when the app starts); a value
that is not a positive number is ignored, with a warning in the server log. The messages a
student sees when one is reached say which limit it was, in plain words (``tm_core.media``,
``tm_core.project``).

    TM_MAX_FILE_MB            one uploaded file (a photo, a sound, one member of a zip)      50
    TM_MAX_IMAGE_MEGAPIXELS   pixels of one picture, in millions                              40
    TM_MAX_AUDIO_SECONDS      length of one sound file or recording                          600
    TM_MAX_SAMPLES            samples in one project                                       5000
    TM_MAX_PROJECT_FILE_MB    a project file to open                                       1024

Streamlit's own upload limit (``server.maxUploadSize`` in .streamlit/config.toml, 200 MB) caps
what one upload can send at all.
"""

from __future__ import annotations

import logging
import os

_log = logging.getLogger(__name__)


def read(name: str, default: float, env=os.environ) -> float:
    """``env[name]`` as a positive number, else ``default``."""
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0 or value != value or value == float("inf"):
        _log.warning("%s=%r is not a positive number: using %s", name, raw, default)
        return default
    return value


FILE_BYTES = int(read("TM_MAX_FILE_MB", 50) * 1024**2)
IMAGE_PIXELS = int(read("TM_MAX_IMAGE_MEGAPIXELS", 40) * 1_000_000)
AUDIO_SECONDS = read("TM_MAX_AUDIO_SECONDS", 600)
SAMPLES = int(read("TM_MAX_SAMPLES", 5000))
PROJECT_FILE_BYTES = int(read("TM_MAX_PROJECT_FILE_MB", 1024) * 1024**2)
