"""The Gather page in Korean (issue 15): the page of an empty and of a filled image project, the data-health
sentences with their counts (one sample and several), the undo toast, the webcam recorder's status, and the
starter class names of a new project in the student's language ("클래스 1", "배경 소음"), which every check
of a starter name accepts in both languages. English, without a language, is unchanged.

Other helpers translate the rest of the page (the share panels, Save and Start over); until their catalogs
are merged those may still be English here, so the page checks fail only on English of this helper's own
messages (:func:`own_english`)."""

from __future__ import annotations

import io
import re
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from test_i18n import english_sentences, page_texts

from tm_core import health, i18n, kinds, naming, recordings
from tm_core.project import Project

from conftest import app, click, frame_targets, photos, sess, uploader

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import translations

OWN_FILES = ("app_pages/gather.py", "tm_core/ui/gather.py", "tm_core/ui/galleries.py", "tm_core/ui/recorder.py",
             "tm_core/ui/undo.py", "tm_core/ui/health.py", "tm_core/ui/keypoints.py", "tm_core/health.py",
             "tm_core/recordings.py", "tm_core/kinds.py", "tm_core/live/burst.py", "tm_core/keypoints.py")
HANGUL = re.compile("[가-힣]")
TOKEN = re.compile(r"\{[^}]*\}|[A-Za-z][A-Za-z0-9'’]*")


def _words(text: str) -> list[str]:
    return ["*" if w.startswith("{") else w.lower() for w in TOKEN.findall(text)]


def _own_messages() -> list[list[str]]:
    """The words of this helper's messages (English), a placeholder as "*"."""
    return [_words(text) for msg in translations.extract()
            if msg.id and any(loc.startswith(OWN_FILES) for loc, _ in msg.locations) for text in translations.ids(msg)]


OWN = _own_messages()


def _within(hit: list[str], message: list[str]) -> bool:
    """Whether the words of ``hit`` run in ``message``, a "*" there standing for any one word (for at most a
    third of them: a placeholder filled with a word, "pictures")."""
    n = len(hit)
    return any(all(m in ("*", h) for h, m in zip(hit, part)) and part.count("*") <= n // 3
               for part in (message[i:i + n] for i in range(len(message) - n + 1)))


def own_english(texts: list[str], own_words: tuple[str, ...] = ()) -> list[str]:
    """The English sentences in ``texts`` that come from this helper's messages (the whole run inside one)."""
    return [hit for hit in english_sentences(texts, own_words) if any(_within(_words(hit), m) for m in OWN)]


def test_own_english_finds_this_helpers_messages_only():
    assert OWN, "the helper's messages are extracted"
    assert own_english(["Add new samples as test only", "Give each class a name and add examples"]) == [
        "Add new samples as test only", "Give each class a name and add examples"]
    assert own_english(["Save a copy of the project"]) == []  # a sentence of another page part: not this helper's


def korean(fn, *args, **kwargs):
    token = i18n._language.set("ko")
    try:
        return fn(*args, **kwargs)
    finally:
        i18n._language.reset(token)


# ---------------------------------------------------------------------------------------------
# Starter class names


def test_a_korean_project_starts_with_korean_classes_and_an_english_one_with_english():
    assert [c.name for c in korean(Project, "image").classes] == ["클래스 1", "클래스 2"]
    audio = korean(Project, "audio")
    assert [c.name for c in audio.classes] == ["배경 소음", "클래스 2"] and audio.background.name == "배경 소음"
    korean(audio.add_class)
    assert audio.classes[-1].name == "클래스 3"
    assert [c.name for c in Project("image").classes] == ["Class 1", "Class 2"]  # no language: English
    english = Project("audio")
    assert [c.name for c in english.classes] == ["Background Noise", "Class 2"] and english.background is english.classes[0]
    english.add_class()
    assert english.classes[-1].name == "Class 3"


