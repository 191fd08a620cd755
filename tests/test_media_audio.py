"""tm_core.media's audio half on real clips (Speech Commands, FSDD) and on re-encoded, broken and hostile files."""

from __future__ import annotations

import io
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
from PIL import Image

from tm_core import media
from tm_core.errors import InputError

RATE = media.SAMPLE_RATE
PCM16_STEP = 1 / 32768

# ---------------------------------------------------------------------------------------------
# helpers and real data


@pytest.fixture(scope="module")
def speech_train(datasets_dir) -> Path:
    return datasets_dir / "speech_commands" / "train"


@pytest.fixture(scope="module")
def fsdd_train(datasets_dir) -> Path:
    return datasets_dir / "fsdd_digits" / "train"


def clips(folder: Path, n: int) -> list[Path]:
    return sorted(folder.glob("*.wav"))[:n]


def read(path: Path) -> np.ndarray:
    """The clip as soundfile itself reads it (float32, as stored)."""
    wave, _ = sf.read(path, dtype="float32")
    return wave


@pytest.fixture(scope="module")
def word(speech_train) -> np.ndarray:
    """The loudest of the first ten real "yes" clips: 1.0 s at 16 kHz."""
    waves = [read(p) for p in clips(speech_train / "yes", 10)]
    return max(waves, key=lambda w: float(np.square(w).mean()))


@pytest.fixture(scope="module")
def other_word(speech_train) -> np.ndarray:
    return read(clips(speech_train / "no", 1)[0])


@pytest.fixture(scope="module")
def background(speech_train) -> np.ndarray:
    return read(clips(speech_train / "background_noise", 1)[0])


def encode(wave: np.ndarray, rate: int = RATE, fmt: str = "WAV", subtype: str | None = None) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, wave, rate, format=fmt, subtype=subtype)
    return buf.getvalue()


def refused(source, name=None, **kwargs) -> InputError:
    with pytest.raises(InputError) as info:
        media.load_audio(source, name, **kwargs)
    return info.value


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    n = min(len(a), len(b))
    a, b = a[:n].astype(np.float64), b[:n].astype(np.float64)
    return float(a @ b / np.sqrt((a @ a) * (b @ b)))


def peak_hz(wave: np.ndarray, rate: int = RATE) -> float:
    spectrum = np.abs(np.fft.rfft(wave * np.hanning(len(wave))))
    return float(np.argmax(spectrum) * rate / len(wave))


def tone(hz: float, seconds: float, rate: int, amplitude: float = 0.5) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * hz * np.arange(round(seconds * rate)) / rate)).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# real clips


def test_real_16_khz_clips_are_what_soundfile_reads(speech_train):
    for path in clips(speech_train / "yes", 5) + clips(speech_train / "background_noise", 2):
        wave = media.load_audio(path)
        assert wave.shape == (16000,) and wave.dtype == np.float32 and wave.flags.c_contiguous
        np.testing.assert_allclose(wave, read(path), atol=PCM16_STEP)
        assert wave.std() > 1e-3, f"{path} decoded to silence"
    path = clips(speech_train / "yes", 1)[0]
    assert np.array_equal(media.load_audio(path.read_bytes(), "yes.wav"), media.load_audio(path))


def test_real_8_khz_clips_come_out_at_16_khz(fsdd_train):
    for path in clips(fsdd_train / "zero", 5):
        info = sf.info(path)
        assert info.samplerate == 8000
        wave = media.load_audio(path)
        assert wave.dtype == np.float32 and len(wave) == 2 * info.frames  # same duration, twice the samples
        expected = soxr.resample(read(path), 8000, RATE, "HQ")
        np.testing.assert_allclose(wave, np.clip(expected, -1, 1), atol=1e-5)


@pytest.mark.parametrize("rate, hz", [(8000, 1000.0), (22050, 3000.0), (44100, 5000.0), (48000, 7000.0)])
def test_resampled_tones_keep_their_frequency(rate, hz):
    wave = media.load_audio(encode(tone(hz, 1.0, rate), rate, subtype="FLOAT"), "tone.wav")
    assert len(wave) == 16000
    assert abs(peak_hz(wave) - hz) <= 1.0
    assert 0.49 < np.abs(wave[1000:-1000]).max() < 0.51


