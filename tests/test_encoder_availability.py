"""Larger image encoders offered only when their weights can be had; the check never hangs offline.

The network is a loopback server (or a closed loopback port, or one that never answers), so the
tests give the same answers on a machine with or without internet. Nothing here loads weights
that are not real: the availability check looks at file presence only.
"""

from __future__ import annotations

import dataclasses
import hashlib
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tm_core import assets
from tm_core.encoders import available, encoder_label, encoder_names, get_encoder, image
from tm_core.errors import AssetError, InputError

APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")
EFFNET = image.SPECS["efficientnet_v2_b0"].filename
MNV2_100 = image.SPECS["mobilenet_v2_1.0"].filename
MNV2_035 = image.SPECS["mobilenet_v2_0.35"].filename


class Server:
    """Loopback HTTP: answers HEAD and GET for ``files``, 404 otherwise; counts requests."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str]] = []
        srv = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, body: bool) -> None:
                srv.requests.append((self.command, self.path))
                data = srv.files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if body:
                    self.wfile.write(data)

            def do_HEAD(self) -> None:
                self._answer(False)

            def do_GET(self) -> None:
                self._answer(True)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


def closed_port_url() -> str:
    """A loopback URL where nothing listens: connecting is refused at once, as offline."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/weights.h5"


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Empty download cache, no remembered answers, and the larger encoders' downloads pointed at a closed port."""
    monkeypatch.setenv("TM_CACHE_DIR", str(tmp_path / "cache"))
    assets.forget_checks()
    for name in (EFFNET, MNV2_100):
        monkeypatch.setitem(assets.ASSETS, name, dataclasses.replace(assets.ASSETS[name], url=closed_port_url()))
    yield
    assets.forget_checks()


def point(monkeypatch, filename: str, url: str) -> None:
    monkeypatch.setitem(assets.ASSETS, filename, dataclasses.replace(assets.ASSETS[filename], url=url))


def test_larger_encoders_are_listed_after_the_defaults_with_official_keras_sources():
    names = encoder_names("image")
    assert names[:2] == ["mobilenet_v2_0.35", "mobilenet_v1_0.25"]
    assert names[2:] == ["mobilenet_v2_1.0", "efficientnet_v2_b0"]
    assert "EfficientNetV2-B0" in encoder_label("efficientnet_v2_b0")
    # the official files Keras downloads for these (keras/src/applications/*.py), and Keras' own md5 for B0
    import importlib

    mnv2 = importlib.import_module("keras.src.applications.mobilenet_v2")
    effv2 = importlib.import_module("keras.src.applications.efficientnet_v2")
    importlib.reload(assets)  # the official table, not this test's patched one
    try:
        assert assets.ASSETS[MNV2_100].url == mnv2.BASE_WEIGHT_PATH + MNV2_100
        assert assets.ASSETS[EFFNET].url == effv2.BASE_WEIGHTS_PATH + EFFNET
        assert assets.ASSETS[EFFNET].md5 == effv2.WEIGHTS_HASHES["b0"][1]
    finally:
        importlib.reload(assets)


def test_offline_the_larger_encoders_are_unavailable_with_the_reason():
    for name in ("mobilenet_v2_1.0", "efficientnet_v2_b0"):
        assert available(name) == (False, "no internet to download it")
    # the defaults, found in TM_MODELS_DIR, stay available
    assert available("mobilenet_v2_0.35") == (True, "")
    assert available("mobilenet_v1_0.25") == (True, "")
    assert available("movenet_lightning") == (True, "")  # other kinds are checked when they are built


def test_choosing_an_unavailable_encoder_is_refused_with_a_clear_message():
    with pytest.raises(InputError) as info:
        get_encoder("efficientnet_v2_b0")
    message = str(info.value)
    assert "unavailable: no internet to download it" in message and EFFNET in message and "TM_MODELS_DIR" in message


