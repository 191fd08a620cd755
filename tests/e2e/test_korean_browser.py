"""Korean in a real browser (issue 15): Chromium opens ``/?lang=ko``, visits every page through the sidebar,
reloads, and the address keeps ``lang=ko`` and the pages speak Korean; a chart with Hangul titles is drawn
with real Hangul glyphs (the fonts are there: no empty boxes); a screenshot of every page in both
languages goes to ``$TM_SCREENSHOTS_DIR`` when it is set.

The project is made in English (a zip of real rock / paper / scissors photos, through the English helpers
of the other browser tests), then reopened in Korean by its address, as a teacher's link would.

What may stay English on a Korean page besides the user's words: Streamlit's own widget texts that the app
cannot set (:data:`STREAMLIT_OWN`, e.g. the file uploader's "Drag and drop files here")."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

import pytest

from tm_core import i18n

from .test_app_flow import APP, main_text, rps_zip, upload_zip
from .test_reload_flow import token_of

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from test_i18n import english_sentences

PAGES = {  # url path: (the sidebar link's English title, the module behind the page)
    "": ("1 · Gather", "app_pages/gather.py"),
    "train": ("2 · Train", "app_pages/train.py"),
    "overfitting": ("3 · Experiments", "app_pages/overfitting.py"),
    "test": ("4 · Test & export", "app_pages/test.py"),
}
STREAMLIT_OWN = (  # Streamlit's own texts inside widgets (no API sets them): the same in every language
    "Drag and drop files here", "Drag and drop file here", "Limit 200MB per file", "Browse files",
    "Press Enter to apply", "Choose an option", "Take Photo", "Clear photo", "Running...",
)
UPLOADER_TYPES = re.compile(r"\b[A-Z0-9]{2,5}(?:, [A-Z0-9]{2,5})+\b")  # the uploader's file types: JPG, PNG, …
OWN_WORDS = ("rock", "paper", "scissors", "rps")  # the class names of the zip
HANGUL = re.compile("[가-힣]")


def ko(message: str, **values) -> str:
    return i18n.translations("ko").gettext(message).format(**values)


def address(srv, path: str, **params) -> str:
    return f"{srv.url}/{path}?{urlencode(params)}"


def lang_of(page) -> str:
    return parse_qs(urlparse(page.url).query).get("lang", [""])[0]


def settled(page, timeout: float = 60_000) -> str:
    """The main area's text once the page has a heading and no script run is going on."""
    page.locator("[data-testid='stMain'] h1").first.wait_for(timeout=timeout)
    page.wait_for_timeout(800)
    page.locator("[data-testid='stStatusWidget']").wait_for(state="hidden", timeout=timeout)
    return main_text(page)


def english_of(text: str) -> list[str]:
    for own in STREAMLIT_OWN:
        text = text.replace(own, " · ")
    text = UPLOADER_TYPES.sub(" · ", text)
    return english_sentences(text.splitlines(), OWN_WORDS)


def shoot(page, name: str) -> None:
    """A screenshot of the whole page (the window made as tall as the page's content: Streamlit scrolls inside
    its main area, which a full-page screenshot does not reach) to ``$TM_SCREENSHOTS_DIR/<name>.png``."""
    folder = os.environ.get("TM_SCREENSHOTS_DIR")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    tall = page.evaluate("() => Math.max(...Array.from(document.querySelectorAll("
                         "\"[data-testid='stMain'], [data-testid='stAppViewContainer'], section\"), e => e.scrollHeight))")
    page.set_viewport_size({"width": size["width"], "height": int(min(max(tall, size["height"]), 8000))})
    page.wait_for_timeout(700)  # charts fit their new room
    try:
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)
    finally:
        page.set_viewport_size(size)
        page.wait_for_timeout(300)


def open_link(page, title: str, path: str) -> None:
    """Click the sidebar link ``title`` until the address is the page's (a click during a rerun can be lost)."""
    for _ in range(3):
        page.get_by_role("link", name=title).click()
        try:
            page.wait_for_url(re.compile(rf"/{path}\?|/{path}$" if path else r"/(\?|$)"), timeout=15_000)
            return
        except Exception:  # noqa: BLE001 - Playwright's TimeoutError: click again
            continue
    pytest.fail(f"the page {title} did not open")


GLYPHS = """(font) => {
    const c = document.createElement('canvas'); c.width = 80; c.height = 60;
    const g = c.getContext('2d');
    const draw = (text) => { g.clearRect(0, 0, 80, 60); g.font = `40px ${font}`; g.fillStyle = '#000';
                             g.fillText(text, 4, 46); return Array.from(g.getImageData(0, 0, 80, 60).data); };
    const ink = (px) => px.filter((v, i) => i % 4 === 3 && v > 0).length;
    const same = (a, b) => a.every((v, i) => v === b[i]);
    const ga = draw('가'), na = draw('나'), box = draw('\\u{10FFFD}');
    g.font = `16px ${font}`;
    return {ink: ink(ga), distinct: !same(ga, na), notBox: !same(ga, box) && !same(na, box),
            width: g.measureText('학습 기록').width, boxWidth: g.measureText('\\u{10FFFD}\\u{10FFFD}\\u{10FFFD}\\u{10FFFD}\\u{10FFFD}').width};
}"""


