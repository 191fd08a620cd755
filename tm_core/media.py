"""Reading images and image datasets safely: the one preprocessing every image sample goes through.

``load_image`` turns any file Pillow can decode into a plain RGB picture (EXIF orientation
applied, transparency over white, 16-bit and float pixels scaled to 8 bits) and refuses
everything else with an :class:`~tm_core.errors.InputError` a student can understand.
``fit_image`` is Teachable Machine's centre crop. ``list_folder`` and ``read_zip`` turn a
``<class>/<files>`` tree into labelled files, without trusting paths, links or sizes.

``load_audio`` does the same for sound: any WAV, FLAC, OGG (Vorbis, Opus) or MP3 becomes 16 kHz mono
float32; ``clip_windows`` cuts it into the 1-second samples of an audio project.
"""

from __future__ import annotations

import functools
import io
import math
import os
import re
import stat
import threading
import zipfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import soundfile as sf
import soxr
from PIL import Image, ImageFile, ImageOps

from tm_core import limits
from tm_core.errors import InputError

T = TypeVar("T")

IMAGE_SIZE = 224
KEYPOINT_IMAGE_SIZE = 256  # pose and hand samples: the whole picture padded to this square
MAX_IMAGE_PIXELS = limits.IMAGE_PIXELS  # configurable: see tm_core.limits
MAX_FILE_BYTES = limits.FILE_BYTES
MAX_ARCHIVE_FILES = 10_000
MAX_ARCHIVE_BYTES = 1024**3

# Pillow itself then refuses anything over twice our limit in every module, before reading pixels.
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS


def _decodable_formats() -> tuple[str, ...]:
    """Pillow formats that decode pixels here: not stubs, not Ghostscript (EPS), not MPEG headers."""
    Image.init()
    return tuple(
        sorted(
            fmt
            for fmt, (factory, _accept) in Image.OPEN.items()
            if fmt not in {"EPS", "MPEG"}
            and not (isinstance(factory, type) and issubclass(factory, ImageFile.StubImageFile))
        )
    )


_FORMATS = _decodable_formats()

#: Lower-case file extensions, with the dot (as ``Path.suffix``), of the formats ``load_image`` reads.
IMAGE_EXTENSIONS = frozenset(
    ext.lower()
    for ext, fmt in Image.registered_extensions().items()
    # MPO files open through the JPEG plugin.
    if fmt in _FORMATS or (fmt == "MPO" and "JPEG" in _FORMATS)
)

_ARCHIVE_EXTENSIONS = frozenset({".zip", ".tar", ".tgz", ".gz", ".bz2", ".xz", ".7z", ".rar"})
_JUNK_FILES = frozenset({"thumbs.db", "desktop.ini", "__macosx"})
_HIGH_BIT_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I", "F"})
_WHITE = (255, 255, 255)


# ---------------------------------------------------------------------------------------------
# Single images


def _size_text(n: int | float) -> str:
    """Byte count in words: ``52.3 MB``, ``50 MB``, ``800 bytes``."""
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if n >= scale:
            return f"{n / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{int(n)} bytes"


def _too_large(name: str, size: int) -> InputError:
    return InputError(name, f"is too large ({_size_text(size)}; the limit is {_size_text(MAX_FILE_BYTES)})")


def _megapixels(n: float) -> str:
    return f"{n / 1e6:.1f}".removesuffix(".0")


def _read_path(path: Path, name: str) -> bytes:
    """Read a whole regular file, never more than ``MAX_FILE_BYTES + 1`` bytes."""
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise InputError(name, "is a folder, not an image file")
        if not stat.S_ISREG(info.st_mode):
            raise InputError(name, "is not a regular file")
        if info.st_size > MAX_FILE_BYTES:
            raise _too_large(name, info.st_size)
        with path.open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise InputError(name, "does not exist") from None
    except PermissionError:
        raise InputError(name, "cannot be opened (permission denied)") from None
    except OSError as exc:
        raise InputError(name, f"could not be read ({exc.strerror or exc})") from exc
    return data


