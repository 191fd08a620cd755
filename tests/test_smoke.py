"""A fresh clone's smoke test, on the few real files in tests/data (no ../shared needed to start).

Decoding runs everywhere. Embedding, training and predicting need the pretrained MobileNetV2 file
(``TM_MODELS_DIR``), which is not in the repo: that part fails under CI and skips elsewhere
without it (conftest ``_need``).
"""

from pathlib import Path

import numpy as np
import pytest

from tm_core import media
from tm_core.errors import InputError
from tm_core.features import FeatureCache
from tm_core.predict import Predictor
from tm_core.project import Project, Sample
from tm_core.training import TrainConfig, train


def files(root: Path, pattern: str) -> dict[str, list[Path]]:
    """root/<class>/<files> → {class: sorted files}."""
    return {d.name: sorted(d.glob(pattern)) for d in sorted(root.iterdir()) if d.is_dir()}


def test_the_photos_decode_to_what_every_image_sample_is(small_data):
    for root in (small_data / "rps", small_data / "clothing4"):
        for cls, paths in files(root, "*.jpg").items():
            assert len(paths) == 4, cls
            for p in paths:
                x = media.image_to_array(p)
                assert x.shape == (224, 224, 3) and x.dtype == np.uint8, p
                assert x.std() > 10, p  # a real picture, not a flat colour


def test_the_video_frame_is_padded_whole_for_the_keypoint_kinds(small_data):
    frame = media.load_image(small_data / "video" / "person_seated_frame_000.jpg")
    assert frame.size == (640, 360)
    padded = media.pad_image(frame)
    assert padded.shape[0] == padded.shape[1] and padded.dtype == np.uint8
    # 640×360 padded to a square: rows above and below the picture are padding, the middle is the picture
    assert padded[padded.shape[0] // 2].std() > 10


def test_the_clips_decode_to_one_second_windows_at_16_khz(small_data):
    for cls, paths in files(small_data / "speech_commands", "*.wav").items():
        assert len(paths) == 3, cls
        for p in paths:
            wave = media.load_audio(p)
            assert wave.dtype == np.float32 and wave.ndim == 1 and abs(len(wave) - 16000) <= 16, p
            assert np.abs(wave).max() <= 1.0
            windows = media.clip_windows(wave)
            assert len(windows) == 1 and windows[0].shape == (16000,), p


def test_a_file_that_is_not_a_picture_is_refused_with_a_reason(small_data):
    wav = next((small_data / "speech_commands" / "yes").glob("*.wav"))
    with pytest.raises(InputError) as info:
        media.image_to_array(wav)
    assert info.value.reason


def test_a_project_takes_the_photos_and_gives_a_dataset(small_data):
    p = Project("image", ["hat", "shoes"])
    for cls, paths in files(small_data / "clothing4", "*.jpg").items():
        for path in paths:
            p.add_sample(cls, media.image_to_array(path), path.name)
    assert p.counts() == {"hat": 4, "shoes": 4}
    ds = p.dataset()
    assert ds.class_names == ["hat", "shoes"] and list(ds.labels) == [0] * 4 + [1] * 4


def test_embed_train_and_predict_held_out_photos(small_data, encoder):
    """3 photos a class trained on, the 4th of each class never seen: hats and shoes told apart."""
    by_class = files(small_data / "clothing4", "*.jpg")
    names = sorted(by_class)
    train_s, test_s, y_train, y_test = [], [], [], []
    for label, cls in enumerate(names):
        samples = [Sample.of_picture(media.image_to_array(p), p.name) for p in by_class[cls]]
        train_s += samples[:3]
        test_s += samples[3:]
        y_train += [label] * 3
        y_test += [label]
    cache = FeatureCache()
    assert cache.embed(encoder, train_s) == 6
    run = train(cache.matrix(encoder.name, train_s), np.array(y_train), names, TrainConfig(test_fraction=0.0))
    assert run.history[-1].accuracy == 1.0
    probs = Predictor(encoder, run.head, names).predict(np.stack([s.data for s in test_s]))
    assert probs.shape == (2, 2) and np.allclose(probs.sum(1), 1, atol=1e-5)
    assert list(probs.argmax(1)) == y_test, probs
