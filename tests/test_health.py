"""Data health on real data: duplicates, near copies, imbalance, confusions; the Gather and Train panels.

Real photos (rps_real, clothing4), real frames of the fake-camera video, the real MobileNetV2 encoder.
"""

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tm_core import health, media
from tm_core.errors import InputError
from tm_core.evaluation import evaluate
from tm_core.features import FeatureCache
from tm_core.project import Project
from tm_core.training import TrainConfig, split_per_class, train

from conftest import photos

APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")


def fill(project: Project, cls: str, files) -> None:
    errors = [r for r in project.add_files((cls, f.name, f.read_bytes()) for f in files) if isinstance(r, InputError)]
    assert not errors


@pytest.fixture(scope="module")
def frames(datasets_dir) -> list[bytes]:
    """The 75 JPEG frames of the fake-camera video, 15 a second (an MJPEG stream is JPEGs back to back)."""
    data = (datasets_dir / "video" / "person_seated_raga_640x360_15fps.mjpeg").read_bytes()
    return [b"\xff\xd8" + part for part in data.split(b"\xff\xd8")[1:]]


def one_at_a_time(project: Project, cls: str, frames, start: int = 0) -> None:
    """Frames added as separate uploads of one picture each (photos taken one by one): separate
    recordings, so near copies among them are worth pointing out."""
    for i, f in enumerate(frames, start):
        list(project.add_files([(cls, f"frame {i}", f)]))


def embedded(encoder, project: Project):
    ds = project.dataset()
    cache = FeatureCache()
    cache.embed(encoder, ds.samples)
    return ds, cache.matrix(encoder.name, ds.samples)


def kinds(findings) -> list[str]:
    return [f.kind for f in findings]


def test_the_same_photo_in_two_classes_is_found(rps_train):
    p = Project(class_names=["rock", "paper"])
    fill(p, "rock", photos(rps_train, "rock", 5))
    fill(p, "paper", photos(rps_train, "paper", 5))
    assert health.check(p.dataset()) == []
    fill(p, "paper", photos(rps_train, "rock", 2, offset=3))  # two rock photos put in paper by mistake
    [f] = health.check(p.dataset())
    assert f.kind == "duplicate" and f.severity == health.WARNING and f.classes == ("rock", "paper")
    assert set(f.samples) == {s.id for s in p.get_class("rock").samples[3:5]}
    assert f.sentence == ("2 pictures are in both **rock** and **paper**: the model cannot learn two answers for one "
                          "picture. Keep each in one class.")


def test_consecutive_video_frames_are_near_copies_and_distinct_rps_photos_are_not(encoder, rps_train, frames):
    p = Project(class_names=["rock", "paper", "scissors", "wave"])
    for cls in ("rock", "paper", "scissors"):
        fill(p, cls, photos(rps_train, cls, 20))
    one_at_a_time(p, "wave", frames[:12])  # 0.8 s of a video, uploaded one picture at a time
    ds, features = embedded(encoder, p)
    findings = health.check(ds, features, encoder=encoder.name)
    [f] = findings
    assert f.kind == "near_copies" and f.classes == ("wave",)
    wave_ids = [s.id for s in p.get_class("wave").samples]
    assert f.groups == (tuple(wave_ids),)  # 0.8 s of a seated person: one group, led by the first frame
    assert f.redundant == tuple(wave_ids[1:]) and f.severity == health.WARNING
    assert f.sentence == ("11 of the 12 pictures of **wave** are near copies of others there (e.g. the same scene "
                          "recorded twice): they teach little new and can make the test accuracy look better than it is. "
                          "Remove them and take new ones that vary the angle, the light and the background.")

    # the figures behind it: every consecutive frame above the threshold, every distinct photo's nearest below
    u = features / np.linalg.norm(features, axis=1, keepdims=True)
    wave = u[ds.labels == 3]
    assert (np.sum(wave[1:] * wave[:-1], axis=1) >= health.NEAR_COPY[encoder.name]).all()
    for c in range(3):
        s = u[ds.labels == c] @ u[ds.labels == c].T
        np.fill_diagonal(s, -1)
        assert s.max() < health.NEAR_COPY[encoder.name]


