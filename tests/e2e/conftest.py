"""Browser tests: a real ``streamlit run`` server driven by a real headless Chromium.

Everything here is marked ``e2e``. ``server(app_path)`` starts an app on a free 127.0.0.1 port
(killed with its whole process group afterwards); ``browser`` is one Chromium for the session,
with a fake camera playing a real video. WebRTC stays on loopback: the server runs with
``TM_WEBRTC_LOOPBACK=1`` (aioice offers only 127.0.0.1) and Chromium may pair with it.

Without /usr/bin/chromium or Playwright the browser tests are skipped, except under CI
(env ``CI`` set), where they fail. See docs/testing.md for the facts behind the flags.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SHARED = REPO.parent / "shared"
FAKE_VIDEO = SHARED / "datasets" / "video" / "person_seated_raga_640x360_15fps.mjpeg"
CHROMIUM = Path("/usr/bin/chromium")
HEALTH_TIMEOUT = 60.0

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
    "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
    f"--use-file-for-fake-video-capture={FAKE_VIDEO}",
    "--allow-loopback-in-peer-connection",
]

_SERVERS = pytest.StashKey[list]()


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.e2e)


def _missing(what: str):
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing: CI must run the browser tests")
    pytest.skip(f"{what} is not installed here")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One ``streamlit run`` process (group) and its log."""

    def __init__(self, app: Path):
        self.app = Path(app)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(tempfile.mkstemp(prefix="streamlit_", suffix=".log")[1])
        env = {**os.environ, "TM_WEBRTC_LOOPBACK": "1", "PYTHONPATH": os.pathsep.join(
            p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)}
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        if not env.get("TM_MODELS_DIR") and (SHARED / "models").is_dir():
            env["TM_MODELS_DIR"] = str(SHARED / "models")
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(self.app),
             "--server.headless", "true", "--server.address", "127.0.0.1",
             "--server.port", str(self.port), "--browser.gatherUsageStats", "false",
             # No file watcher: it floods on the repo's .venv and tests never edit sources.
             "--server.fileWatcherType", "none"],
            cwd=REPO, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_healthy(self, timeout: float = HEALTH_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with code {self.proc.returncode}\n--- server log ---\n{self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.25)
        raise RuntimeError(f"streamlit not healthy after {timeout:.0f} s\n--- server log ---\n{self.log()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
            except ProcessLookupError:
                pass
        self._log.close()
        self.log_path.unlink(missing_ok=True)


@pytest.fixture
def server(request):
    """Factory: ``server(app_path) -> Server`` (``.url``, ``.log()``), healthy and on loopback."""
    started: list[Server] = []
    request.node.stash[_SERVERS] = started

    def start(app_path) -> Server:
        srv = Server(app_path)
        started.append(srv)
        try:
            srv.wait_healthy()
        except RuntimeError as err:
            pytest.fail(str(err), pytrace=False)
        return srv

    yield start
    for srv in started:
        srv.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On failure, attach the log of every server the test started (before teardown deletes it)."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and report.when == "call":
        for srv in item.stash.get(_SERVERS, []):
            report.sections.append((f"streamlit log ({srv.app.name}, port {srv.port})", srv.log()[-20000:]))


@pytest.fixture(scope="session")
def playwright():
    """Playwright's driver, once per session (a second sync_playwright() in one process is refused)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright (pip install playwright)")
    if not CHROMIUM.exists():
        _missing(f"{CHROMIUM} (apt-get install chromium fonts-liberation)")
    with sync_playwright() as p:
        yield p


def launch(playwright, *extra_args: str, fake_video: bool = True):
    """A headless Debian Chromium with the fake media devices (the video file unless ``fake_video`` is False)."""
    args = [a for a in CHROMIUM_ARGS if fake_video or not a.startswith("--use-file-for-fake-video-capture")]
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=[*args, *extra_args])


@pytest.fixture(scope="session")
def browser(playwright):
    """One headless Chromium for the session, with the fake camera; skipped if not installed."""
    if not FAKE_VIDEO.is_file():
        _missing(str(FAKE_VIDEO))
    browser = launch(playwright)
    yield browser
    browser.close()


@pytest.fixture
def page(browser):
    """A fresh browser context and page (its own cookies, so its own Streamlit session)."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    yield page
    context.close()
