"""The project survives a reload in a real browser: the page address carries the project's token,
the server keeps the project as the student works (TM_DATA_DIR), and a reload (a new Streamlit
session) brings back the samples and the trained model. Another student's tab gets a token and a
project of its own, and never sees the first one's."""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlparse

from .test_app_flow import APP, main_text, open_page, rps_zip, set_number, upload_zip


def token_of(page, timeout: float = 30) -> str:
    """The project token in the page's address (the app puts it there on its first run)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        token = parse_qs(urlparse(page.url).query).get("project", [""])[0]
        if token:
            return token
        page.wait_for_timeout(200)
    raise AssertionError(f"no project token in the address {page.url}")


def test_reload_brings_the_project_back_and_other_tabs_get_their_own(server, browser, page, tmp_path):
    srv = server(APP)
    page.goto(srv.url)
    page.get_by_role("heading", name="Gather examples").wait_for(timeout=90_000)
    token = token_of(page)
    assert re.fullmatch(r"[A-Za-z0-9_-]{32}", token)

    upload_zip(page, rps_zip(tmp_path, per_class=6), 18)
    open_page(page, "2 · Train", "Train")
    assert token_of(page) == token  # switching pages keeps the project in the address
    page.get_by_text("Advanced").click()
    set_number(page, "Epochs", "20")
    page.get_by_role("button", name="Train model").click()
    sidebar = page.locator("[data-testid='stSidebar']")
    trained = sidebar.get_by_text(re.compile(r"Trained: Run 1 · 20 epochs.*test accuracy \d+%"))
    trained.wait_for(timeout=120_000)
    said = trained.inner_text()

    # Reload: a new session, the same address. The project and its model come back, on this page.
    page.reload()
    page.get_by_role("heading", name="Train", exact=True).wait_for(timeout=90_000)
    page.get_by_text(re.compile(r"Welcome back: your project is here again \(18 samples, 1 trained model\)")).wait_for(
        timeout=60_000)
    for cls in ("paper", "rock", "scissors"):
        sidebar.get_by_text(re.compile(rf"{cls}: 6 samples")).wait_for(timeout=10_000)
    assert sidebar.get_by_text(re.compile(r"Trained: Run 1")).inner_text() == said
    assert token_of(page) == token
    open_page(page, "4 · Test & export", "Test & export")
    page.get_by_role("heading", name="Live webcam").wait_for(timeout=30_000)
    assert "No model yet" not in main_text(page)

    # Another student (another browser context: its own session) gets a token and a project of its own.
    other = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
    try:
        other.goto(srv.url)
        other.get_by_role("heading", name="Gather examples").wait_for(timeout=90_000)
        theirs = token_of(other)
        assert theirs != token
        other.locator("[data-testid='stSidebar']").get_by_text(re.compile(r"· 0 samples")).wait_for(timeout=30_000)
        assert token not in other.content()
        # A made-up address reaches nothing: a new empty project, and the page says so.
        guess = token[:-1] + ("A" if token[-1] != "A" else "B")
        other.goto(f"{srv.url}/?project={guess}")
        other.get_by_text(re.compile(r"does not lead to a project on this server")).wait_for(timeout=60_000)
        deadline = time.monotonic() + 30
        while token_of(other) == guess and time.monotonic() < deadline:
            other.wait_for_timeout(200)
        assert token_of(other) not in (guess, token)
        other.locator("[data-testid='stSidebar']").get_by_text(re.compile(r"· 0 samples")).wait_for(timeout=30_000)
    finally:
        other.context.close()
