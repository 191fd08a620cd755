"""Body-pose projects through the app's pages (AppTest) and the live-video glue, on real pictures:
frames of the fake-camera video (a seated person), their mirror images, and clothing photos (no person)."""

import contextlib
import io
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps
from streamlit.testing.v1 import AppTest

from conftest import app, click, frame_targets, sess, uploader


@pytest.fixture(scope="module")
def frames(datasets_dir) -> list[bytes]:
    """The 75 JPEG frames of the fake-camera video (an MJPEG stream is JPEGs back to back)."""
    data = (datasets_dir / "video" / "person_seated_raga_640x360_15fps.mjpeg").read_bytes()
    return [b"\xff\xd8" + part for part in data.split(b"\xff\xd8")[1:]]


def mirrored_jpeg(frame: bytes) -> bytes:
    buf = io.BytesIO()
    ImageOps.mirror(Image.open(io.BytesIO(frame))).save(buf, "JPEG", quality=95)
    return buf.getvalue()


@pytest.fixture(scope="module")
def hats(clothing_train) -> list[Path]:
    """Three clothing photos the keypoint model finds no person in."""
    return sorted((clothing_train / "hat").iterdir())[:3]


def pose_app() -> AppTest:
    """A new pose project made with the Gather page's "New project" control."""
    at = app()
    at.radio(key="new:kind").set_value("pose").run()
    click(at, "Start a new pose project")
    return at


def jpegs(items) -> list[tuple[str, bytes, str]]:
    return [(name, data, "image/jpeg") for name, data in items]


def gathered(frames, hats) -> AppTest:
    """12 frames into "original", their 12 neighbours mirrored into "mirrored", 3 hats (no person) into "original"."""
    at = pose_app()
    p = sess(at).project
    first, second = p.classes
    at.text_input[0].set_value("original").run()
    at.text_input[1].set_value("mirrored").run()
    assert [c.name for c in p.classes] == ["original", "mirrored"]
    originals = [(f"f{i:02d}.jpg", frames[i]) for i in range(0, 48, 4)]
    uploader(at, f"up:{first.uid}").set_value(jpegs(originals + [(h.name, h.read_bytes()) for h in hats])).run()
    assert not at.exception
    mirrored = [(f"m{i:02d}.jpg", mirrored_jpeg(frames[i])) for i in range(2, 48, 4)]
    uploader(at, f"up:{second.uid}").set_value(jpegs(mirrored)).run()
    assert not at.exception
    assert p.counts() == {"original": 15, "mirrored": 12}
    return at


def test_new_pose_project_pads_pictures_draws_skeletons_and_flags_pictures_without_a_person(frames, hats, no_webrtc_component):
    from tm_core import media

    at = gathered(frames, hats)
    s = sess(at)
    assert s.project.kind == "pose" and s.encoder_name == "movenet_lightning"
    assert any("keypoints" in m.value for m in at.markdown)
    # samples are the whole picture padded to 256×256 (a 640×360 frame: black bands above and below)
    sample = s.project.get_class("original").samples[0]
    assert sample.data.shape == (media.KEYPOINT_IMAGE_SIZE,) * 2 + (3,)
    assert not sample.data[:40].any() and sample.data[100:150].any()
    # thumbnails are drawn (skeleton on the picture), "no person" under the three hats only
    captions = [c for img in at.get("image") for c in img.captions]
    assert captions.count("no person") == 3, captions
    assert any("3 without a person" in w.value for w in at.warning)
    assert not any("mirrored" in w.value and "without a person" in w.value for w in at.warning)
    # the webcam recorder pads its frames too (not the image projects' centre crop)
    from tm_core import kinds

    assert no_webrtc_component[-1]["key"] == "gather-camera"
    recorder, = frame_targets(no_webrtc_component[-1])
    assert recorder.prepare is kinds.pad_frame
    frame = np.asarray(Image.open(io.BytesIO(frames[0])).convert("RGB"))
    assert np.array_equal(kinds.prepare_frame("pose")(frame), media.pad_image(Image.fromarray(frame)))