def test_near_copies_in_two_classes_are_found(encoder, rps_train, frames):
    p = Project(class_names=["sitting", "waving", "rock"])
    list(p.add_files(("sitting", f"frame {i}", f) for i, f in enumerate(frames[:3])))
    list(p.add_files(("waving", f"frame {i}", f) for i, f in enumerate(frames[3:6], 3)))
    fill(p, "rock", photos(rps_train, "rock", 6))
    ds, features = embedded(encoder, p)
    across = [f for f in health.check(ds, features) if f.kind == "near_copies_across"]
    assert [f.classes for f in across] == [("sitting", "waving")]
    assert across[0].sentence.startswith("3 pictures of **sitting** are near copies of 3 pictures of **waving**")
    assert set(across[0].samples) == {s.id for c in ("sitting", "waving") for s in p.get_class(c).samples}


def test_a_class_far_larger_than_another_is_flagged_and_a_balanced_project_is_not(rps_train):
    p = Project(class_names=["paper", "scissors"])
    fill(p, "paper", photos(rps_train, "paper", 60))
    fill(p, "scissors", photos(rps_train, "scissors", 10))
    [f] = health.check(p.dataset())
    assert f.kind == "imbalance" and f.classes == ("scissors", "paper")
    assert f.sentence == ("**paper** has 60 pictures and **scissors** 10: the model will lean towards paper. "
                          "Add scissors pictures or remove some paper ones.")
    p.clear_class("paper")
    fill(p, "paper", photos(rps_train, "paper", 12))
    assert health.check(p.dataset()) == []  # 12 against 10: fine


def test_a_confused_pair_gives_its_sentence_and_a_few_mistakes_do_not():
    names = ["rock", "paper", "scissors"]
    labels = np.repeat([0, 1, 2], 20)
    pred = labels.copy()
    pred[40:46] = 0  # 6 of 20 scissors taken for rock
    pred[20] = 2  # 1 of 20 paper taken for scissors: chance
    ev = evaluate(np.eye(3)[pred], labels, names)
    ids = [f"s{i}" for i in range(60)]
    [f] = health.confusions(ev, ("picture", "pictures"), ids)
    assert f.kind == "confusion" and f.classes == ("scissors", "rock")
    assert f.sentence == ("The model mistakes **scissors** for **rock** in 6 of 20 test pictures. "
                          "Add scissors pictures that show clearly how it differs from rock.")
    assert f.samples and set(f.samples) == {f"s{i}" for i in range(40, 46)}
    # 2 of 3 held-out samples is not enough to tell: a note says so instead
    small = evaluate(np.eye(2)[[0, 1, 1, 1, 1, 0]], np.array([0, 0, 0, 1, 1, 1]), ["a", "b"])
    [note] = health.confusions(small)
    assert note.kind == "few_tests" and note.severity == health.INFO and note.classes == ("a", "b")


@pytest.fixture(scope="module")
def pants_split_in_two(encoder, clothing_train):
    """A real run that must confuse two classes: pants photos split at random into two classes, beside shoes."""
    p = Project(class_names=["pants A", "pants B", "shoes"])
    pants = photos(clothing_train, "pants", 60)
    fill(p, "pants A", pants[0::2])
    fill(p, "pants B", pants[1::2])
    fill(p, "shoes", photos(clothing_train, "shoes", 30))
    ds, features = embedded(encoder, p)
    split = split_per_class(ds.labels, 0.34, 0)
    run = train(features, ds.labels, ds.class_names, TrainConfig(epochs=30), split=split)
    ev = evaluate(run.head.predict_proba(features[split.test]), ds.labels[split.test], ds.class_names)
    return p, ds, features, run, ev


