"""The Test page in Korean (issue 15): its texts, the live views' fragments, streamlit-webrtc's own buttons,
the downloads and their snippets' comments, the engine's errors, and class names in Hangul through the
exported files and on the live video."""

from __future__ import annotations

import contextlib
import io
import json
import re
import zipfile

import numpy as np
import pytest
import streamlit_webrtc
from test_i18n import english_sentences, page_texts

from tm_core import i18n
from tm_core.errors import InputError

from conftest import app, click, photos, sess

HANGUL = re.compile("[가-힣]")
COMMENT = re.compile(r"(?:^|\s)(?:#|//)\s*(.*)$")  # not the // of an address


@contextlib.contextmanager
def language(code: str):
    token = i18n._language.set(code)
    try:
        yield
    finally:
        i18n._language.reset(token)


HTML_COMMENT = re.compile(r"<!--(.*?)-->", re.S)


def comments(code: str) -> list[str]:
    """The comments of ``code``: each HTML ``<!-- -->`` whole, and each line's Python ``#`` or JavaScript ``//``."""
    return [" ".join(m.split()) for m in HTML_COMMENT.findall(code)] + \
        [m.group(1) for line in HTML_COMMENT.sub("", code).splitlines() if (m := COMMENT.search(line))]


def without_comments(code: str) -> list[str]:
    return [COMMENT.sub("", line).rstrip() for line in HTML_COMMENT.sub("<!---->", code).splitlines()]


def all_snippets(class_names: list[str]) -> list[tuple[str, str]]:
    from tm_core.export import snippets

    out = [(f"image {k}", snippets.snippet(k, class_names))
           for k in ("keras", "tm_h5", "tflite_float32", "tflite_int8", "tfjs")]
    out += [(f"audio {k}", snippets.audio_snippet(k, class_names)) for k in ("keras", "tflite_float32")]
    out += [(f"{p} {k} {w}", snippets.keypoint_snippet(p, k, class_names, with_picture=w))
            for p in ("pose", "hands") for k in ("keras", "tflite_float32") for w in (False, True)]
    return out


# ---------------------------------------------------------------------------------------------
# streamlit-webrtc's own words


def test_webrtc_translations_cover_the_components_keys_in_korean_and_keep_its_english():
    from tm_core.ui import webrtc

    keys = set(streamlit_webrtc.Translations.__annotations__)
    english = webrtc.translations()
    assert set(english) == keys
    assert (english["start"], english["stop"], english["select_device"]) == ("Start", "Stop", "Select Device")
    with language("ko"):
        korean = webrtc.translations()
    assert set(korean) == keys
    assert (korean["start"], korean["stop"], korean["select_device"]) == ("시작", "중지", "장치 선택")
    assert all(HANGUL.search(v) for v in korean.values()), korean
    assert webrtc.translations() == english  # made in the language of the call, not once


# ---------------------------------------------------------------------------------------------
# Downloads and snippets


@pytest.mark.parametrize("kind", ["image", "audio", "pose", "hands"])
def test_download_labels_and_descriptions_are_korean(kind):
    from tm_core import export

    with language("ko"):
        offered = export.downloads(kind)
    english = export.downloads(kind)
    assert [d.file for d in offered] == [d.file for d in english]  # the files are the same
    assert all(HANGUL.search(d.what) for d in offered)
    assert not english_sentences([t for d in offered for t in (d.label, d.what)]), offered
    if kind in ("pose", "hands"):  # each keypoint kind's own words, not one glued in
        assert offered[0].label == "전체 (.zip)"
        assert ("사람" if kind == "pose" else "손") in offered[0].what
        assert english[0].label == "Everything (.zip)"


def test_snippet_comments_are_korean_and_the_code_is_unchanged():
    names = ["바위", "보", "가위"]
    english = all_snippets(names)
    with language("ko"):
        korean = all_snippets(names)
    for (what, en), (_what, ko) in zip(english, korean):
        notes = comments(ko)
        assert notes and not english_sentences(notes), (what, english_sentences(notes))
        assert sum(bool(HANGUL.search(n)) for n in notes) >= len(notes) - 2, (what, notes)  # a few are only numbers
        assert without_comments(ko) == without_comments(en), what  # the code itself is the same, line by line
        assert "['바위', '보', '가위']" in ko or what in ("image tfjs", "image tm_h5")  # those two read the files
        if "tfjs" not in what:
            compile(ko, what, "exec")  # every translated comment stays on its line
    page = dict(korean)["image tfjs"]
    assert 'tm-my-image-model.zip' in page and '"my_model"' in page and "{className, probability}" in page


def test_the_int8_check_sentence_in_korean_has_its_numbers():
    from tm_core.export import Agreement
    from tm_core.ui.downloads import int8_note

    with language("ko"):
        said = int8_note(Agreement(same=27, n=30))
        none = int8_note(None)
    assert "30개 중 27개(90%)" in said and not english_sentences([said, none])
    assert "on 30 of your samples it was not trained on, it named the same class as the app on 27 (90%)" in \
        int8_note(Agreement(same=27, n=30))


