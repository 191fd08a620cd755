"""Spectrogram pictures of sounds, for galleries."""

from __future__ import annotations

import functools

import numpy as np

from tm_core.media.audio import SAMPLE_RATE

# Spectrogram pictures: YAMNet's framing (25 ms Hann windows every 10 ms, 512-point FFT, mel 125-7500 Hz).
_SPEC_WINDOW = 400
_SPEC_HOP = 160
_SPEC_FFT = 512
_MEL_LOW_HZ, _MEL_HIGH_HZ = 125.0, 7500.0
_SPEC_RANGE_DB = 80.0  # shown below each picture's loudest point
_SPEC_FLOOR_DB = -100.0  # absolute floor (0 dB: a full-scale sine): digital silence stays dark
# Viridis at 0, 0.2, 0.4, 0.6, 0.8, 1: dark purple (quiet) through blue and green to yellow (loud).
_VIRIDIS = np.array(
    [(68, 1, 84), (65, 68, 135), (42, 120, 142), (34, 168, 132), (122, 209, 81), (253, 231, 37)], np.float32
)


def _hz_to_mel(hz):
    return 2595.0 * np.log10(1.0 + np.asarray(hz, np.float64) / 700.0)


@functools.lru_cache(maxsize=8)
def _mel_matrix(bands: int) -> np.ndarray:
    """(FFT bins, bands) triangular HTK-mel filters between ``_MEL_LOW_HZ`` and ``_MEL_HIGH_HZ``."""
    freqs = np.arange(_SPEC_FFT // 2 + 1) * SAMPLE_RATE / _SPEC_FFT
    edges_mel = np.linspace(_hz_to_mel(_MEL_LOW_HZ), _hz_to_mel(_MEL_HIGH_HZ), bands + 2)
    mel = _hz_to_mel(freqs)[:, None]
    lower, centre, upper = edges_mel[:-2], edges_mel[1:-1], edges_mel[2:]
    rising = (mel - lower) / (centre - lower)
    falling = (upper - mel) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)
    weights.flags.writeable = False
    return weights


def _colour_table(anchors: np.ndarray, size: int = 256) -> np.ndarray:
    """(size, 3) uint8 colours interpolated linearly between evenly spaced ``anchors``."""
    at = np.linspace(0.0, 1.0, len(anchors))
    levels = np.linspace(0.0, 1.0, size)
    table = np.stack([np.interp(levels, at, anchors[:, c]) for c in range(3)], axis=1)
    table = np.rint(table).astype(np.uint8)
    table.flags.writeable = False
    return table


_COLOURS = _colour_table(_VIRIDIS)
_SPEC_HANN = np.hanning(_SPEC_WINDOW + 1)[:-1].astype(np.float32)  # periodic Hann
_SPEC_HANN.flags.writeable = False


def spectrogram_image(wave: np.ndarray, *, height: int = 64) -> np.ndarray:
    """A small picture of a 16 kHz wave for galleries: uint8 RGB ``(height, frames, 3)``.

    Log-mel spectrogram (``height`` bands, 125-7500 Hz; one column per 10 ms, 98 for a 1-s clip), low
    frequencies at the bottom, coloured with viridis. Brightness is relative to the picture's loudest
    point (80 dB shown) but never below an absolute floor, so digital silence stays dark.
    """
    wave = np.nan_to_num(np.asarray(wave, dtype=np.float32))
    if wave.ndim != 1:
        raise ValueError(f"spectrogram_image needs a 1-D wave, not shape {wave.shape}")
    if int(height) != height or height < 1:
        raise ValueError(f"height must be a positive whole number, not {height}")
    if len(wave) < _SPEC_WINDOW:
        wave = np.pad(wave, (0, _SPEC_WINDOW - len(wave)))
    frames = np.lib.stride_tricks.sliding_window_view(wave, _SPEC_WINDOW)[::_SPEC_HOP] * _SPEC_HANN
    power = np.square(np.abs(np.fft.rfft(frames, _SPEC_FFT))) / (_SPEC_HANN.sum() / 2) ** 2
    # einsum, not @: BLAS threads take milliseconds to wake for a matrix this small on a busy machine.
    mel = np.einsum("fb,bm->fm", power.astype(np.float32), _mel_matrix(int(height)))
    db = 10.0 * np.log10(np.maximum(mel, 10.0 ** (_SPEC_FLOOR_DB / 10.0)))
    top = float(db.max())
    bottom = max(top - _SPEC_RANGE_DB, _SPEC_FLOOR_DB)
    values = (db - bottom) / (top - bottom) if top > bottom else np.zeros_like(db)
    levels = np.rint(np.clip(values.T[::-1], 0.0, 1.0) * (len(_COLOURS) - 1)).astype(np.intp)
    return _COLOURS[levels]

