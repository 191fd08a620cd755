"""Datasets: ``<class>/<files>`` in a folder or a zip, listed without trusting paths, links or sizes."""

from __future__ import annotations

import io
import os
import re
import stat
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tm_core import bounded
from tm_core.errors import InputError
from tm_core.i18n import N_, _
from tm_core.media import files
from tm_core.media.files import ZipMember, _SharedZip, _size_text, _too_large

MAX_ARCHIVE_FILES = 10_000
MAX_ARCHIVE_BYTES = 1024**3
_MAX_ARCHIVE_ENTRIES = 50_000  # files and folder entries: checked before the zip's directory is parsed
_ARCHIVE_EXTENSIONS = frozenset({".zip", ".tar", ".tgz", ".gz", ".bz2", ".xz", ".7z", ".rar"})
_JUNK_FILES = frozenset({"thumbs.db", "desktop.ini", "__macosx"})


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


_NOT_IN_CLASS = N_("is not inside a class folder, so it was left out (put it in the folder of its class)")
_NESTED_ARCHIVE = N_("is an archive inside the dataset; unpack it first, it was left out")
_NO_CLASSES = N_(
    "has no class folders: put each class's images in a folder named after the class (for example rock/1.jpg)"
)
_UTF8_FLAG = 0x800  # a zip member's general-purpose flag: its name is UTF-8


def nfc(text: str) -> str:
    """``text`` in Unicode's composed form (NFC): Hangul from a Mac (file and folder names are stored
    decomposed there, 바 as ㅂ + ㅏ) then equals the same word typed elsewhere."""
    return unicodedata.normalize("NFC", text)


def _only_hangul_beyond_ascii(text: str) -> bool:
    return all(ord(c) < 0x80 or "\uac00" <= c <= "\ud7a3" or "\u1100" <= c <= "\u11ff" or "\u3130" <= c <= "\u318f"
               for c in text)


def member_name(info: zipfile.ZipInfo) -> str:
    """The name of zip member ``info`` as its maker wrote it, in NFC.

    A zip member without the UTF-8 flag has its name in the maker's code page, which ``zipfile``
    reads as cp437: Korean names from Windows' built-in zip (cp949) or from tools that write UTF-8
    without setting the flag would show as ``¿╣╝÷``-like garble. Such a name is turned back into its
    bytes and read as UTF-8, else as cp949 (when that gives Hangul); anything else stays as it was read.
    """
    name = info.filename
    if not info.flag_bits & _UTF8_FLAG and not name.isascii():
        try:
            raw = name.encode("cp437")
        except UnicodeEncodeError:  # not a cp437 reading (zipfile was given another encoding)
            raw = None
        if raw is not None:
            try:
                name = raw.decode("utf-8")
            except UnicodeDecodeError:
                try:
                    korean = raw.decode("cp949")
                except UnicodeDecodeError:
                    pass
                else:
                    if _only_hangul_beyond_ascii(korean):
                        name = korean
    return nfc(name)


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
            skipped.append(InputError(name, _(_NOT_IN_CLASS)))
        else:  # a class named by a Mac folder (decomposed Hangul) is the class typed elsewhere
            cls = nfc(parts[0])
            groups.setdefault(cls, []).append(LabelledFile(cls, name, source))
    if not groups:
        raise InputError(where, _(_NO_CLASSES))
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
            return _("is a broken link")
        if not _inside(target, real_root):
            return _("is a link to a file outside the folder, so it was not followed")
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        return _("could not be read ({why})", why=exc.strerror or exc)
    if not stat.S_ISREG(mode):
        return _("is not a regular file")
    if _is_archive(path.name):
        return _(_NESTED_ARCHIVE)
    return None


def list_folder(root: str | os.PathLike) -> TreeListing:
    """List ``root/<class>/<files>`` (files may sit deeper inside a class folder).

    Every regular file is listed (decoding refuses non-images later); hidden files and OS litter are
    ignored; links to folders and links leading outside ``root`` are skipped with a reason.
    """
    where = os.fspath(root)
    base = Path(root)
    if not base.exists():
        raise InputError(where, _("does not exist"))
    if not base.is_dir():
        raise InputError(where, _("is not a folder"))
    real_root = os.path.realpath(base)
    candidates: list[_Candidate] = []
    skipped: list[InputError] = []

    def on_error(exc: OSError) -> None:
        rel = Path(exc.filename).relative_to(base).as_posix() if exc.filename else where
        skipped.append(InputError(rel, _("could not be opened ({why})", why=exc.strerror or exc)))

    for dirpath, dirnames, filenames in os.walk(base, onerror=on_error):
        here = Path(dirpath)
        rel_dir = here.relative_to(base).parts
        kept: list[str] = []
        for dirname in sorted(dirnames, key=_natural_key):
            if _is_junk(dirname):
                continue
            if (here / dirname).is_symlink():
                reason = _("is a link to a folder; linked folders are not followed")
                skipped.append(InputError("/".join((*rel_dir, dirname)), reason))
            else:
                kept.append(dirname)
        dirnames[:] = kept
        for filename in filenames:
            if _is_junk(filename):
                continue
            parts = tuple(nfc(p) for p in (*rel_dir, filename))
            problem = _file_problem(here / filename, real_root)
            if problem:
                skipped.append(InputError("/".join(parts), problem))
            else:
                candidates.append((parts, "/".join(parts), here / filename))
    return _assemble(candidates, skipped, where)


def _unsafe_path(raw: str, parts: list[str]) -> str | None:
    """Why a member's path cannot be trusted (absolute, drive letter, '..'), or None."""
    if raw.startswith(("/", "\\")):
        return _("has an absolute path, so it was left out")
    if re.match(r"[A-Za-z]:", raw):
        return _("has a drive letter in its path, so it was left out")
    if ".." in parts:
        return _("has '..' in its path (it points outside the archive), so it was left out")
    return None