# ---------------------------------------------------------------------------------------------
# The engine's messages


def test_engine_errors_of_my_modules_are_korean():
    from tm_core import explain, predict
    from tm_core.export import tfjs

    with language("ko"):
        raised = []
        for call in (lambda: predict.predict_windows(None, [], "녹음.wav"),
                     lambda: explain.overlay(np.zeros((4, 4), np.uint8), np.zeros((4, 4))),
                     lambda: tfjs.check(type("Enc", (), {"kind": "audio"})())):
            with pytest.raises(InputError) as err:
                call()
            raised.append(str(err.value))
    assert raised[0].startswith("녹음.wav: ") and HANGUL.search(raised[0].split(": ", 1)[1])
    assert all(HANGUL.search(r) for r in raised) and not english_sentences(raised, ("녹음.wav",)), raised
    with pytest.raises(InputError, match="has no sound to classify"):  # English outside
        predict.predict_windows(None, [], "clip.wav")


def test_read_labels_error_in_korean_keeps_the_line(tmp_path):
    from tm_core.predict import read_labels

    (tmp_path / "labels.txt").write_text("0 바위\n2 보\n", encoding="utf-8")
    with language("ko"), pytest.raises(InputError) as err:
        read_labels(tmp_path / "labels.txt")
    assert "2번째 줄" in str(err.value) and "'1 <클래스 이름>'" in str(err.value) and "'2 보'" in str(err.value)


def test_model_download_summary_in_korean_and_english(tmp_path):
    from tm_core import assets, model_download

    asset = next(iter(assets.ASSETS.values()))
    job = model_download.Job(asset, None, tmp_path / asset.filename, False)
    failed = model_download.Result(job, model_download.Outcome.FAILED, "x")
    ok = model_download.Result(job, model_download.Outcome.DOWNLOADED)
    assert model_download.summary([ok, failed], None).startswith("1 of 2 pretrained files are ready.")
    with language("ko"):
        said = model_download.summary([ok, failed], tmp_path)
        assert model_download.Outcome.FAILED.words() == "실패"
    assert "파일 2개 중 1개가 준비됐어요" in said and asset.filename in said
    assert not english_sentences([said], (asset.filename, str(tmp_path.resolve()))), said


# ---------------------------------------------------------------------------------------------
# The live views


def _live_fragments_script():
    import numpy as np
    import streamlit as st

    from tm_core import i18n
    from tm_core.ui import testing

    class Live:  # what the fragments read of a live view
        def __init__(self, started):
            self.started, self.class_names = started, ["바위", "보"]

        def latest(self):
            return (np.array([0.75, 0.25]), 12.0) if self.started else (None, 0.0)

        def stats(self):
            return {"found": False, "predictions": 1}

        def level(self):
            return 0.25

    st.session_state["ui:lang"] = st.session_state.get("pick", "ko")  # the page's language, chosen before
    i18n.use("en")  # a fragment re-run on its own starts with no language set by the page
    testing.live_bars(Live(False), "hand")
    testing.live_bars(Live(True), "hand")
    i18n.use("en")
    testing.live_audio_bars(type("Audio", (Live,), {"latest": lambda self: np.array([0.75, 0.25])})(True))


def test_live_fragments_speak_the_pages_language_on_their_own():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_live_fragments_script, default_timeout=60).run()
    assert not at.exception, at.exception
    captions = [c.value for c in at.caption]
    assert captions[0].startswith("시작을 눌러") and "손이 없어요" in captions[1] and captions[2] == "초당 12프레임"
    assert captions[3] == "소리 크기 0.25 · 예측 1번"
    assert [p.proto.text for p in at.get("progress")][:2] == ["바위: 75%", "보: 25%"]
    at.session_state["pick"] = "en"
    at.run()
    captions = [c.value for c in at.caption]
    assert captions[0].startswith("Press START") and captions[1].startswith("No hand in view")
    assert captions[3] == "Loudness 0.25 · 1 prediction"


