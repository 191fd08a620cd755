"""Beyond one machine's one process: two real app servers on one TM_DATA_DIR, reached directly and
through a real nginx running the shipped deploy/nginx.conf (only its ports changed), driven by
Chromium as two students' browsers would be. A project gathered and trained on one process opens on
the other whole (samples, trained run, a working model), and what the other adds is kept too."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import time
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tm_core import limits

from .conftest import _free_port, _missing
from .test_app_flow import APP, RPS, main_text, open_page, rps_zip, set_number, upload_zip
from .test_reload_flow import token_of

REPO = Path(__file__).resolve().parents[2]
NGINX = Path("/usr/sbin/nginx")
SITE = REPO / "deploy" / "nginx.conf"
ROUTE_COOKIE = "teachable_route"


class Nginx:
    """nginx in the foreground with a temporary prefix, serving ``deploy/nginx.conf`` on a loopback port
    in front of the app processes on ``ports``; its access log names each request's route and upstream."""

    def __init__(self, prefix: Path, ports: list[int]):
        if not NGINX.exists():
            _missing(f"{NGINX} (apt-get install nginx)")
        self.prefix = prefix
        prefix.mkdir(parents=True)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        site = SITE.read_text()
        for shipped, here in [("listen 80;", f"listen 127.0.0.1:{self.port};"),
                              ("server 127.0.0.1:8501;", f"server 127.0.0.1:{ports[0]};"),
                              ("server 127.0.0.1:8502;", f"server 127.0.0.1:{ports[1]};")]:
            assert site.count(shipped) == 1, f"deploy/nginx.conf should have {shipped!r} once"
            site = site.replace(shipped, here)
        (prefix / "site.conf").write_text(site)
        temp = "\n".join(f"    {kind}_temp_path {prefix / kind};" for kind in
                         ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        (prefix / "nginx.conf").write_text(f"""
daemon off;
worker_processes 1;
pid {prefix / 'nginx.pid'};
error_log {prefix / 'error.log'} info;
{'user root;' if os.geteuid() == 0 else ''}
events {{ worker_connections 512; }}
http {{
{temp}
    include {prefix / 'site.conf'};
    log_format routes '$teachable_route $upstream_addr $status $request_uri';
    access_log {prefix / 'access.log'} routes;
}}
""")
        check = subprocess.run([NGINX, "-t", "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e",
                                str(prefix / "error.log")], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        self.proc = subprocess.Popen([NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e",
                                      str(prefix / "error.log")], start_new_session=True,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"nginx did not answer:\n{self.log()}") from None
                time.sleep(0.2)

    def log(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-5000:] for p in
                         (self.prefix / "error.log", self.prefix / "access.log") if p.exists())

    def requests(self) -> list[tuple[str, str, str, str]]:
        """(route, upstream address, status, uri) of every request nginx has finished."""
        path = self.prefix / "access.log"
        return [tuple(line.split(" ", 3)) for line in path.read_text().splitlines()] if path.exists() else []

    def route_to(self, port: int, tries: int = 40) -> str:
        """A route cookie value that nginx sends to the app process on ``port`` (new visitors get a
        random one: ask as new visitors until one lands there)."""
        for _ in range(tries):
            with urllib.request.urlopen(f"{self.url}/", timeout=30) as r:
                cookie = r.headers.get("Set-Cookie", "")
            route = re.match(rf"{ROUTE_COOKIE}=([0-9a-f]+);", cookie).group(1)
            time.sleep(0.05)
            served = {up for rt, up, _, _ in self.requests() if rt == route}
            assert len(served) == 1, served
            if served == {f"127.0.0.1:{port}"}:
                return route
        pytest.fail(f"no route to port {port} in {tries} new visitors")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGQUIT)  # nginx's graceful stop
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


@pytest.fixture
def two_servers(server, tmp_path, monkeypatch):
    """Two app processes on one TM_DATA_DIR (the servers copy this process's environment)."""
    monkeypatch.setenv("TM_DATA_DIR", str(tmp_path / "projects"))
    return server(APP), server(APP)


def big_photo_zip(tmp_path: Path) -> Path:
    """Six real photos per class and one more rock photo as a large PNG (1600 px, with a little noise as
    a camera's sensor gives): a zip over 1 MB, nginx's own default upload limit."""
    path = rps_zip(tmp_path, per_class=6)
    photo = sorted((RPS / "rock").iterdir())[1]
    big = io.BytesIO()
    with Image.open(photo) as im:
        pixels = np.asarray(im.convert("RGB").resize((1600, 1600), Image.BICUBIC), np.int16)
    noise = np.random.default_rng(0).integers(-6, 7, pixels.shape)
    Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8)).save(big, "PNG")
    with zipfile.ZipFile(path, "a") as z:
        z.writestr("rps/rock/large.png", big.getvalue())
    assert path.stat().st_size > 1024**2
    return path


def extra_zip(tmp_path: Path) -> Path:
    path = tmp_path / "extra.zip"
    with zipfile.ZipFile(path, "w") as z:
        for f in sorted((RPS / "paper").iterdir())[-4:]:
            z.write(f, f"more/paper/{f.name}")
    return path


def student(browser, url: str, route: str | None = None):
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    if route is not None:
        context.add_cookies([{"name": ROUTE_COOKIE, "value": route, "url": url}])
    return context.new_page()