def _scaled_to_uint8(img: Image.Image) -> np.ndarray:
    """8-bit grey levels for 16-bit, 32-bit integer and float pixels, scaled rather than clipped.

    16-bit data (and 32-bit integers within 0..65535) use 65535 as white, floats within 0..1
    use 1.0; anything else is stretched from its minimum to its maximum.
    """
    values = np.nan_to_num(np.asarray(img, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if img.mode.startswith("I;16") or (img.mode == "I" and low >= 0 and high <= 65535):
        values = values / 257.0
    elif img.mode == "F" and low >= 0 and high <= 1:
        values = values * 255.0
    elif high > low:
        values = (values - low) * (255.0 / (high - low))
    else:
        values = np.zeros_like(values)
    return np.rint(np.clip(values, 0, 255)).astype(np.uint8)


def _to_rgb(img: Image.Image) -> Image.Image:
    """Plain 8-bit RGB: transparency composited over white, high bit depths scaled down."""
    if img.mode == "RGB":
        return img
    if img.mode in _HIGH_BIT_MODES:
        return Image.fromarray(_scaled_to_uint8(img)).convert("RGB")
    if img.has_transparency_data:
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, _WHITE)
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return img.convert("RGB")


def _pixel_limit(what: str) -> str:
    limit = _megapixels(MAX_IMAGE_PIXELS)
    return f"{what}, more than the {limit}-megapixel limit (possible decompression bomb)"


def _bomb_reason(exc: Image.DecompressionBombError) -> str:
    """Reason for Pillow's own refusal (over twice the limit), which gives the pixel count only."""
    match = re.search(r"\((\d+) pixels\)", str(exc))
    return _pixel_limit(f"declares {_megapixels(int(match.group(1)))} megapixels" if match else "is too large")


def load_image(source: bytes | str | os.PathLike, name: str | None = None) -> Image.Image:
    """Decode an image file (bytes or a path) into a fully loaded RGB image, or raise InputError.

    Only the first frame of animations and multi-page files is used; the EXIF orientation is applied.
    """
    source = _bytes_of(source)
    if isinstance(source, (bytes, bytearray)):
        label = name or "image"
        data = bytes(source)
    else:
        path = Path(source)
        label = name or path.name
        data = _read_path(path, label)
    if not data:
        raise InputError(label, "is empty")
    if len(data) > MAX_FILE_BYTES:
        raise _too_large(label, len(data))
    try:
        with Image.open(io.BytesIO(data), formats=_FORMATS) as img:
            width, height = img.size
            if width * height > MAX_IMAGE_PIXELS:
                raise InputError(label, _pixel_limit(f"is {width}×{height} pixels"))
            img.load()
            rgb = _to_rgb(ImageOps.exif_transpose(img))
    except InputError:
        raise
    except Image.UnidentifiedImageError:
        raise InputError(label, "is not an image Pillow can read") from None
    except Image.DecompressionBombError as exc:
        raise InputError(label, _bomb_reason(exc)) from None
    except MemoryError:
        raise InputError(label, "needs more memory to decode than is available") from None
    except Exception as exc:  # Pillow's decoders raise many types (OSError, SyntaxError, struct.error...)
        raise InputError(label, "is damaged or truncated") from exc
    return rgb


def fit_image(img: Image.Image, size: int = IMAGE_SIZE) -> np.ndarray:
    """Teachable Machine's cover-fit centre crop: ``ImageOps.fit`` with LANCZOS, as uint8 (size, size, 3)."""
    fitted = ImageOps.fit(_to_rgb(img), (size, size), Image.Resampling.LANCZOS)
    return np.array(fitted, dtype=np.uint8)


def pad_image(img: Image.Image, size: int = KEYPOINT_IMAGE_SIZE) -> np.ndarray:
    """The whole picture, scaled to fit a black ``size`` square (centred): nothing cut off, for pose
    and hand projects, whose keypoint models look for the body or hand anywhere in the frame."""
    padded = ImageOps.pad(_to_rgb(img), (size, size), Image.Resampling.LANCZOS, color=(0, 0, 0))
    return np.array(padded, dtype=np.uint8)


def image_to_array(
    source: bytes | str | os.PathLike, name: str | None = None, size: int = IMAGE_SIZE, *, pad: bool = False
) -> np.ndarray:
    """The one preprocessing for image samples: ``fit_image(load_image(source, name), size)``
    (``pad``: ``pad_image`` instead, for pose and hand projects)."""
    img = load_image(source, name)
    return pad_image(img, size) if pad else fit_image(img, size)


def _guarded(name: str, decode: Callable[[], T]) -> T | InputError:
    """``decode()``, or the InputError that says why this one file could not be used."""
    try:
        return decode()
    except InputError as err:
        return err
    except Exception as exc:  # one odd file must never stop the others
        return InputError(name, f"could not be decoded ({type(exc).__name__}: {exc})")


def _decode_one(name: str, source: bytes | str | os.PathLike, size: int, pad: bool) -> np.ndarray | InputError:
    return _guarded(name, lambda: image_to_array(source, name, size, pad=pad))


def decode_images(
    sources: Iterable[tuple[str, bytes | str | os.PathLike]],
    size: int = IMAGE_SIZE,
    workers: int = 2,
    lookahead: int = 64,
    *,
    pad: bool = False,
) -> Iterator[tuple[str, np.ndarray | InputError]]:
    """Decode ``(name, source)`` pairs in a thread pool; yield ``(name, array or InputError)`` in input order.

    At most ``lookahead`` items are read from ``sources`` ahead of the consumer, and decoding keeps
    going while the consumer works. Closing the generator cancels what has not started and waits
    for the (at most ``workers``) decodes in progress, so no thread is left running.
    """
    return _decode_in_order(sources, lambda name, source: _decode_one(name, source, size, pad), workers, lookahead,
                            "tm-decode")


def _decode_in_order(items, decode, workers: int, lookahead: int, prefix: str) -> Iterator[tuple[str, object]]:
    """``(name, decode(name, source))`` for each item, in order, decoded by ``workers`` threads.

    At most ``lookahead`` items are read ahead of the consumer; closing the generator cancels what
    has not started and waits for the decodes in progress, so no thread is left running.
    """
    if workers < 1 or lookahead < 1:
        raise ValueError("workers and lookahead must be at least 1")
    items = iter(items)
    pending: deque[tuple[str, Future]] = deque()
    executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=prefix)
    try:
        exhausted = False
        while True:
            while not exhausted and len(pending) < lookahead:
                try:
                    name, source = next(items)
                except StopIteration:
                    exhausted = True
                else:
                    pending.append((name, executor.submit(decode, name, source)))
            if not pending:
                return
            name, future = pending.popleft()
            yield name, future.result()
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