def test_a_hangul_class_name_is_drawn_in_a_cjk_font_on_the_video():
    from PIL import ImageFont

    from tm_core.live import video

    video.cjk_font_file.cache_clear()
    font = video.cjk_font_file()
    if font is None:
        pytest.skip("no CJK font on this machine (fonts-noto-cjk, or TM_LABEL_FONT)")
    frame = np.full((240, 320, 3), 90, np.uint8)
    label, blank = video.draw_label(frame, "바위 87%"), video.draw_label(frame, "")
    assert label.shape == frame.shape and (label != blank).any()
    x0, x1 = 6, 6 + label.shape[0] // 16 * 2  # where the two syllables are drawn, at the left of the box
    ink = (label[4:40, x0:x1] > 200).all(axis=2).sum()  # white strokes
    assert ink > 40 and not (blank[4:40, x0:x1] > 200).all(axis=2).any()
    # not the default font's empty boxes: the CJK font's syllables differ from them
    size = max(12, frame.shape[0] // 16)
    assert ImageFont.truetype(font[0], size, index=font[1]).getmask("바").getbbox()
    default = video._default_font(size)
    assert np.asarray(ImageFont.truetype(font[0], size, index=font[1]).getmask("바위")).tobytes() != \
        np.asarray(default.getmask("바위")).tobytes()
    assert video._font(size, "rock 87%") is not video._font(size, "바위 87%")  # English keeps its font


def test_the_label_font_can_be_set(monkeypatch):
    from tm_core.live import video

    font = video.cjk_font_file.__wrapped__()
    if font is None:
        pytest.skip("no CJK font on this machine")
    monkeypatch.setenv(video.FONT_ENV, font[0])
    video.cjk_font_file.cache_clear()
    try:
        assert video.cjk_font_file() == (font[0], 0)
        monkeypatch.setenv(video.FONT_ENV, "/no/such/font.ttf")
        video.cjk_font_file.cache_clear()
        assert video.cjk_font_file() is not None  # a wrong path: the machine's own CJK font
    finally:
        monkeypatch.delenv(video.FONT_ENV)
        video.cjk_font_file.cache_clear()


# ---------------------------------------------------------------------------------------------
# A trained project in Korean, with Hangul class names


def _hangul_class_names_app(rps_train):
    at = app(lang="ko")
    p = sess(at).project
    for old, cls in zip(list(p.counts()), ("바위", "보")):
        p.rename_class(old, cls)
        list(p.add_files((cls, f.name, f.read_bytes())
                         for f in photos(rps_train, "rock" if cls == "바위" else "paper", 12)))
    at.switch_page("app_pages/train.py").run()
    at.number_input(key="cfg:epochs").set_value(20).run()
    click(at, next(b.label for b in at.button if b.key == "train:go"))
    assert sess(at).current is not None
    return at


def image_captions(at) -> list[str]:
    """The pictures' captions (the shared page check leaves pictures out)."""
    return [i.caption for el in at.get("image") for i in el.proto.imgs if i.caption]


def _english(at) -> list[str]:
    return english_sentences(page_texts(at.main, []) + image_captions(at), ("바위", "보"))


@pytest.mark.slow
def test_test_page_in_korean_with_hangul_classes_predicts_and_exports(rps_train, tmp_path, monkeypatch,
                                                                     no_webrtc_component):
    at = _hangul_class_names_app(rps_train)
    at.switch_page("app_pages/test.py").run()
    assert not at.exception and at.title[0].value == "테스트 및 내보내기"
    assert no_webrtc_component[-1]["translations"]["start"] == "시작"  # the camera's own buttons
    assert not _english(at), _english(at)
    rock = photos(rps_train, "rock", 1, offset=100)[0]
    next(u for u in at.file_uploader if u.key.startswith("test-upload")).set_value(
        (rock.name, rock.read_bytes(), "image/jpeg")).run()
    assert not at.exception
    top = next(m.value for m in at.markdown if m.value.startswith("### "))
    assert top.split(" · ")[0] == "### 바위"
    assert any(HANGUL.search(c) and "224×224" in c for c in image_captions(at)), image_captions(at)  # what it sees
    assert not _english(at), _english(at)

    click(at, "내보낼 파일 준비하기")
    files = sess(at).exports[sess(at).current.id]
    assert next(b.label for b in at.get("download_button")) == "model.keras"
    assert not _english(at), _english(at)
    notes = [n for c in at.code for n in comments(c.value) if re.search("[A-Za-z]{3}", n) and "`pip" not in n]
    assert len(notes) >= 6 and all(HANGUL.search(n) for n in notes), notes
    # Hangul class names, exactly, in every exported file that holds them
    assert files["labels.txt"].decode("utf-8") == "0 바위\n1 보\n"
    with zipfile.ZipFile(io.BytesIO(files["converted_keras.zip"])) as z:
        assert z.read("labels.txt").decode("utf-8") == "0 바위\n1 보\n"
    with zipfile.ZipFile(io.BytesIO(files["tm-my-image-model.zip"])) as z:
        meta = z.read("metadata.json")
    assert json.loads(meta.decode("utf-8"))["labels"] == ["바위", "보"] and "바위".encode() in meta
    # the downloads run as written with their Korean comments and Hangul names, next to a photo
    monkeypatch.chdir(tmp_path)
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "photo.jpg").write_bytes(rock.read_bytes())
    from tm_core.predict import ExportedModel

    assert ExportedModel(tmp_path).class_names == ["바위", "보"]
    for code in at.code[:4]:  # keras, Teachable Machine's h5 (reads labels.txt), TFLite float32 and int8
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(code.value, {})
        assert out.getvalue().split()[0] == "바위", code.value