def test_a_server_that_never_answers_does_not_hang_the_check(monkeypatch):
    """A socket that accepts connections but never replies: the check gives up after its timeout."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        point(monkeypatch, EFFNET, f"http://127.0.0.1:{silent.getsockname()[1]}/w.h5")
        assert assets.available(EFFNET, timeout=0.3) == (False, "no internet to download it")


def test_the_answer_is_remembered_and_can_be_forgotten(server, monkeypatch):
    server.files["/effnet.h5"] = b"weights would be here"
    point(monkeypatch, EFFNET, server.base + "/effnet.h5")
    assert available("efficientnet_v2_b0") == (True, "")
    assert available("efficientnet_v2_b0") == (True, "")
    assert server.requests == [("HEAD", "/effnet.h5")]  # one HEAD, no download, the second answer remembered
    assert not (assets.cache_dir() / EFFNET).exists()
    server.files.clear()
    assets.forget_checks()
    ok, reason = available("efficientnet_v2_b0")
    assert not ok and "HTTP 404" in reason


def test_a_file_in_tm_models_dir_makes_it_available_without_the_network(tmp_path, monkeypatch, models_dir):
    folder = tmp_path / "models"
    (folder / "image").mkdir(parents=True)
    monkeypatch.setenv("TM_MODELS_DIR", str(folder))
    point(monkeypatch, MNV2_035, closed_port_url())
    assert available("mobilenet_v2_0.35") == (False, "no internet to download it")
    # the real pretrained file, linked in: available, and it loads
    (folder / "image" / MNV2_035).symlink_to(models_dir / "image" / MNV2_035)
    assert available("mobilenet_v2_0.35") == (True, "")
    assert get_encoder("mobilenet_v2_0.35").dim == 1280
    # for the larger ones the check is file presence only (no weights are faked or loaded here)
    (folder / EFFNET).write_bytes(b"")
    assert available("efficientnet_v2_b0") == (True, "")
    assert available("mobilenet_v2_1.0") == (False, "no internet to download it")


def test_a_download_is_checked_against_the_md5_keras_pins(server, monkeypatch):
    body = b"not the official weights"
    server.files["/b0.h5"] = body
    monkeypatch.setitem(assets.ASSETS, EFFNET, dataclasses.replace(
        assets.ASSETS[EFFNET], url=server.base + "/b0.h5", md5="0" * 32))
    with pytest.raises(AssetError, match="md5 mismatch") as info:
        assets.resolve(EFFNET)
    assert hashlib.md5(body).hexdigest() in str(info.value)
    assert not (assets.cache_dir() / EFFNET).exists()  # nothing unverified kept
    monkeypatch.setitem(assets.ASSETS, EFFNET, dataclasses.replace(
        assets.ASSETS[EFFNET], md5=hashlib.md5(body).hexdigest()))
    assert assets.resolve(EFFNET).read_bytes() == body


def test_train_page_labels_unavailable_networks_and_refuses_them(rps_train, no_webrtc_component):
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    s = at.session_state["teachable_studio"]
    for old, cls in zip(list(s.project.counts()), ("rock", "paper")):
        s.project.rename_class(old, cls)
        list(s.project.add_files((cls, f.name, f.read_bytes()) for f in sorted((rps_train / cls).iterdir())[:6]))
    at.switch_page("app_pages/train.py").run()
    assert not at.exception
    labels = at.selectbox(key="cfg:encoder").options  # as shown to the student
    assert any("EfficientNetV2-B0" in v and v.endswith("(unavailable: no internet to download it)") for v in labels)
    assert any("MobileNetV2, full size" in v and "(unavailable" in v for v in labels)
    assert any("Teachable Machine's network" in v and "unavailable" not in v for v in labels)
    train_button = lambda: next(b for b in at.button if b.label == "Train model")  # noqa: E731
    assert not train_button().disabled
    at.selectbox(key="cfg:encoder").set_value("efficientnet_v2_b0").run()
    assert not at.exception
    assert any("cannot be used here: no internet to download it" in e.value for e in at.error)
    assert train_button().disabled
    assert at.session_state["teachable_studio"].encoder_name == "mobilenet_v2_0.35"  # the usable choice is kept
    at.selectbox(key="cfg:encoder").set_value("mobilenet_v2_0.35").run()
    assert not at.error and not train_button().disabled


@pytest.mark.slow
def test_larger_backbones_build_with_the_app_preprocessing():
    """Architecture only (no weights here, none faked): 1280-d pooled output from the app's normalised pixels.

    EfficientNetV2-B0 normalises 0..255 pixels itself, so its wrapper first undoes ``x / 127.5 - 1``.
    """
    import numpy as np

    for name in ("mobilenet_v2_1.0", "efficientnet_v2_b0"):
        backbone = image.SPECS[name].build(None)
        assert tuple(backbone.output_shape) == (None, 1280), name
    to_pixels = backbone.get_layer("to_pixels")
    pixels = np.array([[0.0, 127.0, 255.0]], np.float32)
    np.testing.assert_allclose(np.asarray(to_pixels(pixels / 127.5 - 1)), pixels, atol=1e-4)