def test_every_starter_name_check_accepts_both_languages():
    for name in ("Class 1", "class 12", "클래스 1", "클래스 7", "Background Noise", "배경 소음"):
        assert kinds.is_starter_name(name), name
    for name in ("rock", "바위", "Class", "클래스", "my class 1", "Background"):
        assert not kinds.is_starter_name(name), name
    assert kinds.is_numbered_name("클래스 2") and not kinds.is_numbered_name("배경 소음")
    # a saved file's name skips the starter names in either language, whatever language saves it
    assert naming.project_stem(["클래스 1", "클래스 2"], "image") == "image-project"
    assert naming.project_stem(["배경 소음", "네", "Class 2"], "audio") == "네"
    assert korean(naming.project_stem, ["Background Noise", "yes", "no"], "audio") == "yes-no"
    # a Korean audio project takes a zip's background_noise folder into its 배경 소음 class
    audio = korean(Project, "audio")
    assert audio.class_for("background_noise") == "배경 소음" and audio.class_for("Background Noise") == "배경 소음"


def test_kind_words_in_korean():
    assert korean(kinds.title, "hands") == "손 포즈" and kinds.title("hands") == "Hand pose"
    assert korean(kinds.said, kinds.words("audio")) == ("소리", "소리") and kinds.said(kinds.words("audio")) == ("sound", "sounds")
    assert korean(kinds.found_word, "pose") == "사람" and kinds.found_word("hands") == "hand"


# ---------------------------------------------------------------------------------------------
# Data health: real photos, Korean sentences with the right counts


def photo_project(rps_train, dupes: int) -> Project:
    """Two classes of real photos (6 rock, 3 paper), ``dupes`` rock photos also in paper."""
    p = Project("image", ["바위", "보"])
    rock = photos(rps_train, "rock", 6)
    list(p.add_files(("바위", f.name, f.read_bytes()) for f in rock))
    list(p.add_files(("보", f.name, f.read_bytes()) for f in photos(rps_train, "paper", 3)))
    list(p.add_files(("보", f.name, f.read_bytes()) for f in rock[:dupes]))
    return p


@pytest.mark.parametrize("dupes", [1, 3])
def test_health_sentences_in_korean_with_their_counts(rps_train, dupes):
    ds = photo_project(rps_train, dupes).dataset()
    found = korean(health.check, ds)
    dup = next(f for f in found if f.kind == "duplicate")
    assert HANGUL.search(dup.sentence) and not english_sentences([dup.sentence], ("바위", "보"))
    assert f"사진 {dupes}개" in dup.sentence and "**바위** 클래스와 **보** 클래스" in dup.sentence, dup.sentence
    english = next(f for f in health.check(ds) if f.kind == "duplicate").sentence
    assert english.startswith("1 picture is in both **바위** and **보**" if dupes == 1
                              else f"{dupes} pictures are in both **바위** and **보**"), english
    if dupes == 3:  # 6 rock, 6 paper (3 + 3 copies): no imbalance; with 1 copy, 6 against 4: none either
        assert not any(f.kind == "imbalance" for f in found)


def test_imbalance_and_near_copies_in_korean(rps_train):
    """Near copies judged on the photos' own grey thumbnails (``recordings.thumbnail``, blind to brightness): a
    photo and one brighter copy of it are one near copy; with a second copy, two."""
    p = Project("image", ["바위", "보"])
    rock = photos(rps_train, "rock", 10)
    list(p.add_files(("바위", f.name, f.read_bytes()) for f in rock))
    list(p.add_files(("보", f.name, f.read_bytes()) for f in photos(rps_train, "paper", 3)))
    unequal = korean(health.imbalance, {"바위": 10, "보": 3}, kinds.words("image"))
    assert unequal.sentence.startswith("**바위** 클래스는 사진 10개, **보** 클래스는 3개예요"), unequal.sentence
    assert health.imbalance({"rock": 10, "paper": 3}, kinds.words("image")).sentence.startswith(
        "**rock** has 10 pictures and **paper** 3")
    base = p.get_class("바위").samples[0].data
    for copies in (1, 2):  # the same photo a little brighter: separate samples, not frames of one recording
        p.add_sample("바위", np.clip(base.astype(int) + 2 * copies, 0, 255).astype(np.uint8), f"copy{copies}")
        ds = p.dataset()
        features = np.stack([recordings.thumbnail(s.data) for s in ds.samples])
        near = [f for f in korean(health.near_copies, ds, features, 0.99) if f.kind == "near_copies"]
        assert len(near) == 1 and near[0].classes == ("바위",) and len(near[0].redundant) == copies
        said = near[0].sentence
        assert f"**바위** 클래스의 사진 {10 + copies}개 중 {copies}개가" in said, said
        assert HANGUL.search(said) and not english_sentences([said], ("바위",)), said
        english = health.near_copies(ds, features, 0.99)[0].sentence
        assert english.startswith(f"{copies} of the {10 + copies} pictures of **바위** "
                                  + ("is a near copy of another" if copies == 1 else "are near copies of others"))


