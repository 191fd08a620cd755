"""Image augmentation: views of real photos, embedded once for the training part only, and the Train page's toggle."""

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tm_core import augment, media
from tm_core.features import FeatureCache
from tm_core.project import Project
from tm_core.training import split_per_class

APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")


def photos(root: Path, cls: str, n: int, offset: int = 0) -> list[Path]:
    return sorted((root / cls).iterdir())[offset:offset + n]


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
    assert not np.array_equal(turned, x) and np.corrcoef(grey(turned).ravel(), grey(x.astype(float)).ravel())[0, 1] > 0.5
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
