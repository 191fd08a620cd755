"""Sound: the one preprocessing every sound sample goes through (16 kHz mono float32, 1-s clips).

``load_audio`` turns any WAV, FLAC, OGG (Vorbis, Opus) or MP3 into 16 kHz mono float32;
``clip_windows`` cuts it into the 1-second samples of an audio project.
"""

from __future__ import annotations

import io
import math
import os

import numpy as np
import soundfile as sf
import soxr

from tm_core import limits
from tm_core.errors import InputError
from tm_core.i18n import N_, _
from tm_core.media.files import AUDIO_FILE, read_source

SAMPLE_RATE = 16_000
CLIP_SAMPLES = 16_000
#: For ``st.file_uploader(type=...)``: formats libsndfile (inside the soundfile wheel) decodes here.
AUDIO_EXTENSIONS = ("wav", "flac", "ogg", "oga", "opus", "mp3")
MAX_AUDIO_SECONDS = limits.AUDIO_SECONDS
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 4_000, 384_000

_AUDIO_FORMATS = N_("WAV, FLAC, OGG (Vorbis or Opus) or MP3")
_AUDIO_DAMAGED = N_("is damaged or truncated")
# Decoded samples (frames × channels) held at once: memory stays small whatever the file declares.
_AUDIO_BLOCK_SAMPLES = 1 << 18
# A file may decode up to 1 % shorter than its header says (encoder padding, sloppy writers), not more.
_AUDIO_SHORTFALL = 0.01
_UNKNOWN_FRAMES = 1 << 62

# What a file that libsndfile refuses is, from its first bytes: (offset, magic, description, decodable elsewhere).
_NOT_AUDIO_MAGIC = (
    (0, b"\x89PNG", N_("a PNG image"), False),
    (0, b"\xff\xd8\xff", N_("a JPEG image"), False),
    (0, b"GIF8", N_("a GIF image"), False),
    (0, b"%PDF", N_("a PDF document"), False),
    (0, b"PK\x03\x04", N_("a zip archive"), False),
    (4, b"ftyp", N_("an MP4/M4A file (AAC sound or video)"), True),
    (0, b"\x1aE\xdf\xa3", N_("a WebM/Matroska file"), True),
    (0, b"#!AMR", N_("an AMR voice recording"), True),
)
# Files of a format libsndfile reads, so a refusal means they are broken.
_AUDIO_MAGIC = (b"RIFF", b"RIFX", b"RF64", b"fLaC", b"OggS", b"ID3", b"FORM", b".snd", b"caff")


def _duration_text(seconds: float) -> str:
    """A length in words: ``0.5 s``, ``42 s``, ``10 min``, ``12 min 30 s``, ``1 h 5 min``."""
    if seconds < 60:
        return _("{n} s", n=f"{seconds:.1f}".removesuffix(".0"))
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return _("{h} h {m} min", h=hours, m=minutes) if minutes else _("{n} h", n=hours)
    return _("{m} min {s} s", m=minutes, s=secs) if secs else _("{n} min", n=minutes)


def _too_long(name: str, seconds: float | None, limit: float) -> InputError:
    if seconds is None:
        return InputError(name, _("is too long; the limit is {limit} (cut it into shorter recordings)",
                                  limit=_duration_text(limit)))
    # rounded up, so that 600.3 s never reads "10 min long; the limit is 10 min"
    length = _duration_text(math.ceil(seconds * 10) / 10 if seconds < 60 else math.ceil(seconds))
    return InputError(name, _("is {length} long; the limit is {limit} (cut it into shorter recordings)",
                              length=length, limit=_duration_text(limit)))


def _unopenable_reason(data: bytes, code: int) -> str:
    """Why libsndfile could not open ``data`` (error ``code``), in words a student can act on."""
    for offset, magic, what, is_media in _NOT_AUDIO_MAGIC:
        if data[offset : offset + len(magic)] == magic:
            if is_media:
                return _("is {what}, whose sound cannot be decoded here (convert it to {formats})", what=_(what),
                         formats=_(_AUDIO_FORMATS))
            return _("is {what}, not an audio file (use {formats})", what=_(what), formats=_(_AUDIO_FORMATS))
    if code == 4:  # SF_ERR_UNSUPPORTED_ENCODING: a known container with an unusual codec inside
        return _("uses a sound encoding that cannot be decoded here (convert it to {formats})",
                 formats=_(_AUDIO_FORMATS))
    mpeg_sync = len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0
    if code != 1 or data.startswith(_AUDIO_MAGIC) or mpeg_sync:  # 1 is SF_ERR_UNRECOGNISED_FORMAT
        return _(_AUDIO_DAMAGED)
    return _("is not an audio file that can be read here (use {formats})", formats=_(_AUDIO_FORMATS))


