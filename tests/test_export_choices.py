"""What each kind of project offers to download (tm_core.export.downloads): files, zips, the int8 check, snippets."""

import numpy as np
import pytest

from tm_core import export
from tm_core.project import Project

KINDS = ("image", "audio", "pose", "hands")


def test_each_kind_offers_files_its_export_writes_or_zips():
    for kind in KINDS:
        offered = export.downloads(kind)
        written = set(export.files_for(kind))
        assert offered and len({d.file for d in offered}) == len(offered)
        zips = [d.file for d in offered if d.file.endswith(".zip")]
        # one zip per kind of the files that only work together; image projects add TensorFlow.js's three files
        assert len(zips) == (2 if kind == "image" else 1), kind
        assert all(d.file in written for d in offered if d.file not in zips), kind
        assert all(d.label and d.what for d in offered)
    assert [d.form for d in export.downloads("image")] == ["keras", "tm_h5", "tflite_float32", "tflite_int8", "tfjs"]
    assert [d.language for d in export.downloads("image")] == ["python"] * 4 + ["html"]
    assert export.downloads("image")[-1].file == "tm-my-image-model.zip"  # Teachable Machine's name for it
    assert [d.file for d in export.downloads("audio")] == ["keras_audio.zip", "model_float32.tflite"]
    assert [d.label for d in export.downloads("pose")] == ["Everything (.zip)", "TFLite float32 head"]
    assert [d.label for d in export.downloads("hands")] == ["Everything (.zip)", "TFLite float32 model"]
    assert export.downloads("hands")[0].file == "hands_model.zip"
    assert export.checks_int8("image") and not any(export.checks_int8(k) for k in ("audio", "pose", "hands"))


def test_every_offered_download_has_a_snippet():
    for d in export.downloads("image"):
        code = export.snippet(d.form, ["a", "b"])
        assert ("tmImage.load(" in code) if d.form == "tfjs" else ("class_names" in code)
    for d in export.downloads("audio"):
        assert "clip.wav" in export.audio_snippet(d.form, ["a", "b"])
    for kind in ("pose", "hands"):
        for d in export.downloads(kind):
            code = export.keypoint_snippet(kind, d.form, ["a", "b"])
            assert "photo.jpg" in code and ("pose_features" if kind == "pose" else "hand_features") in code


def test_int8_is_checked_on_the_given_pictures_only_for_image_projects(rps_train):
    p = Project("image")
    files = sorted((rps_train / "rock").iterdir())[:12]
    list(p.add_files(("Class 1", f.name, f.read_bytes()) for f in files))
    samples = p.get_class("Class 1").samples
    check = export.check_pictures("image", samples)
    assert check.shape == (12, 224, 224, 3) and check.dtype == np.uint8
    np.testing.assert_array_equal(check, export.some_images([s.data for s in samples]))
    assert export.some_images([s.data for s in samples], limit=5).shape == (5, 224, 224, 3)
    assert export.check_pictures("image", []) is None  # nothing held out: nothing to check on
    assert all(export.check_pictures(k, samples) is None for k in ("audio", "pose", "hands"))


@pytest.mark.slow
def test_snippet_for_picks_the_kinds_snippet_from_the_real_encoder():
    from tm_core.encoders import get_encoder

    names = ["left", "right"]
    image, pose = get_encoder("mobilenet_v2_0.35"), get_encoder("movenet_lightning")
    assert export.snippet_for(image, "tm_h5", names) == export.snippet("tm_h5", names)
    assert export.snippet_for(pose, "keras", names) == export.keypoint_snippet("pose", "keras", names)
    hands = get_encoder("hand_landmarks_mobilenet")  # the hand's numbers and the picture
    assert export.snippet_for(hands, "keras", names) == export.keypoint_snippet("hands", "keras", names,
                                                                                with_picture=True)
