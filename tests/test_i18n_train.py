"""The Train page and what it says in Korean (issue 15): the page of a trained image project, its run labels,
charts, lesson and health sentences, the settings' refusals and the sidebar; English without a language.

Real photos (rock / paper / scissors) and the real MobileNetV2 for everything that trains; the fast tests
check the sentences' templates (placeholders, plurals) without TensorFlow."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
from test_app_pose import frames, gathered, hats  # noqa: F401 - fixtures
from test_i18n import english_sentences, page_texts

from tm_core import charts, i18n, lessons, naming
from tm_core.errors import InputError
from tm_core.finetune import FineTuneConfig
from tm_core.training import TrainConfig

from conftest import app, click, photos, sess

HANGUL = re.compile("[가-힣]")


def english_of_mine(texts: list[str], own_words: tuple[str, ...] = ()) -> list[str]:
    return english_sentences(texts, own_words)


class language:
    """``with language("ko"):`` the code inside runs in Korean (as a page's script run does)."""

    def __init__(self, code: str):
        self.code = code

    def __enter__(self):
        self.token = i18n._language.set(self.code)

    def __exit__(self, *exc):
        i18n._language.reset(self.token)


def history(label: str = "Run 1") -> pd.DataFrame:
    """A history frame as ``experiments.history_frame`` makes it: 3 epochs, train and test, both metrics."""
    rows = [(label, e, m, s, v) for e in (1, 2, 3) for m, base in (("accuracy", 0.5), ("loss", 1.0))
            for s in ("train", "test") for v in [base + (0.1 * e if m == "accuracy" else -0.2 * e)]]
    return pd.DataFrame(rows, columns=["run", "epoch", "metric", "split", "value"])


# --- fast: templates, placeholders, plurals -----------------------------------------------------------------

def test_a_setting_refused_says_why_in_korean_and_in_english_without_a_language():
    with language("ko"), pytest.raises(InputError) as ko:
        TrainConfig(epochs=0).validate()
    assert str(ko.value) == "에포크: 1부터 10000까지의 정수여야 해요"
    with language("ko"), pytest.raises(InputError) as ko_ft:
        FineTuneConfig(learning_rate=0.5).validate()
    assert HANGUL.search(ko_ft.value.name) and "0.1" in ko_ft.value.reason and not english_sentences([str(ko_ft.value)])
    with pytest.raises(InputError) as en:
        TrainConfig(batch_size=0).validate()
    assert str(en.value) == "batch size: must be a whole number from 1 to 4096"


def test_run_labels_are_made_in_the_page_language_and_numbered_in_either():
    with language("ko"):
        assert naming.run_name(3) == "학습 3"
        said = i18n._("{run} · {epochs} epochs · batch {batch} · lr {lr}", run=naming.run_name(3), epochs=50,
                      batch=16, lr="0.001")
    assert said == "학습 3 · 에포크 50 · 배치 16 · 학습률 0.001"
    assert naming.run_name(3) == "Run 3"  # English outside
    # A project trained in both languages keeps counting: "Run 2" and "학습 5" are both plain runs
    assert [naming.run_number(x) for x in ("Run 2 · 5 epochs", "학습 5 · 에포크 5", "레슨 · 에포크 5", "Lesson · 5 epochs",
                                           "Sweep 1 · learning rate 0.01")] == [2, 5, None, None, None]
    assert naming.renumber("학습 5 · 에포크 5 · 배치 16", 7) == "학습 7 · 에포크 5 · 배치 16"
    assert naming.renumber("Run 5 · 5 epochs", 7) == "Run 7 · 5 epochs"


def test_charts_speak_korean_and_keep_their_field_names():
    with language("ko"):
        chart = charts.metric_chart(history(), "accuracy").to_dict()
        overlay = charts.overlay_chart(history(), "accuracy", "test").to_dict()
    color = chart["encoding"]["color"]
    assert chart["title"] == "에포크별 정확도" and chart["encoding"]["x"]["title"] == "에포크"
    assert color["field"] == "split" and color["scale"]["domain"] == ["학습", "테스트"]
    assert color["scale"]["range"] == [charts.SPLIT_COLORS["train"], charts.SPLIT_COLORS["test"]]  # the same colours
    shown = {r["split"] for r in next(iter(chart["datasets"].values()))}
    assert shown == {"학습", "테스트"}
    assert overlay["title"] == "학습 기록별 에포크당 테스트 정확도"
    assert any(r.get("label", "").startswith("최고: ") for d in overlay["datasets"].values() for r in d)
    english = charts.metric_chart(history(), "loss").to_dict()  # no language: as before
    assert english["title"] == "Loss per epoch" and english["encoding"]["color"]["scale"]["domain"] == ["train", "test"]


def test_plurals_and_placeholders_of_the_page_sentences():
    with language("ko"):
        one = i18n.ngettext("{n} sample was held out: the model never trained on it, so it shows how it does on new "
                            "pictures.", "{n} samples were held out: the model never trained on them, so they show how "
                            "it does on new pictures.", 1)
        two = i18n.ngettext("{n} sample", "{n} samples", 2)
        note = i18n._("Another tab already has a class named '{name}': this tab's is now '{new}'.", name="고양이",
                      new="고양이 (2)")
    assert one.startswith("테스트 샘플 1개") and two == "샘플 2개"
    assert "'고양이'" in note and "'고양이 (2)'" in note and not english_sentences([note])
    assert i18n.ngettext("{n} sample", "{n} samples", 1) == "1 sample"
    assert i18n.ngettext("{n} sample", "{n} samples", 2) == "2 samples"


def test_the_gather_notes_and_why_training_cannot_start_in_korean(rps_train):
    """The sentences of tm_core/ui/widgets.py other pages show: one photo, two photos, none (real photos)."""
    from tm_core.project import Project
    from tm_core.session import Session
    from tm_core.ui.widgets import class_warnings, why_not_trainable

    p = Project("image", ["바위", "보", "가위"])
    list(p.add_files([("바위", f.name, f.read_bytes()) for f in photos(rps_train, "rock", 1)]
                     + [("보", f.name, f.read_bytes()) for f in photos(rps_train, "paper", 2)]))
    s = Session(project=p)
    alone = Project("image", ["바위", "보"])  # one class with samples: training cannot start
    list(alone.add_files([("바위", f.name, f.read_bytes()) for f in photos(rps_train, "rock", 2)]))
    with language("ko"):
        notes = class_warnings(s)[:3]  # the health module's imbalance note (another helper's) may follow
        why = why_not_trainable(Session(project=alone))
    assert notes[0] == "**바위**에 샘플이 1개뿐이에요. 여러 각도와 배경에서 10개 이상 모아 보세요."
    assert notes[1].startswith("**보**에 샘플이 2개뿐이에요") and notes[2].startswith("**가위**에 아직 샘플이 없어요")
    assert why.endswith(". 샘플 모으기 페이지에서 샘플을 추가하세요.")
    english = class_warnings(s)
    assert english[0] == "**바위** has only 1 sample: aim for at least 10, from different angles and backgrounds."
    assert english[1].startswith("**보** has only 2 samples: ")


# --- slow: real photos, real training -------------------------------------------------------------------------

def chart_titles(at) -> list[str]:
    titles = []
    for chart in at.get("vega_lite_chart"):
        spec = json.loads(chart.proto.spec)
        title = spec.get("title")
        titles.append(title if isinstance(title, str) else (title or {}).get("text", ""))
    return titles


@pytest.mark.slow
def test_the_train_page_of_a_trained_image_project_in_korean_then_english(rps_train):
    at = app(lang="ko")
    p = sess(at).project
    names = ("바위", "보")
    for old, cls, folder in zip(list(p.counts()), names, ("rock", "paper")):
        p.rename_class(old, cls)
        list(p.add_files((cls, f.name, f.read_bytes()) for f in photos(rps_train, folder, 12)))
    at.switch_page("app_pages/train.py").run()
    assert at.title[0].value == "학습"
    at.number_input(key="cfg:epochs").set_value(5).run()
    click(at, next(b.label for b in at.button if b.key == "train:go"))
    rec = sess(at).current
    assert rec is not None and rec.label == "학습 1 · 에포크 5 · 배치 16 · 학습률 0.001"
    texts = page_texts(at.main, []) + page_texts(at.sidebar, [])
    assert not english_of_mine(texts, names), english_of_mine(texts, names)
    assert {"에포크별 정확도", "에포크별 손실", "클래스별 정확도 (테스트 샘플)", "혼동 행렬 (테스트 샘플)"} <= set(chart_titles(at))
    assert any("학습 1 · 에포크 5" in t for t in page_texts(at.sidebar, []))  # the sidebar names the run

    # the lesson and health sentences of this run, as the Experiments page and the results make them
    with language("ko"):
        said = [lessons.lesson_text([(rec.label, rec.run)]), lessons.early_stop_text(rec.run, 2) or "",
                lessons.early_stopping_help(), lessons.finetune_help(10), lessons.augment_help("image"),
                lessons.augment_help("audio"), " ".join(lessons.diagnosis_sentences(rec.run))]
    assert all(HANGUL.search(s) for s in said if s) and not english_sentences(said, names), said

    # a second training in English: its label is English, the first keeps its Korean one, and the count goes on
    picker = next(w for w in at.sidebar.button_group if w.key == "ui:lang_picker")
    picker.set_value("en").run()
    assert not at.exception and at.title[0].value == "Train"
    assert not any(HANGUL.search(t) for t in page_texts(at.main, []) if not any(n in t for n in (*names, "학습 1")))
    click(at, "Train model")
    assert [r.label for r in sess(at).runs] == ["학습 1 · 에포크 5 · 배치 16 · 학습률 0.001",
                                               "Run 2 · 5 epochs · batch 16 · lr 0.001"]
    assert "Accuracy per epoch" in chart_titles(at)


@pytest.mark.slow
def test_the_lessons_of_a_sweep_in_korean(encoder, rps_train):
    """Runs that differ in learning rate and in batch size, on real embeddings: every lesson sentence Korean."""
    from tm_core.training import split_per_class, train

    from conftest import split_photos

    classes, (images, labels, _), _ = split_photos(rps_train, 12, 1)
    x = encoder.encode(images)
    split = split_per_class(labels, 0.25, 0)
    runs = {(lr, b): train(x, labels, classes, TrainConfig(epochs=8, learning_rate=lr, batch_size=b), split=split)
            for lr, b in ((0.00001, 16), (0.001, 16), (0.5, 16), (0.001, 64))}
    with language("ko"):
        rate = lessons.rate_lesson([(f"lr {k[0]}", r) for k, r in runs.items() if k[1] == 16])
        batch = lessons.batch_lesson([(f"b {k[1]}", r) for k, r in runs.items() if k[0] == 0.001])
        stop = [lessons.early_stop_text(r, 2) for r in runs.values()]
    said = [rate, batch, *[s for s in stop if s]]
    assert all(HANGUL.search(s) for s in said) and not english_sentences(said), said
    assert "학습률 0.5" in rate or "학습률 0.00001" in rate  # the settings named in Korean
    assert "배치 크기 16" in batch and "배치 크기 64" in batch
    english = lessons.batch_lesson([(f"b {k[1]}", r) for k, r in runs.items() if k[0] == 0.001])
    assert english.startswith("With batch size 16 the model made ")


@pytest.mark.slow
def test_a_pose_project_without_a_person_in_some_pictures_in_korean(frames, hats):  # noqa: F811 - fixtures
    """Real frames of a seated person and three hat photos (no person): the Train page's warnings, its choice
    and the results say so in Korean, with the counts in place."""
    at = gathered(frames, hats)  # made in English (its controls' labels), then switched
    next(w for w in at.sidebar.button_group if w.key == "ui:lang_picker").set_value("ko").run()
    at.switch_page("app_pages/train.py").run()
    assert not at.exception
    warned = [w.value for w in at.warning]
    assert "**original**의 사진 15장 중 3장에서 사람을 찾지 못했어요." in warned, warned
    assert at.toggle(key="cfg:keep_missing").label == "사람이 없는 사진으로도 학습"
    at.number_input(key="cfg:epochs").set_value(3).run()
    click(at, next(b.label for b in at.button if b.key == "train:go"))
    assert sess(at).current is not None
    assert "사람이 없는 사진 3장을 뺐어요. 사진 24장으로 학습했어요." in [i.value for i in at.info]
    texts = page_texts(at.main, [])
    assert not english_of_mine(texts, ("original", "mirrored")), english_of_mine(texts, ("original", "mirrored"))
