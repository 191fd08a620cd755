"""The one training workflow (``tm_core.workflow``): the same data gives the same run through the app and
the command line; prepare, train, sweep and stop on real photos."""

import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tm_core import workflow
from tm_core.errors import InputError
from tm_core.experiments import epoch_sweep
from tm_core.features import FeatureCache
from tm_core.project import Dataset, Project, Sample
from tm_core.session import Session
from tm_core.training import RANDOM, RECORDINGS, TrainConfig, grouped_split, train

APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")
CLASSES = ("paper", "rock", "scissors")


@pytest.fixture(autouse=True)
def no_webrtc_component(monkeypatch):
    import streamlit_webrtc

    monkeypatch.setattr(streamlit_webrtc, "webrtc_streamer", lambda **kw: None)


def photos(root: Path, cls: str, n: int) -> list[Path]:
    return sorted((root / cls).iterdir())[:n]


@pytest.fixture(scope="module")
def project(rps_train, encoder):
    """Ten real photos per class, imported as an upload is, and embedded."""
    p = Project("image", list(CLASSES))
    for cls in CLASSES:
        list(p.add_files((cls, f.name, f.read_bytes()) for f in photos(rps_train, cls, 10)))
    cache = FeatureCache()
    workflow.embed(p, cache, encoder)
    return p, cache


@pytest.mark.slow
def test_the_cli_and_the_app_hold_out_the_same_samples_and_get_the_same_accuracy(rps_train, tmp_path, capsys):
    from tm_core.__main__ import main

    data = tmp_path / "data"
    for cls in CLASSES:
        (data / cls).mkdir(parents=True)
        for f in photos(rps_train, cls, 12):
            (data / cls / f.name).write_bytes(f.read_bytes())
    assert main(["train", str(data), "--out", str(tmp_path / "out"), "--epochs", "10", "--no-tflite"]) == 0
    cli_run = json.loads((tmp_path / "out" / "run.json").read_text())

    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    next(b for b in at.button if b.label == "Add a class").click().run()
    sess = at.session_state["teachable_studio"]
    for i, cls in enumerate(CLASSES):  # the same files, uploaded class by class on the Gather page
        uid = sess.project.classes[i].uid
        at.text_input[i].set_value(cls).run()
        up = next(u for u in at.file_uploader if u.key.startswith(f"up:{uid}"))
        up.set_value([(f.name, f.read_bytes(), "image/jpeg") for f in sorted((data / cls).iterdir())]).run()
        assert not at.exception
    at.switch_page("app_pages/train.py").run()
    at.number_input(key="cfg:epochs").set_value(10).run()
    next(b for b in at.button if b.label == "Train model").click().run()
    assert not at.exception
    rec = sess.current
    ds, split = rec.dataset, rec.run.split

    app_ids = [ds.samples[i].id for i in split.test]
    assert len(app_ids) == 3 * 2  # 15 % of 12, rounded, per class
    assert app_ids == cli_run["held_out_ids"]  # the same samples, in the same order
    assert [s.id for s in ds.samples] and cli_run["n_train"] == len(split.train)
    assert rec.evaluation.accuracy == cli_run["held_out"]["accuracy"]
    assert rec.evaluation.confusion.tolist() == cli_run["held_out"]["confusion"]
    print(f"held out {len(app_ids)} samples; accuracy app {rec.evaluation.accuracy:.4f}, "
          f"CLI {cli_run['held_out']['accuracy']:.4f}")


def test_prepare_embeds_splits_honestly_and_adds_views_of_the_training_part_only(project, encoder):
    p, cache = project
    config = TrainConfig()
    stages = []
    prepared = workflow.prepare(p, cache, encoder, config, augment_views=True,
                                on_progress=lambda stage, d, n: stages.append((stage, d, n)))
    ds = prepared.dataset
    assert ds.class_names == list(CLASSES) and len(ds.samples) == 30 and prepared.left_out == 0
    assert prepared.features.shape == (30, encoder.dim)
    expect = grouped_split(ds.labels, config.test_fraction, config.seed, ds.groups)
    assert list(prepared.split.test) == list(expect.test)
    # separate photos are single samples, but two of the scissors are one picture (one a grey copy of the
    # other, next to each other by name): the import made them one recording, on one side of the split
    pair = [i for i, g in enumerate(ds.groups) if g]
    assert [ds.samples[i].name[:14] for i in pair] == ["scissors.0033_", "scissors.0045_"]
    assert len({i in set(prepared.split.test) for i in pair}) == 1
    assert prepared.split.how == {0: RANDOM, 1: RANDOM, 2: RECORDINGS}
    views, view_labels = prepared.extra
    assert len(views) == 4 * len(prepared.split.train)  # four altered copies of each training photo, none of the rest
    assert list(view_labels) == list(np.tile(ds.labels[prepared.split.train], 4))
    assert prepared.info == {"augmented_views": len(views)}
    assert stages[0][0] == workflow.EMBEDDING and stages[-1] == (workflow.AUGMENTING, len(views), len(views))


