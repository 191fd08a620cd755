"""Streamlit glue shared by the pages: session state, cached encoders, widgets, WebRTC processors.

The only part of ``tm_core`` that imports Streamlit.
"""