SVG_HANGUL = """(chart) => Array.from(chart.querySelectorAll('svg text'))
    .filter((t) => /[가-힣]/.test(t.textContent))
    .map((t) => {
        const box = t.cloneNode(true);  // the same string length in a code point no font has: empty boxes
        box.textContent = '\\u{10FFFD}'.repeat(Array.from(t.textContent).length);
        t.parentNode.appendChild(box);
        const boxWidth = box.getComputedTextLength();
        box.remove();
        return {text: t.textContent, width: t.getComputedTextLength(), boxWidth};
    })"""


def test_every_page_in_korean_across_switches_and_a_reload(server, page, tmp_path):
    srv = server(APP)
    page.goto(address(srv, "", lang="en"))
    page.get_by_role("heading", name="Gather examples").wait_for(timeout=90_000)
    token = token_of(page)
    upload_zip(page, rps_zip(tmp_path), 30)

    # English first: every page, a screenshot of each
    for path, (title, _module) in PAGES.items():
        open_link(page, title, path)
        page.wait_for_timeout(1500)
        assert lang_of(page) == "en" and token_of(page) == token
        shoot(page, f"en-{path or 'gather'}")

    # The same project by its address, in Korean: a teacher's link
    page.goto(address(srv, "", project=token, lang="ko"))
    settled(page, 90_000)
    sidebar = page.locator("[data-testid='stSidebar']")
    found: dict[str, list[str]] = {}
    for path, (title, _module) in PAGES.items():
        open_link(page, ko(title), path)  # the sidebar's links are Korean
        text = settled(page)
        assert lang_of(page) == "ko" and token_of(page) == token, page.url  # a page switch keeps both
        assert sidebar.get_by_role("link", name=ko(title)).count() == 1
        if hits := english_of(text) + ([] if HANGUL.search(text) else ["(no Korean on the page)"]):
            found[path or "gather"] = hits
        shoot(page, f"ko-{path or 'gather'}")

    # The Experiments page (this test's own): Korean title, lessons, sweep; a lesson draws Hangul charts
    open_link(page, ko("3 · Experiments"), "overfitting")
    page.get_by_role("heading", name=ko("Experiments"), exact=True).wait_for(timeout=30_000)
    page.get_by_text(ko("Sweep two settings")).wait_for(timeout=10_000)
    page.get_by_role("button", name=ko("Train for {steps} epochs", steps="5, 20, 50, 200")).click()
    story = ko("Accuracy per epoch: train and test, one run")
    charts = page.locator("[data-testid='stVegaLiteChart']")
    charts.nth(1).wait_for(timeout=120_000)
    page.get_by_text(ko("Runs to compare")).wait_for(timeout=30_000)
    chart = charts.nth(0)
    chart.scroll_into_view_if_needed()
    drawn = chart.locator("canvas, svg").first
    drawn.wait_for(timeout=30_000)
    box = drawn.bounding_box()
    assert box is not None and box["width"] > 200 and box["height"] > 100, box
    if chart.locator("svg").count():  # Vega's SVG: the Hangul texts drawn, each as wide as real glyphs make it
        drawn_texts = chart.evaluate(SVG_HANGUL)
        assert any(t["text"] == story for t in drawn_texts), drawn_texts
        assert all(t["width"] > 0 and t["width"] != t["boxWidth"] for t in drawn_texts), drawn_texts
    font = page.evaluate("() => getComputedStyle(document.querySelector(\"[data-testid='stMain']\")).fontFamily")
    for family in (font, "sans-serif"):
        glyphs = page.evaluate(GLYPHS, family)
        # real Hangul: ink, two syllables drawn differently, neither the empty box of a missing glyph
        assert glyphs["ink"] > 50 and glyphs["distinct"] and glyphs["notBox"], (family, glyphs)
        assert glyphs["width"] > 0 and glyphs["width"] != glyphs["boxWidth"], (family, glyphs)
    shoot(page, "ko-overfitting-lesson")
    text = main_text(page)
    assert ko("Runs to compare") in text and ko("Train for {steps} epochs", steps="5, 20, 50, 200") in text
    if hits := english_of(text):
        found["overfitting (a lesson)"] = hits

    # A reload: a new session on the same address, still Korean, still this project
    page.reload()
    page.get_by_role("heading", name=ko("Experiments"), exact=True).wait_for(timeout=90_000)
    assert lang_of(page) == "ko" and token_of(page) == token
    assert ko("The lessons, in one click") in settled(page)
    open_link(page, ko("4 · Test & export"), "test")
    settled(page)
    assert lang_of(page) == "ko" and sidebar.get_by_role("link", name=ko("1 · Gather")).count() == 1

    # No English sentence on any page
    assert not found, found
