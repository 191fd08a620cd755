"""Altair charts: encodings, scales, class order, data rows, and that they serialise."""

import json
import time

import altair as alt
import numpy as np
import pandas as pd
import pytest

from tm_core import charts
from tm_core.evaluation import evaluate, evaluate_run
from tm_core.experiments import best_epoch, epoch_sweep, history_frame
from tm_core.training import TrainConfig

CLASSES = ["scissors", "rock", "paper"]  # deliberately not alphabetical


def blobs(n_per_class=40, k=3, d=16, seed=0, spread=2.5):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d)) * 1.5
    x = np.concatenate([centres[c] + spread * rng.normal(size=(n_per_class, d)) for c in range(k)]).astype(np.float32)
    return x, np.repeat(np.arange(k), n_per_class)


@pytest.fixture(scope="module")
def sweep():
    x, y = blobs()
    runs = epoch_sweep(x, y, CLASSES, epochs=(3, 12, 40), config=TrainConfig(seed=2))
    return x, y, runs


def rows(spec, layer=None):
    """The inline rows a (layer of a) chart spec draws."""
    part = spec["layer"][layer] if layer is not None else spec
    data = part.get("data") or spec["data"]
    assert "url" not in data  # always inline
    return spec["datasets"][data["name"]]


def serialises(chart):
    text = chart.to_json()
    assert json.loads(text)["$schema"].startswith("https://vega.github.io/schema/vega-lite/")
    assert '"url"' not in text
    return chart.to_dict()


def test_metric_chart_accuracy_and_loss(sweep):
    _, _, runs = sweep
    df = history_frame(runs[1:2])  # 12 epochs
    spec = serialises(charts.metric_chart(df, "accuracy", title="Accuracy"))
    enc = spec["encoding"]
    assert spec["mark"]["type"] == "line" and spec["width"] == "container" and spec["title"] == "Accuracy"
    assert spec["autosize"] == {"type": "fit-x", "contains": "padding"}  # responsive width, height kept in Streamlit
    assert (enc["x"]["field"], enc["x"]["type"], enc["x"]["axis"]["format"]) == ("epoch", "quantitative", "d")
    assert enc["x"]["axis"]["tickMinStep"] == 1
    assert (enc["y"]["field"], enc["y"]["type"]) == ("value", "quantitative")
    assert enc["y"]["scale"]["domain"] == [0, 1] and enc["y"]["axis"]["format"] == ".0%"
    assert enc["color"]["field"] == "split" and enc["color"]["scale"]["domain"] == ["train", "test"]
    assert enc["color"]["scale"]["range"] == [charts.SPLIT_COLORS["train"], charts.SPLIT_COLORS["test"]]
    assert [t["field"] for t in enc["tooltip"]] == ["epoch", "split", "value"]
    data = rows(spec)
    assert len(data) == 24 and {r["split"] for r in data} == {"train", "test"}
    train_acc = {s.epoch: s.accuracy for s in runs[1][1].history}
    assert all(abs(r["value"] - train_acc[r["epoch"]]) < 1e-5 for r in data if r["split"] == "train")

    loss = serialises(charts.metric_chart(df, "loss"))
    assert loss["encoding"]["y"]["scale"]["domainMin"] == 0 and "domain" not in loss["encoding"]["y"]["scale"]
    assert len(rows(loss)) == 24 and all(r["value"] > 0 for r in rows(loss))


def test_metric_chart_is_cheap_for_long_runs_and_copes_with_one_or_no_epoch():
    epochs = np.arange(1, 501)
    df = pd.DataFrame(
        [("r", int(e), m, s, float(v)) for e in epochs for m in ("accuracy", "loss") for s, v in (("train", 1 - 1 / e), ("test", 0.8))],
        columns=["run", "epoch", "metric", "split", "value"],
    )
    start = time.perf_counter()
    spec = charts.metric_chart(df, "accuracy").to_dict()
    assert time.perf_counter() - start < 1.0 and len(rows(spec)) == 1000
    assert spec["encoding"]["x"]["scale"]["domain"] == [1, 500]

    long = pd.concat([df.assign(epoch=df["epoch"] + 500 * k) for k in range(6)])  # 3000 epochs: thinned
    thinned = rows(charts.metric_chart(long, "accuracy").to_dict())
    kept = sorted({r["epoch"] for r in thinned})
    assert len(kept) <= charts.MAX_EPOCHS_DRAWN and kept[0] == 1 and kept[-1] == 3000

    one = df[df["epoch"] == 1]
    spec = serialises(charts.metric_chart(one, "accuracy"))
    assert len(rows(spec)) == 2 and spec["mark"]["point"]  # one epoch still shows as points
    empty = history_frame([])
    assert rows(serialises(charts.metric_chart(empty, "loss"))) == []