# ---------------------------------------------------------------------------------------------
# Datasets: <class>/<files> in a folder or a zip


class _SharedZip:
    """One zip opened once for all its members' reads (the decoding threads take turns)."""

    def __init__(self, source: bytes | Path):
        self._source = source
        self._zip: zipfile.ZipFile | None = None
        self._lock = threading.Lock()

    def read(self, filename: str, limit: int) -> bytes:
        with self._lock:
            if self._zip is None:
                self._zip = zipfile.ZipFile(io.BytesIO(self._source) if isinstance(self._source, (bytes, bytearray))
                                            else self._source)
            with self._zip.open(filename) as member:
                return member.read(limit)


class ZipMember:
    """A file inside a zip, unpacked only when it is decoded: a big zip's files are never all in
    memory at once (``read_zip`` has checked each of them already)."""

    __slots__ = ("_zip", "filename")

    def __init__(self, shared: _SharedZip, filename: str):
        self._zip, self.filename = shared, filename

    def read(self) -> bytes:
        return self._zip.read(self.filename, MAX_FILE_BYTES + 1)

    def __repr__(self) -> str:
        return f"ZipMember({self.filename!r})"


def _bytes_of(source):
    """A zip member's bytes; any other source as it is."""
    return source.read() if isinstance(source, ZipMember) else source


@dataclass(frozen=True)
class LabelledFile:
    """One sample file: its class, the path the user knows it by, and its bytes or location."""

    class_name: str
    name: str
    source: bytes | Path | ZipMember


@dataclass
class TreeListing:
    """Classes in natural order, their files grouped in that order, and what was left out and why."""

    classes: list[str]
    files: list[LabelledFile]
    skipped: list[InputError]


_NOT_IN_CLASS = "is not inside a class folder, so it was left out (put it in the folder of its class)"
_NESTED_ARCHIVE = "is an archive inside the dataset; unpack it first, it was left out"
_NO_CLASSES = (
    "has no class folders: put each class's images in a folder named after the class (for example rock/1.jpg)"
)


def _natural_key(text: str) -> tuple[list[str | int], str]:
    """Case-insensitive order that compares digit runs as numbers: "Class 2" < "Class 10"."""
    parts = re.split(r"(\d+)", text.casefold())
    return [int(p) if i % 2 else p for i, p in enumerate(parts)], text


def _is_junk(part: str) -> bool:
    """Hidden files and folders and the litter of macOS and Windows, ignored without a word."""
    return part.startswith(".") or part.casefold() in _JUNK_FILES


def _is_archive(name: str) -> bool:
    return Path(name).suffix.lower() in _ARCHIVE_EXTENSIONS


_Candidate = tuple[tuple[str, ...], str, bytes | Path | ZipMember]


def _assemble(candidates: list[_Candidate], skipped: list[InputError], where: str) -> TreeListing:
    """Group ``(path parts, display name, source)`` by class folder.

    When every file inside a folder is inside the same top folder, and that folder holds either no
    files of its own or several sub-folders, it is a wrapper (``rps/rock/1.jpg``) and is looked
    through. Files outside any class folder are skipped.
    """
    in_folders = [parts for parts, _, _ in candidates if len(parts) >= 2]
    sub_folders = {parts[1] for parts in in_folders if len(parts) >= 3}
    wrapped = len({parts[0] for parts in in_folders}) == 1 and (
        len(sub_folders) >= 2 or all(len(parts) >= 3 for parts in in_folders)
    )
    strip = int(wrapped)
    groups: dict[str, list[LabelledFile]] = {}
    for parts, name, source in candidates:
        parts = parts[strip:]
        if len(parts) < 2:
            skipped.append(InputError(name, _NOT_IN_CLASS))
        else:
            groups.setdefault(parts[0], []).append(LabelledFile(parts[0], name, source))
    if not groups:
        raise InputError(where, _NO_CLASSES)
    classes = sorted(groups, key=_natural_key)
    files = [f for c in classes for f in sorted(groups[c], key=lambda f: _natural_key(f.name))]
    skipped.sort(key=lambda err: _natural_key(err.name))
    return TreeListing(classes, files, skipped)


def _inside(path: str, root: str) -> bool:
    return os.path.commonpath([path, root]) == root


def _file_problem(path: Path, real_root: str) -> str | None:
    """Why a file found in a dataset folder cannot be a sample, or None if it can."""
    if path.is_symlink():
        target = os.path.realpath(path)
        if not os.path.exists(target):
            return "is a broken link"
        if not _inside(target, real_root):
            return "is a link to a file outside the folder, so it was not followed"
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        return f"could not be read ({exc.strerror or exc})"
    if not stat.S_ISREG(mode):
        return "is not a regular file"
    if _is_archive(path.name):
        return _NESTED_ARCHIVE
    return None