def gather_and_train(page, url: str, zip_path: Path, total: int) -> tuple[str, str]:
    """Open the app, check the uploader and the toolbar, import the zip, train 20 epochs: (project
    token, what the sidebar says of the run)."""
    page.goto(url)
    page.get_by_role("heading", name="Gather examples").wait_for(timeout=120_000)
    uploader_says_the_real_limit_and_no_deploy_button(page)
    token = token_of(page)
    upload_zip(page, zip_path, total)
    open_page(page, "2 · Train", "Train")
    page.get_by_text("Advanced").click()
    set_number(page, "Epochs", "20")
    page.get_by_role("button", name="Train model").click()
    trained = page.locator("[data-testid='stSidebar']").get_by_text(
        re.compile(r"Trained: Run 1 · 20 epochs.*test accuracy \d+%"))
    trained.wait_for(timeout=180_000)
    return token, trained.inner_text()


def opens_whole(page, url: str, token: str, said: str, total: int) -> None:
    """The project link opened on another process: same samples, same trained run, a usable model."""
    page.goto(f"{url}/?project={token}")
    page.get_by_text(re.compile(rf"Welcome back: your project is here again \({total} samples, 1 trained model\)")
                     ).wait_for(timeout=120_000)
    sidebar = page.locator("[data-testid='stSidebar']")
    sidebar.get_by_text(re.compile(rf"· {total} samples")).wait_for(timeout=30_000)
    assert sidebar.get_by_text(re.compile(r"Trained: Run 1")).inner_text() == said
    assert token_of(page) == token
    open_page(page, "4 · Test & export", "Test & export")
    page.get_by_role("heading", name="Live webcam").wait_for(timeout=60_000)
    assert "No model yet" not in main_text(page)


def adds_and_is_kept(page, other, url: str, token: str, tmp_path: Path, total: int) -> None:
    """``page`` (on one process) adds four photos; ``other`` (on the other) reloads and has them all."""
    open_page(page, "1 · Gather", "Gather examples")
    upload_zip(page, extra_zip(tmp_path), total + 4)
    other.goto(f"{url}/?project={token}")
    other.locator("[data-testid='stSidebar']").get_by_text(re.compile(rf"· {total + 4} samples")).wait_for(
        timeout=120_000)
    assert other.locator("[data-testid='stSidebar']").get_by_text(re.compile(r"Trained: Run 1")).count() == 1


def uploader_says_the_real_limit_and_no_deploy_button(page) -> None:
    """.streamlit/config.toml: the zip uploader says the app's own limit; students get no Deploy button."""
    mb = limits.FILE_BYTES // 1024**2
    expander = page.locator("[data-testid='stExpander']").filter(has_text="Import a zip of class folders")
    dropzone = expander.locator("[data-testid='stFileUploaderDropzone']")
    if not dropzone.is_visible():
        expander.get_by_text("Import a zip of class folders").click()
    dropzone.wait_for(timeout=30_000)
    deadline = time.monotonic() + 30
    while not re.search(rf"\b{mb}\s?MB", dropzone.inner_text()) and time.monotonic() < deadline:
        page.wait_for_timeout(300)
    said = dropzone.inner_text()
    assert re.search(rf"\b{mb}\s?MB", said) and "200" not in said, said
    assert page.get_by_role("button", name="Deploy").count() == 0
    assert page.locator("[data-testid='stAppDeployButton']").count() == 0


def test_two_processes_one_data_folder(two_servers, browser, tmp_path):
    one, two = two_servers
    first = student(browser, one.url)
    second = student(browser, two.url)
    try:
        token, said = gather_and_train(first, one.url, rps_zip(tmp_path, per_class=6), 18)
        opens_whole(second, two.url, token, said, 18)
        adds_and_is_kept(second, first, one.url, token, tmp_path, 18)
    finally:
        first.context.close()
        second.context.close()


def test_two_processes_behind_nginx(two_servers, browser, tmp_path):
    one, two = two_servers
    proxy = Nginx(tmp_path / "nginx", [one.port, two.port])
    first = second = None
    try:
        route_one, route_two = proxy.route_to(one.port), proxy.route_to(two.port)
        first = student(browser, proxy.url, route_one)
        second = student(browser, proxy.url, route_two)
        token, said = gather_and_train(first, proxy.url, big_photo_zip(tmp_path), 19)
        opens_whole(second, proxy.url, token, said, 19)
        adds_and_is_kept(second, first, proxy.url, token, tmp_path, 19)
        # Sticky: every request of each browser went to its own process, the websocket and uploads too.
        served = proxy.requests()
        for route, port in ((route_one, one.port), (route_two, two.port)):
            mine = [(up, status, uri) for rt, up, status, uri in served if rt == route]
            assert {up for up, _, _ in mine} == {f"127.0.0.1:{port}"}, mine
            assert any(uri.startswith("/_stcore/upload_file") for _, _, uri in mine), mine
        assert any(rt == route_one and status == "101" and uri.startswith("/_stcore/stream")
                   for rt, _, status, uri in served), served  # the first page's websocket, closed by its reload
        assert not [r for r in served if r[2] in ("413", "502", "504")], served
    except Exception:
        print(proxy.log())
        raise
    finally:
        for page in (first, second):
            if page is not None:
                page.context.close()
        proxy.stop()