def test_overlay_chart_colours_runs_in_order_and_marks_each_best_epoch(sweep):
    _, _, runs = sweep
    df = history_frame(runs)
    best = {label: best_epoch(run) for label, run in runs}
    chart = charts.overlay_chart(df, "accuracy", "test", best=best)
    assert isinstance(chart, alt.LayerChart)
    spec = serialises(chart)
    assert len(spec["layer"]) == 4 and spec["width"] == "container"
    lines, rules, points, labels = spec["layer"]
    assert lines["mark"]["type"] == "line" and rules["mark"]["type"] == "rule"
    assert points["mark"]["type"] == "point" and labels["mark"]["type"] == "text"
    labels_in_order = [label for label, _ in runs]
    assert lines["encoding"]["color"]["field"] == "run" and lines["encoding"]["color"]["scale"]["domain"] == labels_in_order
    assert lines["encoding"]["y"]["scale"]["domain"] == [0, 1]
    assert len(rows(spec, 0)) == sum(len(r.history) for _, r in runs)
    marks = rows(spec, 2)
    assert {r["run"]: r["epoch"] for r in marks} == best
    assert {r["label"] for r in marks} == {f"best: {e}" for e in best.values()}
    for r in marks:  # the point sits on the curve: the run's test accuracy at its best epoch
        run = dict(runs)[r["run"]]
        assert r["value"] == pytest.approx(run.history[r["epoch"] - 1].test_accuracy, abs=1e-5)

    assert {r["run"]: r["epoch"] for r in rows(charts.overlay_chart(df).to_dict(), 2)} == best  # computed when not given
    assert rows(charts.overlay_chart(df, best={}).to_dict(), 2) == []
    loss = charts.overlay_chart(df, "loss", "train").to_dict()
    assert loss["layer"][0]["encoding"]["y"]["scale"]["domainMin"] == 0
    assert len(rows(loss, 0)) == sum(len(r.history) for _, r in runs)


def test_gap_chart_is_train_minus_test_accuracy(sweep):
    _, _, runs = sweep
    df = history_frame(runs)
    spec = serialises(charts.gap_chart(df))
    enc = spec["encoding"]
    assert (enc["x"]["field"], enc["y"]["field"], enc["color"]["field"]) == ("epoch", "gap", "run")
    assert enc["y"]["axis"]["format"] == ".0%" and enc["color"]["scale"]["domain"] == [label for label, _ in runs]
    data = rows(spec)
    assert len(data) == sum(len(r.history) for _, r in runs)
    for r in data:
        s = dict(runs)[r["run"]].history[r["epoch"] - 1]
        assert r["gap"] == pytest.approx(s.accuracy - s.test_accuracy, abs=1e-5)
    assert charts.gap_frame(history_frame([])).columns.tolist() == ["run", "epoch", "gap"]


def test_confusion_chart_rows_true_columns_predicted_in_class_order(sweep):
    x, y, runs = sweep
    ev = evaluate_run(runs[-1][1], x, y)
    chart = charts.confusion_chart(ev)
    assert isinstance(chart, alt.LayerChart)
    spec = serialises(chart)
    cells, text = spec["layer"]
    assert spec["width"] == "container" and spec["autosize"]["type"] == "fit-x"
    assert cells["mark"]["type"] == "rect" and text["mark"]["type"] == "text"
    for layer in (cells, text):
        enc = layer["encoding"]
        assert (enc["x"]["field"], enc["x"]["title"], enc["x"]["sort"]) == ("predicted", "Predicted class", CLASSES)
        assert (enc["y"]["field"], enc["y"]["title"], enc["y"]["sort"]) == ("true", "True class", CLASSES)
        assert enc["x"]["scale"]["domain"] == CLASSES == enc["y"]["scale"]["domain"]
    assert text["encoding"]["text"]["field"] == "count"
    assert {c["value"] for c in [text["encoding"]["color"]["condition"], text["encoding"]["color"]]} == {"white", "black"}
    data = rows(spec, 0)
    assert len(data) == 9
    m = {(r["true"], r["predicted"]): r["count"] for r in data}
    for i, t in enumerate(CLASSES):
        for j, p in enumerate(CLASSES):
            assert m[(t, p)] == ev.confusion[i, j]
    assert sum(m.values()) == len(runs[-1][1].split.test)


def test_per_class_chart_shows_classes_without_samples_as_absent():
    probs = np.eye(3)[[0, 0, 1, 0, 1, 1]]  # "paper" has no held-out samples
    ev = evaluate(probs, np.array([0, 0, 0, 1, 1, 1]), CLASSES)
    spec = serialises(charts.per_class_chart(ev))
    enc = spec["encoding"]
    assert spec["layer"][0]["mark"]["type"] == "bar" and spec["width"] == "container"  # then its figures as text
    assert (enc["x"]["field"], enc["x"]["scale"]["domain"], enc["x"]["axis"]["format"]) == ("accuracy", [0, 1], ".0%")
    assert (enc["y"]["field"], enc["y"]["sort"]) == ("class", CLASSES)
    assert "no samples" in enc["y"]["axis"]["labelExpr"] and '"paper"' in enc["y"]["axis"]["labelExpr"]
    data = {r["class"]: r for r in rows(spec)}
    assert list(data) == CLASSES
    assert data["scissors"]["accuracy"] == pytest.approx(2 / 3) and data["scissors"]["result"] == "2 of 3 right"
    assert data["rock"]["accuracy"] == pytest.approx(2 / 3)
    assert data["paper"]["accuracy"] is None and data["paper"]["result"] == "no samples"
    everyone = charts.per_class_chart(evaluate(np.eye(3), np.arange(3), CLASSES)).to_dict()
    assert everyone["encoding"]["y"]["axis"]["labelExpr"] == "datum.value"


def test_probability_chart_bars_in_class_order_with_the_top_class_highlighted():
    spec = serialises(charts.probability_chart(CLASSES, np.array([0.1, 0.7, 0.2], np.float32)))
    enc = spec["encoding"]
    assert (enc["x"]["field"], enc["x"]["scale"]["domain"]) == ("probability", [0, 1])
    assert (enc["y"]["field"], enc["y"]["sort"]) == ("class", CLASSES)
    data = rows(spec)
    assert [r["class"] for r in data] == CLASSES and [r["top"] for r in data] == [False, True, False]
    assert [r["probability"] for r in data] == pytest.approx([0.1, 0.7, 0.2], abs=1e-5)
    with pytest.raises(ValueError):
        charts.probability_chart(CLASSES, [0.5, 0.5])
