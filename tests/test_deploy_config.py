"""The deploy files (.streamlit/config.toml, deploy/, docs/deploy.md) agree with the app and with each
other, and the commands in them run: Debian's nginx accepts deploy/nginx.conf inside Debian's own
nginx.conf, systemd accepts the unit files, and the unit's own command line starts a server that
answers. The browser test tests/e2e/test_two_servers.py runs the same files with real students."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest
from streamlit import config as st_config

from tm_core import limits

from conftest import REPO

CONFIG = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
NGINX_SITE = (REPO / "deploy" / "nginx.conf").read_text()
UNITS = [REPO / "deploy" / "teachable-studio.service", REPO / "deploy" / "teachable-studio@.service"]
DOCS = (REPO / "docs" / "deploy.md").read_text()
MIB = 1024**2


def test_uploaders_say_the_apps_own_limit():
    assert "TM_MAX_FILE_MB" not in os.environ  # the default limit is what config.toml must match
    assert CONFIG["server"]["maxUploadSize"] * MIB == limits.FILE_BYTES
    # nginx must let such an upload through (its own default is 1 MB).
    size = re.search(r"client_max_body_size (\d+)m;", NGINX_SITE)
    assert size and int(size.group(1)) * MIB > limits.FILE_BYTES


def test_students_get_no_developer_menu():
    assert CONFIG["client"]["toolbarMode"] in ("viewer", "minimal")


def test_nginx_sends_to_the_ports_the_units_and_docs_use():
    ports = re.findall(r"server 127\.0\.0\.1:(\d+);", NGINX_SITE)
    assert len(ports) >= 2
    for port in ports:
        assert f"teachable-studio@{port}" in DOCS
    assert "hash $teachable_route consistent;" in NGINX_SITE
    assert re.search(r"location /_stcore/stream \{[^}]*proxy_set_header Upgrade \$http_upgrade;", NGINX_SITE)


def test_the_docs_name_files_and_commands_that_exist():
    for path in re.findall(r"`((?:deploy|\.streamlit|benchmarks|tests/e2e)/[\w.@/-]+)`", DOCS):
        if path != ".streamlit/secrets.toml":  # the administrator's own copy of the example
            assert (REPO / path).exists(), path
    # Community Cloud installs packages.txt with apt: the packages the docs name, one a line.
    packages = (REPO / "packages.txt").read_text().split()
    assert packages and all(f"`{p}`" in DOCS for p in packages)
    assert "python -m tm_core download-models" in DOCS
    assert "benchmarks/memory_server.py" in DOCS


def test_debian_nginx_accepts_the_site(tmp_path):
    nginx, debian = Path("/usr/sbin/nginx"), Path("/etc/nginx/nginx.conf")
    if not (nginx.exists() and debian.exists()):
        if os.environ.get("CI"):
            pytest.fail("nginx is missing: .ci/run installs it")
        pytest.skip("Debian's nginx is not installed")
    main = debian.read_text()
    assert "include /etc/nginx/sites-enabled/*;" in main
    (tmp_path / "site").write_text(NGINX_SITE)
    main = main.replace("include /etc/nginx/sites-enabled/*;", f"include {tmp_path / 'site'};")
    main = re.sub(r"^pid .*$", f"pid {tmp_path / 'nginx.pid'};", main, flags=re.M)
    (tmp_path / "nginx.conf").write_text(main)
    done = subprocess.run([str(nginx), "-t", "-c", str(tmp_path / "nginx.conf"), "-e", str(tmp_path / "error.log")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "test is successful" in done.stderr


def _exec_start(unit: Path) -> list[str]:
    line = next(x for x in unit.read_text().splitlines() if x.startswith("ExecStart="))
    return shlex.split(line.removeprefix("ExecStart="))


def test_units_run_streamlit_with_options_it_knows():
    known = set(st_config.get_config_options())
    for unit in UNITS:
        argv = _exec_start(unit)
        assert argv[1:5] == ["-m", "streamlit", "run", "streamlit_app.py"], argv
        options = [a.removeprefix("--") for a in argv[5::2]]
        assert options and set(options) <= known, options
        text = unit.read_text()
        assert "WorkingDirectory=/opt/teachable-studio" in text  # where config.toml is read from
        for var in ("TM_DATA_DIR", "TM_MODELS_DIR"):
            assert f"Environment={var}=/srv/teachable-studio/" in text


def _local(unit: Path, port: int, tmp: Path) -> str:
    """The unit with this checkout's paths and a free port (what an administrator's copy would hold)."""
    text = unit.read_text().replace("/opt/teachable-studio/.venv/bin/python", sys.executable)
    text = text.replace("/opt/teachable-studio", str(REPO)).replace("/srv/teachable-studio", str(tmp))
    return text.replace("--server.port 8501", f"--server.port {port}").replace("--server.address 0.0.0.0",
                                                                               "--server.address 127.0.0.1")


def test_systemd_accepts_the_units(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    for unit in UNITS:
        name = unit.name.replace("@.", "@8501.")  # an instance of the template: %i is its port
        (tmp_path / name).write_text(_local(unit, 8501, tmp_path))
        done = subprocess.run([analyze, "verify", str(tmp_path / name)], capture_output=True, text=True, cwd=tmp_path)
        said = done.stderr + done.stdout
        assert done.returncode == 0, said


@pytest.mark.slow
def test_the_units_command_starts_a_server(tmp_path):
    """The single-process unit's ExecStart, run as systemd would (its working directory and environment)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    text = _local(UNITS[0], port, tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TM_")}
    env.update(dict(re.findall(r"^Environment=(\w+)=(.*)$", text, re.M)))
    cwd = re.search(r"^WorkingDirectory=(.*)$", text, re.M).group(1)
    argv = shlex.split(re.search(r"^ExecStart=(.*)$", text, re.M).group(1))
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert proc.poll() is None, proc.stdout.read().decode(errors="replace")
                assert time.monotonic() < deadline, "the unit's command did not answer in 60 s"
                time.sleep(0.3)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/host-config", timeout=5) as r:
            assert r.status == 200
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)