def test_recordings_sentences_in_korean(rps_train):
    p = Project("image", ["바위", "보"])
    korean(lambda: list(p.add_files(("바위", f.name, f.read_bytes()) for f in photos(rps_train, "rock", 4))))
    said = korean(p.last_import.sentences)
    assert said and all(HANGUL.search(s) and not english_sentences([s], ("바위",)) for s in said), said
    assert "새 사진 4개" in said[0]
    assert p.last_import.sentences()[0].startswith("The 4 new pictures of 바위")  # English outside


# ---------------------------------------------------------------------------------------------
# The page


@pytest.mark.slow
def test_gather_page_of_an_empty_project_in_korean(no_webrtc_component):
    at = app(lang="ko")
    assert [c.name for c in sess(at).project.classes] == ["클래스 1", "클래스 2"]
    texts = page_texts(at.main, [])
    assert not own_english(texts), own_english(texts)
    assert at.title[0].value == "샘플 모으기"
    assert {"클래스 이름", "학습에 사용"} <= {w.label for w in at.text_input} | {w.label for w in at.toggle}
    assert any(t.startswith("클래스마다 이름을 붙이고") for t in texts)
    assert "샘플 **0**개" in texts
    # the webcam recorder's status (a fragment run in the page's language) while it waits to record
    recorder, = frame_targets(no_webrtc_component[-1])
    recorder.configure(fps=2, delay=30, duration=1)
    recorder.start()
    at.session_state["burst:into"] = "클래스 1"
    at.run()
    waiting = [i.value for i in at.info if "클래스 1" in i.value]
    assert waiting and waiting[0].startswith("30.0초 뒤 **클래스 1** 클래스에 녹화를"), waiting
    recorder.stop()


@pytest.mark.slow
def test_gather_page_of_a_filled_image_project_in_korean(rps_train):
    at = app(lang="ko")
    p = sess(at).project
    for old, cls in zip(list(p.counts()), ("바위", "보")):
        p.rename_class(old, cls)
    rock = photos(rps_train, "rock", 8)
    list(p.add_files(("바위", f.name, f.read_bytes()) for f in rock))
    list(p.add_files(("보", f.name, f.read_bytes()) for f in photos(rps_train, "paper", 6)))
    list(p.add_files(("보", f.name, f.read_bytes()) for f in rock[:1]))  # one photo in both classes
    p.set_test_only("보", p.get_class("보").samples[0].id, True)
    at.run()
    click(at, "내 데이터 점검")
    texts = page_texts(at.main, [])
    own = ("바위", "보", *(f.name for f in rock))
    assert not own_english(texts, own), own_english(texts, own)
    assert "샘플 **8**개" in texts and "샘플 **7**개, 그중 1개는 테스트 전용" in texts, texts
    dup = [w.value for w in at.warning if "두 가지 답" in w.value]
    assert dup and "같은 사진 1개가 **바위** 클래스와 **보** 클래스에 모두 들어 있어요" in dup[0], dup
    keep = [b.label for b in at.button if b.key and b.key.startswith("health:keep:")]
    assert keep == ["바위 클래스에만 남기기", "보 클래스에만 남기기"], keep
    # the fix removes the copy from 보, and Undo puts it back with a Korean toast
    click(at, "바위 클래스에만 남기기")
    assert len(sess(at).project.get_class("보")) == 6
    assert any(i.value == "보 클래스에서 사진 1개를 지웠어요." for i in at.info), [i.value for i in at.info]
    click(at, "되돌리기")
    assert len(sess(at).project.get_class("보")) == 7
    assert [t.value for t in at.toast] == ["되돌렸어요."]


