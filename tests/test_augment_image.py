"""Image augmentation: views of real photos, embedded once for the training part only, and the Train page's toggle."""

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tm_core import augment
from tm_core.features import FeatureCache
from tm_core.project import Project
from tm_core.training import split_per_class

from conftest import photos

APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")


@pytest.fixture(scope="module")
def rps_project(rps_train) -> Project:
    """An image project of real rock-paper-scissors photos, 8 per class."""
    p = Project("image", class_names=[])
    for cls in ("rock", "paper", "scissors"):
        added = list(p.add_files((cls, f.name, f.read_bytes()) for f in photos(rps_train, cls, 8)))
        assert len(added) == 8
    return p


class CountingEncoder:
    """The real encoder, counting the pictures it is asked to encode."""

    def __init__(self, encoder):
        self.inner, self.calls, self.pictures = encoder, 0, 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def encode(self, batch):
        self.calls += 1
        self.pictures += len(batch)
        return self.inner.encode(batch)


def test_views_are_deterministic_pictures_that_differ_from_the_photo(rps_project):
    s = rps_project.dataset().samples[0]
    views = [augment.image_view(s.data, s.id, v) for v in range(1, 5)]
    for v, view in enumerate(views, 1):
        assert view.shape == (224, 224, 3) and view.dtype == np.uint8
        assert np.array_equal(view, augment.image_view(s.data, s.id, v))  # same sample, same view: same picture
        assert np.abs(view.astype(int) - s.data).mean() > 5  # visibly changed
    assert all(not np.array_equal(a, b) for i, a in enumerate(views) for b in views[i + 1:])
    other = rps_project.dataset().samples[1]  # another sample's view 1 is drawn differently
    assert not np.array_equal(augment.image_view(s.data, other.id, 1), views[0])


def test_each_family_changes_what_it_says(rps_project):
    s = rps_project.dataset().samples[3]
    x = s.data
    assert np.array_equal(augment.image_view(x, s.id, 1, {"flip"}), x[:, ::-1])  # odd views: mirrored
    assert np.array_equal(augment.image_view(x, s.id, 2, {"flip"}), x)  # even views: not
    colour = augment.image_view(x, s.id, 2, {"colour"}).astype(float)
    grey = lambda a: a @ [0.299, 0.587, 0.114]  # noqa: E731
    # colour only: the same picture (every pixel's brightness ranks alike), other tones
    assert np.corrcoef(grey(colour).ravel(), grey(x.astype(float)).ravel())[0, 1] > 0.95
    assert not np.array_equal(colour, x)
    light = x // 2 + 128  # the photo with every pixel at least 128: an empty (black) corner would show
    for v in range(1, 9):  # turned, zoomed and moved: always inside the picture
        for families in ({"rotate"}, {"rotate", "crop"}, augment.IMAGE_FAMILIES - {"colour"}):
            assert augment.image_view(light, s.id, v, families).min() >= 128
    turned = augment.image_view(x, s.id, 1, {"rotate"})
    assert not np.array_equal(turned, x)
    assert np.corrcoef(grey(turned).ravel(), grey(x.astype(float)).ravel())[0, 1] > 0.5  # still the same scene
    crop = augment.image_view(x, s.id, 1, {"crop"})
    assert crop.shape == x.shape and not np.array_equal(crop, x)


def test_a_view_of_something_that_is_not_a_picture_is_refused():
    with pytest.raises(ValueError, match="RGB uint8"):
        augment.image_view(np.zeros((224, 224), np.uint8), "0123456789abcdef", 1)
    with pytest.raises(ValueError, match="unknown view families"):
        augment.image_view(np.zeros((224, 224, 3), np.uint8), "0123456789abcdef", 1, {"blur"})


def test_only_training_photos_get_views_and_a_second_run_encodes_nothing(rps_project, encoder):
    ds = rps_project.dataset()
    counting = CountingEncoder(encoder)
    cache = FeatureCache()
    cache.embed(counting, ds.samples)
    assert counting.pictures == len(ds.samples)
    split = split_per_class(ds.labels, 0.25, 0)
    feats, labels = augment.embed_views(cache, counting, ds, split)
    n = len(split.train)
    assert feats.shape == (augment.IMAGE_VIEWS * n, encoder.dim) and feats.dtype == np.float32
    assert np.array_equal(labels, np.tile(ds.labels[split.train], augment.IMAGE_VIEWS))
    assert counting.pictures == len(ds.samples) + augment.IMAGE_VIEWS * n
    test_ids = {ds.samples[i].id for i in split.test}
    viewed = {key[1] for key in cache._store if key[2] > 0}
    assert viewed == {ds.samples[i].id for i in split.train} and not viewed & test_ids
    assert {key[2] for key in cache._store} == set(range(augment.IMAGE_VIEWS + 1))
    # a view's embedding is the encoder's answer for that view's picture
    s = ds.samples[split.train[0]]
    assert np.allclose(cache.matrix(encoder.name, [s], view=2)[0],
                       encoder.encode(augment.image_view(s.data, s.id, 2))[0], atol=1e-4)
    assert not np.allclose(cache.matrix(encoder.name, [s], view=2)[0], cache.matrix(encoder.name, [s])[0], atol=1e-2)
    calls, pictures = counting.calls, counting.pictures
    again = augment.embed_views(cache, counting, ds, split)
    assert (counting.calls, counting.pictures) == (calls, pictures)  # all cached: the encoder is not called
    assert np.array_equal(again[0], feats)


