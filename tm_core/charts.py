"""Altair charts of training runs and evaluations, built from tidy DataFrames.

The pages hand these to ``st.altair_chart``; nothing here imports Streamlit. Data is always
inlined (no URLs), only the columns a chart needs are kept, and long histories are thinned
to at most :data:`MAX_EPOCHS_DRAWN` epochs per run so the live charts stay cheap.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import altair as alt
import numpy as np
import pandas as pd

from tm_core.evaluation import Evaluation
from tm_core.i18n import N_, _

SPLIT_COLORS = {"train": "#1967d2", "test": "#e8710a"}  # blue / orange, the same on every chart
BAR_COLOR = "#1967d2"
TOP_COLOR = "#e8710a"
RUN_COLORS = ["#1967d2", "#e8710a", "#188038", "#9334e6", "#d93025", "#12b5cb", "#f9ab00", "#5f6368"]
MAX_EPOCHS_DRAWN = 1000
LEGEND_LABEL_LIMIT = 600  # pixels: a run label ("Run 12 · 200 epochs · batch 16 · lr 0.001") needs about 250
SHORT_BAR = 0.35  # a bar shorter than this (accuracy) has its figure after it, not inside
HEIGHT = 240  # of the plotting area; axes, legend and title come on top of it
# What the charts show for the frames' values (the data keep the code names: "train", "accuracy")
SPLIT_NAMES = {"train": N_("train"), "test": N_("test")}
METRIC_NAMES = {"accuracy": N_("Accuracy"), "loss": N_("Loss")}
PER_EPOCH = {"accuracy": N_("Accuracy per epoch"), "loss": N_("Loss per epoch")}
SPLIT_METRIC = {("train", "accuracy"): N_("Train accuracy"), ("test", "accuracy"): N_("Test accuracy"),
                ("train", "loss"): N_("Train loss"), ("test", "loss"): N_("Test loss")}
BY_RUN = {("train", "accuracy"): N_("Train accuracy per epoch, by run"),
          ("test", "accuracy"): N_("Test accuracy per epoch, by run"),
          ("train", "loss"): N_("Train loss per epoch, by run"), ("test", "loss"): N_("Test loss per epoch, by run")}


def _split_name(split: str) -> str:
    return _(SPLIT_NAMES[split]) if split in SPLIT_NAMES else split


def _metric_name(metric: str) -> str:
    return _(METRIC_NAMES[metric]) if metric in METRIC_NAMES else metric.capitalize()


def _split_metric(split: str, metric: str) -> str:
    said = SPLIT_METRIC.get((split, metric))
    return _(said) if said else f"{split.capitalize()} {metric}"

# Fit the container's width only: heights stay the plotting area's, in Streamlit (which would
# otherwise squeeze axes, legend and title into the given height) and anywhere else alike.
FIT_WIDTH = alt.AutoSizeParams(type="fit-x", contains="padding")


def _runs_in_order(df: pd.DataFrame) -> list[str]:
    return [str(r) for r in pd.unique(df["run"])] if "run" in df else []


def _thin(df: pd.DataFrame, max_epochs: int = MAX_EPOCHS_DRAWN) -> pd.DataFrame:
    """Keep at most ``max_epochs`` evenly spread epochs per run (always the first and the last)."""
    if df.empty:
        return df
    last = int(df["epoch"].max())
    if last <= max_epochs:
        return df
    keep = set(np.unique(np.linspace(1, last, max_epochs).round().astype(int)).tolist())
    return df[df["epoch"].isin(keep) | df.groupby("run")["epoch"].transform("max").eq(df["epoch"])]


def _run_color(runs: list[str]) -> alt.Color:
    """Colour by run label, in the runs' order, with distinct fixed colours and a legend above."""
    palette = [RUN_COLORS[i % len(RUN_COLORS)] for i in range(len(runs))]
    # Below the plot, one run a line, labels never shortened: side by side, a third run fell off the
    # chart's right edge, and a long label was cut with "…".
    legend = alt.Legend(orient="bottom", direction="vertical", columns=1, labelLimit=LEGEND_LABEL_LIMIT,
                        symbolLimit=max(30, len(runs)))
    return alt.Color("run:N", title=_("Run"), scale=alt.Scale(domain=runs, range=palette), sort=runs, legend=legend)


