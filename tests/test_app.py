"""The app's pages driven headlessly with AppTest: real scripts, real engine, real photos."""

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from conftest import APP, app, click, photos, sess, uploader


def test_first_visit_is_an_empty_project_with_two_classes_and_a_next_step(no_webrtc_component):
    at = app()
    assert [kw["key"] for kw in no_webrtc_component] == ["gather-camera"]  # the webcam recorder is on the page
    assert at.title[0].value == "Gather examples"
    assert "at least 10" in at.markdown[0].value
    assert [t.value for t in at.text_input] == ["Class 1", "Class 2"]
    assert any("Class 1" in m.value for m in at.sidebar.markdown)
    assert "Not trained yet." in [c.value for c in at.sidebar.caption]


def test_rename_disable_add_and_delete_classes():
    at = app()
    at.text_input[0].set_value("rock").run()
    assert not at.exception and [t.value for t in at.text_input] == ["rock", "Class 2"]
    at.text_input[1].set_value("rock").run()  # duplicate name: refused with a message, nothing lost
    assert any("already has this name" in e.value for e in at.error)
    click(at, "Add a class")
    assert [c.name for c in sess(at).project.classes] == ["rock", "Class 2", "Class 3"]
    uid = sess(at).project.classes[1].uid
    at.toggle(key=f"on:{uid}").set_value(False).run()
    assert not sess(at).project.classes[1].enabled
    at.button(key=f"del:{uid}").click().run()
    assert [c.name for c in sess(at).project.classes] == ["rock", "Class 3"]


def test_zip_of_class_folders_with_bad_files_adds_the_good_ones(rps_train):
    at = app()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for cls in ("rock", "paper"):
            for f in photos(rps_train, cls, 4):
                z.writestr(f"rps/{cls}/{f.name}", f.read_bytes())
        z.writestr("rps/rock/notes.txt", "not an image")
        z.writestr("../evil.jpg", b"x")
    uploader(at, "zip:").set_value(("rps.zip", buf.getvalue(), "application/zip")).run()
    assert not at.exception
    assert sess(at).project.counts() == {"paper": 4, "rock": 4}  # the empty starter classes made way
    assert any("Added 8 samples" in s.value for s in at.success)
    report = next(w.value for w in at.warning if "not added" in w.value)
    assert "notes.txt" in report and "evil.jpg" in report
    assert any("only 4 samples" in w.value for w in at.warning)  # too few for a good model: said so
    uploader(at, "zip:").set_value(("broken.zip", b"PK\x03\x04 nope", "application/zip")).run()
    assert any("broken.zip" in e.value for e in at.error)
    assert sum(sess(at).project.counts().values()) == 8  # nothing lost


def test_upload_images_to_a_class_reports_bad_files(rps_train):
    at = app()
    uid = sess(at).project.classes[0].uid
    files = [(f.name, f.read_bytes(), "image/jpeg") for f in photos(rps_train, "scissors", 3)]
    files.append(("empty.jpg", b"", "image/jpeg"))
    uploader(at, f"up:{uid}").set_value(files).run()
    assert not at.exception
    assert len(sess(at).project.classes[0]) == 3
    assert any("empty.jpg: is empty" in w.value for w in at.warning)
    assert uploader(at, f"up:{uid}").value in (None, [])  # a fresh uploader: the files were taken once


def test_camera_photo_adds_a_sample_and_gallery_deletes_it(rps_train):
    at = app()
    uid = sess(at).project.classes[0].uid
    jpeg = photos(rps_train, "rock", 1)[0].read_bytes()
    cam = next(c for c in at.camera_input if c.key.startswith(f"cam:{uid}"))
    cam.set_value(("photo.jpg", jpeg, "image/jpeg")).run()
    assert not at.exception
    cls = sess(at).project.classes[0]
    assert len(cls) == 1 and cls.samples[0].data.shape == (224, 224, 3)
    assert any("Added 1 sample to Class 1" in s.value for s in at.success)
    at.button(key=f"rm:{uid}:{cls.samples[0].id}").click().run()
    assert len(sess(at).project.classes[0]) == 0


def filled_app(root: Path, classes=("rock", "paper"), n=12) -> AppTest:
    """The app with real photos in two classes, added through the project as the uploads do."""
    at = app()
    p = sess(at).project
    for old, cls in zip(list(p.counts()), classes):
        p.rename_class(old, cls)
        list(p.add_files((cls, f.name, f.read_bytes()) for f in photos(root, cls, n)))
    return at


