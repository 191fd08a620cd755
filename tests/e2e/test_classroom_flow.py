"""A class on one address, in a real browser on a real server: each example project opens with one
click, trains and reaches its documented held-out accuracy (timed from opening the app); a teacher's
share link gives two students (two browser contexts) projects of their own while the copy stays as it
was; and a second device on a student's own link (a phone) takes a camera photo that the first shows
without a reload (timed)."""

from __future__ import annotations

import os
import re
import time
from urllib.parse import parse_qs, urlparse

import pytest

from tm_core import examples
from tm_core.store import ProjectStore

from .test_app_flow import APP, main_text, open_page
from .test_reload_flow import token_of

SIDEBAR = "[data-testid='stSidebar']"


def store() -> ProjectStore:
    return ProjectStore(os.environ["TM_DATA_DIR"])  # the servers inherit it from tests/conftest.py


def new_page(browser):
    return browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()


def gather(page, url: str) -> None:
    page.goto(url)
    page.get_by_role("heading", name="Gather examples").wait_for(timeout=90_000)


def sidebar_shows(page, cls: str, n: int, timeout: float = 30) -> None:
    page.locator(SIDEBAR).get_by_text(re.compile(rf"{re.escape(cls)}: {n} samples?$")).wait_for(timeout=timeout * 1000)


def open_example(page, ex) -> None:
    """One click on the example's button (on the empty start page), then its classes show."""
    first, *rest = ex.classes.items()
    button = page.get_by_role("button", name=ex.title, exact=True)
    button.wait_for(timeout=60_000)  # the start page's heading shows a moment before its example buttons
    # A click while the page is being drawn again (its first runs) can be lost: clicked again if so.
    for attempt in range(8):
        if button.is_visible():  # still the empty start page: (again) as a student would
            button.click()
        try:
            sidebar_shows(page, *first, timeout=20)
            break
        except Exception:  # noqa: BLE001 - Playwright's TimeoutError
            print(f"{ex.title}: not open {20 * (attempt + 1)} s after the first click")
    else:
        pytest.fail(f"{ex.title} did not open; sidebar: {page.locator(SIDEBAR).inner_text()[:600]!r}")
    for cls, n in rest:
        sidebar_shows(page, cls, n, timeout=30)


@pytest.mark.slow
@pytest.mark.parametrize("name", [e.name for e in examples.examples()])
def test_an_example_opens_trains_and_reaches_its_documented_accuracy(server, browser, name):
    ex = examples.get(name)
    srv = server(APP)
    page = new_page(browser)
    start = time.monotonic()
    gather(page, srv.url)
    shown = time.monotonic()
    open_example(page, ex)  # click 1
    page.get_by_text(f"Where the examples come from: {ex.attribution[:40]}").wait_for(timeout=10_000)
    opened = time.monotonic()
    open_page(page, "2 · Train", "Train")  # click 2
    page.get_by_role("button", name="Train model").click()  # click 3
    metric = page.locator("[data-testid='stMetric']").filter(has_text="Test accuracy")
    metric.wait_for(timeout=240_000)
    page.locator("[data-testid='stVegaLiteChart']").nth(1).wait_for(timeout=30_000)  # accuracy and loss charts
    trained = time.monotonic()
    value = int(re.search(r"(\d+)%", metric.inner_text())[1]) / 100
    print(f"{name}: first page {shown - start:.1f} s, example open {opened - shown:.1f} s, trained with charts "
          f"{trained - opened:.1f} s; from opening the app {trained - start:.1f} s in 3 clicks; held-out {value:.2f} "
          f"(documented {ex.held_out_accuracy:.2f})")
    assert value >= ex.held_out_accuracy - 0.02, main_text(page)[-1500:]
    assert store().load(token_of(page)).project.counts() == ex.classes  # saved as the student's own project


