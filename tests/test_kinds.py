"""Each project kind's preparation in one place (tm_core.kinds), and the burst's frames made into samples
(tm_core.live.add_recording), on the real fake-camera video and real photos."""

import io

import numpy as np
import pytest
from PIL import Image

from tm_core import kinds, media
from tm_core.errors import InputError
from tm_core.live import BurstRecorder, add_recording
from tm_core.project import KINDS as PROJECT_KINDS
from tm_core.project import Project


@pytest.fixture(scope="module")
def frames(datasets_dir) -> list[bytes]:
    """JPEG frames (640×360) of the fake-camera video: an MJPEG stream is JPEGs back to back."""
    data = (datasets_dir / "video" / "person_seated_raga_640x360_15fps.mjpeg").read_bytes()
    return [b"\xff\xd8" + part for part in data.split(b"\xff\xd8")[1:]][:12]


def rgb(jpeg: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"))


def test_every_project_kind_has_one_row():
    assert tuple(kinds.KINDS) == PROJECT_KINDS
    assert [k for k in kinds.KINDS if kinds.is_keypoint(k)] == ["pose", "hands"]
    assert (kinds.thing("pose"), kinds.thing("hands")) == ("person", "hand")
    assert kinds.words("audio") == ("sound", "sounds") and kinds.words("hands") == ("picture", "pictures")
    assert kinds.get("image").sample_shape == (media.IMAGE_SIZE, media.IMAGE_SIZE, 3)
    assert kinds.get("pose").sample_shape == (media.KEYPOINT_IMAGE_SIZE, media.KEYPOINT_IMAGE_SIZE, 3)
    assert kinds.get("audio").sample_shape == (media.CLIP_SAMPLES,)
    with pytest.raises(InputError, match="video"):
        kinds.get("video")


def test_image_frames_are_centre_cropped_and_keypoint_frames_padded_whole(frames):
    frame = rgb(frames[0])  # 640×360: wider than tall
    assert frame.shape == (360, 640, 3)
    assert kinds.prepare_frame("image") is kinds.crop_frame
    assert kinds.prepare_frame("pose") is kinds.prepare_frame("hands") is kinds.pad_frame
    crop = kinds.prepare_frame("image")(frame)
    assert crop.shape == (224, 224, 3) and crop[:20].any() and crop[-20:].any()  # no bands: cut, not padded
    np.testing.assert_array_equal(crop, media.fit_image(Image.fromarray(frame)))
    padded = kinds.prepare_frame("pose")(frame)
    assert padded.shape == (256, 256, 3)
    band = (256 - 144) // 2  # 640×360 scaled to 256×144, centred: black above and below
    assert not padded[: band - 1].any() and not padded[-band + 1:].any() and padded[band + 2: -band - 2].any()
    with pytest.raises(ValueError):
        kinds.prepare_frame("audio")


def test_files_and_frames_are_prepared_alike(frames):
    """An uploaded photo and the same picture from the camera give the same sample, for every picture kind."""
    for kind in ("image", "pose", "hands"):
        from_file = kinds.prepare_image(kind, frames[3], "frame.jpg")
        np.testing.assert_array_equal(from_file, kinds.prepare_frame(kind)(rgb(frames[3])))
        assert from_file.shape == kinds.get(kind).sample_shape


def test_a_projects_uploads_are_prepared_by_its_kind(frames):
    for kind in ("image", "pose"):
        p = Project(kind)
        added = list(p.add_files(("Class 1", f"f{i}.jpg", f) for i, f in enumerate(frames[:2])))
        assert len(added) == 2
        for sample, jpeg in zip(p.get_class("Class 1").samples, frames):
            np.testing.assert_array_equal(sample.data, kinds.prepare_image(kind, jpeg))
    named = dict(kinds.decode_images("pose", [("bad.jpg", b"not a picture"), ("good.jpg", frames[0])]))
    assert isinstance(named["bad.jpg"], InputError) and named["good.jpg"].shape == (256, 256, 3)


def test_a_burst_becomes_one_recording_of_samples(frames):
    clock = [100.0]
    recorder = BurstRecorder(fps=10, delay=0, duration=1, clock=lambda: clock[0])
    recorder.prepare = kinds.prepare_frame("pose")
    recorder.start()
    for i in range(10):
        recorder.on_frame(rgb(frames[i]))
        clock[0] += 0.1
    taken = recorder.take()
    assert len(taken) == 10 and all(f.shape == (256, 256, 3) for f in taken)

    p = Project("pose")
    done = add_recording(p, "Class 2", taken, test_only=True)
    assert (done.added, done.offered, done.full) == (10, 10, None)
    samples = p.get_class("Class 2").samples
    assert len(samples) == 10 and len({s.group for s in samples}) == 1  # one recording: never split train/test
    assert all(s.name == "webcam" for s in samples) and p.get_class("Class 2").test_only == {s.id for s in samples}
    again = add_recording(p, "Class 2", taken)  # the same frames again: already there, nothing added
    assert again.added == 0 and again.full is None
    other = add_recording(p, "Class 1", taken[:3])
    assert other.added == 3 and {s.group for s in p.get_class("Class 1").samples}.isdisjoint({samples[0].group})
    assert add_recording(p, "gone", taken).added == 0  # the class was deleted meanwhile: nothing, no error


def test_a_burst_stops_at_the_projects_sample_limit_and_keeps_what_fitted(frames):
    p = Project("image")
    p.max_samples = 4
    taken = [kinds.crop_frame(rgb(f)) for f in frames[:7]]
    done = add_recording(p, "Class 1", taken)
    assert done.added == 4 and isinstance(done.full, InputError) and "full" in str(done.full)
    assert len(p.get_class("Class 1")) == 4
