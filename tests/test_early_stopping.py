"""Early stopping on the test loss (issue 6, "When to stop"): in training, after the fact, on the pages and the CLI.

Real embeddings: rock / paper / scissors photos through MobileNetV2 0.35. At learning rate
0.01 their test loss falls for about 20 epochs and then rises while train accuracy stays at
100 %: the overfitting that early stopping is for.
"""

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from tm_core import charts
from tm_core.errors import InputError
from tm_core.experiments import EarlyStop, early_stop_epoch, history_frame, summary_frame
from tm_core.lessons import early_stop_text
from tm_core.training import EPSILON, EpochStats, Run, Split, TrainConfig, init_head, train

OVERFITS = TrainConfig(epochs=150, learning_rate=0.01)  # many epochs, a high learning rate


@pytest.fixture(scope="module")
def rps20(encoder, rps_train):
    """Embeddings of 20 real photos per class of rock / paper / scissors (computed once)."""
    from conftest import split_photos

    classes, (images, labels, _), _ = split_photos(rps_train, 20, 1)
    return encoder.encode(images), labels, classes


@pytest.fixture(scope="module")
def full_run(rps20):
    """150 epochs without early stopping, and the head after every epoch."""
    x, y, classes = rps20
    heads = []
    run = train(x, y, classes, OVERFITS, on_head=heads.append)
    return run, heads


def cross_entropy(head, x, y) -> float:
    """Mean cross-entropy of a head on (x, y), written out here rather than borrowed from training."""
    p = np.clip(head.predict_proba(x), EPSILON, 1 - EPSILON)
    return float(-np.log(p[np.arange(len(y)), y]).mean())


def same_head(a, b) -> bool:
    return all(np.array_equal(u, v) for u, v in ((a.w1, b.w1), (a.b1, b.b1), (a.w2, b.w2)))


# ---------------------------------------------------------------------------------------------
# Training


def test_off_by_default_runs_every_epoch_and_keeps_the_last_head(full_run):
    run, heads = full_run
    assert TrainConfig().early_stopping is False and TrainConfig().patience == 5
    assert len(run.history) == 150 and run.early_stopped_at is None and run.kept_epoch is None
    assert same_head(run.head, heads[-1])
    losses = [s.test_loss for s in run.history]
    low = int(np.argmin(losses)) + 1
    assert low < 100 and losses[-1] > min(losses) * 1.2  # the data really overfits: test loss rises again
    assert run.history[-1].accuracy == 1.0


def test_early_stopping_stops_and_restores_the_best_epochs_head(rps20, full_run):
    x, y, classes = rps20
    full, full_heads = full_run
    heads, seen = [], []
    config = replace(OVERFITS, early_stopping=True, patience=5)
    run = train(x, y, classes, config, on_head=heads.append, on_epoch=seen.append)

    n = len(run.history)
    assert run.early_stopped_at == n < config.epochs and not run.stopped
    assert run.history == full.history[:n] == seen  # the same epochs as without early stopping, up to the stop
    kept = run.kept_epoch
    losses = [s.test_loss for s in run.history]
    assert losses[kept - 1] == min(losses) and n - kept == config.patience
    assert all(loss > losses[kept - 1] for loss in losses[kept:])  # no better epoch after the kept one

    assert same_head(run.head, full_heads[kept - 1])  # the weights of the kept epoch, not of the last one
    assert not same_head(run.head, full_heads[n - 1])
    assert same_head(heads[-1], run.head) and len(heads) == n  # the last on_head call is the kept head too
    test = run.split.test
    assert cross_entropy(run.head, x[test], y[test]) == pytest.approx(min(losses), rel=1e-5)
    assert cross_entropy(full_heads[n - 1], x[test], y[test]) == pytest.approx(losses[-1], rel=1e-5)
    assert run.kept_stats().epoch == kept

    # Computed after the fact from the run without early stopping: the same stop and the same kept epoch
    assert early_stop_epoch(full, 5) == EarlyStop(run.early_stopped_at, kept)
    assert early_stop_epoch(run, 5) == EarlyStop(run.early_stopped_at, kept)

    table = summary_frame([("off", full), ("on", run)])
    assert table["kept_epoch"].tolist()[1] == kept and pd.isna(table["kept_epoch"].iloc[0])
    assert table["epochs"].tolist() == [150, n]

    summary = json.loads(json.dumps(run.summary()))
    assert summary["early_stopped_at"] == n and summary["kept_epoch"] == kept
    assert summary["config"]["early_stopping"] is True and len(summary["history"]) == n


def test_patience_running_out_on_the_last_planned_epoch_is_not_a_stop(rps20, full_run):
    x, y, classes = rps20
    full, _ = full_run
    stop = early_stop_epoch(full, 5)
    run = train(x, y, classes, replace(OVERFITS, epochs=stop.stopped_at, early_stopping=True))
    assert len(run.history) == stop.stopped_at and run.early_stopped_at is None
    assert run.kept_epoch == stop.kept  # the kept epoch's weights all the same


