"""Which imported pictures are one recording (frames of one video) and which are separate photos:
decided by what the files are, on real frames and real photos (issue 19, item 3)."""

from __future__ import annotations

import io
import zipfile

import pytest
from video_frames import frame_files

from tm_core import media
from tm_core.project import Project
from tm_core.training import END_OF_RECORDING, RANDOM, grouped_split

from conftest import APP, DATASETS, _need, photos, uploader


@pytest.fixture(scope="module")
def video_dir():
    return _need(DATASETS / "video")


def zip_of(classes: dict[str, list[tuple[str, bytes]]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for cls, files in classes.items():
            for name, data in files:
                z.writestr(f"{cls}/{name}", data)
    return buf.getvalue()


def groups_of(p: Project, cls: str) -> list[str]:
    return [s.group for s in p.get_class(cls).samples]


def test_a_zip_of_video_frames_is_one_recording_and_photos_stay_separate(rps_train, video_dir):
    rock = [(f.name, f.read_bytes()) for f in photos(rps_train, "rock", 20)]
    p = Project("image", [])
    list(p.add_listing(media.read_zip(zip_of({"person": frame_files(video_dir), "rock": rock}), "mixed.zip")))
    person = groups_of(p, "person")
    assert len(person) == 50 and len(set(person)) == 1 and person[0].startswith("frames-")
    assert groups_of(p, "rock") == [""] * 20  # 20 separate photos: each one its own
    said = p.last_import.sentences()
    assert said == ["The 50 new pictures of person look like frames of one video, so they are kept together: "
                    "the test never uses frames of a video the model learned from.",
                    "The 20 new pictures of rock look like separate photos, so each one can be tested on its own."]
    ds = p.dataset()
    split = grouped_split(ds.labels, 0.15, 0, ds.groups)
    assert split.how == {0: END_OF_RECORDING, 1: RANDOM}  # the video: its end; the photos: any of them


def test_frames_a_second_apart_are_still_one_video(video_dir):
    p = Project("image", [])
    list(p.add_files(("person", name, data) for name, data in frame_files(video_dir, every=10)))
    assert len(set(groups_of(p, "person"))) == 1 and groups_of(p, "person")[0]


def test_numbered_names_alone_do_not_make_a_video(rps_train):
    """Photos named like frames (a phone numbers its photos too) stay separate: the pictures decide."""
    files = [(f"frame_{i + 1:04d}.jpg", f.read_bytes()) for i, f in enumerate(photos(rps_train, "paper", 30))]
    p = Project("image", [])
    list(p.add_files(("paper", name, data) for name, data in files))
    assert groups_of(p, "paper") == [""] * 30
    assert p.last_import.sentences() == [
        "The 30 new pictures of paper look like separate photos, so each one can be tested on its own."]


def test_one_upload_of_photos_and_frames_keeps_only_the_frames_together(rps_train, video_dir):
    mixed = [(f.name, f.read_bytes()) for f in photos(rps_train, "rock", 6)] + frame_files(video_dir, every=5)
    p = Project("image", [])
    list(p.add_files(("rock", name, data) for name, data in mixed))
    groups = groups_of(p, "rock")
    assert groups[:6] == [""] * 6 and len(set(groups[6:])) == 1 and groups[6]
    assert p.last_import.sentences() == [
        "10 of the 16 new pictures of rock look like frames of one video, so they are kept together: "
        "the test never uses frames of a video the model learned from."]


def test_two_videos_in_one_folder_are_two_recordings(rps_train, video_dir):
    """Frames of a video, a photo between, frames again: a photo breaks the run, so two videos."""
    frames = frame_files(video_dir, every=5)
    between = photos(rps_train, "scissors", 1)[0]
    p = Project("image", [])
    list(p.add_files(("person", n, d) for n, d in frames[:5] + [(between.name, between.read_bytes())] + frames[5:]))
    groups = groups_of(p, "person")
    assert groups[5] == "" and len(set(groups[:5])) == 1 and len(set(groups[6:])) == 1 and groups[0] != groups[6]
    assert "look like frames of 2 videos" in p.last_import.sentences()[0]


@pytest.mark.slow
def test_the_gather_page_says_what_it_decided_after_an_import(rps_train, video_dir):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    rock = [(f.name, f.read_bytes()) for f in photos(rps_train, "rock", 12)]
    archive = zip_of({"person": frame_files(video_dir, every=2), "rock": rock})
    uploader(at, "zip:").set_value(("mixed.zip", archive, "application/zip")).run()
    assert not at.exception, at.exception
    said = [m.value for m in at.info]
    assert ("The 25 new pictures of person look like frames of one video, so they are kept together: "
            "the test never uses frames of a video the model learned from.") in said
    assert "The 12 new pictures of rock look like separate photos, so each one can be tested on its own." in said


def test_an_import_given_one_recording_yields_every_sample_it_adds(rps_train):
    """Regression: with ``group`` given, add_files added the pictures but yielded none of them."""
    p = Project(class_names=[])
    files = [("paper", f.name, f.read_bytes()) for f in sorted((rps_train / "paper").iterdir())[:4]]
    added = list(p.add_files(files, group="burst-1"))
    assert [s.id for s in added] == [s.id for s in p.get_class("paper").samples] and len(added) == 4
    assert groups_of(p, "paper") == ["burst-1"] * 4