@pytest.mark.slow
def test_a_real_model_that_mixes_two_classes_is_told_so(pants_split_in_two):
    _p, ds, features, _run, ev = pants_split_in_two
    findings = health.check(ds, features, ev)
    confused = [f for f in findings if f.kind == "confusion"]
    assert confused and all(set(f.classes) == {"pants A", "pants B"} for f in confused)
    assert "near_copies" not in kinds(findings) and "imbalance" not in kinds(findings)
    assert confused[0].sentence.startswith("The model mistakes **pants ")


def test_a_long_burst_keeps_one_sample_per_stretch_that_looks_different(encoder, frames):
    """All 75 frames (5 s): chained pairs would make one group; grouping around the first frame that
    looks different keeps more than one, and every frame removed has a kept one it is a near copy of."""
    p = Project(class_names=["sitting"])
    one_at_a_time(p, "sitting", frames)
    ds, features = embedded(encoder, p)
    [f] = health.check(ds, features)
    kept = [g[0] for g in f.groups]
    assert len(kept) >= 2 and len(f.redundant) == 75 - len(kept)
    u = features / np.linalg.norm(features, axis=1, keepdims=True)
    row = {s.id: i for i, s in enumerate(ds.samples)}
    for g in f.groups:
        sims = u[[row[x] for x in g[1:]]] @ u[row[g[0]]]
        assert (sims >= health.NEAR_COPY[encoder.name]).all()


def test_features_that_do_not_match_the_samples_are_refused(rps_train):
    p = Project(class_names=["rock"])
    fill(p, "rock", photos(rps_train, "rock", 3))
    with pytest.raises(InputError, match="one embedding per sample"):
        health.check(p.dataset(), np.zeros((2, 8), np.float32))


# --- the pages ------------------------------------------------------------------------------------


def app_with(s) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["teachable_studio"] = s
    at.run()
    assert not at.exception
    return at


def test_gather_page_checks_the_data_and_shows_the_samples_involved(rps_train, frames):
    from tm_core.ui.state import Session

    s = Session()
    s.project.rename_class("Class 1", "rock")
    s.project.rename_class("Class 2", "paper")
    fill(s.project, "rock", photos(rps_train, "rock", 12))
    fill(s.project, "paper", photos(rps_train, "paper", 12))
    fill(s.project, "paper", photos(rps_train, "rock", 1))  # one rock photo in paper too
    one_at_a_time(s.project, "rock", frames[:4])
    at = app_with(s)
    button = at.button(key="health:check")
    assert button.label == "Check my data"
    assert not any("in both" in w.value for w in at.warning)  # nothing said before the check
    button.click().run()
    assert not at.exception
    said = [w.value for w in at.warning] + [i.value for i in at.info]
    assert any(t.startswith("1 picture is in both **rock** and **paper**") for t in said)
    assert any(t.startswith("3 of the 16 pictures of **rock** are near copies of others there") for t in said)
    assert len(s.cache) == 28  # each distinct sample embedded once (the duplicate too), kept for training
    labels = [e.label for e in at.expander]
    assert "See the 1 picture" in labels and "See the 4 pictures" in labels
    near = next(e for e in at.expander if e.label == "See the 4 pictures")
    [row] = near.image  # one row: the group of four frames, the first one staying
    assert row.captions == ["frame 0", "frame 1", "frame 2", "frame 3"]

    # the fixes: the duplicate kept in rock only, the near copies removed (one of the group stays)
    at.button(key="health:keep:0:rock").click().run()
    assert not at.exception and len(s.project.get_class("paper")) == 12 and len(s.project.get_class("rock")) == 16
    assert any(m.value == "Removed 1 picture from paper." for m in at.info)  # with Undo beside it
    assert not any("in both" in w.value for w in at.warning)  # checked again at once
    button = next(b for b in at.button if b.label == "Remove the 3 near copies from rock")
    button.click().run()
    assert not at.exception
    assert [x.name for x in s.project.get_class("rock").samples][-1] == "frame 0"
    assert len(s.project.get_class("rock")) == 13
    assert any(m.value == "Nothing to point out in these 25 samples." for m in at.success)

    # a change made elsewhere makes the findings out of date
    s.project.delete_sample("paper", s.project.get_class("paper").samples[-1].id)
    at.run()
    assert any("changed since the last check" in c.value for c in at.caption)