def test_sound_above_8_khz_is_filtered_out_not_folded_back():
    wave = media.load_audio(encode(tone(11000, 1.0, 44100), 44100, subtype="FLOAT"), "high.wav")
    assert np.sqrt(np.mean(np.square(wave[1000:-1000]))) < 1e-3  # would alias to 5 kHz at full strength


# ---------------------------------------------------------------------------------------------
# formats, sample types, rates and channels


VARIANTS = [
    # rate, format, subtype, lossy, minimum correlation with the original
    (16000, "FLAC", "PCM_16", False, 0.99999),
    (16000, "OGG", "VORBIS", True, 0.98),
    (16000, "OGG", "OPUS", True, 0.98),
    (48000, "OGG", "OPUS", True, 0.98),
    (16000, "MP3", "MPEG_LAYER_III", True, 0.98),
    (44100, "MP3", "MPEG_LAYER_III", True, 0.98),
    (16000, "WAV", "PCM_24", False, 0.99999),
    (16000, "WAV", "PCM_32", False, 0.99999),
    (16000, "WAV", "FLOAT", False, 0.99999),
    (16000, "WAV", "DOUBLE", False, 0.99999),
    (16000, "WAV", "PCM_U8", False, 0.97),
    (16000, "WAV", "ULAW", False, 0.999),
    (22050, "WAV", "PCM_16", False, 0.9999),
    (44100, "WAV", "PCM_16", False, 0.9999),
    (48000, "WAV", "PCM_16", False, 0.9999),
    (44100, "FLAC", "PCM_24", False, 0.9999),
]


@pytest.mark.parametrize("rate, fmt, subtype, lossy, min_corr", VARIANTS, ids=lambda v: str(v))
def test_re_encoded_real_clip_loads(word, rate, fmt, subtype, lossy, min_corr):
    source = word if rate == RATE else soxr.resample(word, RATE, rate, "VHQ")
    data = encode(source, rate, fmt, subtype)
    assert (sf.info(io.BytesIO(data)).format, sf.info(io.BytesIO(data)).subtype) == (fmt, subtype)
    wave = media.load_audio(data, f"word.{fmt.lower()}")
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert abs(len(wave) - 16000) <= (80 if lossy else 0)  # ±5 ms for lossy codecs
    assert correlation(wave, word) >= min_corr
    assert np.abs(wave).max() <= 1.0


def test_stereo_and_more_channels_become_their_mean(word, other_word, background):
    stereo = np.stack([word, other_word], axis=1)
    wave = media.load_audio(encode(stereo, subtype="PCM_16"), "stereo.wav")
    np.testing.assert_allclose(wave, (word + other_word) / 2, atol=PCM16_STEP)
    assert np.abs(wave - word).max() > 0.05 and np.abs(wave - other_word).max() > 0.05  # not one channel

    six = np.stack([word, other_word, background, -word, 0.5 * other_word, np.zeros_like(word)], axis=1)
    wave = media.load_audio(encode(six, 48000, "FLAC", "PCM_24"), "surround.flac")
    expected = soxr.resample(six.mean(axis=1), 48000, RATE, "HQ")
    assert len(wave) == len(six) // 3
    np.testing.assert_allclose(wave, expected, atol=1e-4)


def test_out_of_range_floats_are_clipped(word):
    loud = np.clip(word * 40, -3, 3)
    wave = media.load_audio(encode(loud, subtype="FLOAT"), "loud.wav")
    assert wave.max() == 1.0 and wave.min() == -1.0
    inside = np.abs(loud) < 1
    np.testing.assert_array_equal(wave[inside], loud[inside])


