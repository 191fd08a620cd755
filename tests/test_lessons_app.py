"""The Experiments page and the Train page's advice through AppTest: real scripts, real engine, real photos."""

import json
import math

import pytest

from tm_core import diagnose as dx
from tm_core import workflow

from conftest import app, click, photos, sess

pytestmark = pytest.mark.slow  # each trains real heads on real embeddings of real photos


def experiments_page(root, n=12):
    """The app with 12 real photos of rock and of paper, on the Experiments page."""
    at = app()
    p = sess(at).project
    for old, cls in zip(list(p.counts()), ("rock", "paper")):
        p.rename_class(old, cls)
        list(p.add_files((cls, f.name, f.read_bytes()) for f in photos(root, cls, n)))
    at.switch_page("app_pages/overfitting.py").run()
    assert not at.exception and at.title[0].value == "Experiments"
    return at


def specs(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]


def datasets(at, i: int) -> list:
    """The tables chart ``i`` draws (Streamlit sends them apart from the spec, as Arrow)."""
    import pyarrow as pa

    return [pa.ipc.open_stream(d.data.data).read_all().to_pandas() for d in at.get("vega_lite_chart")[i].proto.datasets]


def test_epochs_lesson_is_one_long_run_on_a_log_axis_with_the_shorter_runs_marked(rps_train):
    at = experiments_page(rps_train)
    click(at, "Train for 5, 20, 50, 200 epochs")
    runs = [r.run for r in sess(at).runs]
    assert [len(r.history) for r in runs] == [5, 20, 50, 200]
    assert all(r.history == runs[-1].history[:len(r.history)] for r in runs)  # the first epochs of one training
    charts = specs(at)
    assert len(charts) == 3  # accuracy and loss, each train and test together, and the long run's gap
    assert '"type": "log"' in json.dumps(charts[0]["layer"][0]["encoding"]["x"])  # a log-scaled epoch axis
    tables = datasets(at, 0)
    curves = next(t for t in tables if "split" in t)
    assert set(curves["split"]) == {"train", "test"} and curves["epoch"].max() == 200
    labels = [v for t in tables if "label" in t for v in t["label"]]
    assert [v for v in labels if v.endswith("epochs")] == ["5 epochs", "20 epochs", "50 epochs", "200 epochs"]
    assert any(v.startswith("best: ") for v in labels)
    # every label has its own row: the epoch marks on one, "best" on the next
    rows = {layer["encoding"]["y"]["value"] for layer in charts[0]["layer"]
            if layer.get("mark", {}).get("type") == "text"}
    assert len(rows) == 2
    assert "epoch" in at.info[0].value


def test_learning_rate_lesson_says_which_learned_fastest_crawled_and_never_settled(rps_train):
    at = experiments_page(rps_train)
    click(at, "Train with learning rates 0.00001, 0.001, 0.01, 0.5")
    labels = [r.label for r in sess(at).runs]
    assert labels == [f"Lesson · learning rate {r}" for r in ("0.00001", "0.001", "0.01", "0.5")]
    text = at.info[0].value
    judged = {r.run.config.learning_rate: dx.diagnose(r.run) for r in sess(at).runs}
    assert judged[0.00001].kind == dx.SLOW and "With learning rate 0.00001 it crawled" in text
    assert judged[0.5].kind in (dx.UNSTABLE, dx.DIVERGED)
    assert ("With learning rate 0.5 it never settled" in text) or ("With learning rate 0.5 it diverged" in text)
    assert "learned fastest" in text
    charts = specs(at)
    assert len(charts) == 2 and '"type": "log"' in json.dumps(charts[1])  # the training loss on a log scale


def test_batch_size_lesson_shows_updates_per_epoch_and_time(rps_train):
    at = experiments_page(rps_train)
    click(at, "Train with batch sizes 8, 16, 64, 256")
    recs = sess(at).runs
    assert [r.run.config.batch_size for r in recs] == list(workflow.BATCH_STEPS)
    n = len(recs[0].run.split.train)
    table = at.dataframe[0].value
    assert table["updates_per_epoch"].tolist() == [math.ceil(n / b) for b in workflow.BATCH_STEPS]
    assert (table["ms_per_epoch"] > 0).all()
    assert f"made {math.ceil(n / 8)} weight updates per epoch" in at.info[0].value


