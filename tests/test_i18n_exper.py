"""The Experiments page in Korean (issue 15): its lessons, sweep and comparison, the tables' column titles,
the charts' titles, axes, legends and tooltips, the sweep's diagnosis words, run names made in Korean with
their counts, the sweep's refusals, the share link's date; and the same in English without a language.

Real embeddings of real rock / paper / scissors photos (the pretrained MobileNetV2), real training."""

from __future__ import annotations

import json
import re
import time

import pytest
from test_i18n import english_sentences, page_texts

from tm_core import diagnose as dx
from tm_core import experiment_charts as xcharts
from tm_core import experiments, grid, i18n
from tm_core.errors import InputError
from tm_core.training import TrainConfig
from tm_core.ui.share import STAMP

from conftest import app, click, photos, sess

HANGUL = re.compile("[가-힣]")
EXPERIMENTS = "app_pages/overfitting.py"


def assert_whole_page_korean(at, own_words=()) -> None:
    """No English sentence anywhere on the page (texts, and every chart's titles)."""
    texts = page_texts(at.main, [])
    found = english_sentences(texts, own_words)
    charts = [w for spec in ko_charts(at) for w in chart_words(spec) if not hangul(w)]
    assert not found, found
    assert not charts, charts


class korean:
    """``with korean():`` the code inside runs in Korean (as a page run with ``?lang=ko`` does)."""

    def __enter__(self):
        self.token = i18n._language.set("ko")

    def __exit__(self, *exc):
        i18n._language.reset(self.token)


def hangul(text) -> bool:
    return bool(text) and bool(HANGUL.search(str(text)))


@pytest.fixture(scope="module")
def rps_features(encoder, rps_train):
    """Embeddings of 12 real photos per class of rock / paper / scissors (computed once)."""
    from conftest import split_photos

    classes, (images, labels, _files), _ = split_photos(rps_train, 12, 1)
    return encoder.encode(images), labels, classes