def test_pose_and_hand_projects_get_no_views(rps_project, encoder):
    class Keypoints(CountingEncoder):
        kind = "hands"

    hands = Keypoints(encoder)
    ds = rps_project.dataset()
    feats, labels = augment.embed_views(FeatureCache(), hands, ds, split_per_class(ds.labels, 0.25, 0))
    assert len(feats) == len(labels) == 0 and hands.calls == 0
    assert augment.default_views("pose") == augment.default_views("hands") == 0


# --- the Train page and the CLI ------------------------------------------------------------------


def test_train_page_toggle_preview_and_training_on_views(rps_train, no_webrtc_component):
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    assert not at.exception
    s = at.session_state["teachable_studio"]
    p = s.project
    p.rename_class("Class 1", "rock")
    p.rename_class("Class 2", "paper")
    p.add_class("scissors")
    for cls in ("rock", "paper", "scissors"):
        assert len(list(p.add_files((cls, f.name, f.read_bytes()) for f in photos(rps_train, cls, 8)))) == 8
    at.switch_page("app_pages/train.py").run()
    assert not at.exception
    toggle = at.toggle(key="cfg:augment")
    assert toggle.label == "Also train on altered copies" and toggle.value is augment.on_by_default("image")
    assert any(c.value.startswith("Also learn from changed copies of each training picture") for c in at.caption)
    n = augment.IMAGE_VIEWS
    preview = [img for img in at.get("image") if "your picture" in img.captions]
    assert len(preview) == 1 and preview[0].captions == ["your picture"] + [f"copy {v}" for v in range(1, n + 1)]

    toggle.set_value(True).run()
    at.number_input(key="cfg:epochs").set_value(5).run()
    next(b for b in at.button if b.label == "Train model").click().run()
    assert not at.exception
    rec = s.current
    assert rec is not None and len(rec.run.history) == 5
    train_ids = {rec.dataset.samples[i].id for i in rec.run.split.train}
    test_ids = {rec.dataset.samples[i].id for i in rec.run.split.test}
    assert rec.run.info["augmented_views"] == n * len(train_ids) and len(test_ids) == 3
    viewed = {key[1] for key in s.cache._store if key[2] > 0}
    assert viewed == train_ids and not viewed & test_ids  # never a view of a held-out photo
    assert len(s.cache) == 24 + n * len(train_ids)
    assert any("altered copies of the training pictures" in m.value for m in at.markdown)
    hood = next(e for e in at.expander if e.label == "Under the hood")  # the measured effect, in the details
    assert any("rock-paper-scissors" in m.value and "%" in m.value for m in hood.markdown)

    next(b for b in at.button if b.label == "Reset to defaults").click().run()
    assert at.toggle(key="cfg:augment").value is augment.on_by_default("image")
    assert s.augment is augment.on_by_default("image")


@pytest.mark.slow
def test_cli_trains_an_image_model_on_views(rps_train, tmp_path):
    import json
    import os
    import subprocess
    import sys

    repo = Path(__file__).resolve().parent.parent
    data = tmp_path / "data"
    for cls in ("rock", "paper"):
        (data / cls).mkdir(parents=True)
        for f in photos(rps_train, cls, 7, offset=20):
            (data / cls / f.name).write_bytes(f.read_bytes())
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "tm_core", "train", str(data), "--out", str(out), "--epochs", "5",
                        "--no-tflite", "--augment"], cwd=repo, capture_output=True, text=True, timeout=600,
                       env={**os.environ, "PYTHONPATH": str(repo)})
    assert r.returncode == 0, r.stderr
    run = json.loads((out / "run.json").read_text())
    assert run["n_train"] == 12 and run["augmented_views"] == augment.IMAGE_VIEWS * 12
    assert "augmented views of the training samples embedded" in r.stderr