def _value_axis(metric: str, title: str | None = None) -> tuple[alt.Scale, alt.Axis]:
    if metric == "accuracy":
        return alt.Scale(domain=[0, 1]), alt.Axis(format=".0%", title=title or _metric_name(metric))
    return alt.Scale(domainMin=0, zero=True, nice=True), alt.Axis(format=".2~f", title=title or _metric_name(metric))


def _epoch_x(last_epoch: int) -> alt.X:
    # Integer ticks only; the domain starts at epoch 1 so a 1-epoch run is not squeezed against 0.
    return alt.X(
        "epoch:Q",
        title=_("Epoch"),
        axis=alt.Axis(format="d", tickMinStep=1),
        scale=alt.Scale(domain=[1, max(2, last_epoch)], nice=False),
    )


def _value_format(metric: str) -> str:
    return ".1%" if metric == "accuracy" else ".4f"


def metric_chart(df: pd.DataFrame, metric: str, title: str | None = None) -> alt.Chart:
    """One run's train and test curves of ``metric`` ("accuracy" or "loss") per epoch.

    ``df`` is :func:`tm_core.experiments.history_frame` of one run (of several, the last is
    drawn). Accuracy is drawn on 0..100 %,
    loss from 0; train and test keep fixed colours.
    """
    if "run" in df and df["run"].nunique() > 1:  # one run per chart: the last one given
        df = df[df["run"] == _runs_in_order(df)[-1]]
    data = df.loc[df["metric"] == metric, ["epoch", "split", "value"]]
    data = _thin(data.assign(run="")).drop(columns="run")
    data = data.assign(value=data["value"].round(5), split=data["split"].map(_split_name)).reset_index(drop=True)
    scale, axis = _value_axis(metric)
    last = int(data["epoch"].max()) if len(data) else 1
    splits = [_split_name(s) for s in SPLIT_COLORS]  # shown in the page's language, fixed colours
    colors = list(SPLIT_COLORS.values())
    per_epoch = _(PER_EPOCH[metric]) if metric in PER_EPOCH else f"{metric.capitalize()} per epoch"
    chart = (
        alt.Chart(data, title=title or per_epoch)
        .mark_line(point=alt.OverlayMarkDef(size=18, filled=True) if last <= 100 else False, strokeWidth=2)
        .encode(
            x=_epoch_x(last),
            y=alt.Y("value:Q", scale=scale, axis=axis),
            color=alt.Color(
                "split:N",
                title=None,
                scale=alt.Scale(domain=splits, range=colors),
                sort=splits,
                legend=alt.Legend(orient="top"),
            ),
            tooltip=[
                alt.Tooltip("epoch:Q", title=_("Epoch"), format="d"),
                alt.Tooltip("split:N", title=_("Split")),
                alt.Tooltip("value:Q", title=_metric_name(metric), format=_value_format(metric)),
            ],
        )
        .properties(width="container", height=HEIGHT, autosize=FIT_WIDTH)
    )
    return chart


def _best_from_frame(df: pd.DataFrame) -> dict[str, int]:
    """Each run's best epoch from a history frame: highest test accuracy, then lowest test loss, then earliest."""
    test = df[df["split"] == "test"].pivot_table(index=["run", "epoch"], columns="metric", values="value", aggfunc="first")
    if test.empty or "accuracy" not in test:
        return {}
    test = test.reset_index()
    if "loss" not in test:
        test["loss"] = 0.0
    test = test.assign(neg=-test["accuracy"], loss=test["loss"].fillna(np.inf)).sort_values(["run", "neg", "loss", "epoch"])
    return {str(r): int(e) for r, e in test.groupby("run", sort=False)["epoch"].first().items()}


