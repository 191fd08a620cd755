"""Tables the pages show, with titles a student reads and figures as they are meant (percentages).

The tables keep their code names as columns (what tests, CSV files and code read); the titles above the
columns are set here, in the page's language."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import streamlit as st

from tm_core import diagnose
from tm_core.experiments import SUMMARY_SHARES, SUMMARY_TITLES
from tm_core.i18n import N_, _

# The sweep's run table (``tm_core.grid.run_table``): what a student reads above each column.
SWEEP_TITLES = {
    "run": N_("Run"),
    "epochs": N_("Epochs"),
    "batch_size": N_("Batch size"),
    "learning_rate": N_("Learning rate"),
    "seed": N_("Seed"),
    "epochs_done": N_("Epochs done"),
    "train_accuracy": N_("Train accuracy"),
    "test_accuracy": N_("Test accuracy"),
    "best_test_accuracy": N_("Best test accuracy"),
    "test_loss": N_("Test loss"),
    "seconds": N_("Seconds"),
    "diagnosis": N_("What the curves show"),
}
SWEEP_SHARES = ("train_accuracy", "test_accuracy", "best_test_accuracy")
# The batch-size lesson's table: its columns and their titles.
BATCH_TITLES = {  # column keys are code names: the page only shows the titles
    "run": N_("Run"),
    "batch_size": N_("Batch size"),
    "updates_per_epoch": N_("Weight updates per epoch"),
    "ms_per_epoch": N_("ms per epoch"),
}


def summary_config(frame: pd.DataFrame) -> dict:
    """``st.dataframe``'s column settings for :func:`tm_core.experiments.summary_frame`: readable titles,
    accuracies and the gap as percentages, the run's name pinned on the left, narrow number columns."""
    config: dict = {}
    for column in frame.columns:
        title = _(SUMMARY_TITLES[column]) if column in SUMMARY_TITLES else column
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


def sweep_config(frame: pd.DataFrame) -> dict:
    """Column settings for a sweep's run table: readable titles, accuracies as percentages."""
    config: dict = {}
    for column in frame.columns:
        title = _(SWEEP_TITLES[column]) if column in SWEEP_TITLES else column
        if column in ("run", "diagnosis"):
            config[column] = st.column_config.TextColumn(title, pinned=column == "run")
        elif column in SWEEP_SHARES:
            config[column] = st.column_config.NumberColumn(title, format="percent", width="small")
        elif column in ("learning_rate", "test_loss", "seconds"):
            config[column] = st.column_config.NumberColumn(title, format="%g", width="small")
        else:
            config[column] = st.column_config.NumberColumn(title, format="%d", width="small")
    return config


def sweep_runs(runs: pd.DataFrame) -> None:
    """A sweep's runs (``tm_core.grid.run_table``), each run's diagnosis in words."""
    shown = runs.assign(diagnosis=runs["diagnosis"].map(diagnose.kind_text)) if "diagnosis" in runs else runs
    st.dataframe(shown, hide_index=True, width="stretch", column_config=sweep_config(shown))


def batch_runs(rows: Sequence[tuple[str, int, int, float]]) -> None:
    """The batch-size lesson's runs: (run, batch size, weight updates per epoch, milliseconds per epoch)."""
    frame = pd.DataFrame(list(rows), columns=list(BATCH_TITLES))
    config = {column: st.column_config.Column(_(title)) for column, title in BATCH_TITLES.items()}
    st.dataframe(frame, hide_index=True, column_config=config)
