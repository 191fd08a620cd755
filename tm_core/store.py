"""Projects kept on the server as the student works, so a reload or a dropped connection loses nothing.

Each project is a folder under ``TM_DATA_DIR`` (default: ``teachable-studio/projects`` in the
user's cache folder) with a project file's layout unzipped (``tm_core.project_file``). It is found
only through an unguessable token (``secrets.token_urlsafe``: 192 random bits) that lives in the
student's page address; the folder's name is a hash of the token, so even a listing of the folder
gives nobody a way in, and nothing in the app lists or looks up projects by anything else. A token
that names no project is never adopted: the student gets a fresh one.

Projects not changed or opened for ``TM_DATA_MAX_AGE_DAYS`` days (default 14) are removed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
import shutil
import threading
import time
from pathlib import Path

from tm_core import limits
from tm_core.errors import InputError
from tm_core.project_file import ProjectFile, open_folder, write_folder

_log = logging.getLogger(__name__)
TOKEN = re.compile(r"[A-Za-z0-9_-]{32}")
MANIFEST = "manifest.json"


def default_root() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "teachable-studio" / "projects"


def from_env() -> "ProjectStore":
    """The store ``TM_DATA_DIR`` names (default: :func:`default_root`)."""
    return ProjectStore(os.environ.get("TM_DATA_DIR") or None)


def new_token() -> str:
    return secrets.token_urlsafe(24)  # 32 characters of [A-Za-z0-9_-]


class ProjectStore:
    """The projects of one server: save, load and delete by token, and remove stale ones."""

    def __init__(self, root: Path | str | None = None, max_age_days: float | None = None):
        self.root = Path(root) if root else default_root()
        self.max_age = (max_age_days if max_age_days is not None else limits.read("TM_DATA_MAX_AGE_DAYS", 14)) * 86400
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._digests: dict[str, dict[str, str]] = {}  # folder → what write_folder last wrote there
        self._swept = 0.0

    def folder(self, token: str) -> Path:
        """Where ``token``'s project is kept; ``InputError`` for anything that is not a token."""
        if not isinstance(token, str) or not TOKEN.fullmatch(token):
            raise InputError("project link", "is not a valid project link")
        return self.root / hashlib.sha256(token.encode()).hexdigest()[:32]

    def _lock(self, token: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(token, threading.Lock())

    def exists(self, token: str) -> bool:
        try:
            return (self.folder(token) / MANIFEST).is_file()
        except InputError:
            return False

    def save(self, token: str, pf: ProjectFile) -> None:
        """Keep ``pf`` as ``token``'s project (only what changed is written)."""
        folder = self.folder(token)
        with self._lock(token):
            folder.mkdir(parents=True, exist_ok=True)
            self._digests[folder.name] = write_folder(pf, folder, self._digests.get(folder.name))

    def load(self, token: str) -> ProjectFile:
        """``token``'s project, checked as a project file is; ``InputError`` when there is none or it is broken."""
        folder = self.folder(token)
        with self._lock(token):
            if not (folder / MANIFEST).is_file():
                raise InputError("project link", "names no project on this server (projects unused for "
                                                 f"{self.max_age / 86400:g} days are removed)")
            pf = open_folder(folder, "the project saved on this server")
            os.utime(folder / MANIFEST)  # opened: not stale
            self._digests.pop(folder.name, None)  # written by another process, maybe: compare nothing
            return pf

    def delete(self, token: str) -> None:
        folder = self.folder(token)
        with self._lock(token):
            shutil.rmtree(folder, ignore_errors=True)
            self._digests.pop(folder.name, None)

    def remove_stale(self, now: float | None = None) -> int:
        """Delete the projects untouched for longer than the maximum age; returns how many."""
        now = time.time() if now is None else now
        removed = 0
        if not self.root.is_dir():
            return 0
        for folder in self.root.iterdir():
            if not folder.is_dir() or folder.is_symlink():
                continue
            manifest = folder / MANIFEST
            try:
                touched = (manifest if manifest.is_file() else folder).stat().st_mtime
            except OSError:
                continue
            if now - touched > self.max_age:
                shutil.rmtree(folder, ignore_errors=True)
                self._digests.pop(folder.name, None)
                removed += 1
        if removed:
            _log.info("removed %d project(s) unused for %g days", removed, self.max_age / 86400)
        return removed

    def sweep(self, every: float = 3600.0) -> int:
        """``remove_stale`` at most once per ``every`` seconds (call it as often as you like)."""
        with self._guard:
            if time.monotonic() - self._swept < every and self._swept:
                return 0
            self._swept = time.monotonic()
        return self.remove_stale()
