"""Hand-pose projects through the app's pages (AppTest), on real rock-paper-scissors photos from
../shared/datasets/rps_real, a plain-colour picture (no hand in it) and a corrupt file.

The real MediaPipe hand landmarker and MobileNetV2 run throughout; only the streamlit-webrtc
component is stubbed (it cannot run under AppTest: tests/e2e/test_hands_flow.py covers it).
"""

import contextlib
import io
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from conftest import app, click, frame_targets, sess, uploader

CLASSES = ("rock", "paper", "scissors")
TRAIN = slice(0, 132, 12)  # 11 photos a class (sorted by name): the hand is found in each of them
HELD_OUT = {"rock": 9, "paper": 63, "scissors": 69}  # off that grid: never trained on (clear photos)


def photos(rps_train: Path, cls: str) -> list[Path]:
    return sorted((rps_train / cls).iterdir())[TRAIN]


def held_out(rps_train: Path, cls: str) -> Path:
    return sorted((rps_train / cls).iterdir())[HELD_OUT[cls]]


def plain_png() -> bytes:
    """A picture with no hand in it: one colour, the size of the photos."""
    buf = io.BytesIO()
    Image.new("RGB", (170, 170), (70, 140, 200)).save(buf, "PNG")
    return buf.getvalue()


CORRUPT = ("broken.jpg", b"\xff\xd8\xff not a jpeg after all", "image/jpeg")


def hands_app() -> AppTest:
    """A new hands project made with the Gather page's "New project" control."""
    at = app()
    at.radio(key="new:kind").set_value("hands").run()
    click(at, "Start a new hands project")
    return at


def gathered(rps_train) -> AppTest:
    """Classes rock, paper, scissors of 11 photos each, uploaded on the Gather page; rock also gets the
    plain picture (no hand) and a corrupt file (refused)."""
    at = hands_app()
    p = sess(at).project
    at.text_input[0].set_value("rock").run()
    at.text_input[1].set_value("paper").run()
    click(at, "Add a class")
    at.text_input[2].set_value("scissors").run()
    assert [c.name for c in p.classes] == list(CLASSES)
    for cls in sorted(p.classes, key=lambda c: c.name == "rock"):  # rock last: its report stays on the page
        files = [(f.name, f.read_bytes(), "image/jpeg") for f in photos(rps_train, cls.name)]
        if cls.name == "rock":
            files += [("plain.png", plain_png(), "image/png"), CORRUPT]
        uploader(at, f"up:{cls.uid}").set_value(files).run()
        assert not at.exception
    assert p.counts() == {"rock": 12, "paper": 11, "scissors": 11}
    return at


def test_first_page_of_an_image_project_recommends_hand_pose_for_gestures():
    at = app()
    assert sess(at).project.kind == "image"
    tip = [i.value for i in at.info if "Hand pose" in i.value]
    assert len(tip) == 1 and "rock, paper, scissors" in tip[0] and "New project" in tip[0], [i.value for i in at.info]
    at.radio(key="new:kind").set_value("hands").run()
    click(at, "Start a new hands project")
    assert not any("Hand pose" in i.value for i in at.info)  # already one


@pytest.mark.slow
def test_new_hands_project_takes_photos_refuses_a_corrupt_file_and_flags_the_picture_without_a_hand(
        rps_train, no_webrtc_component):
    from tm_core import keypoints, kinds, media
    from tm_core.ui import keypoints as keypoints_ui

    at = gathered(rps_train)
    s = sess(at)
    assert s.project.kind == "hands" and s.encoder_name == "hand_landmarks_mobilenet"
    assert any("21 landmarks" in m.value for m in at.markdown)
    assert any(c.value == "Hands project" for c in at.caption)
    # the corrupt file: named and refused, the photos and the plain picture beside it kept
    report = next(w.value for w in at.warning if "not added" in w.value)
    assert "1 file was not added" in report and "broken.jpg" in report, report
    assert any("Added 12 samples to rock" in m.value for m in at.success)
    assert [x.name for x in s.project.get_class("rock").samples][-1] == "plain.png"
    # samples: the whole picture padded to the 256×256 square
    assert s.project.get_class("paper").samples[0].data.shape == (media.KEYPOINT_IMAGE_SIZE,) * 2 + (3,)
    # thumbnails have the hand drawn on them; "no hand" under the plain picture only
    captions = [c for img in at.get("image") for c in img.captions]
    assert captions.count("no hand") == 1, captions
    assert any("1 without a hand: no hand was found in 1 of 12 pictures" in w.value for w in at.warning)
    assert sum("without a hand" in w.value for w in at.warning) == 1  # none in paper, scissors
    thumb = keypoints_ui.thumbnail(s.encoder_name, s.project.get_class("paper").samples[0].id,
                                s.project.get_class("paper").samples[0].data)
    assert (thumb == np.array(keypoints.DOT, np.uint8)).all(axis=2).sum() > 20  # the landmarks' dots
    # the webcam recorder pads its frames whole, as for pose
    assert no_webrtc_component[-1]["key"] == "gather-camera"
    recorder, = frame_targets(no_webrtc_component[-1])
    assert recorder.prepare is kinds.pad_frame


