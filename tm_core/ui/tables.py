"""Tables the pages show, with titles a student reads and figures as they are meant (percentages)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from tm_core.experiments import SUMMARY_SHARES, SUMMARY_TITLES


def summary_config(frame: pd.DataFrame) -> dict:
    """``st.dataframe``'s column settings for :func:`tm_core.experiments.summary_frame`: readable titles,
    accuracies and the gap as percentages, the run's name pinned on the left, narrow number columns."""
    config: dict = {}
    for column in frame.columns:
        title = SUMMARY_TITLES.get(column, column)
        if column == "run":
            config[column] = st.column_config.TextColumn(title, pinned=True)
        elif column == "stopped":
            config[column] = st.column_config.CheckboxColumn(title, width="small")
        elif column in SUMMARY_SHARES:
            config[column] = st.column_config.NumberColumn(title, format="percent", width="small")
        elif column == "learning_rate":
            config[column] = st.column_config.NumberColumn(title, format="%g", width="small")
        else:
            config[column] = st.column_config.NumberColumn(title, format="%d", width="small")
    return config


def run_summary(frame: pd.DataFrame) -> None:
    """The run comparison table, as wide as the page (it scrolls sideways if it must, the run's name stays)."""
    st.dataframe(frame, hide_index=True, width="stretch", column_config=summary_config(frame))
