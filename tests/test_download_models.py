"""``python -m tm_core download-models``: the real pretrained files (../shared/models) served by a real
HTTP server on 127.0.0.1 as a mirror (this machine cannot reach the official URLs), downloaded into
real folders, checked by SHA-256, continued after an interruption, refused when damaged."""

from __future__ import annotations

import hashlib
import re
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tm_core import assets, model_download
from tm_core.__main__ import cmd_download_models, main, parser
from tm_core.model_download import Job, Outcome

from conftest import SHARED, _need

MOVENET = "movenet_singlepose_lightning_int8_4.tflite"
HANDS = "hand_landmarker_full.task"
ON_MIRROR = {a.filename for a in assets.ASSETS.values() if (SHARED / "models" / a.subdir / a.filename).is_file()}


class Mirror:
    """A loopback HTTP server for a folder laid out as a models folder; it logs every GET and its Range,
    and honours ``Range: bytes=N-`` unless ``ranges`` is False."""

    def __init__(self, root: Path, ranges: bool = True):
        self.root, self.ranges = root, ranges
        self.gets: list[tuple[str, str | None, int]] = []  # (path, Range header, bytes sent)
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                file = mirror.root / self.path.lstrip("/")
                asked = self.headers.get("Range")
                if not file.is_file():
                    mirror.gets.append((self.path, asked, 0))
                    self.send_error(404)
                    return
                body = file.read_bytes()
                start = int(m.group(1)) if mirror.ranges and asked and (m := re.fullmatch(r"bytes=(\d+)-", asked)) \
                    else None
                if start is not None and start >= len(body):
                    mirror.gets.append((self.path, asked, 0))
                    self.send_error(416)
                    return
                self.send_response(206 if start is not None else 200)
                if start is not None:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                sent = body[start or 0:]
                self.send_header("Content-Length", str(len(sent)))
                self.end_headers()
                self.wfile.write(sent)
                mirror.gets.append((self.path, asked, len(sent)))

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def models() -> Path:
    return _need(SHARED / "models")


@pytest.fixture
def mirror(models) -> Iterator[Mirror]:
    m = Mirror(models)
    yield m
    m.close()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_every_file_has_a_source_and_a_recorded_sha256():
    for asset in assets.ASSETS.values():
        assert asset.url or asset.copy_sha256, asset.filename  # a mirror of the project's copies can serve it
        for h in asset.known_sha256:
            assert re.fullmatch(r"[0-9a-f]{64}", h)
    # The recorded copies are the reference files the tests use.
    for name in ON_MIRROR:
        a = assets.ASSETS[name]
        assert digest(_need(SHARED / "models" / a.subdir / name)) == a.copy_sha256, name


def test_official_urls_by_default_and_a_mirror_when_asked(tmp_path, monkeypatch):
    monkeypatch.delenv(model_download.MIRROR_ENV, raising=False)
    official = model_download.jobs(tmp_path)
    assert [j.url for j in official] == [a.url for a in assets.ASSETS.values()]
    assert all(j.dest == tmp_path / j.asset.subdir / j.asset.filename for j in official)
    monkeypatch.setenv(model_download.MIRROR_ENV, "http://school.example/models/")
    mirrored = model_download.jobs(tmp_path, only=[MOVENET])
    assert [(j.url, j.mirror) for j in mirrored] == [(f"http://school.example/models/pose/{MOVENET}", True)]
    with pytest.raises(Exception, match="not a pretrained file the app uses"):
        model_download.jobs(tmp_path, only=["nope.h5"])


def test_download_all_then_again_fetches_nothing(mirror, models, tmp_path, capsys):
    dest = tmp_path / "models"
    code = main(["download-models", "--to", str(dest), "--from", mirror.url])
    said = capsys.readouterr().err
    missing = set(assets.ASSETS) - ON_MIRROR  # the larger backbones have no reference copy to serve
    assert code == (1 if missing else 0)
    for name in ON_MIRROR:
        a = assets.ASSETS[name]
        assert f"{name}: downloaded, checked" in said
        assert digest(dest / a.subdir / name) == digest(models / a.subdir / name)
    for name in missing:
        assert re.search(rf"{re.escape(name)}: FAILED: the server answered HTTP 404", said)
    assert f"{len(ON_MIRROR)} of {len(assets.ASSETS)} pretrained files are ready." in said
    assert f"TM_MODELS_DIR={dest.resolve()}" in said
    assert re.search(r"movenet_singlepose_lightning_int8_4\.tflite  2\.9 of 2\.9 MB \(100%\)", said)  # progress
    assert not list(dest.rglob(".*.part"))

    mirror.gets.clear()
    assert main(["download-models", "--to", str(dest), "--from", mirror.url, "--only", *sorted(ON_MIRROR)]) == 0
    said = capsys.readouterr().err
    assert mirror.gets == []  # idempotent: nothing asked of the server
    assert said.count("already there, checked") == len(ON_MIRROR)

    # The app finds them there, never downloading.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TM_MODELS_DIR", str(dest))
        for name in ON_MIRROR:
            assert assets.resolve(name, download=False).parent.parent == dest