def overlay_chart(
    df: pd.DataFrame,
    metric: str = "accuracy",
    split: str = "test",
    best: dict[str, int] | None = None,
    stops: dict[str, tuple[int | None, int]] | None = None,
) -> alt.LayerChart:
    """Several runs' ``metric`` curves on ``split`` overlaid, coloured by run (in run order).

    Each run's best epoch (``best``, run label to epoch; computed from ``df``'s test values when
    None; pass ``{}`` for none) is marked with a point, a dashed rule and a label.

    ``stops`` (run label to ``(stopped_at, kept)``, as
    :func:`tm_core.experiments.early_stop_epoch` gives) adds where early stopping would have
    stopped each run, a dotted rule labelled "stop: N" at the top (none when it would not have
    stopped), and the epoch it would have kept, a diamond on the curve.
    """
    runs = _runs_in_order(df)
    data = _thin(df.loc[(df["metric"] == metric) & (df["split"] == split), ["run", "epoch", "value"]])
    data = data.assign(value=data["value"].round(5)).reset_index(drop=True)
    if best is None:
        best = _best_from_frame(df)
    marks = data.merge(
        pd.DataFrame({"run": list(best), "epoch": [int(e) for e in best.values()]}, columns=["run", "epoch"]).astype(
            {"run": object, "epoch": "int64"}
        ),
        on=["run", "epoch"],
    )
    marks = marks.assign(label=[_("best: {epoch}", epoch=e) for e in marks["epoch"]])
    scale, axis = _value_axis(metric, _split_metric(split, metric))
    last = int(data["epoch"].max()) if len(data) else 1
    color = _run_color(runs)
    x = _epoch_x(last)
    y = alt.Y("value:Q", scale=scale, axis=axis)
    tip = [
        alt.Tooltip("run:N", title=_("Run")),
        alt.Tooltip("epoch:Q", title=_("Epoch"), format="d"),
        alt.Tooltip("value:Q", title=_split_metric(split, metric), format=_value_format(metric)),
    ]
    lines = alt.Chart(data).mark_line(strokeWidth=2).encode(x=x, y=y, color=color, tooltip=tip)
    base = alt.Chart(marks).encode(x=x, color=color)
    rules = base.mark_rule(strokeDash=[4, 4], opacity=0.6).encode()
    points = base.mark_point(size=90, filled=True, stroke="white", strokeWidth=1).encode(
        y=y, tooltip=[alt.Tooltip("label:N", title=_("Best epoch")), *tip]
    )
    labels = base.mark_text(dy=-12, fontWeight="bold", fontSize=11).encode(y=y, text="label:N")
    layers = [lines, rules, points, labels]
    if stops:
        layers += _early_stop_layers(data, stops, x, y, color, tip)
    title = _(BY_RUN[(split, metric)]) if (split, metric) in BY_RUN else f"{split.capitalize()} {metric} per epoch, by run"
    return alt.layer(*layers, title=title).properties(width="container", height=HEIGHT, autosize=FIT_WIDTH)


def _early_stop_layers(data: pd.DataFrame, stops: dict[str, tuple[int | None, int]], x, y, color, tip) -> list:
    """A dotted rule and "stop: N" where each run would have stopped, a diamond on its kept epoch."""
    ended = [(str(r), int(s[0])) for r, s in stops.items() if s is not None and s[0] is not None]
    ends = pd.DataFrame(ended, columns=["run", "epoch"]).astype({"run": object, "epoch": "int64"})
    ends = ends.assign(label=[_("stop: {epoch}", epoch=e) for e in ends["epoch"]])
    kept = pd.DataFrame([(str(r), int(s[1])) for r, s in stops.items() if s is not None], columns=["run", "epoch"])
    kept = data.merge(kept.astype({"run": object, "epoch": "int64"}), on=["run", "epoch"])
    kept = kept.assign(label=[_("kept: {epoch}", epoch=e) for e in kept["epoch"]])
    stop_rules = alt.Chart(ends).mark_rule(strokeDash=[1, 3], strokeWidth=2).encode(
        x=x, color=color, tooltip=[alt.Tooltip("run:N", title=_("Run")), alt.Tooltip("label:N", title=_("Early stopping"))]
    )
    stop_text = alt.Chart(ends).mark_text(align="left", dx=3, fontSize=11).encode(x=x, y=alt.value(6), color=color, text="label:N")
    kept_points = alt.Chart(kept).mark_point(shape="diamond", size=110, filled=False, strokeWidth=2).encode(
        x=x, y=y, color=color, tooltip=[alt.Tooltip("label:N", title=_("Early stopping keeps")), *tip]
    )
    return [stop_rules, stop_text, kept_points]


