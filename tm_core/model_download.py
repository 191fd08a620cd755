"""Every pretrained file the app uses, downloaded ahead of time: for a room without internet and for a
fresh server, so no student waits for (or misses) a download.

    python -m tm_core download-models [--to DIR] [--from URL] [--only FILE ...]

Each file comes from its official URL (``tm_core.assets.ASSETS``), or with ``--from URL`` (or the
environment variable ``TM_MODELS_URL``) from a mirror laid out as a models folder
(``URL/<image|pose|hands|audio>/<file>``: e.g. a copy of a models folder on a school's web server,
or ``file:///media/usb/models``). A download is streamed to ``.<file>.part`` beside its place, and
an interrupted one continues from there (HTTP Range) the next time. Its SHA-256 is then checked
against the ones the repo records (the official file's and the project's reference copy's); a file
that does not match is deleted, never kept. Only when the repo records no SHA-256 of the official
file (some publishers pin none) is an official download kept unchecked, and the command prints
its SHA-256 so it can be compared. Files already in place with a known SHA-256 are not fetched
again, so the command can be run any number of times.

With ``--to DIR`` the files go to ``DIR/<image|pose|hands|audio>/``: start the app with
``TM_MODELS_DIR=DIR``. Without it they go where the app looks anyway: ``$TM_MODELS_DIR`` when set,
else the download cache (``tm_core.assets.cache_dir()``).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TextIO

from tm_core import assets
from tm_core.errors import InputError
from tm_core.i18n import N_, _

MIRROR_ENV = "TM_MODELS_URL"
TIMEOUT = 60.0
_CHUNK = 1 << 16


class Outcome(Enum):  # the values are English; :meth:`words` in the current language
    THERE = N_("already there, checked")
    THERE_UNCHECKED = N_("already there (no SHA-256 recorded to check it against)")
    DOWNLOADED = N_("downloaded, checked")
    UNCHECKED = N_("downloaded, NOT checked")
    FAILED = N_("FAILED")

    def words(self) -> str:
        return _(self.value)


@dataclass(frozen=True)
class Job:
    """One file to have: where from, where to, and which SHA-256s a good copy has."""

    asset: assets.Asset
    url: str | None
    dest: Path
    mirror: bool  # from a mirror of the project's copies (then the file must match a recorded SHA-256)

    @property
    def part(self) -> Path:
        return self.dest.with_name(f".{self.dest.name}.part")

    @property
    def must_match(self) -> bool:
        """Whether only a recorded SHA-256 will do (always, unless the official file's is unknown)."""
        return self.mirror or self.asset.sha256 is not None


@dataclass(frozen=True)
class Result:
    job: Job
    outcome: Outcome
    detail: str = ""


def jobs(to: Path | None = None, mirror: str | None = None, only: Iterable[str] = ()) -> list[Job]:
    """What to fetch: every file in ``assets.ASSETS`` (or those named in ``only``), into ``to``."""
    only = list(only)
    unknown = [n for n in only if n not in assets.ASSETS]
    if unknown:
        raise InputError(", ".join(unknown), _("is not a pretrained file the app uses; these are: {files}",
                                               files=", ".join(sorted(assets.ASSETS))))
    mirror = mirror if mirror is not None else os.environ.get(MIRROR_ENV) or None
    root = to if to is not None else assets.models_dir()
    out = []
    for asset in assets.ASSETS.values():
        if only and asset.filename not in only:
            continue
        dest = root / asset.subdir / asset.filename if root is not None else assets.cache_dir() / asset.filename
        url = f"{mirror.rstrip('/')}/{asset.subdir}/{asset.filename}" if mirror else asset.url
        out.append(Job(asset, url, dest, mirror is not None))
    return out


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class _Failed(Exception):
    pass


def fetch(job: Job, progress: Callable[[int, int | None], None] = lambda done, total: None) -> Result:
    """Make sure ``job.dest`` holds a good copy; never raises for network or checksum trouble."""
    known = job.asset.known_sha256
    if job.dest.is_file():
        if sha256_of(job.dest) in known:
            return Result(job, Outcome.THERE)
        if not job.must_match:
            return Result(job, Outcome.THERE_UNCHECKED, f"sha256 {sha256_of(job.dest)}")
    if job.url is None:
        return Result(job, Outcome.FAILED, _("there is no official download of this file: get it from a mirror "
                                             "({option}) or copy it to {path}", option="--from URL", path=job.dest))
    try:
        job.dest.parent.mkdir(parents=True, exist_ok=True)
        _stream(job, progress)
        digest = sha256_of(job.part)
    except _Failed as err:
        return Result(job, Outcome.FAILED, str(err))
    except OSError as err:
        return Result(job, Outcome.FAILED, _("cannot write {path}: {error}", path=job.part, error=err.strerror or err))
    if digest not in known and job.must_match:
        job.part.unlink(missing_ok=True)
        expected = _(" or ").join(known) or _("none recorded")
        return Result(job, Outcome.FAILED, _("SHA-256 {digest} is not the recorded one ({expected}): the file was "
                                             "damaged or changed on the way, and was deleted. Run the command again.",
                                             digest=digest, expected=expected))
    try:
        os.replace(job.part, job.dest)
    except OSError as err:
        return Result(job, Outcome.FAILED, _("cannot write {path}: {error}", path=job.dest, error=err.strerror or err))
    if digest in known:
        return Result(job, Outcome.DOWNLOADED)
    return Result(job, Outcome.UNCHECKED, _("the repo records no SHA-256 of the official file; this one's is {digest}",
                                            digest=digest))


def _stream(job: Job, progress: Callable[[int, int | None], None]) -> None:
    """Download ``job.url`` into ``job.part``, continuing a partial one when the server allows it."""
    have = job.part.stat().st_size if job.part.is_file() else 0
    headers = {"User-Agent": "teachable-studio"}
    if have:
        headers["Range"] = f"bytes={have}-"
    request = urllib.request.Request(job.url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:  # the part is whole (or longer than the file): start again
            job.part.unlink()
            return _stream(job, progress)
        raise _Failed(_("the server answered HTTP {code} {reason} for {url}", code=err.code, reason=err.reason,
                        url=job.url)) from err
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as err:
        raise _Failed(_("cannot reach {url}: {reason}", url=job.url, reason=getattr(err, "reason", err))) from err
    with response:
        resumed = have and getattr(response, "status", None) == 206
        if not resumed:
            have = 0  # the server sends the whole file
        length = response.headers.get("Content-Length")
        total = have + int(length) if length and length.isdigit() else None
        done = have
        progress(done, total)
        with job.part.open("ab" if resumed else "wb") as out:  # an OSError here: the disk, reported as such
            while True:
                try:
                    chunk = response.read(_CHUNK)
                except (OSError, http.client.HTTPException) as err:
                    raise _Failed(_("the download stopped after {done} bytes ({error}); run the command again to "
                                    "continue it", done=f"{done:,}", error=err or type(err).__name__)) from err
                if not chunk:
                    break
                out.write(chunk)
                done += len(chunk)
                progress(done, total)
    if total is not None and done < total:
        raise _Failed(_("the download stopped after {done} of {total} bytes; run the command again to continue it",
                        done=f"{done:,}", total=f"{total:,}"))


class Bar:
    """``name  1.2 of 7.8 MB (15%)`` on ``out``: redrawn in place on a terminal, every 25% otherwise."""

    def __init__(self, name: str, out: TextIO):
        self.name, self.out = name, out
        self.tty = out.isatty()
        self.shown = -1
        self.last = 0.0

    def __call__(self, done: int, total: int | None) -> None:
        mb = (_("{done} of {total} MB ({share})", done=f"{done / 1e6:.1f}", total=f"{total / 1e6:.1f}",
                share=f"{done / total:.0%}") if total else _("{done} MB", done=f"{done / 1e6:.1f}"))
        if self.tty:
            now = time.monotonic()
            if now - self.last > 0.1 or done == total:
                self.last = now
                print(f"\r  {self.name}  {mb}   ", end="", file=self.out, flush=True)
            return
        step = int(done * 4 / total) if total else 0
        if step > self.shown:
            self.shown = step
            print(f"  {self.name}  {mb}", file=self.out, flush=True)

    def end(self) -> None:
        if self.tty:
            print(file=self.out, flush=True)


def download_all(todo: list[Job], out: TextIO | None = None) -> list[Result]:
    """Fetch every job in turn, with progress and one line per file on ``out`` (default: stderr)."""
    out = out or sys.stderr
    results = []
    for job in todo:
        bar = Bar(job.asset.filename, out)
        result = fetch(job, bar)
        bar.end()
        results.append(result)
        line = f"{job.asset.filename}: {result.outcome.words()}"
        print(line + (f": {result.detail}" if result.detail else ""), file=out, flush=True)
    return results


def summary(results: list[Result], to: Path | None) -> str:
    """The closing lines: how many are ready, what failed, and what to set."""
    ready = sum(r.outcome is not Outcome.FAILED for r in results)
    lines = [_("{ready} of {n} pretrained files are ready.", ready=ready, n=len(results))]
    failed = [r.job.asset.filename for r in results if r.outcome is Outcome.FAILED]
    if failed:
        lines.append(_("Not ready: {files} (see above). The app works without them, but the networks they hold "
                       "cannot be chosen.", files=", ".join(failed)))
    if to is not None:
        setting = f"TM_MODELS_DIR={to.resolve()}"
        lines.append(_("Start the app with {setting} so it finds them.", setting=setting))
    return "\n".join(lines)