def test_a_longer_patience_waits_longer(rps20, full_run):
    x, y, classes = rps20
    full, _ = full_run
    short, long = early_stop_epoch(full, 3), early_stop_epoch(full, 20)
    run = train(x, y, classes, replace(OVERFITS, early_stopping=True, patience=20))
    assert (run.early_stopped_at, run.kept_epoch) == long
    assert long.stopped_at > short.stopped_at and long.kept >= short.kept


def test_without_held_out_samples_early_stopping_does_nothing(rps20):
    x, y, classes = rps20
    run = train(x, y, classes, replace(OVERFITS, epochs=30, test_fraction=0.0, early_stopping=True))
    assert len(run.split.test) == 0 and len(run.history) == 30
    assert run.early_stopped_at is None and run.kept_epoch is None


@pytest.mark.parametrize("field,value", [("patience", 0), ("patience", 2.5), ("patience", True),
                                         ("patience", 20_000), ("early_stopping", "yes")])
def test_bad_early_stopping_settings_are_refused_with_their_name(field, value):
    with pytest.raises(InputError) as e:
        TrainConfig(**{field: value}).validate()
    assert field.replace("_", " ") in str(e.value)


# ---------------------------------------------------------------------------------------------
# After the fact, on a given history


def history(test_loss, test_acc=None):
    test_acc = test_acc or [0.5] * len(test_loss)
    return [EpochStats(e + 1, 1.0 / (e + 1), 0.9, loss, acc) for e, (loss, acc) in enumerate(zip(test_loss, test_acc))]


def test_early_stop_epoch_on_a_synthetic_history():
    h = history([1.0, 0.8, 0.6, 0.7, 0.65, 0.9, 0.61, 0.95, 1.0])
    assert early_stop_epoch(h, 3) == EarlyStop(6, 3)  # epochs 4, 5 and 6 not below epoch 3's 0.6
    assert early_stop_epoch(h, 4) == (7, 3)
    assert early_stop_epoch(h, 6) == EarlyStop(None, 3)  # would run to the end (epoch 9 is the last)
    assert early_stop_epoch(h, 6, epochs=50) == EarlyStop(9, 3)  # ... unless more were planned
    assert early_stop_epoch(history([0.5, 0.5, 0.5, 0.4]), 2) == EarlyStop(3, 1)  # equal is no improvement
    assert early_stop_epoch(history([0.9, 0.8, 0.7, 0.6]), 1) == EarlyStop(None, 4)  # still falling
    gaps = history([0.9, 0.5, 0.7, 0.8, 0.9])
    gaps[1] = EpochStats(2, 0.5, 0.9, None, None)  # an epoch without a test loss is skipped
    assert early_stop_epoch(gaps, 2, epochs=10) == EarlyStop(5, 3)
    assert early_stop_epoch([EpochStats(1, 0.5, 0.9, None, None)], 5) is None
    assert early_stop_epoch([], 5) is None
    with pytest.raises(ValueError):
        early_stop_epoch(h, 0)


def make_run(test_loss, test_acc, epochs=None, **config):
    h = history(test_loss, test_acc)
    cfg = TrainConfig(epochs=epochs or len(h), **config)
    return Run(cfg, ["a", "b"], h, init_head(4, 2, 3, 0), Split(np.arange(30), np.arange(30, 60)))


def test_early_stop_text_says_where_and_what_it_would_have_kept():
    run = make_run([1.0, 0.8, 0.6, 0.7, 0.65, 0.9, 0.61, 0.95, 1.0],
                   [0.5, 0.8, 14 / 15, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9], epochs=9)
    assert early_stop_epoch(run, 3) == (6, 3)
    assert early_stop_text(run, 3) == ("With early stopping (waiting 3 epochs) training would have stopped at epoch 6 and "
                                       "kept epoch 3: test accuracy 93 % instead of 90 % at the end.")
    assert early_stop_text(run, 6) == ("With early stopping (waiting 6 epochs) training would have run all 9 epochs and "
                                       "kept epoch 3: test accuracy 93 % instead of 90 % at the end.")
    falling = make_run([0.9, 0.8, 0.7], [0.5, 0.6, 0.7])
    assert early_stop_text(falling, 5).endswith("kept the last one: the test loss was still at its lowest.")
    same = make_run([0.9, 0.5, 0.6, 0.7], [0.7, 0.9, 0.9, 0.9], epochs=20)
    assert early_stop_text(same, 2) == ("With early stopping (waiting 2 epochs) training would have stopped at epoch 4 and "
                                        "kept epoch 2: test accuracy 90 %, the same as at the end.")
    assert early_stop_text(make_run([None, None], [None, None]), 5) is None