@pytest.mark.slow
def test_clear_and_undo_in_korean_and_english(rps_train):
    for lang, cleared, toast in (("ko", "바위 클래스의 샘플 3개를 모두 지웠어요.", "되돌렸어요."),
                                 (None, "Removed all 3 samples of 바위.", "Put back.")):
        at = app(lang=lang)
        p = sess(at).project
        p.rename_class(p.classes[0].name, "바위")
        list(p.add_files(("바위", f.name, f.read_bytes()) for f in photos(rps_train, "rock", 3)))
        at.run()
        uid = p.classes[0].uid
        at.button(key=f"clear:{uid}").click().run()
        assert any(i.value == cleared for i in at.info), [i.value for i in at.info]
        click(at, "되돌리기" if lang else "Undo")
        assert len(p.get_class("바위")) == 3 and [t.value for t in at.toast] == [toast]


@pytest.mark.slow
def test_gather_page_in_english_without_a_language():
    at = app()
    assert at.title[0].value == "Gather examples"
    assert [c.name for c in sess(at).project.classes] == ["Class 1", "Class 2"]
    texts = page_texts(at.main, [])
    assert "**0** samples" in texts and not any(HANGUL.search(t) for t in texts)
    assert len(own_english(texts)) >= 5  # the check the Korean pages pass finds this page's English
    assert any(b.label == "Start a new image project" for b in at.button)


@pytest.mark.slow
def test_gather_page_of_new_audio_and_hand_projects_in_korean():
    at = app(lang="ko")
    for kind, start, classes in (("audio", "새 오디오 프로젝트 시작", ["배경 소음", "클래스 2"]),
                                 ("hands", "새 손 포즈 프로젝트 시작", ["클래스 1", "클래스 2"])):
        at.radio(key="new:kind").set_value(kind).run()
        click(at, start)
        assert [c.name for c in sess(at).project.classes] == classes
        texts = page_texts(at.main, [])
        assert not own_english(texts), own_english(texts)
        if kind == "audio":
            assert [t.label for t in at.tabs][:3] == ["녹음", "소리 업로드", "폴더 업로드"]
            assert any(t.startswith("말하지 않고 방의 소리를 20초 이상 녹음하세요") for t in texts)
            assert "샘플 **0**개(하나에 1초)" in texts
        else:
            assert any("손 랜드마크 21개" in t for t in texts) and "손 포즈 프로젝트" in texts


@pytest.mark.slow
def test_a_zip_replaces_the_korean_starter_classes_and_reports_in_korean(rps_train):
    """The untouched "클래스 1", "클래스 2" make way for a zip's folders, as "Class 1" and "Class 2" do."""
    at = app(lang="ko")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for cls in ("바위", "보"):
            for f in photos(rps_train, "rock" if cls == "바위" else "paper", 4):
                z.writestr(f"rps/{cls}/{f.name}", f.read_bytes())
        z.writestr("rps/바위/notes.txt", "not an image")
    uploader(at, "zip:").set_value(("rps.zip", buf.getvalue(), "application/zip")).run()
    assert not at.exception
    assert sess(at).project.counts() == {"바위": 4, "보": 4}
    assert [s.value for s in at.success] == ["rps.zip의 클래스 2개에 샘플 8개를 추가했어요."]
    refused = next(w.value for w in at.warning if "notes.txt" in w.value)
    assert refused.startswith("파일 1개를 추가하지 못했어요")
