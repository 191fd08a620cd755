"""Body-pose projects in the engine: MoveNet keypoints, normalised features, no-person path, export, CLI.

Real pictures only: the frames of ../shared/datasets/video (a seated person), and clothing photos
(no person in them).
"""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from tm_core import export, media
from tm_core.encoders import pose_features
from tm_core.features import FeatureCache
from tm_core.predict import ExportedModel, Predictor, TFLiteModel
from tm_core.project import Project
from tm_core.training import TrainConfig, train

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def frames(datasets_dir) -> list[bytes]:
    """The 75 JPEG frames of the fake-camera video (an MJPEG stream is JPEGs back to back)."""
    data = (datasets_dir / "video" / "person_seated_raga_640x360_15fps.mjpeg").read_bytes()
    return [b"\xff\xd8" + part for part in data.split(b"\xff\xd8")[1:]]


@pytest.fixture(scope="module")
def pose_encoder(models_dir):
    from tm_core.encoders import get_encoder

    return get_encoder("movenet_lightning")


def padded(source, name="frame") -> np.ndarray:
    return media.image_to_array(source, name, media.KEYPOINT_IMAGE_SIZE, pad=True)


def mirrored_jpeg(frame: bytes) -> bytes:
    buf = io.BytesIO()
    ImageOps.mirror(Image.open(io.BytesIO(frame))).save(buf, "JPEG", quality=95)
    return buf.getvalue()


def test_a_person_is_found_in_every_video_frame_and_in_almost_no_clothing_photo(pose_encoder, frames, clothing_train):
    people = pose_encoder.encode(np.stack([padded(f) for f in frames]))
    assert people.shape == (75, pose_features.POSE_DIM) and pose_features.found(people).all()
    photos = [f for cls in ("hat", "shoes", "pants") for f in sorted((clothing_train / cls).iterdir())[:20]]
    things = pose_encoder.encode(np.stack([padded(f, f.name) for f in photos]))
    assert pose_features.found(things).mean() <= 0.1
    lost = things[~pose_features.found(things)]
    assert not lost.any()  # nothing found: all zeros, presence 0 (never a made-up pose)