def list_folder(root: str | os.PathLike) -> TreeListing:
    """List ``root/<class>/<files>`` (files may sit deeper inside a class folder).

    Every regular file is listed (decoding refuses non-images later); hidden files and OS litter are
    ignored; links to folders and links leading outside ``root`` are skipped with a reason.
    """
    where = os.fspath(root)
    base = Path(root)
    if not base.exists():
        raise InputError(where, "does not exist")
    if not base.is_dir():
        raise InputError(where, "is not a folder")
    real_root = os.path.realpath(base)
    candidates: list[_Candidate] = []
    skipped: list[InputError] = []

    def on_error(exc: OSError) -> None:
        rel = Path(exc.filename).relative_to(base).as_posix() if exc.filename else where
        skipped.append(InputError(rel, f"could not be opened ({exc.strerror or exc})"))

    for dirpath, dirnames, filenames in os.walk(base, onerror=on_error):
        here = Path(dirpath)
        rel_dir = here.relative_to(base).parts
        kept: list[str] = []
        for dirname in sorted(dirnames, key=_natural_key):
            if _is_junk(dirname):
                continue
            if (here / dirname).is_symlink():
                reason = "is a link to a folder; linked folders are not followed"
                skipped.append(InputError("/".join((*rel_dir, dirname)), reason))
            else:
                kept.append(dirname)
        dirnames[:] = kept
        for filename in filenames:
            if _is_junk(filename):
                continue
            parts = (*rel_dir, filename)
            problem = _file_problem(here / filename, real_root)
            if problem:
                skipped.append(InputError("/".join(parts), problem))
            else:
                candidates.append((parts, "/".join(parts), here / filename))
    return _assemble(candidates, skipped, where)


def _unsafe_path(raw: str, parts: list[str]) -> str | None:
    """Why a member's path cannot be trusted (absolute, drive letter, '..'), or None."""
    if raw.startswith(("/", "\\")):
        return "has an absolute path, so it was left out"
    if re.match(r"[A-Za-z]:", raw):
        return "has a drive letter in its path, so it was left out"
    if ".." in parts:
        return "has '..' in its path (it points outside the archive), so it was left out"
    return None


def _member_problem(info: zipfile.ZipInfo) -> str | None:
    """Why a zip member cannot be a sample, judged from its header, or None if it may be."""
    if stat.S_ISLNK(info.external_attr >> 16):
        return "is a symbolic link, so it was left out"
    if info.flag_bits & 0x1:
        return "is password-protected, so it was left out"
    if _is_archive(info.filename):
        return _NESTED_ARCHIVE
    if info.file_size > MAX_FILE_BYTES:
        return _too_large(info.filename, info.file_size).reason
    return None


def _open_zip(source: bytes | str | os.PathLike, label: str) -> zipfile.ZipFile:
    if isinstance(source, (bytes, bytearray)):
        if not source:
            raise InputError(label, "is empty")
        head, target = bytes(source[:2]), io.BytesIO(source)
    else:
        path = Path(source)
        try:
            if not path.is_file():
                raise InputError(label, "is not a file" if path.exists() else "does not exist")
            if path.stat().st_size == 0:
                raise InputError(label, "is empty")
            with path.open("rb") as f:
                head = f.read(2)
        except OSError as exc:
            raise InputError(label, f"could not be read ({exc.strerror or exc})") from exc
        target = path
    try:
        return zipfile.ZipFile(target)
    except Exception as exc:  # zipfile raises BadZipFile, but also OSError/ValueError on crafted files
        reason = "is a damaged or truncated zip file" if head == b"PK" else "is not a zip file"
        raise InputError(label, reason) from exc