def test_audio_extensions_are_all_decodable(word):
    assert media.AUDIO_EXTENSIONS == ("wav", "flac", "ogg", "oga", "opus", "mp3")
    writable = {"wav": ("WAV", None), "flac": ("FLAC", None), "ogg": ("OGG", "VORBIS"), "oga": ("OGG", "VORBIS"),
                "opus": ("OGG", "OPUS"), "mp3": ("MP3", None)}
    assert set(writable) == set(media.AUDIO_EXTENSIONS)
    for ext in media.AUDIO_EXTENSIONS:
        fmt, subtype = writable[ext]
        assert len(media.load_audio(encode(word, RATE, fmt, subtype), f"word.{ext}")) == 16000


# ---------------------------------------------------------------------------------------------
# refusals


def test_empty_missing_folder_and_oversize(tmp_path, word, monkeypatch):
    assert str(refused(b"", "empty.wav")) == "empty.wav: is empty"
    (tmp_path / "zero.wav").write_bytes(b"")
    assert str(refused(tmp_path / "zero.wav")) == "zero.wav: is empty"
    assert str(refused(tmp_path / "gone.wav")) == "gone.wav: does not exist"
    assert str(refused(tmp_path, "recordings")) == "recordings: is a folder, not an audio file"
    assert refused(b"\x00\x01").name == "audio file"

    data = encode(word)
    monkeypatch.setattr(media.files, "MAX_FILE_BYTES", 1000)
    err = refused(data, "big.wav")
    assert err.reason.startswith("is too large (31.3 KB") and "the limit is 1000 bytes" in err.reason
    (tmp_path / "big2.wav").write_bytes(data)
    assert refused(tmp_path / "big2.wav").reason == err.reason


def test_header_without_frames_is_refused(word):
    data = encode(word[:0])
    assert sf.info(io.BytesIO(data)).frames == 0
    assert str(refused(data, "silent.wav")) == "silent.wav: contains no sound (it has no audio samples)"


def test_files_that_are_not_audio_are_refused_with_what_works(tmp_path, datasets_dir):
    noise = np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    err = refused(noise, "noise.wav")
    assert str(err) == (
        "noise.wav: is not an audio file that can be read here (use WAV, FLAC, OGG (Vorbis or Opus) or MP3)"
    )
    text = tmp_path / "lyrics.ogg"
    text.write_text("la la la\n" * 50)
    assert refused(text).reason == err.reason

    photo = sorted((datasets_dir / "rps_real" / "train" / "rock").glob("*.jpg"))[0]
    png = io.BytesIO()
    with Image.open(photo) as img:
        img.save(png, "PNG")
    assert str(refused(png.getvalue(), "rock.mp3")) == (
        "rock.mp3: is a PNG image, not an audio file (use WAV, FLAC, OGG (Vorbis or Opus) or MP3)"
    )
    assert refused(photo, "rock.wav").reason.startswith("is a JPEG image, not an audio file")

    movie = datasets_dir / "video" / "person_seated_raga_1080p.mp4"
    err = refused(movie, "voice memo.m4a")
    assert err.name == "voice memo.m4a"
    assert err.reason.startswith("is an MP4/M4A file (AAC sound or video), whose sound cannot be decoded here")
    assert "convert it to WAV" in err.reason