@pytest.mark.slow
def test_train_page_trains_with_the_chosen_settings_and_shows_under_the_hood(rps_train):
    at = filled_app(rps_train)
    at.switch_page("app_pages/train.py").run()
    assert not at.exception and at.title[0].value == "Train"
    at.number_input(key="cfg:epochs").set_value(8).run()
    at.selectbox(key="cfg:batch_size").set_value(8).run()
    click(at, "Train model")
    assert not at.exception
    rec = sess(at).current
    assert rec is not None and len(rec.run.history) == 8 and rec.run.config.batch_size == 8
    assert len(rec.run.split.test) == 4  # 15 % of 12, per class
    assert len(sess(at).cache) == 24  # each sample embedded once
    p = sess(at).project
    p.delete_sample("rock", p.get_class("rock").samples[0].id)
    click(at, "Train model")
    assert len(sess(at).cache) == 23 and len(sess(at).runs) == 2  # the deleted sample's embedding is dropped
    assert [m.label for m in at.metric] == ["Train accuracy", "Test accuracy", "Epochs"]
    assert at.metric[2].value == "8"
    assert len(at.get("vega_lite_chart")) == 4  # accuracy, loss, per-class, confusion
    assert any("Confusion matrix" in c.value for c in at.caption)


def test_sidebar_shows_the_trained_model_and_when_samples_changed(rps_train):
    """AppTest runs a switched-to page on its own, so the sidebar is checked on the entry page."""
    from tm_core.training import TrainConfig, train
    from tm_core.ui.state import Session

    def entry_with(s):  # after its first run, AppTest reruns only the page, not the entry script
        at = AppTest.from_file(APP, default_timeout=120)
        at.session_state["teachable_studio"] = s
        at.run()
        assert not at.exception
        return " ".join(c.value for c in at.sidebar.caption)

    s = Session()
    for i, cls in enumerate(("Class 1", "Class 2")):
        list(s.project.add_files((cls, f.name, f.read_bytes()) for f in photos(rps_train, ("rock", "paper")[i], 6)))
    ds = s.project.dataset()
    features = np.random.default_rng(0).normal(size=(len(ds.samples), 16)).astype(np.float32)
    s.current = s.add_run(train(features, ds.labels, ds.class_names, TrainConfig(epochs=2)), s.encoder_name, ds, features)
    captions = entry_with(s)
    assert "Trained: Run 1 · 2 epochs" in captions and "test accuracy" in captions
    assert "samples changed" not in captions
    s.project.add_sample("Class 1", np.zeros((224, 224, 3), np.uint8))
    assert "samples changed" in entry_with(s)


def test_train_settings_reset_to_teachable_machine_defaults(rps_train):
    at = filled_app(rps_train)
    at.switch_page("app_pages/train.py").run()
    at.number_input(key="cfg:epochs").set_value(7).run()
    at.number_input(key="cfg:learning_rate").set_value(0.01).run()
    assert sess(at).config.epochs == 7 and sess(at).config.learning_rate == 0.01
    click(at, "Reset to defaults")
    assert at.number_input(key="cfg:epochs").value == 50 and at.number_input(key="cfg:learning_rate").value == 0.001
    assert sess(at).config.epochs == 50


def test_train_page_explains_what_is_missing():
    at = app()
    at.switch_page("app_pages/train.py").run()
    assert not at.exception
    assert any("at least two enabled classes" in i.value for i in at.info)
    assert next(b for b in at.button if b.label == "Train model").disabled


def test_a_stopped_training_keeps_the_epochs_done(rps_train):
    """Stop reruns the script, which interrupts training: the next run keeps what was done."""
    from tm_core.training import TrainConfig, train
    from tm_core.ui.state import PendingRun

    at = filled_app(rps_train, n=6)
    s = sess(at)
    ds = s.project.dataset()
    features = np.random.default_rng(0).normal(size=(len(ds.samples), 16)).astype(np.float32)
    config = TrainConfig(epochs=50)
    done = train(features, ds.labels, ds.class_names, TrainConfig(epochs=3))
    s.pending = PendingRun(config, s.encoder_name, ds, features, done.split, done.history, done.head)
    at.run()  # what the Stop button's rerun does
    assert not at.exception and s.pending is None
    assert s.current.run.stopped and len(s.current.run.history) == 3
    assert s.current.label.endswith("50 epochs · batch 16 · lr 0.001 · stopped at 3")
    at.switch_page("app_pages/train.py").run()
    assert any("Stopped after 3 of 50 epochs" in i.value for i in at.info)


def trained_app(root: Path, n=12, epochs=6) -> AppTest:
    at = filled_app(root, n=n)
    at.switch_page("app_pages/train.py").run()
    at.number_input(key="cfg:epochs").set_value(epochs).run()
    click(at, "Train model")
    assert sess(at).current is not None
    return at


