"""Teachable Studio's engine: projects, encoders, training, evaluation, export.

Imports no Streamlit outside ``tm_core.ui`` and no TensorFlow at import time, so that
``import tm_core`` is cheap and safe to do before ``streamlit_webrtc``.
"""

from tm_core.errors import AssetError, InputError, TMError

__all__ = ["AssetError", "InputError", "TMError"]
