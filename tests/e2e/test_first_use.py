"""What a new user hits first, in a real browser on a real server (issue 19).

- Every page address works as the very first request a freshly started server gets, and after reloads:
  the app's own navigation, the wide layout, the project panel, the saved project (a server process
  whose first request was a sub-page once showed Streamlit's raw page list and later died).
- A sidebar click right after a project came back ("Welcome back") stays on the page clicked.
- Stop during a long training ends within an epoch, shows the results and keeps the run on the
  server (a reload has it), every time.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
from streamlit.proto.BackMsg_pb2 import BackMsg

from tm_core.project import Project
from tm_core.project_file import ProjectFile
from tm_core.store import ProjectStore, new_token

from .test_app_flow import APP, RPS, main_text, set_number
from .test_reload_flow import token_of

SIDEBAR = "[data-testid='stSidebar']"
HEADINGS = {"gather": "Gather examples", "train": "Train", "overfitting": "Experiments", "test": "Test & export"}
LINKS = ("1 · Gather", "2 · Train", "3 · Experiments", "4 · Test & export")


def saved_project(data: Path, per_class: int = 6) -> str:
    """A project of real photos (rock, paper) saved in the server's store, as a student's earlier visit left
    it; returns its token (what the student's address holds)."""
    p = Project("image")
    items = [(c, f.name, f.read_bytes()) for c in ("rock", "paper") for f in sorted((RPS / c).iterdir())[:per_class]]
    assert not [r for r in p.add_files(items) if not hasattr(r, "id")]
    token = new_token()
    ProjectStore(data).save(token, ProjectFile(p))
    return token


def shows_the_app(page, heading: str, per_class: int) -> None:
    """The page as the app draws it: its heading, the app's navigation labels (never Streamlit's list of
    file names), the wide layout and the project panel with the saved project in it."""
    page.get_by_role("heading", name=heading, exact=True).wait_for(timeout=90_000)
    sidebar = page.locator(SIDEBAR)
    for link in LINKS:
        sidebar.get_by_role("link", name=link).wait_for(timeout=30_000)
    nav = sidebar.locator("[data-testid='stSidebarNav']").inner_text()
    assert not re.search(r"(?m)^\s*(gather|train|overfitting|test|streamlit app)\s*$", nav), nav
    sidebar.get_by_role("heading", name="Project").wait_for(timeout=30_000)
    for cls in ("rock", "paper"):
        sidebar.get_by_text(re.compile(rf"{cls}: {per_class} samples")).wait_for(timeout=30_000)
    width = page.locator("[data-testid='stMainBlockContainer']").evaluate("e => e.getBoundingClientRect().width")
    assert width > 900, f"the main column is {width:.0f} px wide: the narrow layout, not the app's wide one"


@pytest.mark.parametrize("name", ["train", "test", "gather", "overfitting"])
def test_a_page_address_works_as_a_fresh_servers_first_request(name, server, page, tmp_path, monkeypatch):
    monkeypatch.setenv("TM_DATA_DIR", str(tmp_path / "data"))
    token = saved_project(tmp_path / "data")
    srv = server(APP)  # nobody has opened anything on it yet
    page.goto(f"{srv.url}/{name}?project={token}")
    shows_the_app(page, HEADINGS[name], 6)
    assert token_of(page) == token
    for _ in range(2):
        page.reload()
        shows_the_app(page, HEADINGS[name], 6)
        assert token_of(page) == token
    page.wait_for_timeout(5000)  # the process once died a few seconds after such a reload
    assert srv.proc.poll() is None, f"the server process ended (code {srv.proc.returncode})"
    page.reload()
    shows_the_app(page, HEADINGS[name], 6)
    assert "Traceback" not in main_text(page)


def stays_on(page, heading: str, seconds: float) -> list[str]:
    """The address's path and the page's main heading, every 0.2 s for ``seconds``."""
    seen = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        titles = page.locator("[data-testid='stMain'] h1").all_inner_texts()
        seen.append(f"{urlparse(page.url).path} {'|'.join(t.strip() for t in titles)}")
        page.wait_for_timeout(200)
    return seen


class StreamTap:
    """The page's websocket to the server, passed through and recorded: every message the page sent, and a
    way to send the server one more, exactly as the page would."""

    def __init__(self, page):
        self.sent: list[BackMsg] = []
        self.server = None
        page.route_web_socket(re.compile(r".*/_stcore/stream$"), self._route)

    def _route(self, ws) -> None:
        self.server = ws.connect_to_server()  # the server's messages reach the page unchanged

        def from_page(message) -> None:
            if isinstance(message, bytes):
                self.sent.append(BackMsg.FromString(message))
            self.server.send(message)

        ws.on_message(from_page)

    def send(self, msg: BackMsg) -> None:
        self.server.send(msg.SerializeToString())


def test_a_late_event_of_the_page_left_does_not_take_the_student_back(server, page, tmp_path, monkeypatch):
    """Right after "Welcome back" a sidebar click opened the page, then the app went back to Gather: the
    Gather page's camera component reported its first state (a few seconds after the page appears), and
    the browser sent it stamped with the Gather page, after the click. Here that late event is sent again,
    byte for byte as the browser makes it, just after the click; then real clicks at once after a reload."""
    monkeypatch.setenv("TM_DATA_DIR", str(tmp_path / "data"))
    token = saved_project(tmp_path / "data")
    srv = server(APP)
    tap = StreamTap(page)
    page.goto(f"{srv.url}/?project={token}")
    page.get_by_text(re.compile(r"Welcome back")).wait_for(timeout=90_000)
    shows_the_app(page, "Gather examples", 6)
    deadline = time.monotonic() + 30
    while not [m for m in tap.sent if m.rerun_script.fragment_id] and time.monotonic() < deadline:
        page.wait_for_timeout(200)  # a fragment's run on Gather: it carries the Gather page and its widgets
    on_gather = [m for m in tap.sent if m.WhichOneof("type") == "rerun_script" and m.rerun_script.fragment_id][-1]
    assert f"project={token}" in on_gather.rerun_script.query_string
    late = BackMsg()
    late.CopyFrom(on_gather)
    late.rerun_script.fragment_id = ""  # a widget's event (the camera's first state), not a fragment's timer
    late.rerun_script.is_auto_rerun = False

    page.locator(SIDEBAR).get_by_role("link", name="2 · Train").click()
    page.get_by_role("heading", name="Train", exact=True).wait_for(timeout=30_000)
    tap.send(late)
    seen = stays_on(page, "Train", 6)
    # The address and the page stay Train's (while the late event's run is sent back the page may be
    # blank for a moment: never Gather's).
    assert all(s in ("/train Train", "/train ") for s in seen) and seen[-1] == "/train Train", " ; ".join(seen)
    assert token_of(page) == token

    # The same as a student does it: reload Gather, click the moment "Welcome back" shows (a tab of its own,
    # its messages untouched).
    tab = page.context.browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
    try:
        for link, heading, path in [("2 · Train", "Train", "/train"), ("3 · Experiments", "Experiments", "/overfitting"),
                                    ("4 · Test & export", "Test & export", "/test")]:
            tab.goto(f"{srv.url}/?project={token}")  # a new session: the project comes back
            tab.get_by_text(re.compile(r"Welcome back")).wait_for(timeout=90_000)
            tab.locator(SIDEBAR).get_by_role("link", name=link).click()
            tab.get_by_role("heading", name=heading, exact=True).wait_for(timeout=30_000)
            seen = stays_on(tab, heading, 6)
            assert all(s in (f"{path} {heading}", f"{path} ") for s in seen) and seen[-1] == f"{path} {heading}", \
                f"{link}: {' ; '.join(seen)}"
            assert token_of(tab) == token
    finally:
        tab.context.close()


def test_stop_ends_the_training_shows_the_results_and_keeps_the_run_every_time(server, page, tmp_path, monkeypatch):
    """200 epochs, Train, Stop, three times: each Stop ends the training within about an epoch, the results
    and the stopped run show, and the run is on the server (a reload has it). While it trains the page's Stop
    is the only one: Streamlit's own in the top bar ended the script run with nothing to follow (the page
    froze at "Epoch 55 of 200", the run was lost on a reload). The message that button sends is sent
    once more at the end, through the page's own connection: the run is still kept on the server."""
    monkeypatch.setenv("TM_DATA_DIR", str(tmp_path / "data"))
    token = saved_project(tmp_path / "data", per_class=10)
    srv = server(APP)
    tap = StreamTap(page)
    page.goto(f"{srv.url}/train?project={token}")
    shows_the_app(page, "Train", 10)
    page.get_by_text("Advanced").click()
    set_number(page, "Epochs", "200")
    sidebar, main = page.locator(SIDEBAR), page.locator("[data-testid='stMain']")
    top_bar_stop = page.get_by_test_id("stStatusWidget").get_by_role("button", name="Stop")
    for attempt in range(1, 5):
        page.get_by_role("button", name="Train model").click()
        page.get_by_text(re.compile(r"^Epoch (\d+) of 200$")).wait_for(timeout=120_000)
        page.wait_for_timeout(300 * attempt)  # a different moment each time
        assert not top_bar_stop.is_visible()  # one Stop only while it trains
        if attempt < 4:
            main.get_by_role("button", name="Stop", exact=True).click()
        else:
            stop = BackMsg()
            stop.stop_script = True  # what Streamlit's own Stop sends
            tap.send(stop)
            page.wait_for_timeout(3000)
            break
        clicked = time.monotonic()
        stopped = page.get_by_text(re.compile(r"Stopped after (\d+) of 200 epochs"))
        stopped.wait_for(timeout=20_000)
        after = int(re.search(r"Stopped after (\d+)", stopped.inner_text()).group(1))
        label = re.compile(rf"Trained: Run {attempt} · 200 epochs .* · stopped at {after} · test accuracy")
        sidebar.get_by_text(label).wait_for(timeout=20_000)
        print(f"Stop {attempt}: results after {time.monotonic() - clicked:.1f} s, stopped at epoch {after}")
        assert 0 < after < 200
        assert main.get_by_role("button", name="Stop", exact=True).count() == 0  # over, not still drawn
        assert top_bar_stop.is_visible() or not page.get_by_text("Running...").is_visible()
        deadline = time.monotonic() + 15  # the run is on the server as soon as the page shows it
        while time.monotonic() < deadline and len(ProjectStore(tmp_path / "data").load(token).runs) < attempt:
            time.sleep(0.2)
        runs = ProjectStore(tmp_path / "data").load(token).runs
        assert [r.label.split(" ·")[0] for r in runs] == [f"Run {i}" for i in range(1, attempt + 1)]
        assert runs[-1].run.stopped and len(runs[-1].run.history) == after
    runs = ProjectStore(tmp_path / "data").load(token).runs  # the run ended by the top bar's message is kept
    assert len(runs) == 4 and runs[-1].run.stopped and 0 < len(runs[-1].run.history) < 200
    page.reload()  # a reload has every run
    page.get_by_text(re.compile(r"Welcome back: your project is here again \(20 samples, 4 trained models\)")).wait_for(
        timeout=90_000)
    shows_the_app(page, "Train", 10)
    sidebar.get_by_text(re.compile(r"Trained: Run 4 · 200 epochs .* · stopped at")).wait_for(timeout=30_000)
