"""Audio projects in a real browser with a fake microphone playing real speech clips.

Chromium's ``--use-file-for-fake-audio-capture`` loops a wav made of real speech_commands "yes"
clips (speakers the model never trains on) with short pauses: ``st.audio_input`` records it into
a class, and streamlit-webrtc streams it over 127.0.0.1 to the live classifier on the Test page.
"""

from __future__ import annotations

import io
import re
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tm_core import media

from .conftest import _missing, launch
from .test_app_flow import main_text, open_page, upload_zip
from .test_webrtc_live import IFRAME, START_ATTEMPTS

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "streamlit_app.py"
SPEECH = REPO.parent / "shared" / "datasets" / "speech_commands" / "train"
WORDS = ("yes", "no")
TRAIN_CLIPS = 15  # per class, the first files of each folder
MIC_CLIPS = range(60, 66)  # "yes" clips of other speakers, for the microphone


def _clip_files(cls: str, idx) -> list[Path]:
    files = sorted((SPEECH / cls).iterdir())
    return [files[i] for i in idx]


@pytest.fixture(scope="module")
def mic_browser(playwright, tmp_path_factory):
    """A Chromium whose fake microphone loops real "yes" clips, each followed by 0.5 s of silence."""
    if not SPEECH.is_dir():
        _missing(str(SPEECH))
    pause = np.zeros(media.SAMPLE_RATE // 2, np.float32)
    wave = np.concatenate([part for f in _clip_files("yes", MIC_CLIPS) for part in (media.load_audio(f), pause)])
    wav = tmp_path_factory.mktemp("mic") / "yes_loop.wav"
    wav.write_bytes(media.wav_bytes(wave))
    browser = launch(playwright, f"--use-file-for-fake-audio-capture={wav}", fake_video=False)
    yield browser
    browser.close()


@pytest.fixture
def mic_page(mic_browser):
    context = mic_browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    yield page
    context.close()


def new_audio_project(page) -> None:
    page.get_by_role("heading", name="Gather examples").wait_for(timeout=90_000)
    page.get_by_role("button", name="New project").click()
    page.get_by_text("Audio · teach it sounds").click()
    page.get_by_role("button", name="Start a new audio project").click()
    page.get_by_text("Audio project", exact=True).wait_for(timeout=30_000)
    page.get_by_text(re.compile("Record at least 20 seconds of your room")).wait_for(timeout=30_000)


def test_record_with_the_microphone_into_background_noise(server, mic_page):
    srv = server(APP)
    page = mic_page
    page.goto(srv.url)
    new_audio_project(page)
    recorder = page.locator("[data-testid='stAudioInput']").first
    recorder.get_by_role("button", name="Record", exact=True).click()
    page.wait_for_timeout(3_300)
    recorder.get_by_role("button", name="Stop recording").click()
    added = page.get_by_text(re.compile(r"Added \d+ samples? to Background Noise"))
    added.wait_for(timeout=30_000)
    n = int(re.search(r"Added (\d+) sample", added.inner_text())[1])
    assert 2 <= n <= 4, added.inner_text()  # about 3.3 s, cut into 1-second samples
    page.locator("[data-testid='stSidebar']").get_by_text(
        re.compile(rf"Background Noise: {n} samples")).wait_for(timeout=10_000)


def speech_zip(tmp_path: Path) -> Path:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for cls in ("background_noise", *WORDS):
            for f in _clip_files(cls, range(TRAIN_CLIPS)):
                z.writestr(f"words/{cls}/{f.name}", f.read_bytes())
    path = tmp_path / "words.zip"
    path.write_bytes(buf.getvalue())
    return path


_BAR = re.compile(r"^(Background Noise|yes|no): (\d+)%$", re.M)


def test_live_microphone_shows_probabilities_on_the_test_page(server, mic_page, tmp_path):
    srv = server(APP)
    page = mic_page
    page.goto(srv.url)
    new_audio_project(page)
    upload_zip(page, speech_zip(tmp_path), 3 * TRAIN_CLIPS)

    open_page(page, "2 · Train", "Train")
    page.get_by_role("button", name="Train model").click()
    page.get_by_text("Under the hood").wait_for(timeout=120_000)

    open_page(page, "4 · Test & export", "Test & export")
    page.get_by_role("heading", name="Live microphone").wait_for(timeout=30_000)
    mic = page.frame_locator(IFRAME)
    start = mic.get_by_role("button", name=re.compile(r"^start$", re.I))
    stop = mic.get_by_role("button", name=re.compile(r"^stop$", re.I))
    predictions = re.compile(r"(\d+) predictions")
    for _ in range(START_ATTEMPTS):
        start.wait_for(timeout=20_000)
        start.click()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not predictions.search(main_text(page)):
            time.sleep(0.25)
        if predictions.search(main_text(page)):
            break
        if stop.is_visible():  # a dropped connection (about 1 START in 20): try again
            stop.click()
    else:
        pytest.fail(f"no live prediction after {START_ATTEMPTS} clicks on START")

    # Watch for 8 s (the loop is 9 s long): every class has a bar, the counts keep rising, and
    # while a "yes" plays the model says yes.
    readings, counts = [], []
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        text = main_text(page)
        bars = {name: int(p) for name, p in _BAR.findall(text)}
        if len(bars) == 3:
            readings.append(bars)
        if m := predictions.search(text):
            counts.append(int(m[1]))
        time.sleep(0.3)
    # A reading taken while the fragment redraws its bars can mix two answers: keep the whole ones.
    whole = [r for r in readings if abs(sum(r.values()) - 100) <= 3]
    assert len(whole) >= len(readings) // 2 > 0, readings
    assert counts[-1] - counts[0] >= 8, counts  # two windows a second
    tops = [max(r, key=r.get) for r in whole]
    assert "yes" in tops, readings
    print(f"live microphone: {counts[-1] - counts[0]} predictions in 8 s; top classes seen: "
          f"{ {t: tops.count(t) for t in set(tops)} }")