@pytest.mark.slow
def test_a_teacher_shares_a_copy_and_two_students_get_projects_of_their_own(server, browser):
    srv = server(APP)
    ex = examples.get("rps-image")
    teacher = new_page(browser)
    gather(teacher, srv.url)
    open_example(teacher, ex)
    owner = token_of(teacher)
    teacher.get_by_text("Share a copy with students").click()
    teacher.get_by_role("button", name="Make a share link").click()
    code = teacher.locator("[data-testid='stCode']").filter(has_text="?copy=")
    code.wait_for(timeout=30_000)
    link = code.inner_text().strip()
    assert link.startswith(srv.url)  # the address the browser shows (st.context.url), not a guess
    teacher.get_by_text("Students can scan this with a phone.").wait_for(timeout=10_000)  # under the QR code
    copy = parse_qs(urlparse(link).query)["copy"][0]
    copies = store().copies()
    before = copies.revision(copy)

    students = []
    for _ in range(2):
        page = new_page(browser)
        page.goto(link)
        page.get_by_text("This is your own copy of your teacher's project").wait_for(timeout=90_000)
        token = token_of(page)
        assert "copy=" not in page.url
        for cls, n in ex.classes.items():
            sidebar_shows(page, cls, n)
        page.get_by_role("button", name="Add a class").click()  # each student changes their own project
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(store().load(token).project.classes) != 4:
            time.sleep(0.3)
        students.append(token)
    assert len({owner, copy, *students}) == 4
    assert [len(store().load(t).project.classes) for t in students] == [4, 4]
    assert len(store().load(owner).project.classes) == 3
    assert copies.revision(copy) == before and copies.open(copy).project.counts() == ex.classes

    teacher.get_by_role("button", name="Withdraw this link").click()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and copies.owned_by(owner):
        time.sleep(0.3)
    assert copies.owned_by(owner) == []
    late = new_page(browser)
    late.goto(link)
    late.get_by_text(re.compile("not on this server any more")).wait_for(timeout=90_000)


@pytest.mark.slow
def test_a_phone_photo_shows_on_the_laptop_without_a_reload(server, browser):
    srv = server(APP)
    ex = examples.get("clothing")
    laptop = new_page(browser)
    gather(laptop, srv.url)
    open_example(laptop, ex)
    token = token_of(laptop)
    laptop.get_by_text("Use your phone as a camera").click()
    phone_link = laptop.get_by_role("link", name="Open on your phone").get_attribute("href")
    assert phone_link == f"{srv.url}/?project={token}"
    laptop.evaluate("window.__not_reloaded = true")

    phone = browser.new_context(viewport={"width": 412, "height": 915}, is_mobile=True, has_touch=True).new_page()
    gather(phone, phone_link)
    sidebar_shows(phone, "hat", ex.classes["hat"])
    phone.get_by_role("tab", name="Webcam photo").first.click()
    camera = phone.locator("[data-testid='stCameraInput']").first
    video = camera.locator("video")
    video.wait_for(timeout=20_000)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not video.evaluate("v => v.readyState >= 2 && v.videoWidth > 0"):
        time.sleep(0.2)
    added = phone.get_by_text("Added 1 sample to hat")
    for attempt in range(2):
        camera.get_by_role("button", name=re.compile("take photo", re.I)).click()
        clicked = time.monotonic()
        try:
            added.wait_for(timeout=30_000)
            break
        except Exception:  # noqa: BLE001 - Playwright's TimeoutError: take it again, as a student would
            print(f"photo attempt {attempt + 1} not taken; phone says: {main_text(phone)[:300]!r}")
    else:
        pytest.fail("the phone's photo was not taken in two tries")
    on_phone = time.monotonic()
    sidebar_shows(laptop, "hat", ex.classes["hat"] + 1, timeout=30)
    on_laptop = time.monotonic()
    print(f"phone photo: in the phone's project {on_phone - clicked:.1f} s after the click, on the laptop "
          f"{on_laptop - on_phone:.1f} s later ({on_laptop - clicked:.1f} s after the click)")
    assert laptop.evaluate("window.__not_reloaded === true")  # the same page: no reload
    assert store().load(token).project.counts()["hat"] == ex.classes["hat"] + 1
    laptop.get_by_role("button", name="Add a class").click()  # the laptop's own change keeps the phone's photo
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(store().load(token).project.classes) != 5:
        time.sleep(0.3)
    counts = store().load(token).project.counts()
    assert counts["hat"] == ex.classes["hat"] + 1 and "Class 5" in counts
