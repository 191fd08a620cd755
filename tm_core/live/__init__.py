"""Live camera and microphone work, fed from streamlit-webrtc's frame threads and read by the pages.

- :mod:`tm_core.live.burst`: :class:`BurstRecorder` (Teachable Machine's webcam "record") and
  :func:`add_recording` (its frames made into samples of a class, one group).
- :mod:`tm_core.live.video`: :class:`LivePrediction`, the camera through the model, and :func:`draw_label`.
- :mod:`tm_core.live.audio`: :class:`LiveAudioPrediction`, the microphone's last second through the model.
- :mod:`tm_core.live.base`: what the two live views share (model swap, smoothing, one prediction thread).

Nothing here calls Streamlit: frame callbacks run in other threads, and each object is guarded by
its own lock. ``tm_core.ui.webrtc`` is the glue that hands them to ``webrtc_streamer``.
"""

from tm_core.live.audio import LiveAudioPrediction
from tm_core.live.burst import BurstRecorder, Recorded, add_recording
from tm_core.live.video import LivePrediction, draw_label

__all__ = ["BurstRecorder", "LiveAudioPrediction", "LivePrediction", "Recorded", "add_recording", "draw_label"]
