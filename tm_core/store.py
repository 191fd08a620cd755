"""Projects kept on the server as the student works: a reload, a dropped connection, a crash or a
full disk loses nothing.

Each project is a folder under ``TM_DATA_DIR`` (default: ``teachable-studio/projects`` in the user's
cache folder), found only through an unguessable token (``secrets.token_urlsafe``: 192 random bits)
in the student's page address. The folder's name is a hash of the token, so even a listing of the
folder gives nobody a way in. A token that names no project is never adopted: the student gets a new one.

A folder holds a project file's members (``tm_core.project_file``), each under a name fixed by its
content and never overwritten with other content (a file found cut is written again, whole)::

    current                       the last completed save: its revision on the first line, then which
                                  blob each of the manifest's heads and embeddings is, then the manifest
                                  as a project file has it (naming only members already complete on disk)
    samples/<class uid>/<id>.png  a sample (its id is a hash of its content), .wav for audio
    blobs/<sha256>.npz            heads, embeddings, fine-tuned weights, named by a hash of their bytes

A save writes each missing member (a temporary name, fsync, rename; their folders fsynced), then
``current`` the same way: renaming it into place is the instant the save happens; members no longer
named are removed only after it. So whenever the process dies, the power
goes or the disk fills, the folder opens as the last completed save. Folders of the layout before
(``manifest.json`` beside ``samples/``, ``runs/``, ``features/``) open, and their next save converts them.

Several server processes can share ``TM_DATA_DIR``: every project has a lock file beside its folder
(``fcntl.flock``: shared to read, exclusive to write). Nothing about what is on disk is remembered
between calls. A copy that cannot be opened is moved aside (``<folder>.damaged-<time>``), never
overwritten. Folders and files are readable by the server's user only (0700, 0600).

Projects not changed or opened for ``TM_DATA_MAX_AGE_DAYS`` days (default 14) are removed.

A teacher's **copy** (:class:`CopyStore`, in ``<root>/copies``) is a read-only snapshot of a project in the
same folder format, behind a token of its own (the ``?copy=`` link). Opening the link never writes to it:
every student gets a new project of their own, saved under a new token, started from the copy. Beside each
copy, ``<folder>.owner`` holds a hash of the teacher's project token (never the token), so only the teacher
can list or withdraw the copies of their project. Copies expire as projects do (opening one keeps it).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from tm_core import limits
from tm_core.errors import InputError
from tm_core.i18n import N_, _
from tm_core.project_file import ProjectFile, open_members
from tm_core.store_folder import (
    CURRENT,
    MANIFEST,
    DamagedCopy,
    Members,
    blob_names,
    newer_format,
    read_revision,
    write_folder,
)

_log = logging.getLogger(__name__)
TOKEN = re.compile(r"[A-Za-z0-9_-]{32}")
REVISION = re.compile(r"[0-9a-f]{24}")
DAMAGED = ".damaged-"  # <folder>.damaged-<time>: a copy that could not be opened, kept for the teacher
_GONE = ".deleting-"  # <folder>.deleting-<random>: being deleted (renamed first, so a crash leaves no half)
_FOLDER = re.compile(r"[0-9a-f]{32}")
NAME = N_("the project saved on this server")  # shown translated: _(NAME)
COPIES = "copies"  # <root>/copies: the teachers' read-only copies, a store of their own
COPY_NAME = N_("the shared copy")


class DamagedProject(InputError):
    """The server's copy cannot be opened; it was moved aside (``aside``), not deleted or overwritten."""

    def __init__(self, reason: str, aside: Path | None):
        self.aside, self.why = aside, reason
        if aside:
            why = _("{reason}; it was kept aside on the server as {folder} (a teacher can send it to the developers)",
                    reason=reason, folder=aside.name)
        else:
            why = _("{reason}; it was left where it is", reason=reason)
        super().__init__(_(NAME), why)


def default_root() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "teachable-studio" / "projects"


def from_env() -> ProjectStore:
    """The store ``TM_DATA_DIR`` names (default: :func:`default_root`)."""
    return ProjectStore(os.environ.get("TM_DATA_DIR") or None)


def new_token() -> str:
    return secrets.token_urlsafe(24)  # 32 characters of [A-Za-z0-9_-]


