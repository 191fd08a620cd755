"""Reading a file a student gave, safely: sizes in words, whole files capped, zip members unpacked when asked."""

from __future__ import annotations

import io
import stat
import threading
import zipfile
from pathlib import Path

from tm_core import limits
from tm_core.errors import InputError
from tm_core.i18n import N_, _

MAX_FILE_BYTES = limits.FILE_BYTES  # one file (TM_MAX_FILE_MB); read at call time, so tests may change it here


def _size_text(n: float) -> str:
    """Byte count in words: ``52.3 MB``, ``50 MB``, ``800 bytes``."""
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if n >= scale:
            return f"{n / scale:.1f}".removesuffix(".0") + f" {unit}"
    return _("{n} bytes", n=int(n))


def _too_large(name: str, size: int) -> InputError:
    return InputError(name, _("is too large ({size}; the limit is {limit})", size=_size_text(size),
                              limit=_size_text(MAX_FILE_BYTES)))



IMAGE_FILE = N_("image file")
AUDIO_FILE = N_("audio file")


def _read_path(path: Path, name: str, what: str = IMAGE_FILE) -> bytes:
    """Read a whole regular file, never more than ``MAX_FILE_BYTES + 1`` bytes."""
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise InputError(name, _("is a folder, not an {what}", what=_(what)))
        if not stat.S_ISREG(info.st_mode):
            raise InputError(name, _("is not a regular file"))
        if info.st_size > MAX_FILE_BYTES:
            raise _too_large(name, info.st_size)
        with path.open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise InputError(name, _("does not exist")) from None
    except PermissionError:
        raise InputError(name, _("cannot be opened (permission denied)")) from None
    except OSError as exc:
        raise InputError(name, _("could not be read ({why})", why=exc.strerror or exc)) from exc
    return data



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


def read_source(source, name: str | None, what: str, unnamed: str | None = None) -> tuple[str, bytes]:
    """``(label, bytes)`` of a file to decode (bytes, a path or a zip member), named ``name``, else after
    the path, else ``unnamed`` (default ``what``; both marked with ``N_``, shown translated); ``InputError``
    when it is a folder (not an ``what``), empty or over ``MAX_FILE_BYTES``."""
    source = _bytes_of(source)
    if isinstance(source, (bytes, bytearray)):
        label, data = name or _(unnamed or what), bytes(source)
    else:
        path = Path(source)
        label = name or path.name
        data = _read_path(path, label, what)
    if not data:
        raise InputError(label, _("is empty"))
    if len(data) > MAX_FILE_BYTES:
        raise _too_large(label, len(data))
    return label, data
