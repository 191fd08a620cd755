"""Reading images and image datasets safely: the one preprocessing every image sample goes through.

``load_image`` turns any file Pillow can decode into a plain RGB picture (EXIF orientation
applied, transparency over white, 16-bit and float pixels scaled to 8 bits) and refuses
everything else with an :class:`~tm_core.errors.InputError` a student can understand.
``fit_image`` is Teachable Machine's centre crop. ``list_folder`` and ``read_zip`` turn a
``<class>/<files>`` tree into labelled files, without trusting paths, links or sizes.
"""

from __future__ import annotations

import io
import os
import re
import stat
import zipfile
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps

from tm_core.errors import InputError

IMAGE_SIZE = 224
MAX_IMAGE_PIXELS = 40_000_000
MAX_FILE_BYTES = 50 * 1024 * 1024
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


def image_to_array(
    source: bytes | str | os.PathLike, name: str | None = None, size: int = IMAGE_SIZE
) -> np.ndarray:
    """The one preprocessing for image samples: ``fit_image(load_image(source, name), size)``."""
    return fit_image(load_image(source, name), size)


def _decode_one(name: str, source: bytes | str | os.PathLike, size: int) -> np.ndarray | InputError:
    try:
        return image_to_array(source, name, size)
    except InputError as err:
        return err
    except Exception as exc:  # one odd file must never stop the others
        return InputError(name, f"could not be decoded ({type(exc).__name__}: {exc})")


def decode_images(
    sources: Iterable[tuple[str, bytes | str | os.PathLike]],
    size: int = IMAGE_SIZE,
    workers: int = 2,
    lookahead: int = 64,
) -> Iterator[tuple[str, np.ndarray | InputError]]:
    """Decode ``(name, source)`` pairs in a thread pool; yield ``(name, array or InputError)`` in input order.

    At most ``lookahead`` items are read from ``sources`` ahead of the consumer, and decoding keeps
    going while the consumer works. Closing the generator cancels what has not started and waits
    for the (at most ``workers``) decodes in progress, so no thread is left running.
    """
    if workers < 1 or lookahead < 1:
        raise ValueError("workers and lookahead must be at least 1")
    items = iter(sources)
    pending: deque[tuple[str, Future[np.ndarray | InputError]]] = deque()
    executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tm-decode")
    try:
        exhausted = False
        while True:
            while not exhausted and len(pending) < lookahead:
                try:
                    name, source = next(items)
                except StopIteration:
                    exhausted = True
                else:
                    pending.append((name, executor.submit(_decode_one, name, source, size)))
            if not pending:
                return
            name, future = pending.popleft()
            yield name, future.result()
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


# ---------------------------------------------------------------------------------------------
# Datasets: <class>/<files> in a folder or a zip


@dataclass(frozen=True)
class LabelledFile:
    """One sample file: its class, the path the user knows it by, and its bytes or location."""

    class_name: str
    name: str
    source: bytes | Path


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


_Candidate = tuple[tuple[str, ...], str, bytes | Path]


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

    Member bytes are read into memory with hard caps: ``MAX_FILE_BYTES`` per member (bigger ones are
    skipped) and ``MAX_ARCHIVE_BYTES`` in all (over it, the whole zip is refused), whatever the headers
    claim. Unsafe paths, links, encrypted members and nested archives are skipped with a reason.
    """
    label = name or (Path(source).name if not isinstance(source, (bytes, bytearray)) else "zip file")
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
            candidates.append((tuple(parts), shown, data))
    return _assemble(candidates, skipped, label)