def read_zip(source: bytes | str | os.PathLike, name: str | None = None) -> TreeListing:
    """List a zip of ``<class>/<files>`` (optionally inside one top folder) without extracting to disk.

    Each member is unpacked once to check it, with hard caps: ``MAX_FILE_BYTES`` per member (bigger
    ones are skipped) and ``MAX_ARCHIVE_BYTES`` in all (over it, the whole zip is refused), whatever
    the headers claim; the listing's sources are :class:`ZipMember`\ s, unpacked again one at a time
    when decoded, so the files are never all in memory at once. Unsafe paths, links, encrypted members and nested archives are skipped with a reason.
    """
    label = name or (Path(source).name if not isinstance(source, (bytes, bytearray)) else "zip file")
    shared = _SharedZip(bytes(source) if isinstance(source, (bytes, bytearray)) else Path(source))
    with _open_zip(source, label) as archive:
        try:
            members = [info for info in archive.infolist() if not info.is_dir()]
        except Exception as exc:  # a damaged central directory can fail late
            raise InputError(label, "is a damaged or truncated zip file") from exc
        if not members:
            raise InputError(label, "contains no files")
        if len(members) > MAX_ARCHIVE_FILES:
            count = len(members)
            raise InputError(label, f"has {count:,} files, more than the limit of {MAX_ARCHIVE_FILES:,}")
        candidates: list[_Candidate] = []
        skipped: list[InputError] = []
        total = 0
        for info in members:
            shown = info.filename.replace("\\", "/")
            parts = [p for p in shown.split("/") if p not in ("", ".")]
            unsafe = _unsafe_path(info.filename, parts)
            if unsafe:
                skipped.append(InputError(info.filename, unsafe))
                continue
            if any(_is_junk(p) for p in parts):
                continue
            problem = _member_problem(info)
            if problem:
                skipped.append(InputError(shown, problem))
                continue
            budget = min(MAX_FILE_BYTES, MAX_ARCHIVE_BYTES - total)
            try:
                with archive.open(info) as member:
                    data = member.read(budget + 1)
            except NotImplementedError:
                skipped.append(InputError(shown, "uses a compression method that cannot be unpacked here"))
                continue
            except Exception:  # CRC mismatch, truncated data, bad compressed stream...
                skipped.append(InputError(shown, "is damaged inside the zip and could not be unpacked"))
                continue
            total += len(data)
            if len(data) > budget:
                if budget < MAX_FILE_BYTES:
                    limit = _size_text(MAX_ARCHIVE_BYTES)
                    raise InputError(label, f"unpacks to more than {limit}, the limit for one zip file")
                limit = _size_text(MAX_FILE_BYTES)
                skipped.append(InputError(shown, f"is larger than the {limit} limit for one file"))
                continue
            candidates.append((tuple(parts), shown, ZipMember(shared, info.filename)))
            del data  # read once to check it; unpacked again when decoded
    return _assemble(candidates, skipped, label)


# =============================================================================================
# Audio: the one preprocessing every sound sample goes through (16 kHz mono float32, 1-s clips)

SAMPLE_RATE = 16_000
CLIP_SAMPLES = 16_000
#: For ``st.file_uploader(type=...)``: formats libsndfile (inside the soundfile wheel) decodes here.
AUDIO_EXTENSIONS = ("wav", "flac", "ogg", "oga", "opus", "mp3")
MAX_AUDIO_SECONDS = limits.AUDIO_SECONDS
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 4_000, 384_000

_AUDIO_FORMATS = "WAV, FLAC, OGG (Vorbis or Opus) or MP3"
_AUDIO_DAMAGED = "is damaged or truncated"
# Decoded samples (frames × channels) held at once: memory stays small whatever the file declares.
_AUDIO_BLOCK_SAMPLES = 1 << 18
# A file may decode up to 1 % shorter than its header says (encoder padding, sloppy writers), not more.
_AUDIO_SHORTFALL = 0.01
_UNKNOWN_FRAMES = 1 << 62

# What a file that libsndfile refuses is, from its first bytes: (offset, magic, description, decodable elsewhere).
_NOT_AUDIO_MAGIC = (
    (0, b"\x89PNG", "a PNG image", False),
    (0, b"\xff\xd8\xff", "a JPEG image", False),
    (0, b"GIF8", "a GIF image", False),
    (0, b"%PDF", "a PDF document", False),
    (0, b"PK\x03\x04", "a zip archive", False),
    (4, b"ftyp", "an MP4/M4A file (AAC sound or video)", True),
    (0, b"\x1aE\xdf\xa3", "a WebM/Matroska file", True),
    (0, b"#!AMR", "an AMR voice recording", True),
)
# Files of a format libsndfile reads, so a refusal means they are broken.
_AUDIO_MAGIC = (b"RIFF", b"RIFX", b"RF64", b"fLaC", b"OggS", b"ID3", b"FORM", b".snd", b"caff")


def _duration_text(seconds: float) -> str:
    """A length in words: ``0.5 s``, ``42 s``, ``10 min``, ``12 min 30 s``, ``1 h 5 min``."""
    if seconds < 60:
        return f"{seconds:.1f}".removesuffix(".0") + " s"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h" + (f" {minutes} min" if minutes else "")
    return f"{minutes} min" + (f" {secs} s" if secs else "")


def _too_long(name: str, seconds: float | None, limit: float) -> InputError:
    if seconds is None:
        length = "is too long"
    else:  # rounded up, so that 600.3 s never reads "10 min long; the limit is 10 min"
        length = f"is {_duration_text(math.ceil(seconds * 10) / 10 if seconds < 60 else math.ceil(seconds))} long"
    return InputError(name, f"{length}; the limit is {_duration_text(limit)} (cut it into shorter recordings)")


def _unopenable_reason(data: bytes, code: int) -> str:
    """Why libsndfile could not open ``data`` (error ``code``), in words a student can act on."""
    for offset, magic, what, is_media in _NOT_AUDIO_MAGIC:
        if data[offset : offset + len(magic)] == magic:
            if is_media:
                return f"is {what}, whose sound cannot be decoded here (convert it to {_AUDIO_FORMATS})"
            return f"is {what}, not an audio file (use {_AUDIO_FORMATS})"
    if code == 4:  # SF_ERR_UNSUPPORTED_ENCODING: a known container with an unusual codec inside
        return f"uses a sound encoding that cannot be decoded here (convert it to {_AUDIO_FORMATS})"
    mpeg_sync = len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0
    if code != 1 or data.startswith(_AUDIO_MAGIC) or mpeg_sync:  # 1 is SF_ERR_UNRECOGNISED_FORMAT
        return _AUDIO_DAMAGED
    return f"is not an audio file that can be read here (use {_AUDIO_FORMATS})"