def _wav_is_truncated(data: bytes) -> bool:
    """True when a RIFF WAVE file's ``data`` chunk declares clearly more bytes than the file holds.

    libsndfile quietly plays what is there; a cut-off download should be refused instead. Sizes of 0
    and near 4 GB are the placeholders of recorders that never finished the header: not truncation.
    """
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return False
    pos = 12
    while pos + 8 <= len(data):
        chunk, size = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        if chunk == b"data":
            available = len(data) - (pos + 8)
            return 0 < size < 0x7FFF0000 and available < size - size * _AUDIO_SHORTFALL
        pos += 8 + size + (size & 1)
    return False


def _ogg_is_truncated(data: bytes) -> bool:
    """True when an Ogg file (Vorbis, Opus) ends inside a page: libsndfile would quietly play what is there."""
    if not data.startswith(b"OggS"):
        return False
    pos = 0
    while pos < len(data):
        if len(data) - pos < 27:
            return b"OggS".startswith(data[pos : pos + 4])
        if data[pos : pos + 4] != b"OggS":
            return False  # trailing bytes that are not pages: not ours to judge
        segments = data[pos + 26]
        table = data[pos + 27 : pos + 27 + segments]
        end = pos + 27 + segments + sum(table)
        if len(table) < segments or end > len(data):
            return True
        pos = end
    return False