def test_skeleton_is_drawn_where_the_person_is_on_the_frame_and_the_padded_picture(frames):
    from tm_core import keypoints, media
    from tm_core.encoders import get_encoder

    enc = get_encoder("movenet_lightning")
    frame = np.asarray(Image.open(io.BytesIO(frames[0])).convert("RGB"))  # 640×360
    padded = media.pad_image(Image.fromarray(frame))
    kp = enc.keypoints(padded)[0]
    on_frame = keypoints.draw_skeleton(frame, kp, enc.edges)
    on_padded = keypoints.draw_skeleton(padded, kp, enc.edges)
    assert on_frame.shape == frame.shape and (on_frame != frame).any()
    # the nose drawn in both at the same place of the picture
    nose = kp[0]
    assert nose[2] >= keypoints.MIN_SCORE
    x, y = int(nose[0] * 640), int(nose[1] * 640 - 140)
    px, py = int(nose[0] * 256), int(nose[1] * 256)
    assert tuple(on_frame[y, x]) == keypoints.DOT and tuple(on_padded[py, px]) == keypoints.DOT


@pytest.fixture(scope="module")
def trained(frames, hats):
    """The gathered project trained on the Train page (pictures without a person left out, the default)."""
    import streamlit_webrtc

    with pytest.MonkeyPatch.context() as mp:  # module scope: the autouse stub is not there yet
        mp.setattr(streamlit_webrtc, "webrtc_streamer", lambda **kw: None)
        at = gathered(frames, hats)
        at.switch_page("app_pages/train.py").run()
        assert not at.exception
        return at


def test_train_page_reports_pictures_without_a_person_and_leaves_them_out_unless_kept(trained):
    at = trained
    s = sess(at)
    assert at.selectbox(key="cfg:encoder").value == "movenet_lightning"
    assert any("No person found in 3 of 15 pictures of **original**" in w.value for w in at.warning)
    assert not any("of **mirrored**" in w.value for w in at.warning)
    assert at.toggle(key="cfg:keep_missing").value is False
    at.number_input(key="cfg:epochs").set_value(30).run()
    click(at, "Train model")
    rec = s.current
    assert rec.encoder == "movenet_lightning" and len(rec.run.history) == 30
    assert len(rec.run.split.train) + len(rec.run.split.test) == 24 == len(rec.dataset.samples)
    assert rec.run.info["left_out"] == 3
    assert any("3 pictures without a person were left out" in i.value for i in at.info)
    assert not s.project_changed_since(rec)  # leaving pictures out is not a change of the samples
    assert not any("changed since" in c.value for c in at.caption)

    # kept: all 27 trained on (a separate run; the model of the default run is what the next tests use)
    at.toggle(key="cfg:keep_missing").set_value(True).run()
    click(at, "Train model")
    kept = s.current
    assert len(kept.dataset.samples) == 27 and "left_out" not in kept.run.info
    assert not any("were left out" in i.value for i in at.info)
    s.current = rec  # back to the default model for the Test page
    at.toggle(key="cfg:keep_missing").set_value(False).run()


def test_test_page_predicts_a_held_out_frame_and_says_when_no_person_is_found(trained, frames, hats, no_webrtc_component):
    at = trained
    at.switch_page("app_pages/test.py").run()
    assert not at.exception
    assert no_webrtc_component[-1]["key"] == "test-camera"
    from tm_core import keypoints, kinds

    live, = frame_targets(no_webrtc_component[-1])
    assert live.prepare is kinds.pad_frame and isinstance(live.predictor, keypoints.KeypointPredictor)
    up = lambda: uploader(at, "test-upload:")  # noqa: E731
    for name, data, expected in (("held_out.jpg", frames[70], "original"),
                                 ("held_out_mirrored.jpg", mirrored_jpeg(frames[72]), "mirrored")):
        up().set_value((name, data, "image/jpeg")).run()
        assert not at.exception
        top = next(m.value for m in at.markdown if m.value.startswith("### "))
        assert top.split(" · ")[0] == f"### {expected}", top
        assert at.get("vega_lite_chart")
        assert any("keypoints found" in c for img in at.get("image") for c in img.captions)
    up().set_value((hats[0].name, hats[0].read_bytes(), "image/jpeg")).run()
    assert any("No person found in this picture" in w.value for w in at.warning)
    assert not any(m.value.startswith("### ") for m in at.markdown)