def _wav_is_truncated(data: bytes) -> bool:
    """True when a RIFF WAVE file's ``data`` chunk declares clearly more bytes than the file holds.

    libsndfile quietly plays what is there; a cut-off download should be refused instead. Sizes of 0
    and near 4 GB are the placeholders of recorders that never finished the header: not truncation.
    """
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return False
    pos = 12
    while pos + 8 <= len(data):
        chunk, size = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        if chunk == b"data":
            available = len(data) - (pos + 8)
            return 0 < size < 0x7FFF0000 and available < size - size * _AUDIO_SHORTFALL
        pos += 8 + size + (size & 1)
    return False


def _ogg_is_truncated(data: bytes) -> bool:
    """True when an Ogg file (Vorbis, Opus) ends inside a page: libsndfile would quietly play what is there."""
    if not data.startswith(b"OggS"):
        return False
    pos = 0
    while pos < len(data):
        if len(data) - pos < 27:
            return b"OggS".startswith(data[pos : pos + 4])
        if data[pos : pos + 4] != b"OggS":
            return False  # trailing bytes that are not pages: not ours to judge
        segments = data[pos + 26]
        table = data[pos + 27 : pos + 27 + segments]
        end = pos + 27 + segments + sum(table)
        if len(table) < segments or end > len(data):
            return True
        pos = end
    return False