def _decode_audio(data: bytes, label: str, max_seconds: float) -> np.ndarray:
    try:
        sound = sf.SoundFile(io.BytesIO(data))
    except sf.LibsndfileError as exc:
        raise InputError(label, _unopenable_reason(data, exc.code)) from None
    with sound:
        rate, channels, frames = sound.samplerate, sound.channels, sound.frames
        if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
            raise InputError(
                label,
                _("has a sample rate of {rate} Hz; only rates from {low} to {high} Hz can be used",
                  rate=f"{rate:,}", low=f"{MIN_SAMPLE_RATE:,}", high=f"{MAX_SAMPLE_RATE:,}"),
            )
        if _wav_is_truncated(data) or _ogg_is_truncated(data):
            raise InputError(label, _(_AUDIO_DAMAGED))
        known = 0 <= frames < _UNKNOWN_FRAMES
        if known and frames == 0:
            raise InputError(label, _("contains no sound (it has no audio samples)"))
        limit = math.floor(max_seconds * rate)
        if known and frames > limit:
            raise _too_long(label, frames / rate, max_seconds)
        stream = None
        if rate != SAMPLE_RATE:
            stream = soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32", quality="HQ")
        block = max(1024, _AUDIO_BLOCK_SAMPLES // max(channels, 1))
        parts: list[np.ndarray] = []
        done = 0
        while True:
            chunk = sound.read(min(block, limit + 1 - done), dtype="float32", always_2d=True)
            if not len(chunk):
                break
            done += len(chunk)
            if done > limit:  # the header under-declared the length
                raise _too_long(label, None, max_seconds)
            mono = chunk[:, 0].copy() if channels == 1 else chunk.mean(axis=1, dtype=np.float32)
            if not np.isfinite(mono).all():
                raise InputError(label, _("contains invalid sample values (NaN or infinity), so it is damaged"))
            parts.append(stream.resample_chunk(mono) if stream else mono)
    if done == 0:
        raise InputError(label, _("contains no sound (it has no audio samples)"))
    if known and done < frames - frames * _AUDIO_SHORTFALL:
        raise InputError(label, _(_AUDIO_DAMAGED))
    if stream:
        parts.append(stream.resample_chunk(np.zeros(0, np.float32), last=True))
    wave = np.concatenate(parts).astype(np.float32, copy=False)
    return np.clip(wave, -1.0, 1.0, out=wave)


def load_audio(
    source: bytes | str | os.PathLike, name: str | None = None, *, max_seconds: float = MAX_AUDIO_SECONDS
) -> np.ndarray:
    """Decode a sound file (bytes or a path) into 1-D float32 at 16 kHz, mono, within [-1, 1], or raise InputError.

    Any format, sample rate (``MIN_SAMPLE_RATE``..``MAX_SAMPLE_RATE``), channel count and sample type
    libsndfile reads: channels are averaged, the rate is converted with soxr (high quality). Files
    longer than ``max_seconds`` are refused from their header, before decoding; the file is decoded in
    blocks, so memory stays small whatever it declares.
    """
    if not max_seconds > 0:
        raise ValueError(f"max_seconds must be positive, not {max_seconds}")
    label, data = read_source(source, name, AUDIO_FILE)
    try:
        return _decode_audio(data, label, max_seconds)
    except InputError:
        raise
    except MemoryError:
        raise InputError(label, _("needs more memory to decode than is available")) from None
    except Exception as exc:  # libsndfile read errors (lost sync, bad blocks...) and anything odd
        raise InputError(label, _(_AUDIO_DAMAGED)) from exc


def _centred(wave: np.ndarray) -> np.ndarray:
    out = np.zeros(CLIP_SAMPLES, np.float32)
    start = (CLIP_SAMPLES - len(wave)) // 2
    out[start : start + len(wave)] = wave
    return out


def _loudest_start(wave: np.ndarray) -> int:
    """Start of the 1-s stretch with the most energy; among equals (silence), the one nearest the centre."""
    energy = np.concatenate(([0.0], np.cumsum(np.square(wave, dtype=np.float64))))
    windows = energy[CLIP_SAMPLES:] - energy[:-CLIP_SAMPLES]
    best = windows.max()
    candidates = np.flatnonzero(windows >= best - 1e-9 * max(best, 1e-12))
    middle = (len(wave) - CLIP_SAMPLES) / 2
    return int(candidates[np.argmin(np.abs(candidates - middle))])


def clip_windows(wave: np.ndarray, *, hop_seconds: float = 1.0) -> list[np.ndarray]:
    """Teachable Machine's "extract samples": cut a 16 kHz wave into 1-s samples (``CLIP_SAMPLES`` float32 each).

    Up to 1 s: one window, the sound centred between zeros. Under 1.5 s: one window, the loudest
    second (a word slightly longer than a second stays whole). From 1.5 s: a window every
    ``hop_seconds``; if at least 0.5 s after the end of the last one is in no window, one more window
    starts where the next would have (or, for hops over 1 s, where the last one ends), zero-padded at
    its end; a shorter remainder is dropped. Silent windows are kept (a background-noise class can be
    quiet). Each window is its own array.
    """
    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim != 1:
        raise ValueError(f"clip_windows needs a 1-D wave, not shape {wave.shape}")
    if not (math.isfinite(hop_seconds) and hop_seconds * SAMPLE_RATE >= 1):
        raise ValueError(f"hop_seconds must be positive (at least one sample), not {hop_seconds}")
    n = len(wave)
    if n == 0:
        return []
    if n <= CLIP_SAMPLES:
        return [_centred(wave)]
    if n < CLIP_SAMPLES * 3 // 2:
        start = _loudest_start(wave)
        return [wave[start : start + CLIP_SAMPLES].copy()]
    hop = round(hop_seconds * SAMPLE_RATE)
    starts = range(0, n - CLIP_SAMPLES + 1, hop)
    windows = [wave[s : s + CLIP_SAMPLES].copy() for s in starts]
    if n - (starts[-1] + CLIP_SAMPLES) >= CLIP_SAMPLES // 2:  # enough sound after the last window
        tail = wave[starts[-1] + min(hop, CLIP_SAMPLES) :][:CLIP_SAMPLES]
        last = np.zeros(CLIP_SAMPLES, np.float32)
        last[: len(tail)] = tail
        windows.append(last)
    return windows


def wav_bytes(wave: np.ndarray, rate: int = SAMPLE_RATE) -> bytes:
    """16-bit PCM mono WAV bytes of a float wave in [-1, 1] (for playback, downloads, storage).

    Values are scaled by 32768 as libsndfile reads them back, so ``load_audio(wav_bytes(w))`` gives
    ``w`` again to within 1/65536 (when ``rate`` is 16 kHz); out-of-range values are clipped, NaN is 0.
    """
    wave = np.asarray(wave, dtype=np.float64)
    if wave.ndim != 1:
        raise ValueError(f"wav_bytes needs a 1-D wave, not shape {wave.shape}")
    if int(rate) != rate or rate < 1:
        raise ValueError(f"rate must be a positive whole number of Hz, not {rate}")
    pcm = np.clip(np.rint(np.nan_to_num(wave) * 32768.0), -32768, 32767).astype(np.int16)
    buf = io.BytesIO()
    sf.write(buf, pcm, int(rate), format="WAV", subtype="PCM_16")
    return buf.getvalue()

