"""Charts, tables and file names a student reads (issue 19, item 11): every run in the legend, figures
on the per-class bars, readable run-table titles with percentages, code that wraps, and a saved
project named after its classes and the day."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from tm_core import charts, naming
from tm_core.evaluation import evaluate
from tm_core.experiments import SUMMARY_COLUMNS, SUMMARY_TITLES, summary_frame
from tm_core.training import TrainConfig, train

from conftest import app, sess

LONG_RUNS = [f"Run {i} · {e} epochs · batch 16 · lr 0.001" for i, e in ((1, 50), (2, 200), (11, 5), (12, 1000))]


def history(runs):
    rows = [(r, e, m, s, 0.5 + 0.01 * e) for r in runs for e in (1, 2, 3) for m in ("accuracy", "loss")
            for s in ("train", "test")]
    return pd.DataFrame(rows, columns=["run", "epoch", "metric", "split", "value"])


def legends(spec):
    """Every legend given in a (layered) chart spec, with the colour domain it lists."""
    found = []
    for part in [spec, *spec.get("layer", [])]:
        color = part.get("encoding", {}).get("color", {})
        if "legend" in color and color.get("field") == "run":
            found.append((color["legend"], color["scale"]["domain"]))
    return found


@pytest.mark.parametrize("make", [lambda df: charts.overlay_chart(df, "accuracy", "test", best={}),
                                  lambda df: charts.gap_chart(df)])
def test_run_legends_list_every_run_in_full(make):
    spec = make(history(LONG_RUNS)).to_dict()
    found = legends(spec)
    assert found
    for legend, domain in found:
        assert domain == LONG_RUNS  # every run, in order
        assert legend["orient"] == "bottom" and legend["columns"] == 1  # one a line, under the plot
        assert legend["symbolLimit"] >= len(LONG_RUNS)
        # ~7 px a character at the legend's 11 px font: no label is cut with "…"
        assert legend["labelLimit"] >= 7 * max(len(r) for r in LONG_RUNS)


def test_per_class_bars_carry_their_figures():
    probs = np.eye(3)[[0, 0, 1, 0, 1, 1, 2]]
    ev = evaluate(probs, np.array([0, 0, 0, 1, 1, 1, 2]), ["scissors", "rock", "paper"])
    spec = charts.per_class_chart(ev).to_dict()
    texts = [layer for layer in spec["layer"] if layer["mark"]["type"] == "text"]
    assert texts and all(t["encoding"]["text"]["field"] == "label" for t in texts)
    data = {r["class"]: r["label"] for r in spec["datasets"][spec["data"]["name"]]}
    assert data == {"scissors": "67% · 2 of 3", "rock": "67% · 2 of 3", "paper": "100% · 1 of 1"}


def test_run_table_titles_are_words_and_accuracies_percentages():
    from tm_core.ui.tables import summary_config

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(30, 4)).astype(np.float32), np.repeat(np.arange(3), 10)
    frame = summary_frame([("Run 1", train(x, y, ["a", "b", "c"], TrainConfig(epochs=3)))])
    config = summary_config(frame)
    assert set(config) == set(SUMMARY_COLUMNS) == set(SUMMARY_TITLES)
    for column, settings in config.items():
        assert "_" not in settings["label"] and settings["label"] == SUMMARY_TITLES[column]
    for column in ("final_train_accuracy", "final_test_accuracy", "best_test_accuracy", "final_gap"):
        assert config[column]["type_config"]["format"] == "percent"
    assert config["run"]["pinned"] is True


def test_saved_project_file_is_named_after_its_classes_and_the_day():
    day = dt.date(2026, 12, 4)
    assert naming.project_file_name(["rock", "paper", "scissors"], "image", ".tmproject.zip", day) == \
        "rock-paper-scissors-2026-12-04.tmproject.zip"
    assert naming.project_file_name(["Class 1", "Class 2"], "image", ".tmproject.zip", day) == \
        "image-project-2026-12-04.tmproject.zip"  # untouched starter names: the kind
    assert naming.project_file_name(["Background Noise", "박수", "휘파람"], "audio", ".z", day) == "박수-휘파람-2026-12-04.z"
    odd = naming.project_file_name(["a/b", "..", "C:\\x?*", "  T-Shirt  "], "image", ".z", day)
    assert odd == "a-b-c-x-t-shirt-2026-12-04.z"
    assert naming.project_file_name(["x" * 50, "y" * 50], "pose", ".z", day) == "pose-project-2026-12-04.z"


def test_save_project_button_uses_the_name(monkeypatch):
    from streamlit.runtime.media_file_manager import MediaFileManager

    names = []
    original = MediaFileManager.add_deferred

    def spy(self, data_callable, mimetype, coordinates, file_name=None, **kw):
        names.append(file_name)
        return original(self, data_callable, mimetype, coordinates, file_name, **kw)

    monkeypatch.setattr(MediaFileManager, "add_deferred", spy)
    at = app()
    sess(at).project.rename_class("Class 1", "가위")
    sess(at).project.rename_class("Class 2", "바위")
    names.clear()
    at.run()
    assert f"가위-바위-{dt.date.today().isoformat()}.tmproject.zip" in names

