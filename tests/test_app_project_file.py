"""Save project / Open a project file on the Gather page, driven with AppTest on real photos: the
reopened project has the same samples, settings and model (same predictions); a broken file is
refused and the current project stays as it was."""

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tm_core import project_file
from tm_core.ui import state

APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")


def trained_app(rps_train) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for c in ("rock", "paper", "scissors"):
            for f in sorted((rps_train / c).iterdir())[:12]:
                z.writestr(f"{c}/{f.name}", f.read_bytes())
    next(u for u in at.file_uploader if u.key.startswith("zip:")).set_value(("rps.zip", buf.getvalue(), "application/zip")).run()
    at.switch_page("app_pages/train.py").run()
    at.number_input(key="cfg:epochs").set_value(20).run()
    next(b for b in at.button if b.label == "Train model").click().run()
    assert not at.exception
    return at


def opener(at):
    return next(u for u in at.file_uploader if u.key.startswith("open-project:"))


@pytest.mark.slow
def test_save_then_open_in_a_new_tab_gives_the_same_project_and_model(rps_train):
    at = trained_app(rps_train)
    sess = at.session_state["teachable_studio"]
    data = project_file.save(state.project_file(sess))  # what the Save project button sends
    at.switch_page("app_pages/gather.py").run()
    assert any(b.label == "Save project" for b in at.get("download_button"))

    fresh = AppTest.from_file(APP, default_timeout=180)
    fresh.run()
    opener(fresh).set_value(("mine.tmproject.zip", data, "application/zip")).run()
    assert not fresh.exception
    assert any("Opened mine.tmproject.zip: 36 samples, 1 trained model." in s.value for s in fresh.success)
    back = fresh.session_state["teachable_studio"]
    assert back.project.counts() == sess.project.counts()
    for a, b in zip(sess.project.classes, back.project.classes):
        assert [s.id for s in a.samples] == [s.id for s in b.samples]
        assert all(x.data.tobytes() == y.data.tobytes() for x, y in zip(a.samples, b.samples))
    assert back.config.epochs == 20 and back.encoder_name == sess.encoder_name
    rec, old = back.current, sess.current
    assert rec is not None and rec.label == old.label and rec.run.history == old.run.history
    assert rec.evaluation.accuracy == old.evaluation.accuracy
    photo = np.stack([s.data for s in back.project.classes[0].samples[:4]])
    enc = state.encoder(rec.encoder)
    assert np.array_equal(rec.run.head.predict_proba(enc.encode(photo)), old.run.head.predict_proba(enc.encode(photo)))
    fresh.switch_page("app_pages/train.py").run()
    assert not fresh.exception and fresh.number_input(key="cfg:epochs").value == 20
    # The opened project is the one this tab's address keeps on the server: a reload brings it back.
    assert back.token and fresh.query_params[state.PARAM] == back.token
    reloaded = AppTest.from_file(APP, default_timeout=180)
    reloaded.query_params[state.PARAM] = back.token
    reloaded.run()
    again = reloaded.session_state["teachable_studio"]
    assert again.project.counts() == sess.project.counts() and again.current.label == rec.label
    fresh.switch_page("app_pages/test.py").run()
    assert not fresh.exception


def test_a_broken_file_is_refused_and_the_project_stays(rps_train):
    at = trained_app(rps_train)
    sess = at.session_state["teachable_studio"]
    before = sess.project.counts()
    good = project_file.save(state.project_file(sess))
    at.switch_page("app_pages/gather.py").run()
    opener(at).set_value(("broken.tmproject.zip", good[: len(good) // 3], "application/zip")).run()
    assert not at.exception
    error = next(e.value for e in at.error)
    assert "broken.tmproject.zip" in error and "unchanged" in error
    assert at.session_state["teachable_studio"].project.counts() == before
    assert at.session_state["teachable_studio"].current is not None


def test_a_file_whose_training_settings_are_not_valid_opens_with_the_defaults_and_says_so(rps_train):
    """The settings are the student's next choice, not their work: a file whose saved settings this
    version cannot use opens with every sample, the default settings, and a sentence saying so."""
    from tm_core.project import Project
    from tm_core.training import TrainConfig

    p = Project("image", [])
    items = [(c, f.name, f.read_bytes()) for c in ("rock", "paper") for f in sorted((rps_train / c).iterdir())[:3]]
    assert all(not isinstance(r, Exception) for r in p.add_files(items))
    data = project_file.save(project_file.ProjectFile(p, {"config": {"epochs": 0, "batch_size": "many"}}))
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    opener(at).set_value(("odd.tmproject.zip", data, "application/zip")).run()
    assert not at.exception
    sess = at.session_state["teachable_studio"]
    assert sess.project.counts() == {"rock": 3, "paper": 3} and sess.config == TrainConfig()
    assert any("training settings in the file were not used" in w.value and "defaults are used" in w.value
               for w in at.warning)