def test_overfitting_page_compares_runs_and_runs_the_lesson(rps_train):
    at = trained_app(rps_train)
    at.switch_page("app_pages/overfitting.py").run()
    assert not at.exception and at.title[0].value == "Experiments"
    assert at.multiselect[0].value == ["Run 1 · 6 epochs · batch 16 · lr 0.001"]
    assert len(at.get("vega_lite_chart")) == 3 and len(at.dataframe) == 1
    click(at, "Train for 5, 20, 50, 200 epochs")
    labels = [r.label for r in sess(at).runs]
    assert labels[1:] == ["Lesson · 5 epochs", "Lesson · 20 epochs", "Lesson · 50 epochs", "Lesson · 200 epochs"]
    assert at.multiselect[0].value == labels[1:]
    runs = [r.run for r in sess(at).runs[1:]]
    assert [len(r.history) for r in runs] == [5, 20, 50, 200]
    assert all((r.split.test == runs[0].split.test).all() for r in runs)  # one held-out set for all
    table = at.dataframe[0].value
    assert list(table["run"]) == labels[1:] and table["final_train_accuracy"].iloc[-1] == 1.0
    shown = json.loads(at.dataframe[0].proto.columns)  # the titles and formats the page gives the table
    assert shown["final_train_accuracy"]["label"] == "Train accuracy at the end"
    assert shown["final_test_accuracy"]["type_config"]["format"] == "percent"
    assert all("_" not in shown[c]["label"] for c in table.columns)
    assert "epoch" in at.info[0].value  # the lesson text, computed from these runs
    click(at, "Train with 5, 10, 20 and all samples per class")
    assert [r.label for r in sess(at).runs][-2:] == ["Lesson · 5 per class", "Lesson · all (10 per class)"]


@pytest.mark.slow
def test_test_page_predicts_an_uploaded_photo_and_exports(rps_train, tmp_path, monkeypatch, no_webrtc_component):
    at = trained_app(rps_train, epochs=20)
    at.switch_page("app_pages/test.py").run()
    assert not at.exception and at.title[0].value == "Test & export"
    assert no_webrtc_component[-1]["key"] == "test-camera"
    rock = photos(rps_train, "rock", 1, offset=100)[0]
    at.file_uploader[0].set_value((rock.name, rock.read_bytes(), "image/jpeg")).run()
    assert not at.exception
    top = next(m.value for m in at.markdown if m.value.startswith("### "))
    assert top.split(" · ")[0] == "### rock"
    at.file_uploader[0].set_value(("broken.jpg", b"\xff\xd8\xff hello", "image/jpeg")).run()
    assert any("broken.jpg: " in e.value for e in at.error)

    click(at, "Prepare export files")
    files = sess(at).exports[sess(at).current.id]
    assert set(files) >= {"model.keras", "keras_model.h5", "labels.txt", "model_float32.tflite", "model_int8.tflite",
                          "converted_keras.zip", "tm-my-image-model.zip"}
    assert len(at.get("download_button")) == 5 and len(at.code) == 5
    assert [c.language for c in at.code] == ["python"] * 4 + ["html"]  # the TensorFlow.js one is a web page
    assert all(c.proto.wrap_lines for c in at.code)  # long lines wrap: nothing cut off on the right
    # the int8 file's agreement with the app, measured on the held-out samples when the files were made
    rec = sess(at).current
    agree = files.int8_agreement
    assert agree.n == len(rec.run.split.test) > 0
    assert any(f"on {agree.n} of your samples it was not trained on, it named the same class as the app on "
               f"{agree.same} ({agree.share:.0%})" in c.value for c in at.caption)
    # every Python snippet runs as written, next to its downloaded file and a photo (the web page: test_tfjs_browser)
    monkeypatch.chdir(tmp_path)
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "photo.jpg").write_bytes(rock.read_bytes())
    import contextlib
    import io as _io

    for code in at.code[:4]:
        out = _io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(code.value, {})
        assert out.getvalue().split()[0] == "rock", code.value


def test_test_page_can_use_any_kept_run(rps_train):
    at = trained_app(rps_train, epochs=3)
    at.switch_page("app_pages/overfitting.py").run()
    click(at, "Train with 5, 10, 20 and all samples per class")
    at.switch_page("app_pages/test.py").run()
    assert not at.exception
    model = at.selectbox[0]
    assert model.label == "Model" and model.value == "Run 1 · 3 epochs · batch 16 · lr 0.001"  # the latest training
    model.set_value("Lesson · 5 per class").run()
    assert not at.exception and sess(at).current.label == "Lesson · 5 per class"
    assert "Model: Lesson · 5 per class" in at.caption[0].value


def test_test_page_without_a_model_points_to_training():
    at = app()
    at.switch_page("app_pages/test.py").run()
    assert not at.exception
    assert any("No model yet" in i.value for i in at.info)
