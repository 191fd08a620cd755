"""What a new user hits first (issue 19), driven with AppTest on real photos.

A server without the pretrained files (offline, TM_MODELS_DIR an empty folder): "Check my data" says
why in one sentence instead of a traceback, and the greyed-out Train button has that sentence beside it
(not in the closed Advanced panel).
"""

from __future__ import annotations

import dataclasses
import socket

import pytest

from tm_core import assets
from tm_core.encoders import image
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
    beside = [w.value for w in at.main.warning]
    assert widgets.TRAIN_NEEDS_MODELS in beside  # on the page, beside the button ...
    advanced = next(x for x in at.expander if x.label == "Advanced")
    assert widgets.TRAIN_NEEDS_MODELS not in [w.value for w in advanced.warning]  # ... not in the closed panel
    assert sess(at).runs == [] and not at.exception
