"""A webcam burst with the default settings and "Check my data" agree (issue 19, item 5): the frames of
one recording look alike on purpose, so they are not near copies to remove; a scene recorded twice is.

Real frames: the fake-camera video (a seated person, 15 frames a second), fed to the real
BurstRecorder as a 30 fps camera would, with a clock the test moves."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from tm_core import health
from tm_core.errors import InputError
from tm_core.features import FeatureCache
from tm_core.live import BurstRecorder, add_recording
from tm_core.live.burst import DEFAULT_DELAY, DEFAULT_DURATION, DEFAULT_FPS
from tm_core.project import Project

from conftest import APP, photos


@pytest.fixture(scope="module")
def camera(datasets_dir) -> list[np.ndarray]:
    """The video's 75 frames as RGB (640×360), as the camera callback gets them."""
    data = (datasets_dir / "video" / "person_seated_raga_640x360_15fps.mjpeg").read_bytes()
    return [np.asarray(Image.open(io.BytesIO(b"\xff\xd8" + part)).convert("RGB"))
            for part in data.split(b"\xff\xd8")[1:]]


DEFAULTS = {"fps": DEFAULT_FPS, "delay": DEFAULT_DELAY, "duration": DEFAULT_DURATION}  # what the Gather page starts with


def burst(camera, fps: float, delay: float, duration: float, start: float = 0.0) -> list[np.ndarray]:
    """One recording: a 30 fps camera showing the video (looped) from ``start`` s, Record pressed at 0."""
    now = [0.0]
    rec = BurstRecorder(fps=fps, delay=delay, duration=duration, clock=lambda: now[0])
    rec.start()
    while rec.status()[0] in ("waiting", "recording"):
        rec.on_frame(camera[int((start + now[0]) * 15) % len(camera)])
        now[0] += 1 / 30
    return rec.take()


def embedded(encoder, project: Project):
    ds = project.dataset()
    cache = FeatureCache()
    cache.embed(encoder, ds.samples)
    return ds, cache.matrix(encoder.name, ds.samples)


def with_rock(rps_train) -> Project:
    p = Project(class_names=["sitting", "rock"])
    for f in photos(rps_train, "rock", 40):  # 40 against the burst's 75: no imbalance note
        assert not isinstance(next(iter(p.add_files([("rock", f.name, f.read_bytes())]))), InputError)
    return p


def test_the_default_burst_is_one_recording_the_data_check_accepts(encoder, rps_train, camera):
    frames = burst(camera, **DEFAULTS)
    assert len(frames) == round(DEFAULT_FPS * DEFAULT_DURATION) == 144  # Teachable Machine's 24 × 6 s
    p = with_rock(rps_train)
    done = add_recording(p, "sitting", frames)
    assert done.added == 75  # the camera repeats each of the video's 75 frames: an exact repeat is one sample
    ds, features = embedded(encoder, p)
    findings = health.check(ds, features, encoder=encoder.name)
    assert [f.kind for f in findings] == ["one_recording"]  # no near copies to remove
    [f] = findings
    assert f.severity == health.INFO and not f.redundant and f.classes == ("sitting",)
    assert f.sentence == (
        f"All {done.added} pictures of **sitting** come from one recording. They look alike, which is normal for one "
        "recording, but the model only sees that one scene. Record it again a few times with another angle, light "
        "or background: each recording stays together when the model is tested, so the test then uses pictures "
        "from a recording it did not learn from.")


def test_the_same_scene_recorded_twice_is_flagged_and_only_the_second_recording_goes(encoder, rps_train, camera):
    p = with_rock(rps_train)
    first = add_recording(p, "sitting", burst(camera, fps=6, delay=0, duration=2))
    before = {s.id for s in p.get_class("sitting").samples}
    second = add_recording(p, "sitting", burst(camera, fps=6, delay=0, duration=2, start=0.05))
    assert first.added == 12 and second.added > 0
    ds, features = embedded(encoder, p)
    [f] = [f for f in health.check(ds, features, encoder=encoder.name) if f.kind == "near_copies"]
    assert f.classes == ("sitting",) and f.redundant and not set(f.redundant) & before
    assert "one_recording" not in [x.kind for x in health.check(ds, features, encoder=encoder.name)]


@pytest.mark.slow
def test_gather_page_explains_the_burst_and_offers_no_removal(rps_train, camera):
    from streamlit.testing.v1 import AppTest

    from tm_core.ui.state import Session

    s = Session()
    s.project = with_rock(rps_train)
    add_recording(s.project, "sitting", burst(camera, **DEFAULTS))
    at = AppTest.from_file(APP, default_timeout=180)
    at.session_state["teachable_studio"] = s
    at.run()
    assert not at.exception
    assert {k: at.number_input(key=f"burst:{k}").value for k in DEFAULTS} == DEFAULTS
    captions = [c.value for c in at.caption]
    assert ("One recording gives about 144 pictures. They look alike, and that is fine: they stay together when "
            "the model is tested. For a better model, record a few times with another angle, light or "
            "background.") in captions
    at.button(key="health:check").click().run()
    assert not at.exception
    assert any(i.value.startswith("All ") and "pictures of **sitting** come from one recording" in i.value
               for i in at.info)
    assert not [b.label for b in at.button if b.label.startswith("Remove the")]
