"""tm_core.media on real photos and on hand-made awkward, broken and hostile files."""

from __future__ import annotations

import io
import os
import stat
import struct
import threading
import time
import wave
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from tm_core import media
from tm_core.errors import InputError

# ---------------------------------------------------------------------------------------------
# helpers


def encode(img: Image.Image, fmt: str, **params) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **params)
    return buf.getvalue()


def halves(size=(40, 20), left=(255, 0, 0), right=(0, 0, 255)) -> Image.Image:
    """An RGB picture whose left half is ``left`` and right half is ``right``."""
    img = Image.new("RGB", size, right)
    img.paste(left, (0, 0, size[0] // 2, size[1]))
    return img


def refused(source, name=None) -> InputError:
    with pytest.raises(InputError) as info:
        media.load_image(source, name)
    return info.value


def photos(root: Path, per_class: int) -> list[Path]:
    return [p for d in sorted(root.iterdir()) for p in sorted(d.glob("*.jpg"))[:per_class]]


def central_record(data: bytes | bytearray, member: str) -> int:
    """Offset of ``member``'s record in the zip's central directory."""
    at = data.find(b"PK\x01\x02")
    while at >= 0:
        (length,) = struct.unpack_from("<H", data, at + 28)
        if data[at + 46 : at + 46 + length] == member.encode():
            return at
        at = data.find(b"PK\x01\x02", at + 1)
    raise AssertionError(f"{member} not in the central directory")


def make_zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def write(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def real_jpeg(rps_train: Path) -> bytes:
    return sorted((rps_train / "rock").glob("*.jpg"))[0].read_bytes()


# ---------------------------------------------------------------------------------------------
# single images: real photos and the crop


@pytest.mark.parametrize("dataset", ["rps_train", "clothing_train"])
def test_real_photos_decode_to_224_rgb(dataset, request):
    root: Path = request.getfixturevalue(dataset)
    for path in photos(root, 3):
        arr = media.image_to_array(path)
        assert arr.shape == (224, 224, 3) and arr.dtype == np.uint8
        assert arr.flags.c_contiguous and arr.flags.writeable
        assert arr.std() > 5, f"{path} decoded to a flat picture"


def test_fit_image_is_exactly_teachable_machines_crop(clothing_train):
    path = sorted((clothing_train / "pants").glob("*.jpg"))[0]
    with Image.open(path) as raw:
        expected = np.asarray(ImageOps.fit(raw.convert("RGB"), (224, 224), Image.Resampling.LANCZOS))
    assert np.array_equal(media.image_to_array(path), expected)

    rng = np.random.default_rng(0)
    wide = Image.fromarray(rng.integers(0, 256, (90, 300, 3), dtype=np.uint8))
    for size in (224, 96):
        expected = np.asarray(ImageOps.fit(wide, (size, size), Image.Resampling.LANCZOS))
        assert np.array_equal(media.fit_image(wide, size), expected)


def test_fit_image_accepts_any_mode():
    grey = Image.new("L", (50, 30), 77)
    arr = media.fit_image(grey, 16)
    assert arr.shape == (16, 16, 3) and (arr == 77).all()


def test_image_extensions():
    assert {".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff", ".mpo"} <= media.IMAGE_EXTENSIONS
    assert not {".eps", ".pdf", ".wmf", ".mpg"} & media.IMAGE_EXTENSIONS
    assert all(ext == ext.lower() and ext.startswith(".") for ext in media.IMAGE_EXTENSIONS)


# ---------------------------------------------------------------------------------------------
# single images: orientation, modes, frames


def test_exif_orientation_is_applied():
    plain = media.load_image(encode(halves(), "JPEG", quality=95))
    assert plain.size == (40, 20)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    turned = media.load_image(encode(halves(), "JPEG", quality=95, exif=exif.tobytes()))
    assert turned.size == (20, 40)
    arr = media.fit_image(turned, 32).astype(int)
    # the red left half is now on top, the blue right half at the bottom
    assert arr[2, 16, 0] > 200 and arr[2, 16, 2] < 60
    assert arr[29, 16, 2] > 200 and arr[29, 16, 0] < 60


def test_palette_png_with_transparency_goes_over_white():
    img = Image.new("P", (2, 1))
    img.putpalette([200, 10, 10, 0, 0, 255])
    img.putpixel((1, 0), 1)
    out = media.load_image(encode(img, "PNG", transparency=1))
    assert out.mode == "RGB"
    assert out.getpixel((0, 0)) == (200, 10, 10)
    assert out.getpixel((1, 0)) == (255, 255, 255)


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_alpha_is_composited_over_white(mode):
    img = Image.new("RGBA", (3, 1))
    img.putdata([(0, 0, 0, 0), (0, 0, 0, 255), (0, 0, 0, 128)])
    out = media.load_image(encode(img.convert(mode), "PNG"))
    assert out.mode == "RGB"
    assert out.getpixel((0, 0)) == (255, 255, 255)
    assert out.getpixel((1, 0)) == (0, 0, 0)
    assert all(126 <= c <= 128 for c in out.getpixel((2, 0)))


def test_cmyk_jpeg_gets_real_colours():
    cmyk = Image.new("RGB", (16, 16), (220, 30, 30)).convert("CMYK")
    data = encode(cmyk, "JPEG", quality=95)
    with Image.open(io.BytesIO(data)) as check:
        assert check.mode == "CMYK"
    r, g, b = media.load_image(data).getpixel((8, 8))
    assert r > 200 and g < 50 and b < 50


def test_16_bit_png_is_scaled_not_clipped():
    values = np.array([[0, 1000, 32768, 65535]], dtype=np.uint16)
    data = encode(Image.fromarray(values), "PNG")
    with Image.open(io.BytesIO(data)) as check:
        assert check.mode == "I;16"
    out = np.asarray(media.load_image(data))
    assert out[0, :, 0].tolist() == [0, 4, 128, 255]
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()


def test_16_bit_big_endian_and_32_bit_int_tiffs():
    values = np.array([[0, 32768, 65535]], dtype=np.uint16)
    big_endian = Image.frombytes("I;16B", (3, 1), values.astype(">u2").tobytes())
    assert np.asarray(media.load_image(encode(big_endian, "TIFF")))[0, :, 0].tolist() == [0, 128, 255]
    as_int32 = Image.fromarray(values.astype(np.int32))
    assert as_int32.mode == "I"
    assert np.asarray(media.load_image(encode(as_int32, "TIFF")))[0, :, 0].tolist() == [0, 128, 255]


def test_float_tiff_is_scaled():
    unit = Image.fromarray(np.array([[0.0, 0.25, 0.5, 1.0]], dtype=np.float32))
    data = encode(unit, "TIFF")
    with Image.open(io.BytesIO(data)) as check:
        assert check.mode == "F"
    assert np.asarray(media.load_image(data))[0, :, 0].tolist() == [0, 64, 128, 255]
    # values beyond 0..1 are stretched from their minimum to their maximum
    wide = Image.fromarray(np.array([[-10.0, 0.0, 10.0]], dtype=np.float32))
    assert np.asarray(media.load_image(encode(wide, "TIFF")))[0, :, 0].tolist() == [0, 128, 255]


def test_a_high_bit_picture_is_scaled_band_by_band_and_turned_upright():
    # taller than one band (262,144 pixels): min and max come from every band, then each band is scaled
    values = np.zeros((600, 1000), np.float32)
    values[0, 0], values[-1, -1], values[300, 500] = -5.0, 15.0, 5.0
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    data = encode(Image.fromarray(values), "TIFF", exif=exif.tobytes())
    out = np.asarray(media.load_image(data))
    assert out.shape == (1000, 600, 3)  # turned upright after scaling to 8 bits
    upright = np.rot90(values, -1)
    expected = np.rint((upright + 5.0) * (255.0 / 20.0)).astype(np.uint8)
    assert np.array_equal(out[..., 0], expected)


def test_grey_and_one_bit_images_become_rgb():
    grey = media.load_image(encode(Image.new("L", (4, 4), 100), "PNG"))
    assert grey.mode == "RGB" and grey.getpixel((1, 1)) == (100, 100, 100)
    bits = Image.new("1", (4, 1), 0)
    bits.putpixel((2, 0), 1)
    out = media.load_image(encode(bits, "PNG"))
    assert [out.getpixel((x, 0)) for x in range(4)] == [(0, 0, 0)] * 2 + [(255, 255, 255), (0, 0, 0)]


@pytest.mark.parametrize("fmt", ["GIF", "PNG", "WEBP", "TIFF"])
def test_animations_and_multipage_give_the_first_frame(fmt):
    frames = [Image.new("RGB", (8, 8), c) for c in [(255, 0, 0), (0, 255, 0), (0, 0, 255)]]
    params = {"lossless": True} if fmt == "WEBP" else {}
    data = encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, **params)
    with Image.open(io.BytesIO(data)) as check:
        assert getattr(check, "n_frames", 1) == 3
    assert media.load_image(data).getpixel((4, 4)) == (255, 0, 0)


# ---------------------------------------------------------------------------------------------
# single images: refusals


@pytest.fixture(scope="module")
def huge_png() -> bytes:
    """A 10000×10000 (100 MP) 1-bit PNG: about 12 KB on disk, 100 MB once decoded."""
    return encode(Image.new("1", (10_000, 10_000)), "PNG")


def test_decompression_bomb_is_refused_from_its_header(huge_png, tmp_path):
    assert len(huge_png) < 50_000
    path = tmp_path / "bomb.png"
    path.write_bytes(huge_png)
    start = time.perf_counter()
    err = refused(path)
    assert time.perf_counter() - start < 0.5
    assert err.name == "bomb.png"
    assert "40-megapixel limit" in err.reason and "100 megapixels" in err.reason and "decompression bomb" in err.reason


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_images_just_over_the_pixel_limit_are_refused_before_decoding():
    data = encode(Image.new("P", (8000, 6000)), "PNG")
    start = time.perf_counter()
    err = refused(data, "panorama.png")
    assert time.perf_counter() - start < 0.2
    assert str(err) == (
        "panorama.png: is 8000×6000 pixels, more than the 40-megapixel limit (possible decompression bomb)"
    )


def test_not_images_are_refused_with_the_file_name(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("rock paper scissors\n" * 20)
    assert str(refused(text)) == "notes.txt: is not an image this app can open"

    sound = io.BytesIO()
    with wave.open(sound, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(np.zeros(1600, dtype=np.int16).tobytes())
    assert refused(sound.getvalue(), "clap.wav").name == "clap.wav"

    noise = np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    err = refused(noise, "noise.jpg")
    assert err.name == "noise.jpg" and err.reason in {"is not an image this app can open", "is damaged or truncated"}


def test_empty_missing_and_folder_sources(tmp_path):
    assert str(refused(b"", "empty.png")) == "empty.png: is empty"
    (tmp_path / "zero.jpg").write_bytes(b"")
    assert str(refused(tmp_path / "zero.jpg")) == "zero.jpg: is empty"
    assert str(refused(tmp_path / "gone.jpg")) == "gone.jpg: does not exist"
    assert refused(tmp_path, "my folder").reason == "is a folder, not an image file"
    assert refused(b"\x00\x01", None).name == "image"


def test_zero_size_image_is_refused():
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", 0, 7, 8, 0, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    assert refused(data, "flat.png").name == "flat.png"


def test_truncated_jpeg_is_refused(rps_train):
    whole = real_jpeg(rps_train)
    assert str(refused(whole[: len(whole) // 2], "rock/1.jpg")) == "rock/1.jpg: is damaged or truncated"
    assert refused(whole[:300], "rock/2.jpg").reason == "is damaged or truncated"


def test_oversize_files_are_refused(rps_train, tmp_path, monkeypatch):
    data = real_jpeg(rps_train)
    monkeypatch.setattr(media.files, "MAX_FILE_BYTES", 1000)
    err = refused(data, "big.jpg")
    assert err.name == "big.jpg" and err.reason.startswith("is too large (") and "the limit is 1000 bytes" in err.reason
    path = tmp_path / "big2.jpg"
    path.write_bytes(data)
    assert refused(path).reason == err.reason
    assert media._size_text(52.3 * 2**20) == "52.3 MB" and media._size_text(50 * 2**20) == "50 MB"


# ---------------------------------------------------------------------------------------------
# decode_images


def test_decode_images_keeps_order_and_reports_bad_items(rps_train):
    good = photos(rps_train, 2)
    bad = {"broken.jpg": real_jpeg(rps_train)[:500], "empty.png": b"", "odd": 42}
    items = [(p.name, p) for p in good[:3]] + list(bad.items()) + [(p.name, p) for p in good[3:]]
    results = list(media.decode_images(items, size=64, workers=3, lookahead=2))
    assert [name for name, _ in results] == [name for name, _ in items]
    for (name, source), (_, result) in zip(items, results):
        if name in bad:
            assert isinstance(result, InputError) and result.name == name
        else:
            assert np.array_equal(result, media.image_to_array(source, size=64))
    assert "could not be decoded" in results[5][1].reason  # the int source: an unexpected TypeError


def test_decode_images_reads_ahead_lazily_and_stops_cleanly(rps_train):
    pulled = 0
    data = real_jpeg(rps_train)

    def many():
        nonlocal pulled
        for i in range(500):
            pulled += 1
            yield f"{i}.jpg", data

    gen = media.decode_images(many(), size=32, workers=2, lookahead=8)
    first = [next(gen) for _ in range(3)]
    assert [name for name, _ in first] == ["0.jpg", "1.jpg", "2.jpg"]
    assert pulled == 10  # 8 in flight after each step, no more
    gen.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("tm-decode")]
    assert pulled == 10


def test_decode_images_works_while_the_consumer_works(monkeypatch):
    started: list[float] = []
    finished: list[float] = []
    real = media.image_to_array

    def slow(source, name=None, size=media.IMAGE_SIZE, pad=False):
        started.append(time.perf_counter())
        time.sleep(0.05)
        out = real(source, name, size, pad=pad)
        finished.append(time.perf_counter())
        return out

    monkeypatch.setattr(media.parallel, "image_to_array", slow)
    data = encode(Image.new("RGB", (40, 30), (9, 99, 199)), "PNG")
    gen = media.decode_images(((f"{i}.png", data) for i in range(8)), size=8, workers=2, lookahead=8)
    next(gen)
    time.sleep(0.5)  # the consumer is busy, e.g. running the network on a batch
    busy_until = time.perf_counter()
    rest = list(gen)
    assert len(rest) == 7 and all(arr[0, 0].tolist() == [9, 99, 199] for _, arr in rest)
    assert max(started) < busy_until and max(finished) < busy_until  # everything was decoded during the sleep


def test_decode_images_rejects_bad_settings():
    with pytest.raises(ValueError):
        next(media.decode_images([], workers=0))
    assert list(media.decode_images([])) == []


# ---------------------------------------------------------------------------------------------
# list_folder


def test_list_folder_on_real_dataset(rps_train):
    listing = media.list_folder(rps_train)
    assert listing.classes == ["paper", "rock", "scissors"]
    assert len(listing.files) == 450 and listing.skipped == []
    assert [f.class_name for f in listing.files] == ["paper"] * 150 + ["rock"] * 150 + ["scissors"] * 150
    rock = [f for f in listing.files if f.class_name == "rock"]
    names = [f.name for f in rock]
    assert set(names) == {f"rock/{p.name}" for p in (rps_train / "rock").glob("*.jpg")}
    assert names == sorted(names, key=media._natural_key)
    youtube = [n for n in names if "youtube-" in n]
    assert youtube.index(next(n for n in youtube if "youtube-12_" in n)) < youtube.index(
        next(n for n in youtube if "youtube-111_" in n)
    )
    assert all(isinstance(f.source, Path) and f.source.is_file() for f in listing.files)


def test_list_folder_layout_rules(tmp_path):
    root = tmp_path / "upload"
    data = root / "my dataset"  # a wrapper folder around the classes
    write(root / "README.txt")  # stray file beside the wrapper
    for cls in ["Class 10", "Class 2", "class 1"]:
        for name in ["img10.jpg", "img2.jpg", "img1.jpg"]:
            write(data / cls / name)
    write(data / "Class 2" / "deeper" / "more" / "x.jpg")
    write(data / "notes.txt")  # directly in the wrapper: outside any class
    write(data / "class 1" / "inner.zip")
    for junk in [".DS_Store", "class 1/.hidden.jpg", ".git/config", "__MACOSX/class 1/._a.jpg", "Class 2/Thumbs.db",
                 "Class 2/desktop.ini"]:
        write(data / junk)
    outside = write(tmp_path / "elsewhere.jpg")
    os.symlink(outside, data / "class 1" / "link-out.jpg")
    os.symlink(data / "Class 2" / "img1.jpg", data / "class 1" / "link-in.jpg")
    os.symlink(data / "Class 2", data / "Class 3")
    os.symlink(tmp_path / "nowhere.jpg", data / "Class 2" / "broken.jpg")

    listing = media.list_folder(root)
    assert listing.classes == ["class 1", "Class 2", "Class 10"]
    by_class = {c: [f.name for f in listing.files if f.class_name == c] for c in listing.classes}
    expected = ["img1.jpg", "img2.jpg", "img10.jpg", "link-in.jpg"]
    assert by_class["class 1"] == [f"my dataset/class 1/{n}" for n in expected]
    assert by_class["Class 2"][0] == "my dataset/Class 2/deeper/more/x.jpg"
    assert len(by_class["Class 2"]) == 4 and len(by_class["Class 10"]) == 3
    assert [f.class_name for f in listing.files] == sorted(
        (f.class_name for f in listing.files), key=listing.classes.index
    )
    skipped = {e.name: e.reason for e in listing.skipped}
    assert set(skipped) == {
        "README.txt", "my dataset/notes.txt", "my dataset/class 1/inner.zip", "my dataset/class 1/link-out.jpg",
        "my dataset/Class 3", "my dataset/Class 2/broken.jpg",
    }
    assert "not inside a class folder" in skipped["README.txt"]
    assert "outside the folder" in skipped["my dataset/class 1/link-out.jpg"]
    assert "archive" in skipped["my dataset/class 1/inner.zip"]
    assert "broken link" in skipped["my dataset/Class 2/broken.jpg"]
    assert "not followed" in skipped["my dataset/Class 3"]


def test_list_folder_single_class_with_a_subfolder_is_not_a_wrapper(tmp_path):
    write(tmp_path / "rock" / "a.jpg")
    write(tmp_path / "rock" / "more" / "b.jpg")
    listing = media.list_folder(tmp_path)
    assert listing.classes == ["rock"] and [f.name for f in listing.files] == ["rock/a.jpg", "rock/more/b.jpg"]
    write(tmp_path / "rock" / "other" / "c.jpg")  # two sub-folders: now "rock" wraps two classes
    listing = media.list_folder(tmp_path)
    assert listing.classes == ["more", "other"] and [e.name for e in listing.skipped] == ["rock/a.jpg"]


def test_list_folder_refusals(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        media.list_folder(tmp_path / "missing")
    file = write(tmp_path / "file.jpg")
    with pytest.raises(InputError, match="is not a folder"):
        media.list_folder(file)
    flat = tmp_path / "flat"
    write(flat / "1.jpg")
    write(flat / ".hidden" / "2.jpg")
    with pytest.raises(InputError) as info:
        media.list_folder(flat)
    assert info.value.name == str(flat) and "has no class folders" in info.value.reason


# ---------------------------------------------------------------------------------------------
# read_zip


@pytest.fixture(scope="module")
def rps_zip_entries(rps_train) -> dict[str, bytes]:
    return {f"{p.parent.name}/{p.name}": p.read_bytes() for p in photos(rps_train, 2)}


def test_read_zip_of_real_photos(rps_zip_entries, tmp_path):
    data = make_zip(rps_zip_entries | {"rock/": b"", "__MACOSX/rock/._x.jpg": b"junk", "rock/.DS_Store": b""})
    path = tmp_path / "rps.zip"
    path.write_bytes(data)
    for listing in (media.read_zip(data, "rps.zip"), media.read_zip(path)):
        assert listing.classes == ["paper", "rock", "scissors"]
        assert [f.name for f in listing.files] == sorted(rps_zip_entries)
        assert listing.skipped == []
        for f in listing.files:
            assert f.source.read() == rps_zip_entries[f.name] and f.class_name == f.name.split("/")[0]
        assert media.image_to_array(listing.files[0].source, listing.files[0].name).shape == (224, 224, 3)


def test_read_zip_strips_one_wrapper_folder(rps_zip_entries):
    data = make_zip({f"rps/{name}": blob for name, blob in rps_zip_entries.items()} | {"rps/about.txt": b"hi"})
    listing = media.read_zip(data, "rps.zip")
    assert listing.classes == ["paper", "rock", "scissors"]
    assert listing.files[0].name.startswith("rps/paper/")
    assert [(e.name, "not inside a class folder" in e.reason) for e in listing.skipped] == [("rps/about.txt", True)]


def test_read_zip_skips_unsafe_members(rps_zip_entries):
    jpg = next(iter(rps_zip_entries.values()))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("rock/good.jpg", jpg)
        zf.writestr("rock\\windows.jpg", jpg)  # an old Windows zip: backslash separators
        zf.writestr("rock/sub/deep.jpg", jpg)
        zf.writestr("../evil.jpg", jpg)
        zf.writestr("rock/../../evil2.jpg", jpg)
        zf.writestr("/etc/x.jpg", jpg)
        zf.writestr("C:/x.jpg", jpg)
        zf.writestr("paper/nested.zip", b"PK")
        zf.writestr("top.jpg", jpg)
        link = zipfile.ZipInfo("paper/link.jpg")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
        zf.writestr("paper/locked.jpg", jpg)
        zf.writestr("paper/ok.jpg", jpg)
    data = bytearray(buf.getvalue())
    # mark paper/locked.jpg as encrypted (zipfile cannot write encrypted members itself)
    locked = zipfile.ZipFile(io.BytesIO(data)).getinfo("paper/locked.jpg").header_offset
    data[locked + 6] |= 0x1
    data[central_record(data, "paper/locked.jpg") + 8] |= 0x1
    listing = media.read_zip(bytes(data), "mixed.zip")
    assert listing.classes == ["paper", "rock"]
    assert [f.name for f in listing.files] == ["paper/ok.jpg", "rock/good.jpg", "rock/sub/deep.jpg", "rock/windows.jpg"]
    skipped = {e.name: e.reason for e in listing.skipped}
    assert "'..'" in skipped["../evil.jpg"] and "'..'" in skipped["rock/../../evil2.jpg"]
    assert "absolute path" in skipped["/etc/x.jpg"]
    assert "drive letter" in skipped["C:/x.jpg"]
    assert "symbolic link" in skipped["paper/link.jpg"]
    assert "password" in skipped["paper/locked.jpg"]
    assert "archive" in skipped["paper/nested.zip"]
    assert "not inside a class folder" in skipped["top.jpg"]
    assert len(skipped) == 8


def zeros_member(zf: zipfile.ZipFile, name: str, size: int) -> None:
    """Stream ``size`` zero bytes into a deflated member without holding them in memory."""
    chunk = bytes(1 << 20)
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    with zf.open(info, "w") as out:
        for start in range(0, size, len(chunk)):
            out.write(chunk[: min(len(chunk), size - start)])


@pytest.fixture(scope="module")
def bomb_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("rock/a.jpg", b"a")
        zeros_member(zf, "rock/bomb.jpg", 60 * 2**20)
        zf.writestr("rock/b.jpg", b"b")
    return buf.getvalue()


def test_zip_bomb_member_is_skipped_from_its_header(bomb_zip, monkeypatch):
    assert len(bomb_zip) < 2**20
    monkeypatch.setattr(media.files, "MAX_FILE_BYTES", 2**20)
    listing = media.read_zip(bomb_zip, "bomb.zip")
    assert [f.name for f in listing.files] == ["rock/a.jpg", "rock/b.jpg"]
    [err] = listing.skipped
    assert err.name == "rock/bomb.jpg" and err.reason == "is too large (60 MB; the limit is 1 MB)"


def test_zip_member_lying_about_its_size_is_skipped_as_damaged(bomb_zip, monkeypatch):
    # declare the 60 MB member as 100 bytes, in its local header and in the central directory
    lie = bytearray(bomb_zip)
    local = zipfile.ZipFile(io.BytesIO(bomb_zip)).getinfo("rock/bomb.jpg").header_offset
    struct.pack_into("<I", lie, local + 22, 100)
    struct.pack_into("<I", lie, central_record(lie, "rock/bomb.jpg") + 24, 100)
    monkeypatch.setattr(media.files, "MAX_FILE_BYTES", 2**20)
    listing = media.read_zip(bytes(lie), "liar.zip")
    assert [f.name for f in listing.files] == ["rock/a.jpg", "rock/b.jpg"]
    [err] = listing.skipped
    assert err.name == "rock/bomb.jpg" and "damaged" in err.reason


def test_zip_total_unpacked_size_is_capped(monkeypatch):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(5):
            zeros_member(zf, f"rock/{i}.jpg", 2**20)
    requested: list[int] = []
    original_read = zipfile.ZipExtFile.read

    def spy_read(self, n=-1):
        requested.append(n)
        return original_read(self, n)

    monkeypatch.setattr(zipfile.ZipExtFile, "read", spy_read)
    monkeypatch.setattr(media.datasets, "MAX_ARCHIVE_BYTES", 2 * 2**20 + 2**19)
    with pytest.raises(InputError) as info:
        media.read_zip(buf.getvalue(), "big.zip")
    assert str(info.value) == "big.zip: unpacks to more than 2.5 MB, the limit for one zip file"
    # each member is read with a cap (the budget left, plus one byte to notice going over), never "all of it"
    assert requested == [5 * 2**19 + 1, 3 * 2**19 + 1, 2**19 + 1]
    monkeypatch.setattr(media.datasets, "MAX_ARCHIVE_BYTES", 5 * 2**20)
    assert len(media.read_zip(buf.getvalue(), "big.zip").files) == 5


def test_zip_with_too_many_files_is_refused(monkeypatch):
    monkeypatch.setattr(media.datasets, "MAX_ARCHIVE_FILES", 5)
    data = make_zip({f"rock/{i}.jpg": b"x" for i in range(6)} | {"rock/": b""})
    with pytest.raises(InputError) as info:
        media.read_zip(data, "many.zip")
    assert str(info.value) == "many.zip: has 6 files, more than the limit of 5"
    assert len(media.read_zip(make_zip({f"rock/{i}.jpg": b"x" for i in range(5)})).files) == 5


def test_broken_and_empty_zips_are_refused(rps_zip_entries, tmp_path):
    good = make_zip(rps_zip_entries)
    cases = {
        "notes.zip": (b"just some text, not a zip at all", "is not a zip file"),
        "photo.zip": (next(iter(rps_zip_entries.values())), "is not a zip file"),
        "cut.zip": (good[: len(good) // 2], "is a damaged or truncated zip file"),
        "nothing.zip": (b"", "is empty"),
        "hollow.zip": (make_zip({}), "contains no files"),
        "dirs.zip": (make_zip({"rock/": b"", "paper/": b""}), "contains no files"),
    }
    for name, (data, reason) in cases.items():
        with pytest.raises(InputError) as info:
            media.read_zip(data, name)
        assert (info.value.name, info.value.reason) == (name, reason)
    with pytest.raises(InputError) as info:
        media.read_zip(make_zip({"a.jpg": b"x", "__MACOSX/rock/b.jpg": b"y"}), "flat.zip")
    assert info.value.name == "flat.zip" and "has no class folders" in info.value.reason
    with pytest.raises(InputError, match=r"gone\.zip: does not exist"):
        media.read_zip(tmp_path / "gone.zip")
    assert media.read_zip(good).classes == ["paper", "rock", "scissors"]