class ProjectStore:
    """The projects of one server: save, load, update and delete by token, and remove stale ones."""

    def __init__(self, root: Path | str | None = None, max_age_days: float | None = None):
        self.root = Path(root) if root else default_root()
        self.max_age = (max_age_days if max_age_days is not None else limits.read("TM_DATA_MAX_AGE_DAYS", 14)) * 86400
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._swept = 0.0
        with contextlib.suppress(OSError):  # made here, so it is 0700 (a read-only disk: loads still work)
            self.root.parent.mkdir(parents=True, exist_ok=True)
            self.root.mkdir(mode=0o700)

    def folder(self, token: str) -> Path:
        """Where ``token``'s project is kept; ``InputError`` for anything that is not a token."""
        if not isinstance(token, str) or not TOKEN.fullmatch(token):
            raise InputError(_("project link"), _("is not a valid project link"))
        return self.root / hashlib.sha256(token.encode()).hexdigest()[:32]

    @contextlib.contextmanager
    def _locked(self, folder: Path, exclusive: bool) -> Iterator[None]:
        """This thread's and this folder's lock (``flock`` on ``<folder>.lock``: other processes too)."""
        with self._guard:
            lock = self._locks.setdefault(folder.name, threading.Lock())
        with lock:
            path = folder.with_name(folder.name + ".lock")
            while True:
                try:  # a reader never creates it: no lock file, no project saved by this version yet
                    fd = os.open(path, (os.O_RDWR | os.O_CREAT if exclusive else os.O_RDONLY) | os.O_CLOEXEC, 0o600)
                except FileNotFoundError:
                    if exclusive:  # the data folder itself is gone: made again
                        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
                        continue
                    fd = None
                    break
                fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
                try:  # the lock file may have been removed (delete, remove_stale) while we waited
                    held, there = os.fstat(fd), os.stat(path)
                    if (held.st_dev, held.st_ino) == (there.st_dev, there.st_ino):
                        break
                except FileNotFoundError:
                    pass
                os.close(fd)
            try:
                yield
            finally:
                if fd is not None:
                    os.close(fd)

    def exists(self, token: str) -> bool:
        with contextlib.suppress(InputError, OSError):
            return self.revision(token) is not None
        return False

    def revision(self, token: str) -> str | None:
        """The revision of ``token``'s copy (it changes with every completed save); None when there is none."""
        return read_revision(self.folder(token))

    def load(self, token: str) -> ProjectFile:
        """``token``'s project, checked as a project file is; ``InputError`` when there is none or it
        cannot be read, ``DamagedProject`` (moved aside) when it is broken."""
        return self.load_with_revision(token)[0]

    def load_with_revision(self, token: str) -> tuple[ProjectFile, str]:
        folder = self.folder(token)
        try:
            return self._load(folder)
        except OSError as e:  # a disk error, maybe passing: the copy is left alone
            raise InputError(_(NAME), _("cannot be read right now ({why})", why=e.strerror or type(e).__name__)) from None

    def _load(self, folder: Path) -> tuple[ProjectFile, str]:
        for _attempt in range(3):
            with self._locked(folder, exclusive=False):
                revision = read_revision(folder)
                if revision is None:
                    raise InputError(_("project link"), _("does not lead to a project on this server: it may be "
                                                          "mistyped, or the project was removed after {days} days "
                                                          "unused", days=f"{self.max_age / 86400:g}"))
                try:
                    pf = self._open(folder, revision)
                except DamagedProject as e:
                    damage = e
                else:
                    with contextlib.suppress(OSError):  # opened: not stale (a read-only disk: nothing to mark)
                        os.utime(folder)
                    return pf, revision
            try:
                with self._locked(folder, exclusive=True):  # moved aside only if nobody saved meanwhile
                    if read_revision(folder) == revision:
                        raise self._set_aside(folder, damage.why)
            except OSError:  # a read-only disk: it stays where it is
                raise damage from None
        raise InputError(_(NAME), _("keeps changing while it is opened: try again"))

    def _open(self, folder: Path, revision: str) -> ProjectFile:
        """Read the copy at ``revision``; ``DamagedProject`` (not yet moved) when it is broken."""
        if not revision.startswith("old-") and not REVISION.fullmatch(revision):
            raise DamagedProject(_("its revision file is damaged"), None)
        old = revision.startswith("old-")
        manifest, skip = (folder / MANIFEST, 0) if old else (folder / CURRENT, len(revision) + 1)
        try:
            if not manifest.is_file() or manifest.is_symlink():
                raise DamagedProject(_("its manifest is missing"), None)
            try:
                blobs = None if old else blob_names(manifest, skip)
            except DamagedCopy as e:
                raise DamagedProject(str(e), None) from None
            if blobs is not None:
                skip += len(json.dumps(blobs).encode()) + 1
            return open_members(Members(folder, manifest, skip, blobs), _(NAME))
        except DamagedProject:
            raise
        except InputError as e:
            if newer_format(manifest, skip):  # saved by a newer version sharing this folder: not damaged, just not for us
                raise
            raise DamagedProject(e.reason, None) from None

    def _set_aside(self, folder: Path, reason: str) -> DamagedProject:
        aside = folder.with_name(f"{folder.name}{DAMAGED}{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}")
        try:
            os.replace(folder, aside)
            os.utime(aside)  # kept for the usual time from now
        except OSError as e:
            _log.warning("could not move a damaged project aside: %s", e)
            return DamagedProject(reason, None)
        _log.warning("moved a damaged project aside to %s: %s", aside, reason)
        return DamagedProject(reason, aside)

    def save(self, token: str, pf: ProjectFile) -> str:
        """Keep ``pf`` as ``token``'s project (only members not yet on disk are written); returns the
        new revision. OSError (full or read-only disk) leaves the previous copy as it was."""
        folder = self.folder(token)
        with self._locked(folder, exclusive=True):
            return self._save(folder, pf)

    def _save(self, folder: Path, pf: ProjectFile) -> str:
        revision = write_folder(pf, folder)
        with contextlib.suppress(OSError):  # a folder of the old layout (0755): for the server's user only
            os.chmod(folder, 0o700)
        return revision

    def update(self, token: str, change: Callable[[ProjectFile | None, str | None], ProjectFile],
               known: str | None = None) -> tuple[ProjectFile, str]:
        """Under the exclusive lock (other threads and processes wait): read the current copy (None if
        there is none) and its revision, write what ``change(current, revision)`` returns, and return it
        with the new revision. When ``change`` returns ``current`` itself nothing is written. A damaged
        copy is moved aside and ``DamagedProject`` raised (``change`` is not called).

        ``known``: the revision the caller already holds. When the copy is still at it, it is not read
        (that is the whole project: most of a save's cost) and ``change`` gets None as ``current``."""
        folder = self.folder(token)
        with self._locked(folder, exclusive=True):
            revision = read_revision(folder)
            current = None
            if revision is not None and revision != known:
                try:
                    current = self._open(folder, revision)
                except DamagedProject as e:
                    raise self._set_aside(folder, e.why) from None
            result = change(current, revision)
            if result is current:
                return current, revision
            return result, self._save(folder, result)

    def delete(self, token: str) -> None:
        folder = self.folder(token)
        with self._locked(folder, exclusive=True):
            _remove(folder)
            folder.with_name(folder.name + ".lock").unlink(missing_ok=True)

    def remove_stale(self, now: float | None = None) -> int:
        """Delete the projects (and damaged copies) untouched for longer than the maximum age; returns how many."""
        now, removed, entries = time.time() if now is None else now, 0, []
        with contextlib.suppress(OSError):
            entries = list(self.root.iterdir())
        for entry in entries:
            name = entry.name
            if _GONE in name and entry.is_dir() and not entry.is_symlink():
                _remove(entry)  # a delete that a crash interrupted
            elif _FOLDER.fullmatch(name.partition(DAMAGED)[0]) and entry.is_dir() and not entry.is_symlink():
                try:
                    with contextlib.ExitStack() as stack:
                        if DAMAGED not in name:  # a damaged copy is never written: no lock
                            stack.enter_context(self._locked(entry, exclusive=True))
                        if now - _touched(entry) > self.max_age:
                            _remove(entry)
                            entry.with_name(name + ".lock").unlink(missing_ok=True)
                            removed += 1
                except OSError as e:
                    _log.warning("could not remove a stale project: %s", e)
            elif name.endswith(".lock") and not entry.with_name(name[:-5]).exists():
                with self._locked(entry.with_name(name[:-5]), exclusive=True), contextlib.suppress(OSError):
                    if not entry.with_name(name[:-5]).exists():
                        entry.unlink()
        if removed:
            _log.info("removed %d project(s) unused for %g days", removed, self.max_age / 86400)
        return removed

    def sweep(self, every: float = 3600.0) -> int:
        """``remove_stale`` at most once per ``every`` seconds (call it as often as you like)."""
        with self._guard:
            if time.monotonic() - self._swept < every and self._swept:
                return 0
            self._swept = time.monotonic()
        copies = self.root.name != COPIES and (self.root / COPIES).is_dir()  # no copy made here yet: nothing to make
        return self.remove_stale() + (self.copies().remove_stale() if copies else 0)

    # --- a teacher's read-only copies (tm_core.store.CopyStore) -------------------------------------------

    def copies(self) -> CopyStore:
        """The read-only copies teachers share from this server's projects (``<root>/copies``)."""
        with self._guard:
            if not isinstance(getattr(self, "_copies", None), CopyStore):
                self._copies = CopyStore(self.root / COPIES, self.max_age / 86400)
            return self._copies