def gap_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Train minus test accuracy per run and epoch (epochs with both values only): ``run, epoch, gap``."""
    acc = df[df["metric"] == "accuracy"]
    wide = acc.pivot_table(index=["run", "epoch"], columns="split", values="value", aggfunc="first")
    if wide.empty or not {"train", "test"} <= set(wide.columns):
        return pd.DataFrame({"run": pd.Series(dtype=object), "epoch": pd.Series(dtype="int64"), "gap": pd.Series(dtype="float64")})
    wide = wide.dropna(subset=["train", "test"]).reset_index()
    order = {r: i for i, r in enumerate(_runs_in_order(df))}
    out = wide.assign(gap=wide["train"] - wide["test"], order=wide["run"].map(order)).sort_values(["order", "epoch"])
    return out[["run", "epoch", "gap"]].reset_index(drop=True)


def gap_chart(df: pd.DataFrame) -> alt.Chart:
    """The overfitting gap: train − test accuracy per epoch, one line per run (in run order)."""
    runs = _runs_in_order(df)
    data = _thin(gap_frame(df))
    data = data.assign(gap=data["gap"].round(5))
    last = int(data["epoch"].max()) if len(data) else 1
    return (
        alt.Chart(data, title=_("Gap: train accuracy − test accuracy"))
        .mark_line(strokeWidth=2, point=alt.OverlayMarkDef(size=14, filled=True) if last <= 100 else False)
        .encode(
            x=_epoch_x(last),
            y=alt.Y("gap:Q", title=_("Train − test accuracy"), axis=alt.Axis(format=".0%"), scale=alt.Scale(zero=True)),
            color=_run_color(runs),
            tooltip=[
                alt.Tooltip("run:N", title=_("Run")),
                alt.Tooltip("epoch:Q", title=_("Epoch"), format="d"),
                alt.Tooltip("gap:Q", title=_("Gap"), format="+.1%"),
            ],
        )
        .properties(width="container", height=HEIGHT, autosize=FIT_WIDTH)
    )


def confusion_frame(evaluation: Evaluation) -> pd.DataFrame:
    """The confusion matrix as rows ``true, predicted, count, share`` (share of the true class's samples)."""
    names = list(evaluation.class_names)
    m = np.asarray(evaluation.confusion, np.int64).reshape(len(names), len(names))
    totals = m.sum(1)
    rows = [
        (t, p, int(m[i, j]), float(m[i, j] / totals[i]) if totals[i] else None)
        for i, t in enumerate(names)
        for j, p in enumerate(names)
    ]
    return pd.DataFrame(rows, columns=["true", "predicted", "count", "share"])


def confusion_chart(evaluation: Evaluation) -> alt.LayerChart:
    """Heatmap of the confusion matrix: rows the true class, columns the predicted class, both in class order.

    Each cell shows its count, in white on dark cells and black on light ones.
    """
    names = list(evaluation.class_names)
    data = confusion_frame(evaluation)
    top = max(1, int(data["count"].max()) if len(data) else 1)
    x = alt.X("predicted:N", title=_("Predicted class"), sort=names, scale=alt.Scale(domain=names), axis=alt.Axis(labelAngle=0, orient="top"))
    y = alt.Y("true:N", title=_("True class"), sort=names, scale=alt.Scale(domain=names))
    tip = [
        alt.Tooltip("true:N", title=_("True class")),
        alt.Tooltip("predicted:N", title=_("Predicted class")),
        alt.Tooltip("count:Q", title=_("Samples")),
        alt.Tooltip("share:Q", title=_("Share of true class"), format=".0%"),
    ]
    base = alt.Chart(data).encode(x=x, y=y)
    cells = base.mark_rect(stroke="white", strokeWidth=1).encode(
        color=alt.Color("count:Q", title=_("Samples"), scale=alt.Scale(scheme="blues", domain=[0, top]), legend=None),
        tooltip=tip,
    )
    text = base.mark_text(fontSize=14).encode(
        text=alt.Text("count:Q"),
        color=alt.condition(alt.datum.count > top / 2, alt.value("white"), alt.value("black")),
        tooltip=tip,
    )
    height = min(520, max(120, 52 * len(names)))
    return alt.layer(cells, text, title=_("Confusion matrix (held-out samples)")).properties(
        width="container", height=height, autosize=FIT_WIDTH
    )


def _js_strings(values: Sequence[str]) -> str:
    return "[" + ", ".join(json.dumps(str(v)) for v in values) + "]"


def per_class_frame(evaluation: Evaluation) -> pd.DataFrame:
    """``class, accuracy, correct, support, result`` per class, in class order; accuracy None without samples."""
    m = np.asarray(evaluation.confusion, np.int64)
    rows = []
    for i, name in enumerate(evaluation.class_names):
        n = int(evaluation.support.get(name, 0))
        acc = evaluation.per_class.get(name)
        correct = int(m[i, i]) if m.size else 0
        result = _("{correct} of {n} right", correct=correct, n=n) if n else _("no samples")
        rows.append((name, acc if n else None, correct, n, result))
    return pd.DataFrame(rows, columns=["class", "accuracy", "correct", "support", "result"])


def per_class_chart(evaluation: Evaluation) -> alt.LayerChart:
    """Horizontal bars of each class's accuracy on the held-out samples, in class order, each with its
    figure written on it ("67 % · 2 of 3"; inside the bar's end, or after a short bar).

    A class without held-out samples gets no bar, and "(no samples)" after its name.
    """
    names = list(evaluation.class_names)
    data = per_class_frame(evaluation)
    data = data.assign(label=[_("{acc} · {correct} of {n}", acc=format(a, ".0%"), correct=c, n=n) if n else "" for a, c, n in
                              zip(data["accuracy"], data["correct"], data["support"])])
    empty = data.loc[data["support"] == 0, "class"].tolist()
    no_samples = json.dumps(" " + _("(no samples)"))
    label_expr = (
        f"indexof({_js_strings(empty)}, datum.value) >= 0 ? datum.value + {no_samples} : datum.value"
        if empty
        else "datum.value"
    )
    bars = alt.Chart().mark_bar(color=BAR_COLOR)
    inside = alt.Chart().mark_text(align="right", dx=-5, color="white", fontWeight="bold").encode(text="label:N")
    after = alt.Chart().mark_text(align="left", dx=5, color="black").encode(text="label:N")
    long_bar = alt.datum.accuracy >= SHORT_BAR
    return (
        alt.LayerChart(data, layer=[bars, inside.transform_filter(long_bar),
                                    after.transform_filter((alt.datum.support > 0) & ~long_bar)],
                       title=_("Accuracy per class (held-out samples)"))
        .encode(
            x=alt.X("accuracy:Q", title=_("Accuracy"), scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format=".0%")),
            y=alt.Y("class:N", title=None, sort=names, scale=alt.Scale(domain=names), axis=alt.Axis(labelExpr=label_expr, labelLimit=240)),
            tooltip=[
                alt.Tooltip("class:N", title=_("Class")),
                alt.Tooltip("accuracy:Q", title=_("Accuracy"), format=".0%"),
                alt.Tooltip("result:N", title=_("Held-out samples")),
            ],
        )
        .properties(width="container", height=max(60, 34 * len(names)), autosize=FIT_WIDTH)
    )