@pytest.mark.slow
def test_train_page_says_which_classes_the_model_mixes_up(pants_split_in_two):
    from tm_core.ui.state import Session

    p, ds, features, run, _ = pants_split_in_two
    s = Session()
    s.project = p
    s.current = s.add_run(run, s.encoder_name, ds, features)
    at = app_with(s)
    at.switch_page("app_pages/train.py").run()
    assert not at.exception
    assert any(w.value.startswith("The model mistakes **pants ") for w in at.warning)


def test_pose_projects_judge_near_copies_on_the_picture(frames, clothing_train):
    """Pose samples are whole padded pictures: they go through MobileNetV2 at 224 px, not the keypoints."""
    from tm_core.ui import health as health_ui
    from tm_core.ui.state import Session

    s = Session()
    s.new_project("pose")
    one_at_a_time(s.project, "Class 1", frames[:5])
    fill(s.project, "Class 2", photos(clothing_train, "hat", 5))
    assert health_ui.near_copy_encoder(s)[0] == health.PICTURE_ENCODER
    findings = health_ui.run_check(s, s.project.dataset())
    assert [(f.kind, f.classes) for f in findings] == [("near_copies", ("Class 1",))]
    assert len(s.cache) == 10


def test_a_sound_recorded_again_softer_is_a_near_copy_and_other_speakers_are_not(datasets_dir):
    from tm_core.ui import health as health_ui
    from tm_core.ui.state import Session

    s = Session()
    s.new_project("audio")
    s.project.add_class("yes")
    for f in photos(datasets_dir / "speech_commands" / "train", "yes", 8):
        s.project.add_sample("yes", media.clip_windows(media.load_audio(f))[0], f.name)
    for f in photos(datasets_dir / "speech_commands" / "train", "background_noise", 4):
        for k, w in enumerate(media.clip_windows(media.load_audio(f))[:3]):
            s.project.add_sample("Background Noise", w, f"{f.name} {k}")
    assert health_ui.near_copy_encoder(s) == (s.encoder_name, None)
    ds = s.project.dataset()
    assert [f.kind for f in health_ui.run_check(s, ds)] == []  # 8 speakers; noise is alike on purpose
    first = s.project.get_class("yes").samples[0]
    s.project.add_sample("yes", first.data * 0.5, "the same, softer")
    [f] = health_ui.run_check(s, s.project.dataset())
    softer = s.project.get_class("yes").samples[-1].id
    assert f.kind == "near_copies" and f.groups == ((first.id, softer),) and f.redundant == (softer,)
    assert f.sentence.startswith("1 of the 9 sounds of **yes** is a near copy of another there: ")
    assert "record new ones in other ways" in f.sentence


def test_gather_page_says_the_class_sizes_once_after_a_check(rps_train):
    from tm_core.ui.state import Session

    s = Session()
    s.project.rename_class("Class 1", "rock")
    s.project.rename_class("Class 2", "paper")
    fill(s.project, "rock", photos(rps_train, "rock", 24))
    fill(s.project, "paper", photos(rps_train, "paper", 10))
    at = app_with(s)
    at.button(key="health:check").click().run()
    assert not at.exception
    sizes = [w.value for w in at.warning if "rock" in w.value and "paper" in w.value and "24" in w.value]
    assert len(sizes) == 1, [w.value for w in at.warning]  # at the top of the page, not again in the panel
    assert any(m.value == "Nothing else to point out in these 34 samples." for m in at.success)
