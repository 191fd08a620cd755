"""The honest held-out split: a recording (a webcam burst, a sound file, a sub-folder imported as one) never
on both sides; separate files are separate recordings; samples marked "test only" are tested on and never
trained on; the Gather page shows each sample's side."""

import io
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tm_core import media
from tm_core.project import Project, new_group
from tm_core.training import (
    END_OF_RECORDING,
    MARKED,
    RANDOM,
    RECORDINGS,
    grouped_split,
    held_out_count,
    split_per_class,
)

APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")


def sides(split, groups):
    train = {groups[i] for i in split.train}
    test = {groups[i] for i in split.test}
    return train, test


@pytest.mark.parametrize("seed", range(8))
def test_no_recording_is_on_both_sides_and_every_class_trains(seed):
    rng = np.random.default_rng(seed)
    labels, groups = [], []
    for c in range(3):  # each class: a few bursts of 5-40 frames and some single photos
        for b in range(int(rng.integers(2, 6))):
            size = int(rng.integers(5, 40))
            labels += [c] * size
            groups += [f"burst-{c}-{b}"] * size
        for _p in range(int(rng.integers(0, 6))):
            labels.append(c)
            groups.append("")
    labels = np.array(labels)
    split = grouped_split(labels, 0.15, seed, groups)
    assert len(np.intersect1d(split.train, split.test)) == 0
    assert len(split.train) + len(split.test) == len(labels)
    named = [g or f"single-{i}" for i, g in enumerate(groups)]
    train, test = sides(split, named)
    assert not train & test  # no burst on both sides
    for c in range(3):
        assert (labels[split.train] == c).any() and (labels[split.test] == c).any()
        assert split.how[c] == RECORDINGS
        share = (labels[split.test] == c).sum() / (labels == c).sum()
        assert share < 0.6  # whole recordings, but not most of the class


def test_a_class_that_is_one_recording_holds_out_its_end():
    labels = np.array([0] * 40 + [1] * 20)
    groups = ["burst-a"] * 40 + ["upload-b"] * 20
    split = grouped_split(labels, 0.15, 0, groups)
    assert list(split.test) == list(range(34, 40)) + list(range(57, 60))  # the last 15 % of each, in order
    assert split.how == {0: END_OF_RECORDING, 1: END_OF_RECORDING}


def test_marked_samples_are_the_test_part_of_their_class_only():
    labels = np.array([0] * 10 + [1] * 10)
    marked = np.zeros(20, bool)
    marked[[2, 7]] = True
    split = grouped_split(labels, 0.15, 0, ["u1"] * 5 + ["u2"] * 5 + [""] * 10, marked)
    assert set(split.test[labels[split.test] == 0]) == {2, 7}
    assert not set(split.train) & {2, 7}
    assert split.how[0] == MARKED and split.how[1] == RANDOM
    assert (labels[split.test] == 1).sum() == held_out_count(10, 0.15)


def test_without_recordings_or_marks_it_is_the_random_split():
    labels = np.repeat([0, 1, 2], 30)
    a, b = grouped_split(labels, 0.15, 3), split_per_class(labels, 0.15, 3)
    assert list(a.test) == list(b.test) and list(a.train) == list(b.train)
    assert a.how == {0: RANDOM, 1: RANDOM, 2: RANDOM}


def test_every_recording_larger_than_the_share_holds_out_the_smallest_whole():
    labels = np.zeros(90, int)
    groups = ["a"] * 50 + ["b"] * 40
    labels = np.concatenate([labels, np.ones(10, int)])
    split = grouped_split(labels, 0.15, 0, groups + [""] * 10)
    assert set(split.test[labels[split.test] == 0]) == set(range(50, 90))  # burst b, whole


def test_uploaded_files_bursts_and_sound_files_carry_their_recording(rps_train, datasets_dir):
    p = Project("image", ["rock", "paper"])
    rock = sorted((rps_train / "rock").iterdir())
    first = [s for s in p.add_files(("rock", f.name, f.read_bytes()) for f in rock[:4])]
    second = [s for s in p.add_files(("rock", f.name, f.read_bytes()) for f in rock[4:7])]
    assert len(first) == 4 and len(second) == 3
    assert {s.group for s in first + second} == {""}  # separate photos: each a sample of its own
    frame = media.image_to_array((sorted((rps_train / "paper").iterdir())[0]).read_bytes())
    burst = new_group("burst")
    for shift in range(3):  # three frames of one burst
        p.add_sample("paper", np.roll(frame, shift, axis=1), "webcam", burst, test_only=shift == 2)
    ds = p.dataset()
    assert ds.groups[-3:] == [burst] * 3
    assert list(ds.test_only) == [False] * 9 + [True]
    only = ds.subset(np.array([True] * 8 + [False, True]))
    assert list(only.test_only) == [False] * 8 + [True]
    p.delete_sample("paper", ds.samples[-1].id)
    assert p.dataset().test_only is None  # nothing marked any more

    audio = Project("audio")
    a, b = sorted((datasets_dir / "fsdd_digits").rglob("*.wav"))[:2]
    added = list(audio.add_files([("Class 2", a.name, a.read_bytes()), ("Class 2", b.name, b.read_bytes())]))
    by_file = {}
    for s in added:
        by_file.setdefault(s.name.split(" · ")[0], set()).add(s.group)
    assert set(by_file) == {a.name, b.name}
    assert all(len(g) == 1 for g in by_file.values())  # the windows of one file stay together ...
    assert by_file[a.name] != by_file[b.name] and next(iter(by_file[a.name])).startswith("file-")  # ... two files: two