@pytest.mark.parametrize("fmt, subtype", [("WAV", "PCM_16"), ("FLAC", None), ("MP3", None), ("OGG", "VORBIS")])
def test_truncated_files_are_refused(fmt, subtype, word):
    data = encode(np.concatenate([word, word, word]), RATE, fmt, subtype)
    assert len(media.load_audio(data, "whole")) == 48000
    for cut in (len(data) * 9 // 10, len(data) // 2, len(data) // 5, 60):
        assert str(refused(data[:cut], f"cut.{fmt.lower()}")) == f"cut.{fmt.lower()}: is damaged or truncated"


def test_truncated_real_wav_is_refused_but_unfinished_header_is_not(speech_train):
    data = clips(speech_train / "yes", 1)[0].read_bytes()
    assert str(refused(data[: len(data) * 2 // 3], "yes/1.wav")) == "yes/1.wav: is damaged or truncated"
    assert str(refused(data[:44], "yes/2.wav")) == "yes/2.wav: is damaged or truncated"  # header only
    # A recorder that never went back to fill in the sizes: every sample is there, so it is read.
    at = data.find(b"data")
    unfinished = bytearray(data)
    unfinished[4:8] = unfinished[at + 4 : at + 8] = b"\xff\xff\xff\xff"
    np.testing.assert_array_equal(media.load_audio(bytes(unfinished), "live.wav"), media.load_audio(data, "yes.wav"))


def test_too_long_is_refused_from_the_header(word):
    assert str(refused(encode(word), "yes.wav", max_seconds=0.5)) == (
        "yes.wav: is 1 s long; the limit is 0.5 s (cut it into shorter recordings)"
    )
    assert len(media.load_audio(encode(word), "yes.wav", max_seconds=1.0)) == 16000
    assert refused(encode(word[:8640]), "yes.wav", max_seconds=0.5).reason.startswith("is 0.6 s long;")  # 0.54 s
    with pytest.raises(ValueError):
        media.load_audio(encode(word), "yes.wav", max_seconds=float("nan"))

    silence = encode(np.zeros(601 * 4000, np.float32), 4000, "FLAC")  # 10 min 1 s, a few KB
    start = time.perf_counter()
    err = refused(silence, "lecture.flac")
    assert time.perf_counter() - start < 0.05  # from the header, without decoding 10 minutes
    assert str(err) == "lecture.flac: is 10 min 1 s long; the limit is 10 min (cut it into shorter recordings)"


@pytest.mark.parametrize("rate, shown", [(2000, "2,000 Hz"), (3999, "3,999 Hz"), (400_000, "400,000 Hz")])
def test_sample_rates_out_of_range_are_refused(word, rate, shown):
    err = refused(encode(word[:4000], rate), "odd.wav")
    assert err.reason == f"has a sample rate of {shown}; only rates from 4,000 to 384,000 Hz can be used"


@pytest.mark.parametrize("rate", [4000, 384_000])
def test_sample_rate_limits_themselves_work(word, rate):
    wave = media.load_audio(encode(word, rate), "edge.wav")
    assert len(wave) == round(16000 * RATE / rate)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_infinite_samples_are_refused(word, bad):
    broken = word.copy()
    broken[12345] = bad
    err = refused(encode(broken, subtype="FLOAT"), "float.wav")
    assert err.reason == "contains invalid sample values (NaN or infinity), so it is damaged"


# ---------------------------------------------------------------------------------------------
# clip_windows


def test_short_sound_is_centred(fsdd_train):
    digit = media.load_audio(clips(fsdd_train / "zero", 1)[0])[:6400]  # 0.4 s of a real word
    [window] = media.clip_windows(digit)
    assert window.shape == (16000,) and window.dtype == np.float32
    np.testing.assert_array_equal(window[4800:11200], digit)
    assert not window[:4800].any() and not window[11200:].any()


def test_one_second_is_kept_as_it_is(word):
    [window] = media.clip_windows(word)
    np.testing.assert_array_equal(window, word)
    assert window is not word


def test_slightly_long_sound_keeps_its_loudest_second(fsdd_train, background):
    digit = media.load_audio(clips(fsdd_train / "two", 1)[0])
    digit = digit[: min(len(digit), 9000)]
    wave = 0.02 * np.concatenate([background, background])[:20800]  # 1.3 s of quiet room
    at = 20800 - len(digit) - 200  # the word ends 12.5 ms before the end
    wave[at : at + len(digit)] += digit

    def start_of(window: np.ndarray, wave: np.ndarray) -> int:
        return next(s for s in range(len(wave) - 16000 + 1) if np.array_equal(wave[s : s + 16000], window))

    [window] = media.clip_windows(wave)
    assert window.shape == (16000,) and window.dtype == np.float32
    start = start_of(window, wave)
    assert start <= at and start + 16000 >= at + len(digit)  # the whole word, not its first second

    early = 0.02 * np.concatenate([background, background])[:20800]
    early[1000 : 1000 + len(digit)] += digit  # the same word near the start
    [window] = media.clip_windows(early)
    assert start_of(window, early) <= 1000

    [window] = media.clip_windows(np.zeros(20000, np.float32))
    assert window.shape == (16000,) and not window.any()


def test_long_recordings_are_cut_every_second(speech_train):
    words = [read(p) for p in clips(speech_train / "up", 4)]
    wave = np.concatenate(words)[:51200]  # 3.2 s
    windows = media.clip_windows(wave)
    assert len(windows) == 3 and all(w.shape == (16000,) and w.dtype == np.float32 for w in windows)
    for i, window in enumerate(windows):
        np.testing.assert_array_equal(window, words[i])

    wave = np.concatenate(words)[:59200]  # 3.7 s: the last 0.7 s becomes a fourth, padded window
    windows = media.clip_windows(wave)
    assert len(windows) == 4
    np.testing.assert_array_equal(windows[3][:11200], words[3][:11200])
    assert not windows[3][11200:].any()

    assert len(media.clip_windows(np.concatenate(words)[:55900])) == 3  # 0.49 s left over: dropped
    windows[0][:] = 0
    assert windows[1].any()  # each window is its own array


def test_overlapping_windows(speech_train):
    wave = np.concatenate([read(p) for p in clips(speech_train / "down", 4)])
    windows = media.clip_windows(wave[:51200], hop_seconds=0.5)  # 3.2 s: starts at 0, 0.5 ... 2.0 s
    assert len(windows) == 5
    for i, window in enumerate(windows):
        np.testing.assert_array_equal(window, wave[i * 8000 : i * 8000 + 16000])

    windows = media.clip_windows(wave[:48000], hop_seconds=0.75)  # 3 s: 0, 0.75, 1.5, then 0.5 s uncovered
    assert len(windows) == 4
    np.testing.assert_array_equal(windows[3][:12000], wave[36000:48000])
    assert not windows[3][12000:].any()


def test_clip_windows_edge_cases():
    assert media.clip_windows(np.zeros(0, np.float32)) == []
    assert len(media.clip_windows(np.zeros(23999))) == 1  # under 1.5 s: one window
    windows = media.clip_windows(np.zeros(24000))  # 1.5 s: the second half-second becomes a padded window
    assert len(windows) == 2 and all(w.dtype == np.float32 and w.shape == (16000,) for w in windows)
    for bad in (0, -1, float("nan")):
        with pytest.raises(ValueError):
            media.clip_windows(np.zeros(48000), hop_seconds=bad)
    with pytest.raises(ValueError):
        media.clip_windows(np.zeros((2, 16000)))


# ---------------------------------------------------------------------------------------------
# wav_bytes and spectrogram pictures


def test_wav_bytes_round_trips(word, fsdd_train):
    data = media.wav_bytes(word)
    info = sf.info(io.BytesIO(data))
    header = (info.format, info.subtype, info.channels, info.samplerate, info.frames)
    assert header == ("WAV", "PCM_16", 1, 16000, 16000)
    np.testing.assert_allclose(media.load_audio(data, "again.wav"), word, atol=PCM16_STEP / 2)

    digit = read(clips(fsdd_train / "one", 1)[0])
    back = media.load_audio(media.wav_bytes(digit, 8000), "digit.wav")
    assert len(back) == 2 * len(digit)

    edges = media.load_audio(media.wav_bytes(np.array([2.0, 1.0, -1.0, -3.0, np.nan])), "edges.wav")
    np.testing.assert_allclose(edges, [32767 / 32768, 32767 / 32768, -1, -1, 0])


def test_spectrogram_shape_and_colours(word):
    img = media.spectrogram_image(word)
    assert img.shape == (64, 98, 3) and img.dtype == np.uint8  # 10 ms columns of 25 ms windows
    assert media.spectrogram_image(word, height=32).shape == (32, 98, 3)
    assert media.spectrogram_image(word[:100]).shape == (64, 1, 3)
    assert img.std() > 20  # a real word is not a flat picture

    silence = media.spectrogram_image(np.zeros(16000, np.float32))
    assert silence.shape == (64, 98, 3) and (silence == silence[0, 0]).all()
    assert silence[0, 0].astype(int).sum() < 160  # dark, not stretched noise

    quiet = media.spectrogram_image(word * 0.1)  # 20 dB quieter: still as bright (normalised per picture)
    yellow = [253, 231, 37]
    for picture in (img, quiet):
        flat = picture.astype(int).sum(axis=2)
        assert picture.reshape(-1, 3)[np.argmax(flat)].tolist() == yellow
    assert np.argmax(quiet.astype(int).sum(axis=2)) == np.argmax(img.astype(int).sum(axis=2))


@pytest.mark.parametrize("hz", [300, 1000, 4000])
def test_a_tone_is_a_bright_band_at_its_height(hz):
    img = media.spectrogram_image(tone(hz, 1.0, RATE), height=64)
    brightness = img.astype(int).sum(axis=2).mean(axis=1)
    row = int(np.argmax(brightness))
    mel = lambda f: 2595 * np.log10(1 + f / 700)  # noqa: E731
    centres = np.linspace(mel(125), mel(7500), 66)[1:-1]
    expected_row = 63 - int(np.argmin(np.abs(centres - mel(hz))))  # low frequencies at the bottom
    assert abs(row - expected_row) <= 1
    assert brightness[row] > 3 * np.median(brightness)


# ---------------------------------------------------------------------------------------------
# decode_audio_files and listings


def test_decode_audio_files_keeps_order_and_reports_bad_files(speech_train, fsdd_train, word):
    yes = clips(speech_train / "yes", 2)
    long_recording = media.wav_bytes(np.concatenate([word, word, word, word[:11200]]))  # 3.7 s
    items = [
        (yes[0].name, yes[0]),
        ("noise.wav", b"\x01\x02" * 500),
        ("long.wav", long_recording),
        ("empty.wav", b""),
        ("zero.wav", clips(fsdd_train / "zero", 1)[0]),
        ("odd", 42),
        (yes[1].name, yes[1].read_bytes()),
    ]
    results = list(media.decode_audio_files(items, workers=3, lookahead=2))
    assert len(results) == len(items)
    for (name, source), result in zip(items, results):
        if name in {"noise.wav", "empty.wav", "odd"}:
            assert isinstance(result, InputError) and result.name == name
        else:
            got_name, windows = result
            expected = media.clip_windows(media.load_audio(source, name))
            assert got_name == name and len(windows) == len(expected)
            assert all(np.array_equal(a, b) for a, b in zip(windows, expected))
    assert len(results[2][1]) == 4
    assert results[3].reason == "is empty" and "could not be decoded" in results[5].reason
    assert not [t for t in threading.enumerate() if t.name.startswith("tm-decode-audio")]


def test_decode_audio_files_stops_cleanly(word):
    data = media.wav_bytes(word)
    gen = media.decode_audio_files(((f"{i}.wav", data) for i in range(100)), workers=2, lookahead=4)
    assert next(gen)[0] == "0.wav"
    gen.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("tm-decode-audio")]
    with pytest.raises(ValueError):
        next(media.decode_audio_files([], workers=0))
    assert list(media.decode_audio_files([])) == []


def test_folders_and_zips_of_audio_classes_are_listed(speech_train):
    listing = media.list_folder(speech_train)
    assert listing.classes == ["background_noise", "down", "no", "up", "yes"]
    assert len(listing.files) == 500 and listing.skipped == []
    assert all(f.name.endswith(".wav") for f in listing.files)

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for cls in ("yes", "no"):
            for path in clips(speech_train / cls, 2):
                zf.write(path, f"words/{cls}/{path.name}")
    listing = media.read_zip(buf.getvalue(), "words.zip")
    assert listing.classes == ["no", "yes"] and len(listing.files) == 4
    decoded = list(media.decode_audio_files((f.name, f.source) for f in listing.files))
    assert all(isinstance(r, tuple) and len(r[1]) == 1 for r in decoded)
