"""Label-preserving views of samples, embedded once and cached like the samples themselves.

Views are used only to train: never in the held-out part (training adds them for the training
samples only). Each view is a pure function of the sample, its view number and the noise given,
so a cached embedding stays right for the sample id.

Audio (measured by speaker-disjoint cross-validation on speech_commands, see the README): a
time shift of up to ±125 ms, a gain of ±6 dB and, most of the time, the project's own
Background Noise mixed in at 5 to 20 dB below the sound. Three views per sample.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

AUDIO_VIEWS = 3
MAX_SHIFT = 2_000  # samples at 16 kHz: 125 ms
GAIN_DB = 6.0
SNR_DB = (5.0, 20.0)
NOISE_PROBABILITY = 0.8


def _rng(sample_id: str, view: int) -> np.random.Generator:
    return np.random.default_rng([int(sample_id[:12], 16), view])


def audio_view(wave: np.ndarray, sample_id: str, view: int, noise: Sequence[np.ndarray] = ()) -> np.ndarray:
    """View ``view`` (1, 2, …) of a 1-second wave: shifted, louder or softer, with background noise mixed in."""
    rng = _rng(sample_id, view)
    x = np.asarray(wave, np.float32)
    shift = int(rng.integers(-MAX_SHIFT, MAX_SHIFT + 1))
    out = np.zeros_like(x)
    if shift >= 0:
        out[shift:] = x[: len(x) - shift]
    else:
        out[:shift] = x[-shift:]
    out *= np.float32(10 ** (rng.uniform(-GAIN_DB, GAIN_DB) / 20))
    use_noise = rng.random() < NOISE_PROBABILITY
    pick = int(rng.integers(0, max(len(noise), 1)))
    snr = rng.uniform(*SNR_DB)
    if use_noise and len(noise):
        n = np.asarray(noise[pick], np.float32)[: len(out)]
        signal, power = float(np.mean(out**2)) + 1e-10, float(np.mean(n**2)) + 1e-10
        out[: len(n)] += n * np.float32(np.sqrt(signal / power / 10 ** (snr / 10)))
    return np.clip(out, -1.0, 1.0)


def embed_views(cache, encoder, dataset, split, *, views: int = AUDIO_VIEWS, on_progress=None,
                should_stop=None) -> tuple[np.ndarray, np.ndarray]:
    """Embed (once, cached) augmented views of the *training* samples of an audio dataset.

    Returns ``(features, labels)`` for ``training.train(..., extra=...)``; empty for other kinds.
    The noise mixed in comes from the training part's Background Noise samples only, so no
    held-out sound leaks into training. ``on_progress(done, total)`` counts views embedded.
    """
    from tm_core.project import BACKGROUND

    if getattr(encoder, "kind", "") != "audio" or views < 1 or not len(split.train):
        return np.zeros((0, getattr(encoder, "dim", 0)), np.float32), np.zeros(0, np.int64)
    train = [dataset.samples[i] for i in split.train]
    background = dataset.class_names.index(BACKGROUND) if BACKGROUND in dataset.class_names else -1
    noise = [dataset.samples[i].data for i in split.train if dataset.labels[i] == background]
    total, done = views * len(train), 0
    for view in range(1, views + 1):
        def report(seen, _total, base=done):
            if on_progress:
                on_progress(base + seen, total)

        cache.embed(encoder, train, view=view, on_progress=report, should_stop=should_stop,
                    transform=lambda s, v=view: audio_view(s.data, s.id, v, noise))
        done += len(train)
    feats = np.concatenate([cache.matrix(encoder.name, train, view=v) for v in range(1, views + 1)])
    labels = np.tile(np.asarray(dataset.labels)[split.train], views)
    return feats, labels
