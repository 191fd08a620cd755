"""What a new user hits first (issue 19), driven with AppTest on real photos.

A server without the pretrained files (offline, TM_MODELS_DIR an empty folder): "Check my data" says
why in one sentence instead of a traceback, and the greyed-out Train button has that sentence beside it
(not in the closed Advanced panel).

A new project nobody changed keeps the address it was given (it is saved at once), and the plain runs
read Run 1, 2, 3 whatever lessons were trained between them.
"""

from __future__ import annotations

import dataclasses
import socket

import pytest

from tm_core import assets, workflow
from tm_core.encoders import image
from tm_core.project import Project
from tm_core.session import Session
from tm_core.training import TrainConfig
from tm_core.ui import state, widgets

from conftest import app, click, sess  # the shared AppTest helpers


def closed_port_url() -> str:
    """A loopback address where nothing listens: a download is refused at once, as offline."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/weights.h5"


@pytest.fixture
def no_models(tmp_path, monkeypatch):
    """TM_MODELS_DIR an empty folder, an empty download cache, every image network's download refused, and
    no network already loaded in this process (the shared encoders are dropped before and after)."""
    (tmp_path / "models").mkdir()
    monkeypatch.setenv("TM_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("TM_CACHE_DIR", str(tmp_path / "cache"))
    for spec in image.SPECS.values():
        monkeypatch.setitem(assets.ASSETS, spec.filename, dataclasses.replace(assets.ASSETS[spec.filename],
                                                                              url=closed_port_url()))
    assets.forget_checks()
    state.encoder.clear()
    yield
    assets.forget_checks()
    state.encoder.clear()


def with_photos(at, rps_train, n: int = 6):
    s = sess(at)
    for old, cls in zip(list(s.project.counts()), ("rock", "paper")):
        s.project.rename_class(old, cls)
        list(s.project.add_files((cls, f.name, f.read_bytes()) for f in sorted((rps_train / cls).iterdir())[:n]))
    at.run()
    assert not at.exception


def test_without_the_pretrained_files_the_page_says_why_in_one_sentence(no_models, rps_train):
    at = app()
    with_photos(at, rps_train)
    click(at, "Check my data")  # no traceback ...
    assert [e.value for e in at.error] == [widgets.CHECK_NEEDS_MODELS]  # ... one sentence saying what to do
    assert "TM_MODELS_DIR" not in widgets.CHECK_NEEDS_MODELS and "Deploy" in widgets.CHECK_NEEDS_MODELS

    at.switch_page("app_pages/train.py").run()
    assert not at.exception
    train = next(b for b in at.button if b.label == "Train model")
    assert train.disabled
    beside = [w.value for w in at.main.info]
    assert widgets.TRAIN_NEEDS_MODELS in beside  # on the page, beside the button ...
    advanced = next(x for x in at.expander if x.label == "Advanced")
    assert widgets.TRAIN_NEEDS_MODELS not in [w.value for w in advanced.info]  # ... not in the closed panel
    assert sess(at).runs == [] and not at.exception


# --- an untouched project's address keeps working; runs are numbered 1, 2, 3 ---------------------------

def test_a_new_projects_address_names_it_even_if_nobody_changed_it():
    first = app()
    token = sess(first).token
    assert token and first.query_params["project"] == token
    assert state.project_store().exists(token)  # saved from the first moment its address is shown
    later = app(token=token)  # the address opened again later (a reload, another device)
    assert sess(later).token == token and later.query_params["project"] == token
    said = later.session_state["report"] if "report" in later.session_state else []  # noqa: SIM401 (no .get here)
    assert not [text for _, text in said if "does not lead to a project" in text], said
    assert sess(later).project.kind == sess(first).project.kind


def test_plain_runs_are_numbered_1_2_3_around_the_lessons(rps_train, encoder):
    p = Project("image", ["rock", "paper"])
    for cls in ("rock", "paper"):
        list(p.add_files((cls, f.name, f.read_bytes()) for f in sorted((rps_train / cls).iterdir())[:8]))
    s = Session(project=p, encoder_name=encoder.name, config=TrainConfig(epochs=3))
    prepared = workflow.prepare(p, s.cache, encoder, s.config)
    workflow.train(s, prepared, s.config)
    workflow.sweep(s, prepared, "epochs", steps=(2, 4))
    workflow.train(s, prepared, s.config)
    workflow.sweep(s, prepared, "epochs", steps=(2, 4))  # the same lesson again
    workflow.train(s, prepared, s.config)
    labels = [r.label for r in s.runs]
    assert [label.split(" ·")[0] for label in labels if label.startswith("Run ")] == ["Run 1", "Run 2", "Run 3"]
    assert labels[1:3] == ["Lesson · 2 epochs", "Lesson · 4 epochs"]
    assert labels[4:6] == ["Lesson · 2 epochs (2)", "Lesson · 4 epochs (2)"]
    assert len(set(labels)) == len(labels) == 7  # each run keeps a name of its own (the Overfitting page lists them by name)