def test_sweep_grid_heatmaps_every_run_kept_and_a_csv(rps_train):
    at = experiments_page(rps_train)
    at.selectbox(key="grid:a").set_value("learning_rate").run()
    at.selectbox(key="grid:b").set_value("batch_size").run()
    at.text_input(key="grid:values:learning_rate").set_value("0.001, 0.5").run()
    at.text_input(key="grid:values:batch_size").set_value("8, 32").run()
    at.number_input(key="grid:seeds").set_value(2).run()
    assert any("8 models to train" in c.value for c in at.caption)
    at.button(key="grid:run").click().run()
    assert not at.exception, at.exception
    labels = [r.label for r in sess(at).runs]
    assert len(labels) == 8 and labels[0] == "Sweep 1 · learning rate 0.001 · batch size 8 · seed 0"
    titles = [json.dumps(c.get("title")) for c in specs(at)]
    heat = [i for i, t in enumerate(titles) if "Test accuracy (mean" in t or "Training time" in t]
    assert len(heat) == 2  # held-out accuracy and time heatmaps
    table = next(d.value for d in at.dataframe if "seed" in d.value.columns)
    assert len(table) == 8 and set(table["run"]) == set(labels)
    cells = next(t for t in datasets(at, heat[0]) if "accuracy_text" in t)
    assert len(cells) == 4 and cells["accuracy_text"].str.contains(" ± ").all()  # mean ± spread over the 2 seeds
    assert len(at.get("download_button")) == 1
    at.text_input(key="grid:values:learning_rate").set_value("0.001, fast").run()
    assert any("'fast' is not a number" in e.value for e in at.error)
    assert len(sess(at).runs) == 8  # nothing lost


def test_train_page_blames_a_too_large_learning_rate_not_the_samples(rps_train):
    at = experiments_page(rps_train)
    at.switch_page("app_pages/train.py").run()
    at.number_input(key="cfg:learning_rate").set_value(0.5).run()
    click(at, "Train model")
    run = sess(at).current.run
    d = dx.diagnose(run, sess(at).current.evaluation.confusion)
    assert d.kind in (dx.UNSTABLE, dx.DIVERGED)  # measured from its curve
    said = [w.value for w in at.warning]
    assert any("learning rate" in w and "too large" in w for w in said), said
    assert not any("Add " in w for w in said) and not any("overfitting" in i.value for i in at.info)


def test_sweep_over_the_pretrained_networks_here(rps_train):
    at = experiments_page(rps_train)
    assert "Pretrained network" in at.selectbox(key="grid:a").options
    at.selectbox(key="grid:a").set_value("encoder").run()
    at.selectbox(key="grid:b").set_value("learning_rate").run()
    networks = at.multiselect(key="grid:values:encoder")
    assert networks.value == ["mobilenet_v2_0.35", "mobilenet_v1_0.25"]  # every network whose file is here
    at.text_input(key="grid:values:learning_rate").set_value("0.001, 0.01").run()
    assert any("4 models to train" in c.value for c in at.caption)
    at.button(key="grid:run").click().run()
    assert not at.exception, at.exception
    runs = sess(at).runs
    assert [r.encoder for r in runs] == ["mobilenet_v2_0.35"] * 2 + ["mobilenet_v1_0.25"] * 2
    assert runs[2].label == "Sweep 1 · pretrained network mobilenet_v1_0.25 · learning rate 0.001 · seed 0"
    titles = [json.dumps(c.get("title")) for c in specs(at)]
    heat = next(i for i, t in enumerate(titles) if "Test accuracy (mean" in t)
    cells = next(t for t in datasets(at, heat) if "accuracy_text" in t)
    assert set(cells["encoder"]) == {"mobilenet_v2_0.35", "mobilenet_v1_0.25"} and len(cells) == 4
    assert any("Best cell: pretrained network mobilenet_v" in m.value for m in at.markdown)
    networks.unselect("mobilenet_v1_0.25").unselect("mobilenet_v2_0.35").run()
    assert any("needs at least one value" in e.value for e in at.error) and len(sess(at).runs) == 4


def test_a_network_that_cannot_be_had_mid_sweep_keeps_the_runs_before_it(rps_train, monkeypatch):
    from tm_core.errors import InputError
    from tm_core.ui import state

    real = state.prepare

    def prepare(sess_, config, *, network=None, **kw):
        if network == "mobilenet_v1_0.25":  # as when its download fails between the list and the sweep
            raise InputError("MobileNet v1", "unavailable: the download failed")
        return real(sess_, config, network=network, **kw)

    monkeypatch.setattr(state, "prepare", prepare)
    at = experiments_page(rps_train)
    at.selectbox(key="grid:a").set_value("encoder").run()
    at.selectbox(key="grid:b").set_value("learning_rate").run()
    at.text_input(key="grid:values:learning_rate").set_value("0.001, 0.01").run()
    at.button(key="grid:run").click().run()
    assert not at.exception, at.exception
    assert any("unavailable: the download failed" in e.value for e in at.error)
    assert [r.encoder for r in sess(at).runs] == ["mobilenet_v2_0.35"] * 2  # the first network's runs are kept
    assert any("Stopped: 2 of 4 runs finished" in i.value for i in at.info)
