"""Project model: classes in order, samples with content ids, importing real photos."""

import numpy as np
import pytest

from tm_core import media
from tm_core.errors import InputError
from tm_core.project import Project, Sample, sample_id


def img(value: int) -> np.ndarray:
    return np.full((224, 224, 3), value, np.uint8)


def test_new_project_starts_like_teachable_machine():
    p = Project()
    assert p.kind == "image" and [c.name for c in p.classes] == ["Class 1", "Class 2"]
    assert p.counts() == {"Class 1": 0, "Class 2": 0}
    assert p.add_class().name == "Class 3"
    p.delete_class("Class 1")
    assert p.add_class().name == "Class 4"  # "Class 3" is taken, numbering goes on
    with pytest.raises(InputError):
        Project(kind="smell")


def test_sample_ids_are_content_hashes():
    a, b = img(10), img(10)
    assert sample_id(a) == sample_id(b) != sample_id(img(11))
    assert sample_id(a) != sample_id(a.astype(np.float32))  # dtype is part of the content
    p = Project()
    s = p.add_sample("Class 1", a, "a.png")
    assert isinstance(s, Sample) and s.id == sample_id(a) and s.name == "a.png"
    assert p.add_sample("Class 1", b) is None  # same picture twice in a class: one sample
    assert p.add_sample("Class 2", b) is not None  # but another class may hold it
    with pytest.raises(ValueError):
        s.data[0, 0, 0] = 1  # samples are read-only, so ids stay true


def test_rename_disable_delete_clear():
    p = Project()
    p.add_sample("Class 1", img(1))
    p.add_sample("Class 2", img(2))
    p.rename_class("Class 1", "  rock ")
    assert [c.name for c in p.classes] == ["rock", "Class 2"]
    for bad in ("", "   ", "Class 2", "x" * 101, "two\nlines"):
        with pytest.raises(InputError):
            p.rename_class("rock", bad)
    p.rename_class("rock", "rock")  # unchanged name is fine
    p.set_enabled("Class 2", False)
    ds = p.dataset()
    assert ds.class_names == ["rock"] and len(ds.samples) == 1
    with pytest.raises(InputError, match="at least two"):
        p.check_trainable()
    p.set_enabled("Class 2", True)
    p.check_trainable()
    p.clear_class("Class 2")
    assert p.counts() == {"rock": 1, "Class 2": 0}
    sid = p.get_class("rock").samples[0].id
    with pytest.raises(InputError):
        p.delete_sample("rock", "nope")
    p.delete_sample("rock", sid)
    assert p.counts()["rock"] == 0
    p.delete_class("Class 2")
    with pytest.raises(InputError):
        p.get_class("Class 2")


def test_dataset_labels_follow_class_order():
    p = Project(class_names=["b", "a", "c"])
    p.add_sample("a", img(1))
    p.add_sample("b", img(2))
    p.add_sample("b", img(3))
    ds = p.dataset()  # "c" is empty: left out
    assert ds.class_names == ["b", "a"] and ds.labels.tolist() == [0, 0, 1]


def test_add_listing_decodes_real_photos_and_reports_bad_files(rps_train, tmp_path):
    for cls in ("rock", "paper"):
        (tmp_path / cls).mkdir()
        for f in sorted((rps_train / cls).iterdir())[:5]:
            (tmp_path / cls / f.name).write_bytes(f.read_bytes())
    (tmp_path / "rock" / "notes.txt").write_text("not a picture")
    dup = sorted((rps_train / "paper").iterdir())[0]
    (tmp_path / "paper" / "zz-copy.jpg").write_bytes(dup.read_bytes())  # a duplicate in its class

    p = Project(class_names=[])
    items = list(p.add_listing(media.list_folder(tmp_path)))
    errors = [i for i in items if isinstance(i, InputError)]
    assert [e.name for e in errors] == ["rock/notes.txt"] and "not an image" in errors[0].reason
    assert p.counts() == {"paper": 5, "rock": 5}
    s = p.get_class("rock").samples[0]
    assert s.data.shape == (224, 224, 3) and s.data.dtype == np.uint8 and s.name.startswith("rock/")