def _decode_audio(data: bytes, label: str, max_seconds: float) -> np.ndarray:
    try:
        sound = sf.SoundFile(io.BytesIO(data))
    except sf.LibsndfileError as exc:
        raise InputError(label, _unopenable_reason(data, exc.code)) from None
    with sound:
        rate, channels, frames = sound.samplerate, sound.channels, sound.frames
        if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
            raise InputError(
                label,
                f"has a sample rate of {rate:,} Hz; only rates from {MIN_SAMPLE_RATE:,} to "
                f"{MAX_SAMPLE_RATE:,} Hz can be used",
            )
        if _wav_is_truncated(data) or _ogg_is_truncated(data):
            raise InputError(label, _AUDIO_DAMAGED)
        known = 0 <= frames < _UNKNOWN_FRAMES
        if known and frames == 0:
            raise InputError(label, "contains no sound (it has no audio samples)")
        limit = math.floor(max_seconds * rate)
        if known and frames > limit:
            raise _too_long(label, frames / rate, max_seconds)
        stream = None
        if rate != SAMPLE_RATE:
            stream = soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32", quality="HQ")
        block = max(1024, _AUDIO_BLOCK_SAMPLES // max(channels, 1))
        parts: list[np.ndarray] = []
        done = 0
        while True:
            chunk = sound.read(min(block, limit + 1 - done), dtype="float32", always_2d=True)
            if not len(chunk):
                break
            done += len(chunk)
            if done > limit:  # the header under-declared the length
                raise _too_long(label, None, max_seconds)
            mono = chunk[:, 0].copy() if channels == 1 else chunk.mean(axis=1, dtype=np.float32)
            if not np.isfinite(mono).all():
                raise InputError(label, "contains invalid sample values (NaN or infinity), so it is damaged")
            parts.append(stream.resample_chunk(mono) if stream else mono)
    if done == 0:
        raise InputError(label, "contains no sound (it has no audio samples)")
    if known and done < frames - frames * _AUDIO_SHORTFALL:
        raise InputError(label, _AUDIO_DAMAGED)
    if stream:
        parts.append(stream.resample_chunk(np.zeros(0, np.float32), last=True))
    wave = np.concatenate(parts).astype(np.float32, copy=False)
    return np.clip(wave, -1.0, 1.0, out=wave)


def load_audio(
    source: bytes | str | os.PathLike, name: str | None = None, *, max_seconds: float = MAX_AUDIO_SECONDS
) -> np.ndarray:
    """Decode a sound file (bytes or a path) into 1-D float32 at 16 kHz, mono, within [-1, 1], or raise InputError.

    Any format, sample rate (``MIN_SAMPLE_RATE``..``MAX_SAMPLE_RATE``), channel count and sample type
    libsndfile reads: channels are averaged, the rate is converted with soxr (high quality). Files
    longer than ``max_seconds`` are refused from their header, before decoding; the file is decoded in
    blocks, so memory stays small whatever it declares.
    """
    if not max_seconds > 0:
        raise ValueError(f"max_seconds must be positive, not {max_seconds}")
    source = _bytes_of(source)
    if isinstance(source, (bytes, bytearray)):
        label = name or "audio file"
        data = bytes(source)
    else:
        path = Path(source)
        label = name or path.name
        if path.is_dir():
            raise InputError(label, "is a folder, not an audio file")
        data = _read_path(path, label)
    if not data:
        raise InputError(label, "is empty")
    if len(data) > MAX_FILE_BYTES:
        raise _too_large(label, len(data))
    try:
        return _decode_audio(data, label, max_seconds)
    except InputError:
        raise
    except MemoryError:
        raise InputError(label, "needs more memory to decode than is available") from None
    except Exception as exc:  # libsndfile read errors (lost sync, bad blocks...) and anything odd
        raise InputError(label, _AUDIO_DAMAGED) from exc


def _centred(wave: np.ndarray) -> np.ndarray:
    out = np.zeros(CLIP_SAMPLES, np.float32)
    start = (CLIP_SAMPLES - len(wave)) // 2
    out[start : start + len(wave)] = wave
    return out


def _loudest_start(wave: np.ndarray) -> int:
    """Start of the 1-s stretch with the most energy; among equals (silence), the one nearest the centre."""
    energy = np.concatenate(([0.0], np.cumsum(np.square(wave, dtype=np.float64))))
    windows = energy[CLIP_SAMPLES:] - energy[:-CLIP_SAMPLES]
    best = windows.max()
    candidates = np.flatnonzero(windows >= best - 1e-9 * max(best, 1e-12))
    middle = (len(wave) - CLIP_SAMPLES) / 2
    return int(candidates[np.argmin(np.abs(candidates - middle))])


def clip_windows(wave: np.ndarray, *, hop_seconds: float = 1.0) -> list[np.ndarray]:
    """Teachable Machine's "extract samples": cut a 16 kHz wave into 1-s samples (``CLIP_SAMPLES`` float32 each).

    Up to 1 s: one window, the sound centred between zeros. Under 1.5 s: one window, the loudest
    second (a word slightly longer than a second stays whole). From 1.5 s: a window every
    ``hop_seconds``; if at least 0.5 s after the end of the last one is in no window, one more window
    starts where the next would have (or, for hops over 1 s, where the last one ends), zero-padded at
    its end; a shorter remainder is dropped. Silent windows are kept (a background-noise class can be
    quiet). Each window is its own array.
    """
    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim != 1:
        raise ValueError(f"clip_windows needs a 1-D wave, not shape {wave.shape}")
    if not (math.isfinite(hop_seconds) and hop_seconds * SAMPLE_RATE >= 1):
        raise ValueError(f"hop_seconds must be positive (at least one sample), not {hop_seconds}")
    n = len(wave)
    if n == 0:
        return []
    if n <= CLIP_SAMPLES:
        return [_centred(wave)]
    if n < CLIP_SAMPLES * 3 // 2:
        start = _loudest_start(wave)
        return [wave[start : start + CLIP_SAMPLES].copy()]
    hop = round(hop_seconds * SAMPLE_RATE)
    starts = range(0, n - CLIP_SAMPLES + 1, hop)
    windows = [wave[s : s + CLIP_SAMPLES].copy() for s in starts]
    if n - (starts[-1] + CLIP_SAMPLES) >= CLIP_SAMPLES // 2:  # enough sound after the last window
        tail = wave[starts[-1] + min(hop, CLIP_SAMPLES) :][:CLIP_SAMPLES]
        last = np.zeros(CLIP_SAMPLES, np.float32)
        last[: len(tail)] = tail
        windows.append(last)
    return windows


def wav_bytes(wave: np.ndarray, rate: int = SAMPLE_RATE) -> bytes:
    """16-bit PCM mono WAV bytes of a float wave in [-1, 1] (for playback, downloads, storage).

    Values are scaled by 32768 as libsndfile reads them back, so ``load_audio(wav_bytes(w))`` gives
    ``w`` again to within 1/65536 (when ``rate`` is 16 kHz); out-of-range values are clipped, NaN is 0.
    """
    wave = np.asarray(wave, dtype=np.float64)
    if wave.ndim != 1:
        raise ValueError(f"wav_bytes needs a 1-D wave, not shape {wave.shape}")
    if int(rate) != rate or rate < 1:
        raise ValueError(f"rate must be a positive whole number of Hz, not {rate}")
    pcm = np.clip(np.rint(np.nan_to_num(wave) * 32768.0), -32768, 32767).astype(np.int16)
    buf = io.BytesIO()
    sf.write(buf, pcm, int(rate), format="WAV", subtype="PCM_16")
    return buf.getvalue()


# Spectrogram pictures: YAMNet's framing (25 ms Hann windows every 10 ms, 512-point FFT, mel 125-7500 Hz).
_SPEC_WINDOW = 400
_SPEC_HOP = 160
_SPEC_FFT = 512
_MEL_LOW_HZ, _MEL_HIGH_HZ = 125.0, 7500.0
_SPEC_RANGE_DB = 80.0  # shown below each picture's loudest point
_SPEC_FLOOR_DB = -100.0  # absolute floor (0 dB: a full-scale sine): digital silence stays dark
# Viridis at 0, 0.2, 0.4, 0.6, 0.8, 1: dark purple (quiet) through blue and green to yellow (loud).
_VIRIDIS = np.array(
    [(68, 1, 84), (65, 68, 135), (42, 120, 142), (34, 168, 132), (122, 209, 81), (253, 231, 37)], np.float32
)


def _hz_to_mel(hz):
    return 2595.0 * np.log10(1.0 + np.asarray(hz, np.float64) / 700.0)


@functools.lru_cache(maxsize=8)
def _mel_matrix(bands: int) -> np.ndarray:
    """(FFT bins, bands) triangular HTK-mel filters between ``_MEL_LOW_HZ`` and ``_MEL_HIGH_HZ``."""
    freqs = np.arange(_SPEC_FFT // 2 + 1) * SAMPLE_RATE / _SPEC_FFT
    edges_mel = np.linspace(_hz_to_mel(_MEL_LOW_HZ), _hz_to_mel(_MEL_HIGH_HZ), bands + 2)
    mel = _hz_to_mel(freqs)[:, None]
    lower, centre, upper = edges_mel[:-2], edges_mel[1:-1], edges_mel[2:]
    rising = (mel - lower) / (centre - lower)
    falling = (upper - mel) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)
    weights.flags.writeable = False
    return weights


def _colour_table(anchors: np.ndarray, size: int = 256) -> np.ndarray:
    """(size, 3) uint8 colours interpolated linearly between evenly spaced ``anchors``."""
    at = np.linspace(0.0, 1.0, len(anchors))
    levels = np.linspace(0.0, 1.0, size)
    table = np.stack([np.interp(levels, at, anchors[:, c]) for c in range(3)], axis=1)
    table = np.rint(table).astype(np.uint8)
    table.flags.writeable = False
    return table


_COLOURS = _colour_table(_VIRIDIS)
_SPEC_HANN = np.hanning(_SPEC_WINDOW + 1)[:-1].astype(np.float32)  # periodic Hann
_SPEC_HANN.flags.writeable = False


def spectrogram_image(wave: np.ndarray, *, height: int = 64) -> np.ndarray:
    """A small picture of a 16 kHz wave for galleries: uint8 RGB ``(height, frames, 3)``.

    Log-mel spectrogram (``height`` bands, 125-7500 Hz; one column per 10 ms, 98 for a 1-s clip), low
    frequencies at the bottom, coloured with viridis. Brightness is relative to the picture's loudest
    point (80 dB shown) but never below an absolute floor, so digital silence stays dark.
    """
    wave = np.nan_to_num(np.asarray(wave, dtype=np.float32))
    if wave.ndim != 1:
        raise ValueError(f"spectrogram_image needs a 1-D wave, not shape {wave.shape}")
    if int(height) != height or height < 1:
        raise ValueError(f"height must be a positive whole number, not {height}")
    if len(wave) < _SPEC_WINDOW:
        wave = np.pad(wave, (0, _SPEC_WINDOW - len(wave)))
    frames = np.lib.stride_tricks.sliding_window_view(wave, _SPEC_WINDOW)[::_SPEC_HOP] * _SPEC_HANN
    power = np.square(np.abs(np.fft.rfft(frames, _SPEC_FFT))) / (_SPEC_HANN.sum() / 2) ** 2
    # einsum, not @: BLAS threads take milliseconds to wake for a matrix this small on a busy machine.
    mel = np.einsum("fb,bm->fm", power.astype(np.float32), _mel_matrix(int(height)))
    db = 10.0 * np.log10(np.maximum(mel, 10.0 ** (_SPEC_FLOOR_DB / 10.0)))
    top = float(db.max())
    bottom = max(top - _SPEC_RANGE_DB, _SPEC_FLOOR_DB)
    values = (db - bottom) / (top - bottom) if top > bottom else np.zeros_like(db)
    levels = np.rint(np.clip(values.T[::-1], 0.0, 1.0) * (len(_COLOURS) - 1)).astype(np.intp)
    return _COLOURS[levels]


def _decode_audio_one(
    name: str, source: bytes | str | os.PathLike, hop_seconds: float
) -> tuple[str, list[np.ndarray]] | InputError:
    return _guarded(name, lambda: (name, clip_windows(load_audio(source, name), hop_seconds=hop_seconds)))


def decode_audio_files(
    items: Iterable[tuple[str, bytes | str | os.PathLike]],
    *,
    workers: int = 2,
    lookahead: int = 8,
    hop_seconds: float = 1.0,
) -> Iterator[tuple[str, list[np.ndarray]] | InputError]:
    """Decode ``(name, source)`` uploads in a thread pool; yield ``(name, windows)`` or the InputError, in order.

    ``windows`` is ``clip_windows(load_audio(source, name), hop_seconds=hop_seconds)``.

    A bad file never stops the others. As in ``decode_images``, at most ``lookahead`` files are read
    ahead of the consumer (one 10-minute file is about 38 MB of windows), and closing the generator
    cancels what has not started and waits for the decodes in progress.
    """
    decoded = _decode_in_order(items, lambda name, source: _decode_audio_one(name, source, hop_seconds),
                               workers, lookahead, "tm-decode-audio")
    try:
        for _name, result in decoded:
            yield result
    finally:
        decoded.close()