def test_early_stop_text_of_a_run_that_used_it(rps20):
    x, y, classes = rps20
    run = train(x, y, classes, replace(OVERFITS, early_stopping=True, patience=5))
    kept, last = run.kept_stats(), run.history[-1]
    assert early_stop_text(run, 99) == (
        f"Trained with early stopping (waiting 5 epochs): it stopped at epoch {run.early_stopped_at} and kept epoch "
        f"{run.kept_epoch}, test accuracy {kept.test_accuracy * 100:.0f} % ({last.test_accuracy * 100:.0f} % at epoch "
        f"{last.epoch}).")


# ---------------------------------------------------------------------------------------------
# Chart marks


def test_overlay_chart_marks_where_each_run_would_stop_and_what_it_keeps(full_run):
    full, _ = full_run
    short = make_run([1.0, 0.8, 0.6, 0.7, 0.65, 0.9, 0.61, 0.95, 1.0], [0.5, 0.8, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9])
    runs = [("real", full), ("short", short)]
    stops = {"real": early_stop_epoch(full, 5), "short": early_stop_epoch(short, 12)}  # short would not stop
    df = history_frame(runs)
    for metric in ("accuracy", "loss"):
        spec = charts.overlay_chart(df, metric, "test", stops=stops).to_dict()
        assert len(spec["layer"]) == 7
        rule, text, kept = spec["layer"][4:]
        assert rule["mark"]["type"] == "rule" and rule["mark"]["strokeDash"] == [1, 3]
        assert text["mark"]["type"] == "text" and kept["mark"]["shape"] == "diamond"
        assert rule["encoding"]["color"]["scale"]["domain"] == ["real", "short"]  # the run's own colour
        ends = spec["datasets"][rule["data"]["name"]]
        assert ends == [{"run": "real", "epoch": stops["real"].stopped_at, "label": f"stop: {stops['real'].stopped_at}"}]
        points = spec["datasets"][kept["data"]["name"]]
        assert {p["run"]: p["epoch"] for p in points} == {"real": stops["real"].kept, "short": 3}
        for p in points:  # each diamond sits on its run's curve at the kept epoch
            stats = dict(runs)[p["run"]].history[p["epoch"] - 1]
            want = stats.test_accuracy if metric == "accuracy" else stats.test_loss
            assert p["value"] == pytest.approx(want, abs=1e-5) and p["label"] == f"kept: {p['epoch']}"
    assert len(charts.overlay_chart(df, "loss", "test").to_dict()["layer"]) == 4  # no stops given: as before


# ---------------------------------------------------------------------------------------------
# The pages (AppTest, real photos through the real encoder)

from conftest import click, sess  # noqa: E402
from test_app import filled_app  # noqa: E402


def early_train_page(rps_train, epochs=150, lr=0.01, patience=5):
    at = filled_app(rps_train, n=12)
    at.switch_page("app_pages/train.py").run()
    at.number_input(key="cfg:epochs").set_value(epochs).run()
    at.number_input(key="cfg:learning_rate").set_value(lr).run()
    assert at.number_input(key="cfg:patience").disabled  # only with early stopping on
    at.toggle(key="cfg:early_stopping").set_value(True).run()
    assert not at.number_input(key="cfg:patience").disabled
    at.number_input(key="cfg:patience").set_value(patience).run()
    assert not at.exception
    return at


def test_train_page_toggle_stops_early_and_says_which_epoch_it_kept(rps_train):
    at = early_train_page(rps_train)
    assert any(t.label == "Stop when the test loss stops improving" for t in at.toggle)
    assert any("does nothing" in c.value and "2 samples in each class" in c.value for c in at.caption)  # when it cannot work
    config = sess(at).config
    assert config.early_stopping and config.patience == 5 and config.epochs == 150
    click(at, "Train model")
    rec = sess(at).current
    run = rec.run
    assert run.early_stopped_at is not None and len(run.history) == run.early_stopped_at < 150
    assert not run.stopped and early_stop_epoch(run, 5) == (run.early_stopped_at, run.kept_epoch)
    assert any(i.value.startswith(f"Stopped early at epoch {run.early_stopped_at}; kept epoch {run.kept_epoch}'s weights")
               for i in at.info)
    assert rec.label.endswith(f" · early stop at {run.early_stopped_at}, kept {run.kept_epoch}")
    kept = run.kept_stats()
    assert at.metric[1].value == f"{kept.test_accuracy:.0%}"  # the figures of the kept model, not of the last epoch
    assert rec.evaluation.accuracy == pytest.approx(kept.test_accuracy)  # its head is the kept epoch's
    assert at.metric[2].value == str(len(run.history))

    click(at, "Reset to defaults")
    assert at.toggle(key="cfg:early_stopping").value is False and at.number_input(key="cfg:patience").value == 5
    assert sess(at).config.early_stopping is False


