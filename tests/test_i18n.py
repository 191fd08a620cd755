"""Korean and English (issue 15): the catalogs are complete, the language follows the address, the session
and the browser, and a page in Korean shows no English sentence (a run of four or more English words).

What may stay English in Korean: the user's own words (class names, file names), code (a snippet's code;
its comments are checked), and the proper names in :data:`PROPER_NAMES`. Streamlit's own widget texts that no
API sets (the file uploader's "Drag and drop file here") are not in the element protos AppTest reads: the
browser test lists them (tests/e2e/test_korean_browser.py)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from page_text import main_path
from streamlit.testing.v1.element_tree import Block

from tm_core import i18n
from tm_core.errors import InputError

from conftest import app, click, photos, sess

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import translations

PAGES = ("app_pages/gather.py", "app_pages/train.py", "app_pages/overfitting.py", "app_pages/test.py")
WORD = r"[A-Za-z][A-Za-z0-9'’]*(?:-[A-Za-z0-9]+)*"
SENTENCE = re.compile(rf"{WORD}(?:[ ,;:]+{WORD}){{3,}}")
PROPER_NAMES = (  # names of things, not sentences: the same in every language
    "Rock Paper Scissors SXSW",
)
NOT_WORDS = re.compile(r"`[^`]*`|https?://\S+|\b[\w.-]+\.(?:py|zip|json|txt|tflite|keras|h5|wav|png|jpe?g|task|bin|html)\b")
COMMENT = re.compile(r"(?:#|//|<!--)\s*(.*)")


def english_sentences(texts: list[str], own_words: tuple[str, ...] = ()) -> list[str]:
    """The runs of four or more English words in ``texts``, apart from the user's words (class names, file
    names), code in backticks, addresses and proper names."""
    found = []
    for text in texts:
        for word in sorted((*own_words, *PROPER_NAMES), key=len, reverse=True):
            text = text.replace(word, " · ")
        text = NOT_WORDS.sub(" · ", text)
        found += SENTENCE.findall(text)
    return found


def page_texts(node, out: list[str]) -> list[str]:
    """Every text under ``node`` (inside "under the hood" expanders too); of code, only its comments."""
    if isinstance(node, Block):
        label = getattr(node, "label", None)
        if label:
            out.append(label)
        for child in node.children.values():
            page_texts(child, out)
        return out
    if getattr(node, "type", None) == "code":
        out += [m.group(1) for line in node.value.splitlines() if (m := COMMENT.search(line))]
        return out
    return main_path(node, out, hood=True)


def english_on_pages(at, own_words: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """Each page of ``at``'s app, run in its language: the English sentences it shows (the example projects'
    class names are their data's words, as a student's class names are)."""
    from tm_core import examples

    own_words = (*own_words, *(c for ex in examples.examples() for c in ex.classes))
    found = {}
    for page in PAGES:
        at.switch_page(page).run()
        assert not at.exception, (page, at.exception)
        texts = page_texts(at.main, []) + page_texts(at.sidebar, [])
        assert texts, page
        if hits := english_sentences(texts, own_words):
            found[page] = hits
    return found


def korean(at) -> bool:
    return any(re.search("[가-힣]", t) for t in page_texts(at.main, []))


def test_the_sentence_check_finds_english_and_leaves_names_code_and_korean():
    assert english_sentences(["Train the model again", "모델을 다시 학습시켜요"]) == ["Train the model again"]
    assert english_sentences(["MobileNetV2 모델로 학습해요", "`from keras.models import load_model`",
                              "Roboflow Universe의 Rock Paper Scissors SXSW 데이터", "my cat photo set 클래스"],
                             own_words=("my cat photo set",)) == []


def test_the_template_holds_every_message_of_the_code():
    """``python tools/translations.py update`` was run after the last change of a wrapped message."""
    template = translations._read(translations.POT)
    assert {m.id for m in translations.extract() if m.id} == {m.id for m in template if m.id}


def test_every_korean_message_is_translated_with_its_placeholders():
    found = translations.problems("ko")
    assert not found, f"{len(found)} problems:\n" + "\n".join(found[:60])


def test_the_catalog_compiles_and_translates_plurals_and_placeholders():
    ko = i18n.translations("ko")
    assert ko.gettext("2 · Train") != "2 · Train"
    token = i18n._language.set("ko")
    try:
        assert re.search("[가-힣]", i18n._("2 · Train"))
    finally:
        i18n._language.reset(token)
    assert i18n._("2 · Train") == "2 · Train"  # English outside


def test_language_comes_from_the_address_and_stays_across_pages():
    at = app(lang="ko")
    assert (korean(at) and at.query_params["lang"] == ["ko"]) or at.query_params["lang"] == "ko"
    for page in PAGES:
        at.switch_page(page).run()
        assert not at.exception and korean(at), page
    at = app()  # no address, no browser: English
    assert not korean(at)


def test_the_sidebar_picker_switches_and_keeps_the_project():
    at = app()
    p = sess(at).project
    p.rename_class(next(iter(p.counts())), "고양이")
    at.run()
    picker = next(w for w in at.sidebar.button_group if w.key == "ui:lang_picker")
    picker.set_value("ko").run()
    assert not at.exception and korean(at)
    assert "고양이" in sess(at).project.counts()
    assert at.query_params["lang"] in ("ko", ["ko"])


def test_an_engine_message_is_in_the_language_of_its_run():
    from tm_core import media

    token = i18n._language.set("ko")
    try:
        with pytest.raises(InputError) as refused:
            media.load_image(b"no picture in here", "notes.jpg")
    finally:
        i18n._language.reset(token)
    assert "notes.jpg" in str(refused.value) and not english_sentences([str(refused.value)], ("notes.jpg",))


@pytest.mark.slow
def test_every_page_of_an_empty_project_in_korean():
    found = english_on_pages(app(lang="ko"))
    assert not found, found


@pytest.mark.slow
def test_every_page_of_a_trained_image_project_in_korean(rps_train):
    at = app(lang="ko")
    p = sess(at).project
    for old, cls in zip(list(p.counts()), ("바위", "보")):
        p.rename_class(old, cls)
        list(p.add_files((cls, f.name, f.read_bytes()) for f in photos(rps_train, "rock" if cls == "바위" else "paper", 12)))
    at.switch_page("app_pages/train.py").run()
    at.number_input(key="cfg:epochs").set_value(5).run()
    click(at, next(b.label for b in at.button if b.key == "train:go" or "학습" in b.label))
    assert sess(at).current is not None
    found = english_on_pages(at)
    assert not found, found
