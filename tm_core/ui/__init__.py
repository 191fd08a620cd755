"""Streamlit glue shared by the pages: session state, cached encoders, widgets, and the streamlit-webrtc glue.

The only part of ``tm_core`` that imports Streamlit. Pages call these modules; these modules call the
engine (``tm_core.*``), never the other way round. The live camera and microphone objects the
WebRTC callbacks feed are the engine's (``tm_core.live``).
"""
