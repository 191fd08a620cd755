"""Altair charts of the Experiments page: the epochs lesson as one run, runs compared, sweep heatmaps.

Like :mod:`tm_core.charts` (whose colours and axes these share), nothing here imports
Streamlit and data is always inlined. Labels never collide: every kind of label has its own
row at the top of the chart (epoch marks, then "best", then "stop"), and several runs' labels
each get a row of their own.
"""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import numpy as np
import pandas as pd

from tm_core.charts import FIT_WIDTH, HEIGHT, SPLIT_COLORS, _epoch_x, _run_color, _runs_in_order, _thin, _value_axis
from tm_core.experiments import number_text
from tm_core.i18n import N_, _, ngettext, pgettext

ROW = 14  # pixels between two rows of labels
LOG_TICKS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)
# The charts' words, translated where a chart is made (in the page's language).
METRICS = {"accuracy": N_("Accuracy"), "loss": N_("Loss")}
STORY_TITLES = {"accuracy": N_("Accuracy per epoch: train and test, one run"),
                "loss": N_("Loss per epoch: train and test, one run")}
VALUE_TITLES = {("train", "accuracy"): N_("Train accuracy"), ("test", "accuracy"): N_("Test accuracy"),
                ("train", "loss"): N_("Train loss"), ("test", "loss"): N_("Test loss")}
RUNS_TITLES = {("train", "accuracy"): N_("Train accuracy per epoch, by run"),
               ("test", "accuracy"): N_("Test accuracy per epoch, by run"),
               ("train", "loss"): N_("Train loss per epoch, by run"),
               ("test", "loss"): N_("Test loss per epoch, by run")}


def split_name(split: str) -> str:
    """"train" / "test" as the legend and tooltips say it."""
    return pgettext("split", "train") if split == "train" else pgettext("split", "test") if split == "test" else split


def _text(table: dict, key) -> str:
    return _(table[key]) if key in table else " ".join(map(str, key if isinstance(key, tuple) else (key,)))


def _log_epoch_x(last: int) -> alt.X:
    ticks = [t for t in LOG_TICKS if t <= max(2, last)]
    return alt.X("epoch:Q", title=_("Epoch (log scale)"),
                 scale=alt.Scale(type="log", domain=[1, max(2, last)], nice=False),
                 axis=alt.Axis(values=ticks, format="d", grid=True))


def _row_labels(data: pd.DataFrame, x: alt.X, row: int, color=None) -> list:
    """A rule at each ``epoch`` of ``data`` and its ``label`` on label row ``row`` (0 = the top)."""
    if data.empty:
        return []
    enc = {"x": x} if color is None else {"x": x, "color": color}
    rule = alt.Chart(data).mark_rule(strokeDash=[3, 3], opacity=0.55, **({} if color is not None else {"color": "#5f6368"}))
    text = alt.Chart(data).mark_text(align="left", dx=3, fontSize=11, fontWeight="bold",
                                     **({} if color is not None else {"color": "#3c4043"}))
    return [rule.encode(**enc), text.encode(**enc, y=alt.value(6 + ROW * row), text="label:N")]