@pytest.fixture(scope="module")
def trained(rps_train):
    """The gathered project on the Train page: trained with the defaults (the plain picture left out)."""
    import streamlit_webrtc

    with pytest.MonkeyPatch.context() as mp:  # module scope: the autouse stub is not there yet
        mp.setattr(streamlit_webrtc, "webrtc_streamer", lambda **kw: None)
        at = gathered(rps_train)
        at.switch_page("app_pages/train.py").run()
        assert not at.exception
        s = sess(at)
        assert at.selectbox(key="cfg:encoder").value == "hand_landmarks_mobilenet"
        assert any(o.startswith("Hand landmarks only") for o in at.selectbox(key="cfg:encoder").options)
        click(at, "Train model")
        return at, s.current


@pytest.mark.slow
def test_train_page_reports_the_picture_without_a_hand_and_leaves_it_out_unless_kept(trained):
    at, rec = trained
    s = sess(at)
    assert s.current is rec
    warnings = [w.value for w in at.warning]
    assert any("No hand found in 1 of 12 pictures of **rock**" in w for w in warnings), warnings
    assert not any("of **paper**" in w or "of **scissors**" in w for w in warnings)
    assert at.toggle(key="cfg:keep_missing").value is False
    assert rec.encoder == "hand_landmarks_mobilenet" and rec.run.class_names == list(CLASSES)
    assert len(rec.dataset.samples) == 33 == len(rec.run.split.train) + len(rec.run.split.test)
    assert "plain.png" not in [x.name for x in rec.dataset.samples]
    assert rec.run.info["left_out"] == 1
    assert any("1 picture without a hand was left out: it trained on 33 pictures" in i.value for i in at.info)
    assert rec.run.history[-1].accuracy >= 0.9  # 33 clear photos of three hand shapes: learned
    assert not s.project_changed_since(rec)

    # kept: all 34 trained on (a separate run; the default run's model is what the next tests use)
    at.toggle(key="cfg:keep_missing").set_value(True).run()
    at.number_input(key="cfg:epochs").set_value(10).run()
    click(at, "Train model")
    kept = s.current
    assert kept is not rec and len(kept.dataset.samples) == 34 and "left_out" not in kept.run.info
    assert not any("were left out" in i.value or "was left out" in i.value for i in at.info)
    s.current = rec
    at.toggle(key="cfg:keep_missing").set_value(False).run()
    at.number_input(key="cfg:epochs").set_value(rec.run.config.epochs).run()
    assert not at.exception


@pytest.mark.slow
def test_test_page_names_held_out_photos_and_says_when_no_hand_is_found(trained, rps_train, no_webrtc_component):
    at, rec = trained
    at.switch_page("app_pages/test.py").run()
    assert not at.exception
    from tm_core import keypoints, kinds

    assert no_webrtc_component[-1]["key"] == "test-camera"
    live, = frame_targets(no_webrtc_component[-1])
    assert live.prepare is kinds.pad_frame and isinstance(live.predictor, keypoints.KeypointPredictor)
    assert live.predictor.encoder.kind == "hands" and live.predictor.head is rec.run.head
    up = lambda: uploader(at, "test-upload:")  # noqa: E731
    for cls in CLASSES:
        photo = held_out(rps_train, cls)
        assert photo not in photos(rps_train, cls)
        up().set_value((photo.name, photo.read_bytes(), "image/jpeg")).run()
        assert not at.exception
        top = next(m.value for m in at.markdown if m.value.startswith("### "))
        assert top.split(" · ")[0] == f"### {cls}", (photo.name, top)
        assert at.get("vega_lite_chart")
        assert not any("No hand found" in w.value for w in at.warning)
    up().set_value(("plain.png", plain_png(), "image/png")).run()
    assert not at.exception
    assert any("No hand found in this picture." in w.value for w in at.warning)
    assert not any(m.value.startswith("### ") for m in at.markdown)
    assert any("keypoints found" in c for img in at.get("image") for c in img.captions)  # the picture, still shown
    up().set_value(CORRUPT).run()
    assert any("broken.jpg: " in e.value for e in at.error)


@pytest.mark.slow
def test_hands_export_prepares_every_file_and_its_snippets_run_as_written(trained, rps_train, tmp_path, monkeypatch):
    from tm_core import export

    at, rec = trained
    at.switch_page("app_pages/test.py").run()
    click(at, "Prepare export files")
    files = sess(at).exports[rec.id]
    assert set(files) == set(export.HANDS_FILES) | {"hands_model.zip"}
    assert set(zipfile.ZipFile(io.BytesIO(files["hands_model.zip"])).namelist()) == set(export.HANDS_FILES)
    assert files["labels.txt"].decode() == export.labels_text(rec.run.class_names)
    assert [d.proto.label for d in at.get("download_button")] == ["Everything (.zip)", "TFLite float32 model"]
    assert any("hand_features.py" in c.value for c in at.caption)
    assert len(at.code) == 2
    for code in at.code:
        assert "hand_landmarker_full.task" in code.value and "hand_features" in code.value, code.value
    # the snippets run as written beside the unzipped files (and the TFLite model) and a photo
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    zipfile.ZipFile(io.BytesIO(files["hands_model.zip"])).extractall(tmp_path)
    (tmp_path / "model_float32.tflite").write_bytes(files["model_float32.tflite"])
    photo = held_out(rps_train, "scissors")
    for picture, expected in ((photo.read_bytes(), "scissors"), (plain_png(), "no hand found")):
        (tmp_path / "photo.jpg").write_bytes(picture)
        for code in at.code:
            sys.modules.pop("hand_features", None)
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                exec(code.value, {})
            assert out.getvalue().strip().startswith(expected), (out.getvalue(), code.value)
    sys.modules.pop("hand_features", None)