def test_a_stop_with_early_stopping_on_keeps_the_lowest_test_loss_so_far(rps_train):
    """A Stop click interrupts training; with early stopping on, the kept head is the best so far."""
    from tm_core.ui.state import PendingRun

    at = filled_app(rps_train, n=12)
    s = sess(at)
    ds = s.project.dataset()
    features = np.random.default_rng(0).normal(size=(len(ds.samples), 16)).astype(np.float32)
    config = TrainConfig(epochs=50, learning_rate=0.05, early_stopping=True, patience=40)
    heads = []
    done = train(features, ds.labels, ds.class_names, replace(config, epochs=12), on_head=heads.append)
    kept = done.kept_epoch
    s.pending = PendingRun(config, s.encoder_name, ds, features, done.split, done.history, heads[-1])
    at.run()  # what the Stop button's rerun does
    assert not at.exception and s.current.run.stopped and s.current.run.kept_epoch == kept
    assert same_head(s.current.run.head, done.head)
    at.switch_page("app_pages/train.py").run()
    assert any(f"Stopped after 12 of 50 epochs; kept epoch {kept}'s weights" in i.value for i in at.info)


@pytest.mark.slow
def test_overfitting_page_marks_where_early_stopping_would_have_stopped(rps_train):
    at = filled_app(rps_train, n=12)
    at.switch_page("app_pages/train.py").run()
    at.number_input(key="cfg:learning_rate").set_value(0.01).run()
    at.toggle(key="cfg:early_stopping").set_value(True).run()  # the lesson still trains without it
    at.switch_page("app_pages/overfitting.py").run()
    click(at, "Train for 5, 20, 50, 200 epochs")
    runs = [r.run for r in sess(at).runs]
    assert [len(r.history) for r in runs] == [5, 20, 50, 200] and all(r.kept_epoch is None for r in runs)
    assert any(c.value.startswith("The lesson trains without early stopping") for c in at.caption)
    text = next(m.value for m in at.markdown if m.value.startswith("**When to stop**"))
    for rec in sess(at).runs:
        sentence = early_stop_text(rec.run, 5)
        assert f"- *{rec.label}*: {sentence}" in text
    long = runs[-1]
    stop = early_stop_epoch(long, 5)
    assert stop.stopped_at is not None and stop.stopped_at < 200
    assert f"would have stopped at epoch {stop.stopped_at} and kept epoch {stop.kept}" in text
    from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df

    for chart in at.get("vega_lite_chart")[:2]:  # the long run's accuracy and loss, each with the stop rule and kept diamond
        spec = json.loads(chart.proto.spec)
        datasets = {d.name: convert_arrow_bytes_to_pandas_df(d.data.data) for d in chart.proto.datasets}
        rule, text, kept = spec["layer"][-3:]
        assert rule["mark"]["type"] == "rule" and kept["mark"]["shape"] == "diamond"
        assert datasets[rule["data"]["name"]]["epoch"].tolist() == [stop.stopped_at]
        assert datasets[text["data"]["name"]]["label"].tolist() == [f"stop: {stop.stopped_at}"]
        assert datasets[kept["data"]["name"]]["epoch"].tolist() == [stop.kept]
    assert any("Dotted lines" in c.value and "waiting 5 epochs" in c.value for c in at.caption)


# ---------------------------------------------------------------------------------------------
# The command line


@pytest.mark.slow
def test_cli_train_with_early_stopping(rps_train, tmp_path, capsys):
    from test_cli import one_line_error, subset

    from tm_core.__main__ import main

    data = subset(rps_train, tmp_path / "data", 20)
    out = tmp_path / "out"
    code = main(["train", str(data), "--out", str(out), "--epochs", "150", "--learning-rate", "0.01",
                 "--early-stopping", "--patience", "4", "--no-tflite"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    run = json.loads((out / "run.json").read_text())
    stopped, kept = run["early_stopped_at"], run["kept_epoch"]
    assert run["config"]["early_stopping"] is True and run["config"]["patience"] == 4
    assert stopped is not None and len(run["history"]) == stopped < 150 and stopped - kept == 4
    assert len(captured.out.strip().splitlines()) == stopped  # one line per epoch done
    assert "early stopping with patience 4" in captured.err
    assert f"stopped early at epoch {stopped}; kept epoch {kept}'s weights" in captured.err
    losses = [h["test_loss"] for h in run["history"]]
    assert losses[kept - 1] == min(losses)
    # the exported head is the kept one: its held-out accuracy is the kept epoch's
    assert run["held_out"]["accuracy"] == pytest.approx(run["history"][kept - 1]["test_accuracy"])
    one_line_error(capsys, ["train", data, "--out", tmp_path / "o2", "--early-stopping", "--patience", "0"], "patience")