def probability_chart(class_names: Sequence[str], probs: Sequence[float] | np.ndarray) -> alt.Chart:
    """Horizontal bars of one prediction's probability per class (0..100 %), in class order; the top class stands out."""
    names = [str(c) for c in class_names]
    p = np.asarray(probs, np.float64).reshape(-1)
    if len(p) != len(names):
        raise ValueError(f"{len(p)} probabilities for {len(names)} classes")
    top = int(p.argmax()) if len(p) else -1
    data = pd.DataFrame({"class": names, "probability": p.round(5), "top": [i == top for i in range(len(names))]})
    return (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=alt.X("probability:Q", title=_("Probability"), scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format=".0%")),
            y=alt.Y("class:N", title=None, sort=names, scale=alt.Scale(domain=names), axis=alt.Axis(labelLimit=240)),
            color=alt.condition(alt.datum.top, alt.value(TOP_COLOR), alt.value(BAR_COLOR)),
            tooltip=[alt.Tooltip("class:N", title=_("Class")),
                     alt.Tooltip("probability:Q", title=_("Probability"), format=".1%")],
        )
        .properties(width="container", height=max(60, 34 * len(names)), autosize=FIT_WIDTH)
    )


__all__ = [
    "SPLIT_COLORS",
    "confusion_chart",
    "confusion_frame",
    "gap_chart",
    "gap_frame",
    "metric_chart",
    "overlay_chart",
    "per_class_chart",
    "per_class_frame",
    "probability_chart",
]