def epochs_story_chart(df: pd.DataFrame, metric: str = "accuracy", marks: Sequence[int] = (),
                       best: int | None = None, stop: tuple[int | None, int] | None = None) -> alt.LayerChart:
    """One long run's train and test ``metric`` on a log-scaled epoch axis, the epochs of the shorter
    runs marked on it (``marks``: "5 epochs", ...), its best epoch, and where early stopping would stop
    and which epoch it would keep (``stop``: ``(stopped_at, kept)`` as
    :func:`tm_core.experiments.early_stop_epoch` gives; a diamond on the test curve at the kept epoch).

    ``df`` is :func:`tm_core.experiments.history_frame` of the long run (of several, the last).
    On a log axis the first epochs, where a model learns most, get as much room as the last ones.
    """
    if "run" in df and df["run"].nunique() > 1:
        df = df[df["run"] == _runs_in_order(df)[-1]]
    data = _thin(df.loc[df["metric"] == metric, ["epoch", "split", "value"]].assign(run="")).drop(columns="run")
    data = data.assign(value=data["value"].round(5)).reset_index(drop=True)
    data = data.assign(split_name=data["split"].map(split_name))  # the legend's words, in the page's language
    last = int(data["epoch"].max()) if len(data) else 1
    x = _log_epoch_x(last)
    scale, axis = _value_axis(metric, _text(METRICS, metric))
    if metric == "loss" and len(data) and float(data["value"].min()) > 0:
        scale, axis = alt.Scale(type="log"), alt.Axis(format="~g", title=_("Loss (log scale)"))
    splits = list(SPLIT_COLORS)
    color = alt.Color("split_name:N", title=None, sort=[split_name(s) for s in splits], legend=alt.Legend(orient="top"),
                      scale=alt.Scale(domain=[split_name(s) for s in splits], range=[SPLIT_COLORS[s] for s in splits]))
    tip = [alt.Tooltip("epoch:Q", title=_("Epoch"), format="d"), alt.Tooltip("split_name:N", title=_("Split")),
           alt.Tooltip("value:Q", title=_text(METRICS, metric), format=".1%" if metric == "accuracy" else ".4f")]
    layers = [alt.Chart(data).mark_line(strokeWidth=2).encode(x=x, y=alt.Y("value:Q", scale=scale, axis=axis),
                                                               color=color, tooltip=tip)]
    shown = sorted(int(m) for m in marks if 1 <= int(m) <= last)
    layers += _row_labels(pd.DataFrame({"epoch": shown, "label": [ngettext("{n} epoch", "{n} epochs", m)
                                                                   for m in shown]}), x, 0)
    rows = 1
    if best is not None:
        test = data[(data["split"] == "test") & (data["epoch"] == int(best))]
        if len(test):
            layers.append(alt.Chart(test).mark_point(size=90, filled=True, color=SPLIT_COLORS["test"], stroke="white")
                          .encode(x=x, y=alt.Y("value:Q", scale=scale), tooltip=tip))
        layers += _row_labels(pd.DataFrame({"epoch": [int(best)], "label": [_("best: {epoch}", epoch=int(best))]}),
                              x, rows)
        rows += 1
    if stop is not None and stop[0] is not None:
        layers += _row_labels(pd.DataFrame({"epoch": [int(stop[0])],
                                            "label": [_("stop: {epoch}", epoch=int(stop[0]))]}), x, rows)
    if stop is not None:
        kept = data[(data["split"] == "test") & (data["epoch"] == int(stop[1]))].assign(label=_("kept: {epoch}", epoch=int(stop[1])))
        layers.append(alt.Chart(kept).mark_point(shape="diamond", size=110, filled=False, strokeWidth=2,
                                                 color=SPLIT_COLORS["test"]).encode(
            x=x, y=alt.Y("value:Q", scale=scale),
            tooltip=[alt.Tooltip("label:N", title=_("Early stopping keeps")), *tip]))
    title = _text(STORY_TITLES, metric)
    return alt.layer(*layers, title=title).properties(width="container", height=HEIGHT, autosize=FIT_WIDTH)