def chart_words(spec: dict) -> list[str]:
    """Every title in a Vega-Lite spec (chart, axes, legends, tooltips): what a student reads on a chart."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "title" and isinstance(value, str):
                    found.append(value)
                elif key == "title" and isinstance(value, dict) and isinstance(value.get("text"), str):
                    found.append(value["text"])
                else:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(spec)
    return found


# --- the engine's words, fast -----------------------------------------------------------------------------

def test_run_names_are_made_in_korean_with_their_counts_and_stay_english_without_a_language(rps_features):
    x, y, classes = rps_features
    config = TrainConfig(epochs=3, seed=0)
    with korean():
        epochs = [label for label, _run in experiments.epoch_sweep(x, y, classes, (1, 3), config)]
        sized = [label for label, _run in experiments.samples_sweep(x, y, classes, (5, None), config)]
        rates = [label for label, _run in experiments.value_sweep(x, y, classes, "learning_rate", (0.01,), config)]
        cell = grid.GridSpec({"learning_rate": (0.01,), "batch_size": (8,)}).cells(config)[0].label
    assert epochs == ["1 에포크", "3 에포크"]  # Korean has one form for 1 and for 3
    train_per_class = len(experiments.sweep_split(y, config).train) // len(classes)
    assert sized == ["클래스당 5개", f"전체 (클래스당 {train_per_class}개)"]
    assert rates == ["학습률 0.01"] and cell == "학습률 0.01 · 배치 크기 8 · 시드 0"
    # English: the plural follows the count
    assert [label for label, _run in experiments.epoch_sweep(x, y, classes, (1, 3), config)] == ["1 epoch", "3 epochs"]
    assert grid.GridSpec({"learning_rate": (0.01,), "batch_size": (8,)}).cells(config)[0].label == \
        "learning rate 0.01 · batch size 8 · seed 0"


def test_charts_speak_korean_titles_axes_legends_tooltips_and_marks(rps_features):
    x, y, classes = rps_features
    runs = experiments.epoch_sweep(x, y, classes, (2, 8), TrainConfig(seed=0))
    long = experiments.history_frame([runs[-1]])
    frame = experiments.history_frame(runs)
    with korean():
        charts = [xcharts.epochs_story_chart(long, "accuracy", [2, 8], 3, (6, 3)),
                  xcharts.epochs_story_chart(long, "loss", [2, 8], 3, (6, 3)),
                  xcharts.runs_chart(frame, "accuracy", "test", {label: 2 for label, _run in runs}),
                  xcharts.runs_chart(frame, "loss", "train", {}, log_y=True)]
        specs = [c.to_dict() for c in charts]
    for spec in specs:
        words = chart_words(spec)
        assert len(words) >= 4 and all(hangul(w) for w in words), words
        assert not english_sentences(words), words
    story = json.dumps(specs[0], ensure_ascii=False)
    assert '"domain": ["학습", "테스트"]' in story  # the legend's train / test
    assert all(m in story for m in ("2 에포크", "최고: 3", "중지: 6", "유지: 3"))
    assert specs[0]["title"] == "에포크별 정확도: 학습과 테스트, 한 번의 학습"
    assert specs[3]["title"] == "학습 기록별 에포크당 학습 손실"
    english = xcharts.epochs_story_chart(long, "accuracy", [2, 8], 3, (6, 3)).to_dict()
    assert english["title"] == "Accuracy per epoch: train and test, one run"
    assert '"domain": ["train", "test"]' in json.dumps(english) and "best: 3" in json.dumps(english)


def test_tables_column_titles_and_the_diagnosis_in_korean(rps_features):
    from tm_core.ui import tables

    x, y, classes = rps_features
    config = TrainConfig(epochs=4, seed=0)
    spec = grid.GridSpec({"learning_rate": (0.001, 0.5), "batch_size": (8,)})
    split = experiments.sweep_split(y, config)
    with korean():
        pairs = grid.run_grid(x, y, classes, spec, config, split=split)
        runs = grid.run_table(pairs)
        cells = grid.cell_table(runs, ["learning_rate", "batch_size"])
        summary = experiments.summary_frame([(c.label, r) for c, r in pairs])
        titles = {**{k: v["label"] for k, v in tables.summary_config(summary).items()},
                  **{f"sweep:{k}": v["label"] for k, v in tables.sweep_config(runs).items()}}
        said = [dx.kind_text(kind) for kind in runs["diagnosis"]]
        every_kind = {kind: dx.kind_text(kind) for kind in dx.KIND_TEXTS}
    assert len(titles) == len(summary.columns) + len(runs.columns)
    assert all(hangul(t) for t in titles.values()), titles
    assert titles["final_train_accuracy"] == "마지막 학습 정확도" and titles["sweep:diagnosis"] == "곡선이 보여 주는 것"
    assert list(runs["diagnosis"]) == [dx.diagnose(r).kind for _c, r in pairs]  # the data keeps the kind's code
    assert all(hangul(s) and not english_sentences([s]) for s in said), said
    assert all(hangul(s) for s in every_kind.values()) and len(set(every_kind.values())) == len(dx.KIND_TEXTS)
    assert cells["accuracy_text"].str.endswith("%").all()
    # English without a language: the titles a student read before
    assert tables.summary_config(summary)["final_train_accuracy"]["label"] == "Train accuracy at the end"
    assert dx.kind_text(dx.OVERFITTING) == "Overfitting: the test loss rose at the end"


def test_a_sweeps_refusal_is_korean_and_keeps_the_students_value():
    with korean():
        with pytest.raises(InputError) as refused:
            grid.parse_values("learning_rate", "0.001, 빠르게")
        with pytest.raises(InputError) as too_many:
            grid.GridSpec({"epochs": tuple(range(1, 10)), "batch_size": tuple(range(1, 10))}).validate()
        stamp = time.strftime(i18n._(STAMP), time.localtime(0))
    assert str(refused.value) == "학습률: '빠르게'은(는) 숫자가 아니에요"
    assert hangul(str(too_many.value)) and "81" in str(too_many.value) and not english_sentences([str(too_many.value)])
    assert re.fullmatch(r"\d\d월 \d\d일 \d\d:\d\d", stamp)
    with pytest.raises(InputError, match="'fast' is not a number"):
        grid.parse_values("learning_rate", "0.001, fast")


# --- the page, through AppTest --------------------------------------------------------------------------

def test_the_experiments_page_of_a_new_project_in_korean_and_in_english():
    at = app(lang="ko")
    at.switch_page(EXPERIMENTS).run()
    assert not at.exception and at.title[0].value == "실험"
    with korean():
        from tm_core.ui.experiments import lesson_buttons_text

        lessons = list(lesson_buttons_text().values())
    assert sorted(b.label for b in at.button if b.key and b.key.startswith("lesson:")) == sorted(lessons)
    assert lessons[0] == "5, 20, 50, 200 에포크로 학습시키기"
    assert "아직 학습 기록이 없어요. 학습 페이지에서 학습시키거나 위의 레슨을 실행해 보세요." in [i.value for i in at.info]
    assert [e.label for e in at.expander] == ["두 설정을 바꿔 가며 학습하기"]
    english = app()
    english.switch_page(EXPERIMENTS).run()
    assert english.title[0].value == "Experiments" and english.expander[0].label == "Sweep two settings"
    assert "Train for 5, 20, 50, 200 epochs" in [b.label for b in english.button]
    assert any("No training runs yet" in i.value for i in english.info)
    assert_whole_page_korean(at)


def ko_charts(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]


@pytest.mark.slow
def test_the_experiments_page_of_a_trained_image_project_in_korean(rps_train):
    at = app(lang="ko")
    p = sess(at).project
    names = ("바위", "보")
    for old, cls in zip(list(p.counts()), names):
        p.rename_class(old, cls)
        list(p.add_files((cls, f.name, f.read_bytes()) for f in photos(rps_train, "rock" if cls == "바위" else "paper", 12)))
    at.switch_page("app_pages/train.py").run()
    at.number_input(key="cfg:epochs").set_value(5).run()
    next(b for b in at.button if b.key == "train:go").click().run()
    assert not at.exception and sess(at).current is not None
    at.switch_page(EXPERIMENTS).run()
    assert not at.exception and at.title[0].value == "실험"
    with korean():
        from tm_core.ui.experiments import lesson_buttons_text

        buttons = lesson_buttons_text()

    # the epochs lesson: one long run, the shorter ones marked on it
    click(at, buttons["epochs"])
    labels = [r.label for r in sess(at).runs]
    assert [label.split(" · ")[-1] for label in labels[1:]] == ["5 에포크", "20 에포크", "50 에포크", "200 에포크"]
    for spec in ko_charts(at)[:2]:  # accuracy and loss of the one long run (the gap chart is tm_core.charts')
        words = chart_words(spec)
        assert words and all(hangul(w) for w in words), words
    summary = {k: c for k, c in json.loads(at.dataframe[0].proto.columns).items() if k != "_index"}
    assert all(hangul(c["label"]) for c in summary.values()), summary
    texts = page_texts(at.main, [])
    assert any("하나의 학습" in t or "한 번의 학습" in t for t in texts)  # the caption under the charts
    own = (*names, *labels)

    # the batch-size lesson: its own table of weight updates
    click(at, buttons["batch_size"])
    batch = next(d for d in at.dataframe if "updates_per_epoch" in d.value.columns)
    assert [c["label"] for k, c in json.loads(batch.proto.columns).items() if k != "_index"] == \
        ["학습 기록", "배치 크기", "에포크당 가중치 업데이트 수", "에포크당 ms"]

    assert [s["title"] for s in ko_charts(at)] == ["학습 기록별 에포크당 테스트 정확도", "학습 기록별 에포크당 학습 손실"]

    # a sweep: two settings, two values each
    at.text_input(key="grid:values:learning_rate").set_value("0.001, 0.5").run()
    at.text_input(key="grid:values:batch_size").set_value("8, 32").run()
    assert any(c.value.startswith("학습시킬 모델 4개") for c in at.caption)
    at.button(key="grid:run").click().run()
    assert not at.exception, at.exception
    sweep = next(d for d in at.dataframe if "seed" in d.value.columns)
    heads = {k: c for k, c in json.loads(sweep.proto.columns).items() if k != "_index"}
    assert all(hangul(c["label"]) for c in heads.values()), heads
    assert set(sweep.value["diagnosis"]) <= set(_ko_kinds())  # the diagnosis in words
    titles = [s.get("title") for s in ko_charts(at)]
    assert "테스트 정확도 (시드별 평균 ± 흩어진 정도)" in titles and "학습 시간" in titles
    assert any(m.value.startswith("가장 좋은 칸: 학습률") for m in at.markdown)
    labels = [r.label for r in sess(at).runs]

    # the whole page, as a student reads it (own words: class names and run names, which are names)
    assert_whole_page_korean(at, (*own, *labels))


def _ko_kinds() -> list[str]:
    with korean():
        return [dx.kind_text(k) for k in dx.KIND_TEXTS]


def test_kind_text_leaves_an_unknown_kind_as_it_is():
    with korean():
        assert dx.kind_text("something new") == "something new"


@pytest.mark.slow
def test_an_example_and_a_share_link_in_korean():
    """The start page's example projects (their titles and texts from index.json), the report after one
    opens, the phone and share panels and the share link's date, in Korean."""
    from tm_core import examples

    at = app(180, lang="ko")
    ex = examples.get("clothing")
    shown = {b.label: b for b in at.button if (b.key or "").startswith("example:")}
    assert "옷" in shown and "가위바위보 (이미지)" in shown and "말로 하는 yes와 no" in shown
    assert hangul(shown["옷"].help) and not english_sentences([shown["옷"].help])
    click(at, "옷")
    assert sess(at).project.counts() == ex.classes
    said = [m.value for m in at.success] + [m.value for m in at.info]
    assert any(m.startswith("예제 **옷**을(를) 열었어요: 클래스 4개에 샘플 80개.") for m in said), said
    assert any(m.startswith("예제의 출처: CC0 1.0 (퍼블릭 도메인).") for m in said), said
    mine = [m for m in said if m.startswith("예제")]  # (the Gather page's own tips are not this file's)
    assert len(mine) == 2 and not english_sentences(mine, tuple(ex.classes)), mine
    panels = [e.label for e in at.expander]
    assert "휴대폰 카메라 쓰기" in panels and "학생들과 사본 공유하기" in panels
    assert any(m.value.startswith("[휴대폰에서 열기](") for m in at.markdown)
    click(at, "공유 링크 만들기")
    made = [m.value for m in at.markdown if m.value.startswith("학생용 링크")]
    assert made and re.fullmatch(r"학생용 링크 \(\d\d월 \d\d일 \d\d:\d\d에 만듦\):", made[0]), made