def test_features_ignore_where_the_person_is_and_how_big(pose_encoder, frames):
    kp = pose_encoder.keypoints(padded(frames[0]))[0]
    base = pose_features.pose_features(kp)
    moved = kp.copy()
    moved[:, :2] = moved[:, :2] * 0.5 + [0.3, 0.1]  # half the size, elsewhere in the frame
    assert np.allclose(pose_features.pose_features(moved), base, atol=1e-5)
    flipped = kp.copy()
    flipped[:, 0] = 1 - flipped[:, 0]
    assert not np.allclose(pose_features.pose_features(flipped), base, atol=0.05)  # left and right stay apart
    # The real model on a real picture moved into a corner of a 1.5× larger canvas: the keypoints
    # move by more than a shoulder width in the frame, the features by MoveNet's own noise on a
    # smaller person only (measured 0.13-0.22 shoulder widths on average).
    img = Image.open(io.BytesIO(frames[0])).convert("RGB")
    canvas = Image.new("RGB", (img.width * 3 // 2, img.height * 3 // 2))
    canvas.paste(img, (img.width // 2, img.height // 2))
    moved_kp = pose_encoder.keypoints(media.pad_image(canvas))[0]
    moved = pose_features.pose_features(moved_kp)
    assert pose_features.found(moved)
    shoulders = np.linalg.norm(kp[5, :2] - kp[6, :2])
    seen = (kp[:, 2] >= pose_features.MIN_SCORE) & (moved_kp[:, 2] >= pose_features.MIN_SCORE)
    raw_gap = float(np.linalg.norm(moved_kp[seen, :2] - kp[seen, :2], axis=1).mean() / shoulders)
    assert position_gap(moved, base) < 0.3 < 1.0 < raw_gap, (position_gap(moved, base), raw_gap)


def position_gap(a: np.ndarray, b: np.ndarray) -> float:
    """Mean distance (in shoulder widths) between the keypoints both feature vectors saw."""
    both = (a[34:51] > 0) & (b[34:51] > 0)
    return float(np.linalg.norm(a[:34].reshape(17, 2)[both] - b[:34].reshape(17, 2)[both], axis=1).mean())


def test_too_few_confident_keypoints_is_no_person():
    kp = np.zeros((17, 3), np.float32)
    kp[:, :2] = np.random.default_rng(0).random((17, 2))
    kp[: pose_features.MIN_BODY_POINTS - 1, 2] = 0.9
    assert not pose_features.found(pose_features.pose_features(kp))
    kp[pose_features.MIN_BODY_POINTS - 1, 2] = 0.9
    assert pose_features.found(pose_features.pose_features(kp))


@pytest.fixture(scope="module")
def pose_export(pose_encoder, frames, tmp_path_factory):
    """A head trained to tell the video from its mirror image (left and right arms swap)."""
    p = Project("pose", class_names=["original", "mirrored"])
    list(p.add_files(("original", f"f{i}.jpg", f) for i, f in enumerate(frames[:50:2])))
    list(p.add_files(("mirrored", f"m{i}.jpg", mirrored_jpeg(f)) for i, f in enumerate(frames[1:50:2])))
    ds = p.dataset()
    cache = FeatureCache()
    cache.embed(pose_encoder, ds.samples)
    run = train(cache.matrix(pose_encoder.name, ds.samples), ds.labels, ds.class_names, TrainConfig(epochs=30))
    out = tmp_path_factory.mktemp("pose_export")
    written = export.export_all(out, pose_encoder, run.head, ds.class_names, np.zeros((0,)))
    assert set(written) == set(export.POSE_FILES)
    return out, Predictor(pose_encoder, run.head, ds.class_names), run


def test_pose_head_tells_left_from_right_and_exports_match_the_app(pose_export, frames):
    out, predictor, _run = pose_export
    unseen = np.stack([padded(f) for f in frames[55:75:2]] + [padded(mirrored_jpeg(f)) for f in frames[56:75:2]])
    labels = np.array([0] * 10 + [1] * 10)
    app = predictor.predict(unseen)
    assert (app.argmax(1) == labels).mean() >= 0.9
    model = ExportedModel(out)
    assert model.kind == "pose" and np.abs(model.predict(unseen) - app).max() < 1e-5
    head = TFLiteModel(out / "model_float32.tflite")
    feats = predictor.encoder.encode(unseen)
    assert np.abs(head.predict(feats) - app).max() < 1e-5


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["keras", "tflite_float32"])
def test_pose_snippets_run_as_written(pose_export, frames, tmp_path, kind):
    out, predictor, run = pose_export
    for f in out.iterdir():
        (tmp_path / f.name).write_bytes(f.read_bytes())
    (tmp_path / "photo.jpg").write_bytes(frames[70])
    (tmp_path / "snippet.py").write_text(export.keypoint_snippet("pose", kind, run.class_names))
    r = subprocess.run([sys.executable, "snippet.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    probs = predictor.predict(padded(frames[70]))
    name, p = r.stdout.split()
    assert name == run.class_names[int(probs.argmax())] and abs(float(p) - float(probs.max())) < 1e-4
    Image.new("RGB", (300, 200), (200, 180, 160)).save(tmp_path / "photo.jpg")
    r = subprocess.run([sys.executable, "snippet.py"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.strip() == "no person found", r.stdout + r.stderr


@pytest.mark.slow
def test_cli_trains_pose_and_leaves_out_pictures_without_a_person(frames, clothing_train, tmp_path):
    data, test = tmp_path / "data", tmp_path / "test"
    for root, idx in ((data, range(0, 50, 2)), (test, range(51, 75, 3))):
        (root / "original").mkdir(parents=True)
        (root / "mirrored").mkdir()
        for i in idx:
            (root / "original" / f"f{i}.jpg").write_bytes(frames[i])
            (root / "mirrored" / f"m{i}.jpg").write_bytes(mirrored_jpeg(frames[i + 1]))
    for f in sorted((clothing_train / "hat").iterdir())[:3]:  # no person in these
        (data / "original" / f.name).write_bytes(f.read_bytes())
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    r = subprocess.run([sys.executable, "-m", "tm_core", "train", data, "--kind", "pose", "--out", out, "--epochs", "30",
                        "--no-tflite"], cwd=REPO, capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stderr
    assert "class 'original': no person found in 3 of 28 pictures: left out" in r.stderr
    run = json.loads((out / "run.json").read_text())
    assert run["encoder"] == "movenet_lightning" and run["n_train"] + run["n_test"] == 50
    r = subprocess.run([sys.executable, "-m", "tm_core", "evaluate", out, test], cwd=REPO, capture_output=True,
                       text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["n"] == 16 and result["accuracy"] >= 0.85
