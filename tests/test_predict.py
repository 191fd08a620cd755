"""tm_core.predict: the app's Predictor, the live Smoother, labels.txt and exported-model folders."""

import numpy as np
import pytest

from tm_core import media
from tm_core.errors import InputError
from tm_core.predict import ExportedModel, Predictor, Smoother, read_labels


def test_one_picture_or_a_batch_gives_the_same_probabilities(rps_trained, small_data):
    _, predictor, *_ = rps_trained
    photos = np.stack([media.image_to_array(p) for p in sorted((small_data / "rps").glob("*/*.jpg"))])
    batch = predictor.predict(photos)
    assert batch.shape == (12, 3) and np.allclose(batch.sum(1), 1, atol=1e-5)
    np.testing.assert_allclose(predictor.predict(photos[5]), batch[5], atol=1e-5)
    assert len(set(batch.argmax(1))) > 1  # real photos of three gestures are not all given one answer


def test_a_head_and_class_names_that_disagree_are_refused(rps_trained):
    run, predictor, *_ = rps_trained
    with pytest.raises(ValueError, match="disagree"):
        Predictor(predictor.encoder, run.head, ["rock", "paper"])


def test_smoother_averages_live_frames_and_resets():
    s = Smoother(alpha=0.5)
    assert s.value is None
    s.update(np.array([1.0, 0.0]))
    np.testing.assert_allclose(s.update(np.array([0.0, 1.0])), [0.5, 0.5])
    np.testing.assert_allclose(s.update(np.array([0.0, 1.0])), [0.25, 0.75])
    np.testing.assert_allclose(s.update(np.array([0.2, 0.3, 0.5])), [0.2, 0.3, 0.5])  # classes changed: start again
    s.reset()
    assert s.value is None


def test_labels_txt_is_read_as_teachable_machine_writes_it(tmp_path):
    good = tmp_path / "labels.txt"
    good.write_text("0 rock\n1 paper scissors\n\n", encoding="utf-8")
    assert read_labels(good) == ["rock", "paper scissors"]
    bad = tmp_path / "bad.txt"
    bad.write_text("0 rock\n2 paper\n", encoding="utf-8")
    with pytest.raises(InputError, match="line 2 should be '1 <class name>'"):
        read_labels(bad)


def test_a_folder_without_a_model_is_refused_with_what_to_do(tmp_path):
    (tmp_path / "labels.txt").write_text("0 a\n1 b\n")
    with pytest.raises(InputError, match=r"model\.keras is missing") as info:
        ExportedModel(tmp_path)
    assert "python -m tm_core train" in info.value.reason
