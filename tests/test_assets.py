"""tm_core.assets: resolving pretrained files by name, with real files and a loopback HTTP server only."""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tm_core import assets
from tm_core.errors import AssetError

V2 = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5"
V1 = "mobilenet_2_5_224_tf_no_top.h5"
MOVENET = "movenet_singlepose_lightning_int8_4.tflite"
CLASS_MAP = "yamnet_class_map.csv"


class _Server:
    """A loopback HTTP server serving ``files`` (path -> bytes) and counting requests."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.short: set[str] = set()  # paths whose body is cut in half after a full Content-Length
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2] if self.path in server.short else body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server()
    yield srv
    srv.close()


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets an empty download cache and a throwaway HOME."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TM_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def no_models_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TM_MODELS_DIR", raising=False)


def _point(monkeypatch: pytest.MonkeyPatch, name: str, url: str, sha256: str | None = None) -> None:
    """Make ``ASSETS[name]`` download from ``url`` (a loopback address) and expect ``sha256``."""
    monkeypatch.setitem(assets.ASSETS, name, dataclasses.replace(assets.ASSETS[name], url=url, sha256=sha256))


def _serve(monkeypatch: pytest.MonkeyPatch, server: _Server, name: str, body: bytes, sha256: str | None) -> str:
    """Serve ``body`` from the loopback server as ``ASSETS[name]``; return its URL."""
    path = f"/files/{name}"
    server.files[path] = body
    _point(monkeypatch, name, server.base + path, sha256)
    return server.base + path


def _closed_port_url(name: str) -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/{name}"


def test_assets_match_the_shared_models_folder(models_dir: Path) -> None:
    larger = {"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5", "efficientnetv2-b0_notop.h5"}
    assert len(assets.ASSETS) == 8
    for name, asset in assets.ASSETS.items():
        assert asset.filename == name and asset.description
        # the larger image backbones are offered only when they can be downloaded: not in the shared folder
        assert (models_dir / asset.subdir / name).is_file() == (name not in larger)
        assert asset.url is None or asset.url.startswith("https://")
    movenet = (models_dir / "pose" / MOVENET).read_bytes()
    assert hashlib.sha256(movenet).hexdigest() == assets.ASSETS[MOVENET].sha256  # identical to the official file
    assert assets.ASSETS["yamnet_with_embedding.tflite"].url is None


def test_resolves_both_backbones_from_models_dir(models_dir: Path) -> None:
    assert assets.models_dir() == models_dir
    for name in (V2, V1):
        path = assets.resolve(name, download=False)
        assert path == models_dir / "image" / name
    # Local files are trusted: the shared v2 file is a rewritten copy with another hash.
    assert hashlib.sha256(assets.resolve(V2).read_bytes()).hexdigest() != assets.ASSETS[V2].sha256


def test_flat_models_dir(models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / V1).symlink_to(models_dir / "image" / V1)
    monkeypatch.setenv("TM_MODELS_DIR", str(flat))
    assert assets.resolve(V1, download=False) == flat / V1


def test_default_cache_dir_is_under_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TM_CACHE_DIR")
    assert assets.cache_dir() == tmp_path / "home" / ".cache" / "teachable-studio" / "models"


@pytest.mark.parametrize("models_env", ["unset", "empty folder"])
def test_falls_back_to_cache(
    models_env: str, models_dir: Path, cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache.mkdir()
    shutil.copy(models_dir / "audio" / CLASS_MAP, cache / CLASS_MAP)
    if models_env == "unset":
        monkeypatch.delenv("TM_MODELS_DIR", raising=False)
    else:
        (tmp_path / "empty").mkdir()
        monkeypatch.setenv("TM_MODELS_DIR", str(tmp_path / "empty"))
    assert assets.resolve(CLASS_MAP, download=False) == cache / CLASS_MAP


@pytest.mark.usefixtures("no_models_dir")
def test_downloads_verifies_and_caches(
    models_dir: Path, cache: Path, server: _Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = (models_dir / "image" / V2).read_bytes()
    _serve(monkeypatch, server, V2, body, hashlib.sha256(body).hexdigest())
    path = assets.resolve(V2)
    assert path == cache / V2
    assert path.read_bytes() == body
    assert len(server.requests) == 1
    assert assets.resolve(V2) == path
    assert len(server.requests) == 1  # second resolve comes from the cache
    assert sorted(p.name for p in cache.iterdir()) == [V2]


@pytest.mark.usefixtures("no_models_dir")
def test_concurrent_downloads_of_one_file(
    models_dir: Path, cache: Path, server: _Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = (models_dir / "pose" / MOVENET).read_bytes()
    _serve(monkeypatch, server, MOVENET, body, hashlib.sha256(body).hexdigest())
    results: list[Path] = []
    threads = [threading.Thread(target=lambda: results.append(assets.resolve(MOVENET))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [cache / MOVENET] * 2
    assert (cache / MOVENET).read_bytes() == body
    assert sorted(p.name for p in cache.iterdir()) == [MOVENET]


@pytest.mark.usefixtures("no_models_dir")
def test_hash_mismatch_keeps_nothing(
    models_dir: Path, cache: Path, server: _Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = (models_dir / "image" / V1).read_bytes()
    _serve(monkeypatch, server, V1, body, "0" * 64)
    with pytest.raises(AssetError) as info:
        assets.resolve(V1)
    message = str(info.value)
    assert "sha256 mismatch" in message
    assert "0" * 64 in message and hashlib.sha256(body).hexdigest() in message
    assert list(cache.iterdir()) == []


@pytest.mark.usefixtures("no_models_dir")
def test_truncated_download_keeps_nothing(
    models_dir: Path, cache: Path, server: _Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = (models_dir / "audio" / CLASS_MAP).read_bytes()
    url = _serve(monkeypatch, server, CLASS_MAP, body, None)
    server.short.add(url.removeprefix(server.base))
    with pytest.raises(AssetError, match="cut short"):
        assets.resolve(CLASS_MAP)
    assert list(cache.iterdir()) == []


def test_http_404(cache: Path, server: _Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TM_MODELS_DIR", str(tmp_path))
    url = f"{server.base}/missing/{V1}"
    _point(monkeypatch, V1, url)
    with pytest.raises(AssetError) as info:
        assets.resolve(V1)
    message = str(info.value)
    assert all(part in message for part in (V1, "TM_MODELS_DIR", url, str(tmp_path), str(cache), "HTTP 404"))
    assert server.requests == [url.removeprefix(server.base)]
    assert not cache.exists() or list(cache.iterdir()) == []


@pytest.mark.usefixtures("no_models_dir")
def test_offline(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = _closed_port_url(V2)
    _point(monkeypatch, V2, url)
    with pytest.raises(AssetError) as info:
        assets.resolve(V2)
    message = str(info.value)
    for part in (V2, "TM_MODELS_DIR is not set", str(cache / V2), url, "no network", f"download it from {url}"):
        assert part in message
    assert "set TM_MODELS_DIR to that folder" in message


@pytest.mark.usefixtures("no_models_dir")
def test_download_off_makes_no_request(server: _Server, monkeypatch: pytest.MonkeyPatch) -> None:
    url = _serve(monkeypatch, server, MOVENET, b"unused", None)
    with pytest.raises(AssetError) as info:
        assets.resolve(MOVENET, download=False)
    assert "downloading is turned off" in str(info.value) and url in str(info.value)
    assert server.requests == []


@pytest.mark.usefixtures("no_models_dir")
def test_no_official_download() -> None:
    with pytest.raises(AssetError, match="no official download") as info:
        assets.resolve("yamnet_with_embedding.tflite")
    assert "TM_MODELS_DIR" in str(info.value)


def test_unknown_name() -> None:
    with pytest.raises(AssetError, match="Unknown pretrained file") as info:
        assets.resolve("resnet50.h5")
    assert all(name in str(info.value) for name in assets.ASSETS)
