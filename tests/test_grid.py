"""Sweeps over two settings: the grid, its runs, its table, its CSV and JSON, the CLI and the page."""

import io
import json

import numpy as np
import pandas as pd
import pytest

from tm_core import grid
from tm_core.errors import InputError
from tm_core.training import Split, TrainConfig, split_per_class, train


@pytest.fixture(scope="module")
def rps20(encoder, rps_train):
    """Embeddings of 20 real photos per class of rock / paper / scissors and one held-out split."""
    from conftest import split_photos

    classes, (images, labels, _), _ = split_photos(rps_train, 20, 1)
    return encoder.encode(images), labels, classes, split_per_class(labels, 0.15, 0)


def test_values_are_parsed_and_bad_ones_refused_with_a_reason():
    assert grid.parse_values("learning_rate", "0.0001, 0.001;0.01,") == (0.0001, 0.001, 0.01)
    assert grid.parse_values("batch_size", "16,64") == (16, 64) and isinstance(grid.parse_values("epochs", "5")[0], int)
    for setting, text, reason in (("learning_rate", "0.1, fast", "'fast' is not a number"),
                                  ("batch_size", "16.5", "not a whole number"), ("epochs", " , ", "at least one value"),
                                  ("hidden_units", "4", "cannot be swept")):
        with pytest.raises(InputError, match=reason):
            grid.parse_values(setting, text)
    with pytest.raises(InputError, match="learning rate"):  # each config is checked as the Train page checks it
        grid.GridSpec({"learning_rate": (0.01, 2.0)}).validate()
    with pytest.raises(InputError, match="at most 64"):
        grid.GridSpec({"learning_rate": tuple(range(1, 9)), "epochs": tuple(range(1, 10))}, 1).validate()
    with pytest.raises(InputError, match="seeds"):
        grid.GridSpec({"epochs": (5,)}, seeds=9).validate()
    with pytest.raises(InputError, match="twice"):
        grid.GridSpec({"epochs": (5, 5)}).validate()


def test_cells_cover_every_combination_and_seed_in_order():
    spec = grid.GridSpec({"learning_rate": (0.001, 0.01), "batch_size": (16, 64)}, seeds=2)
    cells = spec.cells(TrainConfig(seed=7, early_stopping=True, epochs=12))
    assert spec.runs == len(cells) == 8
    assert [(c.values["learning_rate"], c.values["batch_size"], c.seed) for c in cells[:4]] == [
        (0.001, 16, 7), (0.001, 16, 8), (0.001, 64, 7), (0.001, 64, 8)]
    assert all(not c.config.early_stopping and c.config.epochs == 12 for c in cells)
    assert cells[5].config.learning_rate == 0.01 and cells[5].config.batch_size == 16 and cells[5].config.seed == 8
    assert cells[0].label == "learning rate 0.001 · batch size 16 · seed 7"


@pytest.mark.slow
def test_the_grid_on_real_embeddings_trains_each_cell_as_training_alone_would(rps20):
    x, y, classes, split = rps20
    spec = grid.GridSpec({"learning_rate": (0.001, 0.5), "batch_size": (8, 32)}, seeds=2)
    seen, rows = [], []
    results = grid.run_grid(x, y, classes, spec, TrainConfig(epochs=15), split=split,
                            on_progress=lambda d, n: seen.append((d, n)), on_runs=lambda pairs: rows.append(len(pairs)))
    assert len(results) == 8 and rows == [4, 4]  # kept a row at a time
    assert seen[-1] == (8 * 15, 8 * 15) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    for cell, run in results:  # exactly what one training alone gives: same split, same seed
        alone = train(x, y, classes, cell.config, split=split)
        assert alone.history == run.history and run.info["values"] == cell.values and run.info["seed"] == cell.seed
    table = grid.run_table(results)
    assert list(table.columns[:4]) == ["run", "learning_rate", "batch_size", "seed"] and len(table) == 8
    assert table["test_accuracy"].tolist() == [r.history[-1].test_accuracy for _, r in results]
    assert set(table.loc[table["learning_rate"] == 0.5, "diagnosis"]) <= {"unstable", "diverged"}
    cells = grid.cell_table(table, ["learning_rate", "batch_size"])
    assert len(cells) == 4 and (cells["runs"] == 2).all()
    first = table[(table["learning_rate"] == 0.001) & (table["batch_size"] == 8)]["test_accuracy"]
    assert cells["test_accuracy_mean"].iloc[0] == pytest.approx(first.mean())
    assert cells["test_accuracy_std"].iloc[0] == pytest.approx(first.std(ddof=1))
    assert cells["accuracy_text"].iloc[0] == f"{first.mean() * 100:.0f} % ± {first.std(ddof=1) * 100:.0f}"
    # the CSV and the JSON say the same as the table
    back = pd.read_csv(io.StringIO(grid.to_csv(table)))
    assert back["test_accuracy"].tolist() == pytest.approx(table["test_accuracy"].tolist())
    doc = json.loads(grid.to_json(table, spec, TrainConfig(epochs=15)))
    assert doc["axes"] == {"learning_rate": [0.001, 0.5], "batch_size": [8, 32]} and doc["seeds"] == 2
    assert len(doc["runs"]) == 8 and len(doc["cells"]) == 4 and doc["base"]["epochs"] == 15