def test_train_keeps_the_run_and_an_interrupted_one_keeps_its_epochs(project, encoder):
    p, cache = project
    sess = Session(project=p, cache=cache, encoder_name=encoder.name)
    config = TrainConfig(epochs=6)
    prepared = workflow.prepare(p, cache, encoder, config)
    seen = []
    rec = workflow.train(sess, prepared, config, on_epoch=seen.append)
    direct = train(prepared.features, prepared.dataset.labels, list(CLASSES), config, split=prepared.split)
    assert [s.epoch for s in seen] == list(range(1, 7)) and sess.current is rec and sess.pending is None
    assert np.array_equal(rec.run.head.w2, direct.head.w2)  # the workflow's run is the engine's run
    assert [h.test_loss for h in rec.run.history] == [h.test_loss for h in direct.history]

    class Interrupted(Exception):
        pass

    def stop_after_three(stats):
        if stats.epoch == 3:
            raise Interrupted  # what a Stop click does to a Streamlit script run
    with pytest.raises(Interrupted):
        workflow.train(sess, prepared, TrainConfig(epochs=50), on_epoch=stop_after_three)
    kept = sess.finish_pending()  # the next script run
    assert kept.run.stopped and len(kept.run.history) == 3 and "stopped at 3" in kept.label
    stopped = workflow.train(sess, prepared, config, should_stop=lambda: True)
    assert stopped is None and sess.current is kept  # nothing finished: nothing kept


def test_sweeps_share_the_split_and_match_the_engine(project, encoder):
    p, cache = project
    sess = Session(project=p, cache=cache, encoder_name=encoder.name, config=TrainConfig(early_stopping=True))
    prepared = workflow.prepare(p, cache, encoder, sess.config)
    calls = []
    recs = workflow.sweep(sess, prepared, "epochs", steps=(2, 5), on_epoch=lambda *a: calls.append(a[:3]))
    assert [r.label for r in recs] == ["Lesson · 2 epochs", "Lesson · 5 epochs"]
    assert calls == [(0, 1, 5)] * 5  # one training of 5 epochs: the 2-epoch run is its start
    (_, direct), = epoch_sweep(prepared.features, prepared.dataset.labels, list(CLASSES), (5,),
                               TrainConfig(), split=prepared.split)
    assert [h.test_loss for h in recs[1].run.history] == [h.test_loss for h in direct.history]
    assert all(r.run.kept_epoch is None for r in recs)  # lessons train without early stopping
    assert workflow.sweep_steps("samples", prepared) == [5, None]  # 8 training photos per class
    recs = workflow.sweep(sess, prepared, "samples")
    assert [r.label for r in recs] == ["Lesson · 5 per class", "Lesson · all (8 per class)"]
    assert all(list(r.run.split.test) == list(prepared.split.test) for r in recs)
    recs = workflow.sweep(sess, prepared, "learning_rate", steps=(0.0001, 0.01))
    assert [r.label for r in recs] == ["Lesson · learning rate 0.0001", "Lesson · learning rate 0.01"]
    assert [r.run.config.learning_rate for r in recs] == [0.0001, 0.01]
    recs = workflow.sweep(sess, prepared, "batch_size", steps=(8, 64))
    assert [r.run.config.batch_size for r in recs] == [8, 64] and recs[0].run.config.epochs == sess.config.epochs


def test_nothing_found_keypoint_samples_are_left_out_unless_kept():
    """Pose and hand features end with the presence value (``pose_features.found``)."""
    samples = [Sample(f"{i:016x}", np.zeros(3, np.float32)) for i in range(6)]
    ds = Dataset(samples, np.array([0, 0, 0, 1, 1, 1]), ["sitting", "waving"])
    features = np.ones((6, 5), np.float32)
    features[[1, 4], -1] = 0.0  # nobody found in two pictures
    assert list(workflow.nothing_found("pose", features)) == [False, True, False, False, True, False]
    assert not workflow.nothing_found("image", features).any()  # other kinds: nothing is "not found"
    kept, x, left_out = workflow.usable("hands", ds, features)
    assert left_out == 2 and [s.id for s in kept.samples] == [samples[i].id for i in (0, 2, 3, 5)] and len(x) == 4
    assert workflow.usable("hands", ds, features, keep_missing=True)[2] == 0
    features[3:, -1] = 0.0  # nobody in any picture of waving
    with pytest.raises(InputError, match="waving"):
        workflow.usable("pose", ds, features)


@pytest.mark.slow
def test_cli_folder_recordings_hold_out_whole_sub_folders(rps_train, tmp_path, capsys):
    """``--folder-recordings``: DATA_DIR/<class>/<recording>/<files>, each sub-folder held out or trained on whole."""
    from tm_core import media
    from tm_core.__main__ import main

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    said = " ".join(capsys.readouterr().out.split())
    assert "Each file is a recording of its own" in said and "--folder-recordings each sub-folder" in said
    data = tmp_path / "data"
    for cls in ("rock", "paper"):
        for i, f in enumerate(photos(rps_train, cls, 12)):
            where = data / cls / f"video {i // 4}"  # three "videos" of four frames
            where.mkdir(parents=True, exist_ok=True)
            (where / f.name).write_bytes(f.read_bytes())
    out = tmp_path / "out"
    assert main(["train", str(data), "--out", str(out), "--epochs", "3", "--no-tflite", "--folder-recordings"]) == 0
    run = json.loads((out / "run.json").read_text())
    names = {s.id: s.name for s in Project("image", []).add_listing(media.list_folder(data))}
    held = [names[sid].rsplit("/", 1)[0] for sid in run["held_out_ids"]]  # e.g. "rock/video 2"
    assert sorted({h.split("/")[0] for h in held}) == ["paper", "rock"]
    assert all(held.count(h) == 4 for h in held)  # every held-out folder whole
    assert run["n_train"] == 24 - len(held)
