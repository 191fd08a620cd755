"""Limits that explain themselves: configurable, and said in plain words when reached."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tm_core import limits, project_file
from tm_core.errors import InputError
from tm_core.project import Project

APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")


def test_limits_read_positive_numbers_from_the_environment():
    assert limits.read("X", 50, {"X": "12.5"}) == 12.5
    assert limits.read("X", 50, {}) == 50
    for bad in ("", "  ", "-3", "0", "lots", "nan", "inf"):
        assert limits.read("X", 50, {"X": bad}) == 50, bad


def photos(root, cls, n):
    return [(cls, f.name, f.read_bytes()) for f in sorted((root / cls).iterdir())[:n]]


def test_a_full_project_keeps_what_fitted_and_says_so_once(rps_train, monkeypatch):
    monkeypatch.setattr(limits, "SAMPLES", 4)
    p = Project("image", ["rock", "paper"])
    results = list(p.add_files(photos(rps_train, "rock", 3) + photos(rps_train, "paper", 3)))
    errors = [r for r in results if isinstance(r, InputError)]
    assert sum(p.counts().values()) == 4 and len(errors) == 1
    assert "is full: it can hold 4 samples" in str(errors[0]) and "TM_MAX_SAMPLES" in str(errors[0])
    with pytest.raises(InputError, match="is full"):
        p.add_sample("paper", p.classes[0].samples[0].data[::-1].copy())
    p.delete_sample("rock", p.classes[0].samples[0].id)  # room again
    assert p.add_sample("paper", p.classes[0].samples[0].data[::-1].copy()) is not None


def test_a_project_file_over_the_limit_is_refused(rps_train, monkeypatch):
    p = Project("image", ["rock"])
    list(p.add_files(photos(rps_train, "rock", 5)))
    data = project_file.save(project_file.ProjectFile(p))
    monkeypatch.setattr(limits, "SAMPLES", 4)
    with pytest.raises(InputError, match="holds 5 samples, more than the 4 a project can hold"):
        project_file.open_project(data)


def test_the_gather_page_says_the_project_is_full(rps_train, monkeypatch):
    monkeypatch.setattr(limits, "SAMPLES", 5)
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    uid = at.session_state["teachable_studio"].project.classes[0].uid
    files = [(name, data, "image/jpeg") for _, name, data in photos(rps_train, "rock", 8)]
    next(u for u in at.file_uploader if u.key.startswith(f"up:{uid}")).set_value(files).run()
    assert not at.exception
    assert sum(at.session_state["teachable_studio"].project.counts().values()) == 5
    assert any("Added 5 samples" in s.value for s in at.success)
    assert any("is full: it can hold 5 samples" in w.value for w in at.warning)
