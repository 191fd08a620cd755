"""Picture samples are kept compactly, as lossless PNG bytes: they decode to the very pixels their id
names, take far less memory than raw arrays, and go into and out of project files unchanged."""

import copy
import io
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from tm_core import project as project_module
from tm_core.errors import InputError
from tm_core.project import Project, Sample, png_bytes, png_pixels, sample_id
from tm_core.project_file import ProjectFile, open_project, save

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def real_project(kind: str, roots: list[Path], per_class: int) -> Project:
    p = Project(kind, [])
    for root in roots:
        items = [(c.name, f.name, f.read_bytes()) for c in sorted(root.iterdir()) if c.is_dir()
                 for f in sorted(c.iterdir())[:per_class]]
        results = list(p.add_files(items))
        assert not [r for r in results if isinstance(r, InputError)]
    return p


def samples(p: Project) -> list[Sample]:
    return [s for c in p.classes for s in c.samples]


@pytest.mark.parametrize("kind, size", [("image", 224), ("pose", 256)])
def test_held_bytes_decode_to_the_pixels_of_the_id(kind, size, rps_train):
    p = real_project(kind, [rps_train], 4)
    for s in samples(p):
        assert s.png.startswith(PNG_SIGNATURE)
        pixels = png_pixels(s.png)
        assert pixels.shape == (size, size, 3) and pixels.dtype == np.uint8
        assert sample_id(pixels) == s.id
        assert np.array_equal(s.data, pixels) and sample_id(s.data) == s.id
        assert not s.data.flags.writeable  # shared by the decoded-pictures memory: nobody may change it
        with pytest.raises(AttributeError):
            s.name = "changed"


def test_the_same_photo_twice_is_one_sample(rps_train):
    photo = sorted((rps_train / "rock").iterdir())[0].read_bytes()
    p = Project("image", ["rock"])
    added = [r for r in p.add_files([("rock", "a.jpg", photo), ("rock", "b.jpg", photo)]) if isinstance(r, Sample)]
    assert len(added) == 1 and len(p.get_class("rock")) == 1


def test_photos_take_a_fraction_of_their_raw_pixels(rps_train, clothing_train):
    p = real_project("image", [rps_train, clothing_train], 8)
    held = samples(p)
    assert len(held) == 8 * 7
    raw = sum(s.data.nbytes for s in held)
    compact = sum(len(s.png) for s in held)
    assert sum(s.nbytes for s in held) == compact
    assert compact < 0.45 * raw, f"the PNG bytes take {compact / raw:.0%} of the raw pixels"


def test_audio_samples_keep_their_array(datasets_dir):
    p = Project("audio")
    clip = sorted((datasets_dir / "speech_commands" / "train" / "yes").iterdir())[0]
    added = [r for r in p.add_files([("Class 2", clip.name, clip.read_bytes())]) if isinstance(r, Sample)]
    assert added and all(s.png is None and s.data.dtype == np.float32 and s.data.shape == (16_000,) for s in added)
    assert added[0].nbytes == 16_000 * 4 and sample_id(added[0].data) == added[0].id


def test_a_sample_holds_an_array_or_png_bytes(rps_train):
    pixels = np.asarray(Image.open(sorted((rps_train / "paper").iterdir())[0]).convert("RGB").resize((224, 224)))
    kept = Sample(sample_id(pixels), pixels, "photo")
    assert kept.png is None and kept.data is pixels
    compact = Sample.of_picture(pixels, "photo")
    assert compact.id == kept.id and compact == kept and np.array_equal(compact.data, pixels)
    for copied in (copy.deepcopy(compact), pickle.loads(pickle.dumps(compact))):
        assert copied.png == compact.png and copied == compact and np.array_equal(copied.data, pixels)
    with pytest.raises(TypeError):
        Sample("x")
    with pytest.raises(TypeError):
        Sample("x", pixels, png=png_bytes(pixels))


def test_a_picture_sample_holds_only_its_png(rps_train):
    p = real_project("image", [rps_train], 3)
    for s in samples(p):
        first, again = s.data, s.data
        assert first is not again and np.array_equal(first, again)  # decoded when asked, nothing kept
        assert not first.flags.writeable and s.nbytes == len(s.png) < first.nbytes / 2


def test_project_file_keeps_the_png_bytes_unchanged(rps_train):
    p = real_project("image", [rps_train], 5)
    data = save(ProjectFile(p))
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        members = {n: z.read(n) for n in z.namelist() if n.endswith(".png")}
    held = {f"samples/{c.uid}/{s.id}.png": s.png for c in p.classes for s in c.samples}
    assert members == held  # written as held, no re-encoding
    back = open_project(data).project
    assert [s.png for s in samples(back)] == [s.png for s in samples(p)]
    assert save(ProjectFile(back)) == data


def rewrite_member(data: bytes, path: str, blob: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, blob if info.filename == path else src.read(info))
    return out.getvalue()


def test_a_png_made_elsewhere_is_kept_as_it_is_unless_it_is_bloated(rps_train):
    """A project file whose pictures another tool re-compressed opens with those bytes (the pixels match
    the ids); one padded with a large text chunk is re-encoded, so memory stays bounded by the pixels."""
    p = real_project("image", [rps_train], 2)
    first = p.classes[0].samples[0]
    path = f"samples/{p.classes[0].uid}/{first.id}.png"
    pixels = first.data

    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG", compress_level=9)
    smaller = buf.getvalue()
    assert smaller != first.png
    back = open_project(rewrite_member(save(ProjectFile(p)), path, smaller)).project
    assert back.classes[0].samples[0].png == smaller and np.array_equal(back.classes[0].samples[0].data, pixels)

    info = PngImagePlugin.PngInfo()
    info.add_text("comment", "x" * 400_000)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG", pnginfo=info)
    bloated = buf.getvalue()
    assert len(bloated) > pixels.nbytes
    kept = open_project(rewrite_member(save(ProjectFile(p)), path, bloated)).project.classes[0].samples[0]
    assert kept.png == first.png and kept.id == first.id


def test_a_png_with_other_pixels_is_refused(rps_train):
    p = real_project("image", [rps_train], 2)
    first, other = p.classes[0].samples[:2]
    path = f"samples/{p.classes[0].uid}/{first.id}.png"
    with pytest.raises(InputError, match="does not match its id"):
        open_project(rewrite_member(save(ProjectFile(p)), path, other.png))


def test_gallery_shows_the_held_bytes_without_decoding(monkeypatch, rps_train):
    """The Gather page's thumbnails are the PNG bytes as held: showing 24 photos decodes none of them."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "streamlit_app.py"), default_timeout=120)
    at.run()
    p = at.session_state["teachable_studio"].project
    first = p.classes[0].name
    list(p.add_files((first, f.name, f.read_bytes()) for f in sorted((rps_train / "rock").iterdir())[:30]))
    decoded = []
    monkeypatch.setattr(project_module, "png_pixels", lambda blob: decoded.append(blob) or png_pixels(blob))
    at.run()
    assert not at.exception
    shown = [img for el in at.get("image") for img in el.proto.imgs if img.caption]  # not the phone panel's QR code
    newest = p.classes[0].samples[::-1][:24]  # the gallery shows the newest 24 first
    assert sorted(img.caption for img in shown) == sorted(s.name[-18:] for s in newest)
    assert all(img.url.endswith(".jpg") for img in shown)  # each served (shrunk by Streamlit)
    assert decoded == []