def test_a_damaged_file_fails_the_checksum_and_is_not_kept(models, tmp_path, capsys):
    served = tmp_path / "served"
    shutil.copytree(models, served)
    bad = served / "pose" / MOVENET
    data = bytearray(bad.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.chmod(0o644)
    bad.write_bytes(bytes(data))
    m = Mirror(served)
    try:
        dest = tmp_path / "models"
        assert main(["download-models", "--to", str(dest), "--from", m.url, "--only", MOVENET]) == 1
        said = capsys.readouterr().err
    finally:
        m.close()
    assert f"{MOVENET}: FAILED: SHA-256 {hashlib.sha256(bytes(data)).hexdigest()} is not the recorded one" in said
    assert "was deleted" in said
    assert not (dest / "pose" / MOVENET).exists() and not list(dest.rglob(".*.part"))
    assert "0 of 1 pretrained files are ready." in said


def test_an_interrupted_download_continues_where_it_stopped(mirror, models, tmp_path):
    source = models / "hands" / HANDS
    whole = source.read_bytes()
    job = model_download.jobs(tmp_path, mirror.url, [HANDS])[0]
    job.dest.parent.mkdir(parents=True)
    job.part.write_bytes(whole[: len(whole) // 3])  # what an interrupted run left
    seen = []
    result = model_download.fetch(job, lambda done, total: seen.append((done, total)))
    assert result.outcome is Outcome.DOWNLOADED, result
    assert mirror.gets == [(f"/hands/{HANDS}", f"bytes={len(whole) // 3}-", len(whole) - len(whole) // 3)]
    assert job.dest.read_bytes() == whole and not job.part.exists()
    assert seen[0] == (len(whole) // 3, len(whole)) and seen[-1] == (len(whole), len(whole))


def test_a_partial_download_is_started_again_when_it_cannot_continue(models, tmp_path):
    whole = (models / "pose" / MOVENET).read_bytes()
    no_ranges = Mirror(models, ranges=False)
    try:
        job = model_download.jobs(tmp_path, no_ranges.url, [MOVENET])[0]
        job.dest.parent.mkdir(parents=True)
        job.part.write_bytes(b"x" * 1000)
        assert model_download.fetch(job).outcome is Outcome.DOWNLOADED
        assert no_ranges.gets == [(f"/pose/{MOVENET}", "bytes=1000-", len(whole))]  # the whole file again
        assert job.dest.read_bytes() == whole
    finally:
        no_ranges.close()

    # A partial file that is not the start of the right file: it is continued, fails the check, is
    # deleted, and the next run gets the whole file.
    ranges = Mirror(models)
    try:
        job.dest.unlink()
        job = model_download.jobs(tmp_path, ranges.url, [MOVENET])[0]
        job.part.write_bytes(b"y" * 1000)
        first = model_download.fetch(job)
        assert first.outcome is Outcome.FAILED and "is not the recorded one" in first.detail
        assert not job.part.exists() and not job.dest.exists()
        assert model_download.fetch(job).outcome is Outcome.DOWNLOADED
        assert [g[1] for g in ranges.gets] == ["bytes=1000-", None]
        # A part as long as the file (the server says 416): started again.
        job.dest.unlink()
        job.part.write_bytes(whole)
        assert model_download.fetch(job).outcome is Outcome.DOWNLOADED and job.dest.read_bytes() == whole
    finally:
        ranges.close()


def test_an_official_file_without_a_recorded_sha256_is_kept_and_its_sha256_shown(mirror, models, tmp_path):
    """Only when the publisher pins no hash: the official hand model's container differs from the
    project's copy, so an official download cannot be matched; it is kept, and its SHA-256 printed."""
    asset = assets.ASSETS[HANDS]
    assert asset.sha256 is None
    official_like = Job(asset, f"{mirror.url}/pose/{MOVENET}", tmp_path / HANDS, mirror=False)  # other bytes
    result = model_download.fetch(official_like)
    assert result.outcome is Outcome.UNCHECKED
    assert digest(models / "pose" / MOVENET) in result.detail
    assert model_download.fetch(official_like).outcome is Outcome.THERE_UNCHECKED  # and not fetched again
    # Where the official SHA-256 is recorded, other bytes from the official URL are refused.
    movenet = assets.ASSETS[MOVENET]
    assert movenet.sha256 is not None
    wrong = Job(movenet, f"{mirror.url}/hands/{HANDS}", tmp_path / MOVENET, mirror=False)
    assert model_download.fetch(wrong).outcome is Outcome.FAILED and not wrong.dest.exists()


def test_without_to_the_files_go_where_the_app_looks(mirror, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("TM_MODELS_DIR", raising=False)
    monkeypatch.setenv("TM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv(model_download.MIRROR_ENV, mirror.url)
    assert main(["download-models", "--only", MOVENET]) == 0
    assert "TM_MODELS_DIR=" not in capsys.readouterr().err  # nothing to set: the cache is the app's own
    assert assets.resolve(MOVENET, download=False) == tmp_path / "cache" / MOVENET
    monkeypatch.setenv("TM_MODELS_DIR", str(tmp_path / "models"))
    assert main(["download-models", "--only", MOVENET]) == 0
    assert (tmp_path / "models" / "pose" / MOVENET).is_file()


def test_no_server_is_one_line_per_file_not_a_traceback(tmp_path, capsys):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert main(["download-models", "--to", str(tmp_path), "--from", f"http://127.0.0.1:{port}", "--only",
                 MOVENET]) == 1
    said = capsys.readouterr().err
    assert f"{MOVENET}: FAILED: cannot reach http://127.0.0.1:{port}/pose/{MOVENET}" in said
    assert "Traceback" not in said


def test_a_missing_file_says_which_command_fetches_it(tmp_path, monkeypatch):
    monkeypatch.delenv("TM_MODELS_DIR", raising=False)
    monkeypatch.setenv("TM_CACHE_DIR", str(tmp_path / "empty-cache"))
    with pytest.raises(assets.AssetError) as info:
        assets.resolve(MOVENET, download=False)
    command = re.search(r"`python -m tm_core (download-models [^`]+)`", str(info.value))
    assert command, str(info.value)
    args = parser().parse_args(command.group(1).split())  # the command the message gives is one the CLI takes
    assert args.func is cmd_download_models and list(args.only) == [MOVENET]