def runs_chart(df: pd.DataFrame, metric: str = "accuracy", split: str = "test", best: dict[str, int] | None = None,
               log_x: bool = False, log_y: bool = False) -> alt.LayerChart:
    """Several runs' ``metric`` on ``split``, one colour per run; each run's best epoch (``best``) labelled
    on a row of its own at the top, so labels never overlap. ``log_y``: a log-scaled value axis (a loss
    that jumps to hundreds beside one near 0.001); ``log_x``: a log-scaled epoch axis."""
    runs = _runs_in_order(df)
    data = _thin(df.loc[(df["metric"] == metric) & (df["split"] == split), ["run", "epoch", "value"]])
    data = data.assign(value=data["value"].round(6)).reset_index(drop=True)
    last = int(data["epoch"].max()) if len(data) else 1
    color = _run_color(runs)
    color.title = _("Run")
    x = _log_epoch_x(last) if log_x else _epoch_x(last)
    if not log_x:
        x.title = _("Epoch")
    value_title = _text(VALUE_TITLES, (split, metric))
    scale, axis = _value_axis(metric, value_title)
    if log_y and len(data):
        data = data.assign(value=data["value"].clip(lower=1e-6))
        scale = alt.Scale(type="log")
        axis = alt.Axis(format="~g", title=_("{title} (log scale)", title=value_title))
    tip = [alt.Tooltip("run:N", title=_("Run")), alt.Tooltip("epoch:Q", title=_("Epoch"), format="d"),
           alt.Tooltip("value:Q", title=value_title, format=".1%" if metric == "accuracy" else ".4g")]
    layers = [alt.Chart(data).mark_line(strokeWidth=2).encode(x=x, y=alt.Y("value:Q", scale=scale, axis=axis),
                                                               color=color, tooltip=tip)]
    for row, run in enumerate(r for r in runs if best and r in best):
        point = data[(data["run"] == run) & (data["epoch"] == int(best[run]))]
        marks = pd.DataFrame({"run": [run], "epoch": [int(best[run])], "label": [_("best: {epoch}", epoch=int(best[run]))]})
        layers += _row_labels(marks, x, row, color)
        if len(point):
            layers.append(alt.Chart(point).mark_point(size=80, filled=True, stroke="white")
                          .encode(x=x, y=alt.Y("value:Q", scale=scale), color=color, tooltip=tip))
    title = _text(RUNS_TITLES, (split, metric))
    return alt.layer(*layers, title=title).properties(width="container", height=HEIGHT, autosize=FIT_WIDTH)


def heatmap(cells: pd.DataFrame, x: str, y: str, value: str, *, title: str, x_title: str, y_title: str,
            text: str, scheme: str = "blues", domain: Sequence[float] | None = None, fmt: str = ".0%") -> alt.LayerChart:
    """A sweep's grid: one cell per (``x``, ``y``) pair of values, coloured by ``value``, each showing ``text``
    (e.g. "82 % ± 3"). Axis values keep their order in ``cells``, as given, not sorted as text."""
    data = cells.assign(**{x: cells[x].map(_g), y: cells[y].map(_g)})
    xs, ys = list(dict.fromkeys(data[x])), list(dict.fromkeys(data[y]))
    top = float(np.nanmax(data[value])) if len(data) and data[value].notna().any() else 1.0
    dom = list(domain) if domain is not None else [0, top or 1.0]
    base = alt.Chart(data).encode(x=alt.X(f"{x}:N", title=x_title, sort=xs, axis=alt.Axis(labelAngle=0)),
                                  y=alt.Y(f"{y}:N", title=y_title, sort=ys))
    tip = [alt.Tooltip(f"{x}:N", title=x_title), alt.Tooltip(f"{y}:N", title=y_title),
           alt.Tooltip(f"{text}:N", title=title)]
    cells_layer = base.mark_rect(stroke="white", strokeWidth=1).encode(
        color=alt.Color(f"{value}:Q", title=None, scale=alt.Scale(scheme=scheme, domain=dom),
                        legend=alt.Legend(format=fmt, orient="right")), tooltip=tip)
    middle = (dom[0] + dom[1]) / 2
    labels = base.mark_text(fontSize=13).encode(
        text=f"{text}:N", tooltip=tip,
        color=alt.condition(f"datum['{value}'] > {middle}", alt.value("white"), alt.value("black")))
    height = min(420, max(120, 48 * len(ys)))
    return alt.layer(cells_layer, labels, title=title).properties(width="container", height=height, autosize=FIT_WIDTH)


def _g(v) -> str:
    return number_text(float(v)) if isinstance(v, (int, float, np.integer, np.floating)) else str(v)


__all__ = ["epochs_story_chart", "heatmap", "runs_chart"]