def test_pose_export_zip_holds_every_file_and_its_snippets_run_as_written(trained, frames, tmp_path, monkeypatch):
    at = trained
    at.switch_page("app_pages/test.py").run()
    click(at, "Prepare export files")
    rec = sess(at).current
    files = sess(at).exports[rec.id]
    names = {"model.keras", "pose_features.py", "movenet_singlepose_lightning_int8_4.tflite", "labels.txt",
             "model_float32.tflite"}
    assert set(files) == names | {"pose_model.zip"}
    assert set(zipfile.ZipFile(io.BytesIO(files["pose_model.zip"])).namelist()) == names
    assert [d.proto.label for d in at.get("download_button")] == ["Everything (.zip)", "TFLite float32 head"]
    assert len(at.code) == 2
    # the snippets run as written beside the unzipped files (and the TFLite head) and a photo
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    zipfile.ZipFile(io.BytesIO(files["pose_model.zip"])).extractall(tmp_path)
    (tmp_path / "model_float32.tflite").write_bytes(files["model_float32.tflite"])
    (tmp_path / "photo.jpg").write_bytes(frames[74])
    sys.modules.pop("pose_features", None)
    for code in at.code:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(code.value, {})
        assert out.getvalue().split()[0] == "original", (out.getvalue(), code.value)
    sys.modules.pop("pose_features", None)


def test_overfitting_lesson_leaves_out_pictures_without_a_person_too(trained):
    at = trained
    at.switch_page("app_pages/overfitting.py").run()
    assert not at.exception
    click(at, "Train for 5, 20, 50, 200 epochs")
    lessons = [r for r in sess(at).runs if r.label.startswith("Lesson")]
    assert [len(r.run.history) for r in lessons] == [5, 20, 50, 200]
    assert all(len(r.dataset.samples) == 24 and r.run.info["left_out"] == 3 for r in lessons)


# ---------------------------------------------------------------------------------------------
# The live view without a browser: camera frames through LivePrediction with a pose model


def test_live_prediction_pads_frames_draws_the_skeleton_and_says_when_nobody_is_there(trained, frames, hats):
    import time

    from tm_core import keypoints, kinds
    from tm_core.live import LivePrediction
    from tm_core.ui.state import encoder

    rec = sess(trained).current
    model = keypoints.KeypointPredictor(encoder(rec.encoder), rec.run.head, rec.run.class_names)
    live = LivePrediction(model, alpha=1.0, mirror=True)
    live.prepare = kinds.prepare_frame("pose")

    def feed(frame: np.ndarray) -> np.ndarray:
        out = live.on_frame(frame)
        end = time.monotonic() + 10
        while time.monotonic() < end and live._busy:
            time.sleep(0.005)
        return out

    frame = np.asarray(Image.open(io.BytesIO(frames[71])).convert("RGB"))
    feed(frame)
    probs, _ = live.latest()
    assert rec.run.class_names[int(probs.argmax())] == "original" and live.stats()["found"] is True
    shown = feed(frame)
    assert shown.shape == frame.shape
    assert (shown == np.array(keypoints.DOT, np.uint8)).all(axis=2).sum() > 20  # skeleton dots on the video
    hat = np.asarray(Image.open(hats[0]).convert("RGB"))
    feed(hat)
    assert live.stats()["found"] is False and np.array_equal(live.latest()[0], probs)  # bars keep the last answer
    live.close()


def test_back_to_an_image_project_the_webcam_recorder_crops_again(no_webrtc_component):
    """The recorder is one object per browser session: its frame preparation follows the project kind."""
    from tm_core import kinds

    at = pose_app()
    assert frame_targets(no_webrtc_component[-1])[0].prepare is kinds.pad_frame
    at.radio(key="new:kind").set_value("image").run()
    click(at, "Start a new image project")
    recorder, = frame_targets(no_webrtc_component[-1])
    assert recorder.prepare is kinds.crop_frame