def _member_problem(info: zipfile.ZipInfo) -> str | None:
    """Why a zip member cannot be a sample, judged from its header, or None if it may be."""
    if stat.S_ISLNK(info.external_attr >> 16):
        return _("is a symbolic link, so it was left out")
    if info.flag_bits & 0x1:
        return _("is password-protected, so it was left out")
    if _is_archive(info.filename):
        return _(_NESTED_ARCHIVE)
    if info.file_size > files.MAX_FILE_BYTES:
        return _too_large(info.filename, info.file_size).reason
    return None


def _open_zip(source: bytes | str | os.PathLike, label: str) -> zipfile.ZipFile:
    if isinstance(source, (bytes, bytearray)):
        if not source:
            raise InputError(label, _("is empty"))
        head, target = bytes(source[:2]), io.BytesIO(source)
    else:
        path = Path(source)
        try:
            if not path.is_file():
                raise InputError(label, _("is not a file") if path.exists() else _("does not exist"))
            if path.stat().st_size == 0:
                raise InputError(label, _("is empty"))
            with path.open("rb") as f:
                head = f.read(2)
        except OSError as exc:
            raise InputError(label, _("could not be read ({why})", why=exc.strerror or exc)) from exc
        target = path
    reason = _("is a damaged or truncated zip file") if head == b"PK" else _("is not a zip file")
    try:  # the entry count from the end record and a walk of the directory, before ZipFile parses it all
        if isinstance(target, Path):
            with target.open("rb") as f:
                bounded.zip_entries(f, _MAX_ARCHIVE_ENTRIES)
        else:
            bounded.zip_entries(target, _MAX_ARCHIVE_ENTRIES)
    except bounded.TooMany:
        raise InputError(label, _("has more than {entries} files and folders, more than the limit of {limit} files",
                                  entries=f"{_MAX_ARCHIVE_ENTRIES:,}", limit=f"{MAX_ARCHIVE_FILES:,}")) from None
    except bounded.Refused:
        raise InputError(label, reason) from None
    except OSError as exc:
        raise InputError(label, _("could not be read ({why})", why=exc.strerror or exc)) from exc
    try:
        return zipfile.ZipFile(target)
    except Exception as exc:  # zipfile raises BadZipFile, but also OSError/ValueError on crafted files
        raise InputError(label, reason) from exc


def read_zip(source: bytes | str | os.PathLike, name: str | None = None) -> TreeListing:
    r"""List a zip of ``<class>/<files>`` (optionally inside one top folder) without extracting to disk.

    Each member is unpacked once to check it, with hard caps: ``files.MAX_FILE_BYTES`` per member (bigger
    ones are skipped) and ``MAX_ARCHIVE_BYTES`` in all (over it, the whole zip is refused), whatever
    the headers claim; the listing's sources are :class:`ZipMember`\ s, unpacked again one at a time
    when decoded, so the files are never all in memory at once. Unsafe paths, links, encrypted members and nested archives are skipped with a reason.
    Names are read as their maker wrote them (Korean from Windows' zip too: :func:`member_name`), in NFC.
    """
    label = name or (Path(source).name if not isinstance(source, (bytes, bytearray)) else _("zip file"))
    shared = _SharedZip(bytes(source) if isinstance(source, (bytes, bytearray)) else Path(source))
    with _open_zip(source, label) as archive:
        try:
            members = [info for info in archive.infolist() if not info.is_dir()]
        except Exception as exc:  # a damaged central directory can fail late
            raise InputError(label, _("is a damaged or truncated zip file")) from exc
        if not members:
            raise InputError(label, _("contains no files"))
        if len(members) > MAX_ARCHIVE_FILES:
            raise InputError(label, _("has {count} files, more than the limit of {limit}", count=format(len(members), ","),
                                      limit=f"{MAX_ARCHIVE_FILES:,}"))
        candidates: list[_Candidate] = []
        skipped: list[InputError] = []
        total = 0
        for info in members:
            readable = member_name(info)
            shown = readable.replace("\\", "/")
            parts = [p for p in shown.split("/") if p not in ("", ".")]
            unsafe = _unsafe_path(readable, parts)
            if unsafe:
                skipped.append(InputError(readable, unsafe))
                continue
            if any(_is_junk(p) for p in parts):
                continue
            problem = _member_problem(info)
            if problem:
                skipped.append(InputError(shown, problem))
                continue
            budget = min(files.MAX_FILE_BYTES, MAX_ARCHIVE_BYTES - total)
            try:
                with archive.open(info) as member:
                    data = member.read(budget + 1)
            except NotImplementedError:
                skipped.append(InputError(shown, _("uses a compression method that cannot be unpacked here")))
                continue
            except Exception:  # noqa: BLE001 - CRC mismatch, truncated data, bad compressed stream...
                skipped.append(InputError(shown, _("is damaged inside the zip and could not be unpacked")))
                continue
            total += len(data)
            if len(data) > budget:
                if budget < files.MAX_FILE_BYTES:
                    limit = _size_text(MAX_ARCHIVE_BYTES)
                    raise InputError(label, _("unpacks to more than {limit}, the limit for one zip file", limit=limit))
                limit = _size_text(files.MAX_FILE_BYTES)
                skipped.append(InputError(shown, _("is larger than the {limit} limit for one file", limit=limit)))
                continue
            candidates.append((tuple(parts), shown, ZipMember(shared, info.filename)))
            del data  # read once to check it; unpacked again when decoded
    return _assemble(candidates, skipped, label)

