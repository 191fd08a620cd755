"""The server's copy of one project as a folder, written so that a crash, a power loss or a full disk
at any instant leaves the last completed save (see :mod:`tm_core.store` for the layout and the rules).

Every write of a save goes through :func:`_write` (temporary name, fsync, rename): the fault tests
make it fail at each call. :class:`Members` shows a folder to the project-file reader with the
project file's member names.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import secrets
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tm_core import i18n
from tm_core.i18n import _
from tm_core.project_file import VERSION, ProjectFile, contents, manifest_text

_log = logging.getLogger(__name__)
CURRENT = "current"
BLOBS = "blobs"
MANIFEST = "manifest.json"  # the manifest's name inside a project file (and in folders of the old layout)
PARTIAL = ".partial"  # ends the temporary name of a file being written (renamed into place when complete)
_BLOB = re.compile(rf"{BLOBS}/[0-9a-f]{{32}}\.npz")
MAX_BLOB_LINE = 4 * 1024**2  # the blob line of ``current``: a few names per run, at most 1,000 runs


class DamagedCopy(Exception):
    """The folder cannot be read as a project (the store moves it aside)."""


def _write(target: Path, data: bytes) -> None:
    """Put ``data`` at ``target`` whole or not at all: a temporary name (0600), fsync, rename. Every
    write of a save goes through here (the fault tests make it fail)."""
    partial = target.with_name(f"{target.name}.{secrets.token_hex(4)}{PARTIAL}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        with open(fd, "wb", closefd=True) as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, target)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _mkdir(path: Path, made: set[Path]) -> None:
    """``path`` and its missing parents (0700); remembers their parents, to be fsynced."""
    if path.is_dir():
        return
    _mkdir(path.parent, made)
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
    made.add(path.parent)


def _files(folder: Path) -> dict[str, str]:
    """Every file in ``folder`` (relative path → path), symbolic links not followed nor listed."""
    found, todo = {}, [(str(folder), "")]
    while todo:
        where, prefix = todo.pop()
        with os.scandir(where) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    todo.append((entry.path, f"{prefix}{entry.name}/"))
                elif entry.is_file(follow_symlinks=False):
                    found[prefix + entry.name] = entry.path
    return found


class Members:
    """A project folder as ``project_file.open_members`` reads it: ZipFile's ``infolist()`` and ``open()``,
    with the project file's member names. The manifest is ``manifest`` from byte ``skip`` on (``current``
    after its first two lines, or the old layout's ``manifest.json``); ``blobs`` maps the manifest's head
    and embedding names (``runs/0/head.npz``) to the blobs holding them, so two runs with the same head
    (the same training twice) share one file on disk yet stay two members for the reader."""

    def __init__(self, folder: Path, manifest: Path, skip: int, blobs: dict[str, str] | None = None):
        files = _files(folder)
        self._paths = {rel: full for rel, full in files.items()
                       if not rel.endswith(PARTIAL) and rel not in (CURRENT, MANIFEST)
                       and (blobs is None or not rel.startswith(f"{BLOBS}/"))}
        for name, blob in (blobs or {}).items():
            if blob in files:  # a missing one is refused by the reader, naming the member
                self._paths[name] = files[blob]
        self._paths[MANIFEST], self._skip = str(manifest), skip
        self._infos = [zipfile.ZipInfo(rel) for rel in self._paths]
        for info in self._infos:
            info.file_size = os.stat(self._paths[info.filename]).st_size - (skip if info.filename == MANIFEST else 0)

    def infolist(self) -> list[zipfile.ZipInfo]:
        return self._infos

    def open(self, info: zipfile.ZipInfo):
        f = open(self._paths[info.filename], "rb")  # noqa: SIM115 - the reader closes it
        if info.filename == MANIFEST:
            f.seek(self._skip)
        return f


def read_revision(folder: Path) -> str | None:
    """The revision ``current`` names; for a folder of the old layout, one made from its manifest's
    stat; None when the folder holds no project."""
    with contextlib.suppress(FileNotFoundError), (folder / CURRENT).open("rb") as f:
        return f.read(64).decode("ascii", "replace").partition("\n")[0].strip()
    with contextlib.suppress(FileNotFoundError):
        st = (folder / MANIFEST).stat()
        return f"old-{st.st_ino:x}-{st.st_mtime_ns:x}-{st.st_size:x}"
    return None


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return -1


def write_folder(pf: ProjectFile, folder: Path) -> str:
    """Save ``pf`` in ``folder`` crash-safely (see the module's docstring); returns the new revision.
    Call it holding the folder's exclusive lock. OSError (a full or read-only disk) leaves the last
    completed save as it was."""
    manifest, members = contents(pf)
    on_disk = _files(folder) if folder.is_dir() else {}
    made: set[Path] = set()
    _mkdir(folder, made)
    named, touched, new = set(), set(), []
    renamed: dict[str, str] = {}
    for path, blob in members.items():
        if path.startswith("samples/"):  # named by the sample's id: a hash of its content
            name = path
        else:
            data = blob()
            name = f"{BLOBS}/{hashlib.sha256(data).hexdigest()[:32]}.{path.rpartition('.')[2]}"
            renamed[path], blob = name, (lambda data=data: data)
        named.add(name)
        if name not in on_disk or _size(on_disk[name]) != len(blob()):  # new, or cut since (repaired)
            target = folder / name
            _mkdir(target.parent, made)
            new.append((target, blob))
            touched.add(target.parent)
    if len(new) > 1:  # in threads: the file system commits their fsyncs together (10 times faster)
        with ThreadPoolExecutor(min(8, len(new))) as pool:
            list(pool.map(i18n.bound(lambda item: _write(item[0], item[1]())), new))
    elif new:
        _write(new[0][0], new[0][1]())
    for d in touched | made:
        _fsync_dir(d)
    revision = f"{time.time_ns():016x}"[-16:] + secrets.token_hex(4)
    _write(folder / CURRENT, f"{revision}\n{json.dumps(renamed)}\n{manifest_text(manifest, indent=None)}".encode())
    _fsync_dir(folder)  # the save has happened
    keep = named | {CURRENT}
    emptied = set()
    try:
        for rel, full in on_disk.items():
            if rel not in keep:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(full)
                emptied.update(tuple(rel.split("/")[:i]) for i in range(1, rel.count("/") + 1))
        for parts in sorted(emptied, key=len, reverse=True):  # folders left empty (a class removed, the old layout)
            with contextlib.suppress(OSError):
                os.rmdir(folder.joinpath(*parts))
    except OSError as e:  # the save is complete: what is left over goes at the next one
        _log.warning("could not remove old files of a saved project: %s", e)
    return revision


def blob_names(current: Path, skip: int) -> dict[str, str]:
    """The second line of ``current``: which blob holds each head and set of embeddings."""
    with current.open("rb") as f:
        f.seek(skip)
        line = f.readline(MAX_BLOB_LINE + 1)
    try:
        blobs = json.loads(line)
    except ValueError:
        blobs = None
    if len(line) > MAX_BLOB_LINE or not line.endswith(b"\n") or not isinstance(blobs, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and _BLOB.fullmatch(v) for k, v in blobs.items()):
        raise DamagedCopy(_("its list of files is damaged"))
    if json.dumps(blobs).encode() != line[:-1]:  # the manifest starts right after it: its length must be exact
        raise DamagedCopy(_("its list of files is damaged"))
    return blobs


def newer_format(manifest: Path, skip: int) -> bool:
    """Whether ``manifest`` was written by a newer version of the format than this one reads."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        version = json.loads(manifest.read_bytes()[skip:]).get("version")
        return isinstance(version, int) and not isinstance(version, bool) and version > VERSION
    return False