def rps_zip(rps_train, folders: bool = False) -> bytes:
    """rock/ and paper/ of 10 real photos each; with ``folders``, in two sub-folders of 5 (two "videos")."""
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for cls in ("rock", "paper"):
            for i, f in enumerate(sorted((rps_train / cls).iterdir())[:10]):
                z.writestr(f"{cls}/video {i // 5}/{f.name}" if folders else f"{cls}/{f.name}", f.read_bytes())
    return buf.getvalue()


def test_a_zip_of_class_folders_is_one_recording_per_file(rps_train):
    p = Project("image", [])
    list(p.add_listing(media.read_zip(rps_zip(rps_train), "rps.zip")))
    ds = p.dataset()
    assert len(ds.samples) == 20 and set(ds.groups) == {""}
    split = grouped_split(ds.labels, 0.15, 0, ds.groups)
    plain = split_per_class(ds.labels, 0.15, 0)  # single samples: Teachable Machine's random 15 %
    assert list(split.test) == list(plain.test) and split.how == {0: RANDOM, 1: RANDOM}


def test_sub_folders_of_a_class_folder_can_be_one_recording_each(rps_train):
    p = Project("image", [])
    list(p.add_listing(media.read_zip(rps_zip(rps_train, folders=True), "rps.zip"), by_folder=True))
    ds = p.dataset()
    assert len(ds.samples) == 20 and len(set(ds.groups)) == 4 and "" not in ds.groups
    for c in (0, 1):  # two folders of 5 in each class
        assert sorted(Counter(g for g, y in zip(ds.groups, ds.labels) if y == c).values()) == [5, 5]
    split = grouped_split(ds.labels, 0.15, 0, ds.groups)
    assert split.how == {0: RECORDINGS, 1: RECORDINGS}
    train, test = sides(split, ds.groups)
    assert not train & test and len(test) == 2  # one whole folder held out per class
    flat = Project("image", [])  # the same zip without the option: each file its own recording
    list(flat.add_listing(media.read_zip(rps_zip(rps_train, folders=True), "rps.zip")))
    assert set(flat.dataset().groups) == {""}


# --- the pages ---------------------------------------------------------------------------------

@pytest.mark.slow
def test_gather_marks_test_only_and_train_shows_each_side(rps_train):
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    sess = at.session_state["teachable_studio"]
    files = {c: sorted((rps_train / c).iterdir()) for c in ("rock", "paper")}
    for i, name in enumerate(("rock", "paper")):
        uid = sess.project.classes[i].uid
        at.text_input[i].set_value(name).run()
        for batch in (files[name][:8], files[name][8:16]):  # two uploads of 8 photos each
            up = next(u for u in at.file_uploader if u.key.startswith(f"up:{uid}"))
            up.set_value([(f.name, f.read_bytes(), "image/jpeg") for f in batch]).run()
            assert not at.exception
    rock = sess.project.classes[0]
    # new samples as test only: a third upload into rock
    at.toggle(key=f"testonly:{rock.uid}").set_value(True).run()
    up = next(u for u in at.file_uploader if u.key.startswith(f"up:{rock.uid}"))
    up.set_value([(f.name, f.read_bytes(), "image/jpeg") for f in files["rock"][16:19]]).run()
    assert len(rock.test_only) == 3
    assert any("3 of them test only" in m.value for m in at.markdown)
    # and one more ticked by hand in the gallery
    at.toggle(key=f"choose:{rock.uid}").set_value(True).run()
    first = rock.samples[0].id
    at.checkbox(key=f"to:{rock.uid}:{first}").check().run()
    assert not at.exception and first in rock.test_only
    marked = set(rock.test_only)

    at.switch_page("app_pages/train.py").run()
    next(b for b in at.button if b.label == "Train model").click().run()
    assert not at.exception
    rec = sess.current
    ds, split = rec.dataset, rec.run.split
    ids = [s.id for s in ds.samples]
    assert {ids[i] for i in split.test if ds.labels[i] == 0} == marked  # rock: exactly the marked ones
    paper_test = [i for i in split.test if ds.labels[i] == 1]
    assert len(paper_test) == held_out_count(16, 0.15) == 2  # two uploads of photos: 16 samples of their own
    assert split.how[1] == RANDOM
    text = "\n".join(m.value for m in at.markdown)
    assert "the 4 samples you marked *test only*" in text
    assert "**paper**: 2 single samples chosen at random." in text

    at.switch_page("app_pages/gather.py").run()
    captions = [c for img in at.get("image") for c in img.captions]
    sides_shown = {c.split(" · ")[0] for c in captions}
    assert {"train", "test", "test only"} <= sides_shown, sides_shown