@pytest.mark.slow
def test_a_stop_keeps_only_the_runs_that_finished(rps20):
    x, y, classes, split = rps20
    spec = grid.GridSpec({"epochs": (4, 6), "batch_size": (8, 16)})
    epochs = []
    results = grid.run_grid(x, y, classes, spec, split=split, on_progress=lambda d, n: epochs.append(d),
                            should_stop=lambda: len(epochs) >= 9)
    # a row's runs train side by side, an epoch at a time: the first row (4 epochs) finished after 8
    # epochs in all; the second row's runs stopped after their first epoch, and are not kept
    assert [(c.values["epochs"], c.values["batch_size"]) for c, _ in results] == [(4, 8), (4, 16)]
    assert all(len(r.history) == c.config.epochs and not r.stopped for c, r in results)
    assert grid.cell_table(grid.run_table([]), ["epochs"]).empty


def test_cli_sweep_refuses_bad_values_in_one_line(tmp_path, capsys):
    from tm_core.__main__ import main

    assert main(["sweep", str(tmp_path), "--learning-rate", "0.1,abc", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: Learning rate: 'abc' is not a number"]
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_cli_sweep_writes_the_table_as_csv_and_json(clothing_train, tmp_path):
    from test_cli import cli, subset

    data = subset(clothing_train, tmp_path / "data", 10)
    out = tmp_path / "out"
    r = cli("sweep", data, "--learning-rate", "0.0001,0.001,0.5", "--batch-size", "16,64", "--seeds", "2",
            "--epochs", "20", "--out", out)
    assert r.returncode == 0, r.stderr
    table = pd.read_csv(out / "sweep.csv")
    assert len(table) == 12 and set(table["learning_rate"]) == {0.0001, 0.001, 0.5} and set(table["seed"]) == {0, 1}
    assert (table["epochs_done"] == 20).all() and table["test_accuracy"].between(0, 1).all()
    doc = json.loads((out / "sweep.json").read_text())
    assert doc["axes"] == {"batch_size": [16, 64], "learning_rate": [0.0001, 0.001, 0.5]}  # one value: a setting
    assert doc["base"]["epochs"] == 20
    assert len(doc["cells"]) == 6 and all(c["runs"] == 2 for c in doc["cells"])
    assert len(r.stdout.strip().splitlines()) == 7  # a header and one line per cell
    assert "12 runs trained" in r.stderr and (table["seconds"] > 0).all()


def test_a_sweep_without_held_out_samples_says_so_in_its_table():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(20, 8)).astype(np.float32), np.repeat([0, 1], 10)
    results = grid.run_grid(x, y, ["a", "b"], grid.GridSpec({"epochs": (2, 3)}), split=Split(np.arange(20), np.arange(0)))
    table = grid.run_table(results)
    assert table["test_accuracy"].isna().all() and table["epochs_done"].tolist() == [2, 3]
    assert grid.cell_table(table, ["epochs"])["accuracy_text"].tolist() == ["no test", "no test"]


def test_a_network_axis_is_not_a_training_setting_and_reads_by_name():
    spec = grid.GridSpec({"encoder": ("mobilenet_v2_0.35", "mobilenet_v1_0.25"), "learning_rate": (0.001, 0.01)})
    cells = spec.validate(TrainConfig()).cells(TrainConfig(epochs=7))
    assert spec.runs == 4 and [c.values["encoder"] for c in cells] == ["mobilenet_v2_0.35"] * 2 + ["mobilenet_v1_0.25"] * 2
    assert all(c.config.epochs == 7 and not hasattr(c.config, "encoder") for c in cells)
    assert cells[2].label == "pretrained network mobilenet_v1_0.25 · learning rate 0.001 · seed 0"
    assert grid.parse_values("encoder", " mobilenet_v2_0.35, mobilenet_v1_0.25 ,") == (
        "mobilenet_v2_0.35", "mobilenet_v1_0.25")
    with pytest.raises(InputError, match="twice"):
        grid.GridSpec({"encoder": ("mobilenet_v2_0.35", "mobilenet_v2_0.35")}).validate()


@pytest.fixture(scope="module")
def two_networks(encoder, rps_train):
    """A session of 12 real photos per class of rock / paper / scissors, embedded by MobileNetV2 0.35, and
    MobileNet v1 0.25 (the other network whose file is here) loaded."""
    from tm_core import workflow
    from tm_core.encoders import get_encoder
    from tm_core.project import Project
    from tm_core.session import Session

    from conftest import photos

    project = Project(class_names=["rock", "paper", "scissors"])
    for cls in project.counts():
        list(project.add_files((cls, f.name, f.read_bytes()) for f in photos(rps_train, cls, 12)))
    config = TrainConfig(epochs=12)
    session = Session(project=project, config=config, encoder_name=encoder.name)
    v1 = get_encoder("mobilenet_v1_0.25")
    prepared = workflow.prepare(project, session.cache, encoder, config)
    return session, prepared, {encoder.name: encoder, v1.name: v1}


@pytest.mark.slow
def test_a_sweep_over_networks_trains_each_on_its_own_embeddings_on_one_split(two_networks):
    from tm_core import workflow
    from tm_core.training import train

    session, prepared, nets = two_networks
    asked = []

    def prepare_network(name):
        asked.append(name)
        return workflow.prepare(session.project, session.cache, nets[name], session.config)

    spec = grid.GridSpec({"learning_rate": (0.001, 0.01), "encoder": tuple(nets)}).validate(session.config)
    seen = []
    number = workflow.grid_sweep(session, prepared, spec, prepare_network=prepare_network,
                                 on_progress=lambda d, n: seen.append((d, n)))
    assert asked == ["mobilenet_v1_0.25"]  # the session's own network is already prepared
    pairs, labels = workflow.grid_results(session, number)
    records = [r for r in session.runs if r.run.info.get("grid") == number]
    assert [r.encoder for r in records] == ["mobilenet_v2_0.35"] * 2 + ["mobilenet_v1_0.25"] * 2
    assert [r.features.shape[1] for r in records] == [1280, 1280, 256, 256]
    assert labels[2] == "Sweep 1 · pretrained network mobilenet_v1_0.25 · learning rate 0.001 · seed 0"
    assert all(list(r.run.split.test) == list(prepared.split.test) for r in records)  # one held-out split
    for rec in (records[0], records[3]):  # each run is training alone on its network's features
        alone = train(rec.features, rec.dataset.labels, rec.dataset.class_names, rec.run.config, split=rec.run.split)
        assert alone.history == rec.run.history
    assert seen[-1] == (48, 48) and all(n == 48 for _, n in seen)  # one progress over both networks
    cells = grid.cell_table(grid.run_table(pairs, labels), list(spec.axes))
    assert cells["encoder"].tolist() == ["mobilenet_v2_0.35"] * 2 + ["mobilenet_v1_0.25"] * 2
    assert cells["test_accuracy_mean"].between(0, 1).all()


def test_cli_sweep_checks_networks_before_loading_any(tmp_path, capsys):
    from tm_core.__main__ import main

    for args, said in ((["--network", "mobilenet_v2_0.35,resnet"], "resnet: unknown encoder; choose one of"),
                       (["--network", "mobilenet_v2_0.35,mobilenet_v1_0.25", "--encoder", "mobilenet_v2_0.35"],
                        "--network: give the networks to compare with --network, or one with --encoder"),
                       (["--network", "a,b", "--kind", "hands"], "a pose or hand project has one network")):
        assert main(["sweep", str(tmp_path), *args, "--out", str(tmp_path / "o")]) == 2
        assert said in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_cli_sweep_compares_networks(clothing_train, tmp_path):
    from test_cli import cli, subset

    data = subset(clothing_train, tmp_path / "data", 8)
    out = tmp_path / "out"
    r = cli("sweep", data, "--network", "mobilenet_v1_0.25,mobilenet_v2_0.35", "--learning-rate", "0.001,0.01",
            "--epochs", "10", "--out", out)
    assert r.returncode == 0, r.stderr
    table = pd.read_csv(out / "sweep.csv")
    assert table["encoder"].tolist() == ["mobilenet_v1_0.25"] * 2 + ["mobilenet_v2_0.35"] * 2
    assert json.loads((out / "sweep.json").read_text())["axes"]["encoder"] == ["mobilenet_v1_0.25", "mobilenet_v2_0.35"]
    assert "loading encoder mobilenet_v1_0.25" in r.stderr and "loading encoder mobilenet_v2_0.35" in r.stderr
