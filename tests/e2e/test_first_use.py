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
from pathlib import Path

import pytest

from tm_core.project import Project
from tm_core.project_file import ProjectFile
from tm_core.store import ProjectStore, new_token

from .test_app_flow import APP, RPS, main_text
from .test_reload_flow import token_of

SIDEBAR = "[data-testid='stSidebar']"
HEADINGS = {"gather": "Gather examples", "train": "Train", "overfitting": "Overfitting", "test": "Test & export"}
LINKS = ("1 · Gather", "2 · Train", "3 · Overfitting", "4 · Test & export")


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
