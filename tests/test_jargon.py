"""No jargon on the main path (issue 19, item 12): every page, for an empty project and a trained image
project, read as a 14-year-old sees it. Technical words may appear only inside an expander whose label
says "Under the hood" (as Teachable Machine keeps them out of the way).

What is read: every text an element shows (body, label, help, options, captions, metric values), in the
main area and the sidebar, through the element protos AppTest gets; ids, keys, picture data and chart
specs (field names, not shown as such) are not text."""

from __future__ import annotations

import re

import pytest
from page_text import HOOD, main_path

from tm_core import media
from tm_core.errors import InputError

from conftest import app, click, photos, sess

JARGON = {  # the words issue 19 lists, as patterns
    "held-out": r"held[- ]out",
    "patience": r"\bpatience\b",
    "embedding": r"\bembedding",
    "cosine": r"\bcosine\b",
    "1280-d": r"\b\d+-d\b",
    "α=0.35": r"α",
    "frozen": r"\bfrozen\b",
    "head": r"\bhead\b",
    "LiteRT": r"\blitert\b",
    "calibrated": r"\bcalibrat",
    "Pillow": r"\bpillow\b",
    "names no project": r"names no project",
}
PAGES = ("app_pages/gather.py", "app_pages/train.py", "app_pages/test.py", "app_pages/overfitting.py")
def jargon_in(texts: list[str]) -> list[tuple[str, str]]:
    return [(word, text[:160]) for text in texts for word, pattern in JARGON.items()
            if re.search(pattern, text, re.IGNORECASE)]


def report(found: dict[str, list[tuple[str, str]]]) -> str:
    return "\n".join(f"{page}: {word!r} in {text!r}" for page, hits in found.items() for word, text in hits)


def every_page(at) -> dict[str, list[tuple[str, str]]]:
    found = {}
    for page in PAGES:
        at.switch_page(page).run()
        assert not at.exception, at.exception
        texts = main_path(at.main, []) + main_path(at.sidebar, [])
        assert texts, page
        if hits := jargon_in(texts):
            found[page] = hits
    return found


def test_the_word_check_sees_jargon_and_skips_under_the_hood():
    assert jargon_in(["The held-out samples", "the frozen network", "MobileNetV2 α=0.35 (1280-d)"]) == [
        ("held-out", "The held-out samples"), ("frozen", "the frozen network"),
        ("1280-d", "MobileNetV2 α=0.35 (1280-d)"), ("α=0.35", "MobileNetV2 α=0.35 (1280-d)")]
    assert jargon_in(["Stop when the test stops improving", "Go ahead", "Headphones"]) == []


@pytest.mark.slow
def test_no_jargon_on_the_main_path_of_an_empty_project():
    found = every_page(app())
    assert not found, report(found)


@pytest.mark.slow
def test_no_jargon_on_the_main_path_of_a_trained_image_project(rps_train):
    at = app()
    p = sess(at).project
    for old, cls in zip(list(p.counts()), ("rock", "paper")):
        p.rename_class(old, cls)
        list(p.add_files((cls, f.name, f.read_bytes()) for f in photos(rps_train, cls, 12)))
    at.switch_page("app_pages/train.py").run()
    at.number_input(key="cfg:epochs").set_value(5).run()
    click(at, "Train model")
    assert sess(at).current is not None
    hood = [e for e in at.expander if HOOD.lower() in e.label.lower()]
    assert hood and jargon_in([t for e in hood for t in main_path(e, [], hood=True)]), "technical words: under the hood"
    found = every_page(at)
    assert not found, report(found)


def test_a_file_that_is_no_picture_is_refused_in_plain_words():
    with pytest.raises(InputError) as refused:
        media.load_image(b"no picture in here", "notes.jpg")
    assert "notes.jpg" in str(refused.value) and not jargon_in([str(refused.value)])