def _touched(folder: Path) -> float:
    """When the project was last saved or opened: saves rename ``current`` into the folder, opens touch it."""
    times = []
    for path in (folder, folder / CURRENT, folder / MANIFEST):
        with contextlib.suppress(OSError):
            times.append(path.stat().st_mtime)
    return max(times, default=0.0)


def _remove(folder: Path) -> None:
    """Delete ``folder``: renamed first (one step), so a crash never leaves half a project under its name."""
    gone = folder if _GONE in folder.name else folder.with_name(f"{folder.name}{_GONE}{secrets.token_hex(4)}")
    with contextlib.suppress(FileNotFoundError):
        os.replace(folder, gone)
        shutil.rmtree(gone, ignore_errors=True)


# --- a teacher's read-only copies -------------------------------------------------------------------------

class CopyStore(ProjectStore):
    """Read-only copies of projects, each behind a token of its own: :meth:`create` (the teacher's project
    file), :meth:`start_project` (a student's new project from it), :meth:`withdraw`; stale ones are
    removed as projects are. Nothing here writes to a copy after it was made."""

    def create(self, pf: ProjectFile, owner: str) -> str:
        """Keep ``pf`` as a new copy of ``owner``'s project (its token); returns the copy's token."""
        owned = _owner_hash(self.folder(owner))
        token = new_token()
        folder = self.folder(token)
        with self._locked(folder, exclusive=True):
            self._save(folder, pf)
            _write_private(folder.with_name(folder.name + ".owner"),
                           json.dumps({"owner": owned, "made": time.time()}).encode())
        return token

    def open(self, token: str) -> ProjectFile:
        """The copy ``token`` names (read only); ``InputError`` with a reason a student reads when it is
        not there (withdrawn, expired, or a link that was cut)."""
        try:
            return self.load(token)
        except DamagedProject:
            raise
        except InputError as e:
            raise InputError(_(COPY_NAME), _("is not on this server any more: the teacher may have withdrawn it, or it "
                                             "was not used for {days} days. Ask for a new link.",
                                             days=f"{self.max_age / 86400:g}")) from e

    def start_project(self, token: str, projects: ProjectStore) -> tuple[str, ProjectFile, str]:
        """A new project in ``projects`` started from the copy ``token``: returns its token, the project
        and its revision. The copy itself is only read."""
        pf = self.open(token)
        mine = new_token()
        return mine, pf, projects.save(mine, pf)

    def owned_by(self, owner: str) -> list[tuple[str, float]]:
        """The copies made from ``owner``'s project: (copy id, when made), newest first. The id names the
        copy for :meth:`withdraw`; it is not its token and opens nothing."""
        owned, found = _owner_hash(self.folder(owner)), []
        with contextlib.suppress(OSError):
            for entry in self.root.glob("*.owner"):
                with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                    info = json.loads(entry.read_bytes()[:4096])
                    if info["owner"] == owned and (self.root / entry.name[:-6]).is_dir():
                        found.append((entry.name[:-6], float(info["made"])))
        return sorted(found, key=lambda f: -f[1])

    def copy_id(self, token: str) -> str:
        """The id of the copy ``token`` names (its folder's name)."""
        return self.folder(token).name

    def withdraw(self, copy_id: str, owner: str) -> bool:
        """Delete the copy ``copy_id`` if ``owner``'s project made it; returns whether it was there.
        Students who opened it keep their own projects."""
        if not isinstance(copy_id, str) or not _FOLDER.fullmatch(copy_id):
            raise InputError(_("shared copy"), _("is not a copy of this server"))
        owned, folder = _owner_hash(self.folder(owner)), self.root / copy_id
        marker = folder.with_name(copy_id + ".owner")
        with self._locked(folder, exclusive=True):
            try:
                info = json.loads(marker.read_bytes()[:4096])
            except (OSError, ValueError):
                return False
            if not isinstance(info, dict) or info.get("owner") != owned:
                raise InputError(_("shared copy"), _("was not made from this project, so it cannot be withdrawn from here"))
            _remove(folder)
            marker.unlink(missing_ok=True)
            folder.with_name(copy_id + ".lock").unlink(missing_ok=True)
        return True

    def remove_stale(self, now: float | None = None) -> int:
        """``ProjectStore.remove_stale``, and the owner files of copies no longer there."""
        removed = super().remove_stale(now)
        with contextlib.suppress(OSError):
            for entry in self.root.glob("*.owner"):
                if not (self.root / entry.name[:-6]).exists():
                    entry.unlink(missing_ok=True)
        return removed


def _owner_hash(folder: Path) -> str:
    """What a copy keeps of its teacher's project: a hash of that project's folder name (itself a hash of
    the token), never anything that opens it."""
    return hashlib.sha256(b"owner:" + folder.name.encode()).hexdigest()


def _write_private(path: Path, data: bytes) -> None:
    """``data`` as ``path`` (0600), whole or not at all (a temporary name, fsync, rename)."""
    tmp = path.with_name(f"{path.name}.tmp-{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
