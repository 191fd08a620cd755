"""Reading untrusted containers within bounds, before anything is decoded in full.

A zip's entry count is read from its end-of-central-directory record and its central directory is
walked header by header (no objects made) up to a limit, so a zip listing millions of entries is
refused before ``zipfile.ZipFile`` parses them all. JSON is checked for size and number of objects
and lists (counted in its bytes) before ``json.loads`` builds anything, and for depth while and after
parsing (a ``RecursionError`` never escapes). An ``.npz``'s arrays are described from their ``.npy``
headers (shape, dtype) without loading their data.

Every function raises :class:`Refused` with a reason in plain words; callers turn it into their own
error (``InputError``).
"""

from __future__ import annotations

import io
import json
import struct
import zipfile

import numpy as np

from tm_core.i18n import _


class Refused(ValueError):
    """Why a container is not read (a reason in plain words)."""


class TooMany(Refused):
    """A zip with more entries than allowed."""


# --- zip -------------------------------------------------------------------------------------------

_CENTRAL = struct.Struct("<4s42x")  # a central directory header: signature, then 42 bytes we step over
_CENTRAL_SIZE = 46
_ZIP64_TAIL = 56 + 20  # the zip64 end record and its locator, between the directory and the end record


def zip_entries(fp, limit: int) -> int:
    """How many entries the zip in the seekable binary file ``fp`` has, counted without parsing them.

    The end record's count is checked first, then the central directory is walked one fixed-size
    header at a time (at most ``limit + 1`` of them: ``zipfile`` parses the directory by its byte
    size, not by the count the end record claims). Raises :class:`Refused` over ``limit`` or when
    the file is not a zip; ``fp`` is left at its start.
    """
    try:
        end = zipfile._EndRecData(fp)  # the standard library's own reader of the end record (and zip64's)
    except (OSError, struct.error, ValueError) as exc:
        raise Refused(_("it is not a zip file, or it is damaged")) from exc
    if not end:
        raise Refused(_("it is not a zip file, or it is damaged"))
    declared, size, location = end[zipfile._ECD_ENTRIES_TOTAL], end[zipfile._ECD_SIZE], end[zipfile._ECD_LOCATION]
    if declared > limit:
        raise TooMany(_("it has {n} files inside, more than the limit of {limit}", n=f"{declared:,}", limit=f"{limit:,}"))
    start = location - size - (_ZIP64_TAIL if end[zipfile._ECD_SIGNATURE] == zipfile.stringEndArchive64 else 0)
    if start < 0 or size < 0:
        raise Refused(_("it is a damaged zip file"))
    count, pos = 0, 0
    while pos < size:
        count += 1
        if count > limit:
            raise TooMany(_("it has more than {n} files inside", n=f"{limit:,}"))
        fp.seek(start + pos)
        head = fp.read(_CENTRAL_SIZE)
        if len(head) < _CENTRAL_SIZE or head[:4] != zipfile.stringCentralDir:
            raise Refused(_("it is a damaged zip file"))
        name, extra, comment = struct.unpack_from("<HHH", head, 28)
        pos += _CENTRAL_SIZE + name + extra + comment
    fp.seek(0)
    return count


def open_zip(source, limit: int) -> zipfile.ZipFile:
    """``zipfile.ZipFile(source)`` once :func:`zip_entries` has checked its entry count (bytes, a
    path or a seekable binary file)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        source = io.BytesIO(source)
    if hasattr(source, "read"):
        zip_entries(source, limit)
        target = source
    else:
        with open(source, "rb") as f:
            zip_entries(f, limit)
        target = source
    try:
        return zipfile.ZipFile(target)
    except Exception as exc:
        raise Refused(_("it is a damaged zip file")) from exc


# --- JSON ------------------------------------------------------------------------------------------

def load_json(data: bytes, *, max_bytes: int, max_depth: int, max_containers: int):
    """``json.loads(data)`` within bounds: its size, its number of objects and lists (counted from the
    bytes before parsing, brackets inside strings included: a limit far above what is legitimate),
    and its nesting depth (the parser's own recursion limit while parsing, then a walk without
    recursion). Any JSON error is a :class:`Refused`."""
    if len(data) > max_bytes:
        raise Refused(_("it is larger than {n} bytes", n=f"{max_bytes:,}"))
    containers = data.count(b"{") + data.count(b"[")
    if containers > max_containers:
        raise Refused(_("it holds {n} objects and lists, more than the {limit} it can", n=f"{containers:,}",
                        limit=f"{max_containers:,}"))
    try:
        value = json.loads(data, parse_constant=_no_constant)
    except RecursionError:
        raise Refused(_("it is nested more than {n} levels deep", n=max_depth)) from None
    except (ValueError, TypeError) as exc:  # JSONDecodeError, UnicodeDecodeError
        raise Refused(_("it is not valid JSON ({why})", why=str(exc)[:200])) from None
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > max_depth:
            raise Refused(_("it is nested more than {n} levels deep", n=max_depth))
        children = item.values() if isinstance(item, dict) else item
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return value


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


# --- npz -------------------------------------------------------------------------------------------

def npz_headers(blob: bytes, limit: int = 1000) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """The arrays in an ``.npz`` (name → (shape, dtype)), read from their ``.npy`` headers only.

    Refused: not an npz, more than ``limit`` arrays, a member that is not an ``.npy``, an object
    (pickled) dtype, or a header whose data would not fit in the member.
    """
    try:
        z = open_zip(blob, limit)
    except Refused as exc:
        raise Refused(_("it is not a NumPy archive ({why})", why=exc)) from None
    out = {}
    with z:
        for info in z.infolist():
            name = info.filename.removesuffix(".npy")
            if not info.filename.endswith(".npy") or info.flag_bits & 0x1:
                raise Refused(_("it holds {name}, which is not a NumPy array", name=repr(info.filename)))
            try:
                with z.open(info) as f:
                    major, _minor = np.lib.format.read_magic(f)
                    read = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
                    shape, _fortran, dtype = read(f, max_header_size=10_000)
                    header = f.tell()
            except Exception as exc:
                raise Refused(_("its array {name} has a damaged header", name=repr(name))) from exc
            if dtype.hasobject or not dtype.itemsize:
                raise Refused(_("its array {name} holds {dtype}, not numbers", name=repr(name), dtype=dtype))
            if header + int(np.prod(shape, dtype=np.float64)) * dtype.itemsize != info.file_size:
                raise Refused(_("its array {name} does not hold the data its header declares", name=repr(name)))
            out[name] = (tuple(int(n) for n in shape), dtype)
    return out


def load_npz(blob: bytes, want: dict[str, tuple[tuple[int, ...], str]]) -> dict[str, np.ndarray]:
    """The arrays ``want`` names (name → (shape, dtype kind)) from an ``.npz``, each checked by its
    header before its data is read; a dimension of ``-1`` in a wanted shape matches any size."""
    headers = npz_headers(blob)
    for name, (shape, kinds) in want.items():
        if name not in headers:
            raise Refused(_("it has no array {name}", name=repr(name)))
        have, dtype = headers[name]
        fits = len(have) == len(shape) and all(w in (-1, h) for w, h in zip(shape, have, strict=True))
        if not fits or dtype.kind not in kinds:
            raise Refused(_("its array {name} is {dtype} of shape {have}, not of shape {shape}", name=repr(name),
                            dtype=dtype, have=have, shape=shape))
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
            return {name: npz[name] for name in want}
    except Exception as exc:
        raise Refused(_("it cannot be read ({why})", why=type(exc).__name__)) from exc
