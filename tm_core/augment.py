"""Label-preserving views of samples, embedded once and cached like the samples themselves.

Views are used only to train: never in the held-out part (training adds them for the training
samples only). Each view is a pure function of the sample, its view number and the noise given,
so a cached embedding stays right for the sample id.

Images (224×224 centre crops, ``media.image_to_array``): odd views are mirrored left to right;
every view is zoomed in on a random part (75–100 % of the side), turned a little (±10°, zoomed
just enough that no empty corner shows) and made a little brighter or darker, more or less
contrasted and coloured. Pose and hand projects get no views (their features are built from
keypoints already seen in several padded and mirrored views).

Audio (measured by speaker-disjoint cross-validation on speech_commands, see the README): a
time shift of up to ±125 ms, a gain of ±6 dB and, most of the time, the project's own
Background Noise mixed in at 5 to 20 dB below the sound. Three views per sample.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np
from PIL import Image

AUDIO_VIEWS = 3
MAX_SHIFT = 2_000  # samples at 16 kHz: 125 ms
GAIN_DB = 6.0
SNR_DB = (5.0, 20.0)
NOISE_PROBABILITY = 0.8


IMAGE_VIEWS = 4
IMAGE_FAMILIES = frozenset({"flip", "crop", "rotate", "colour"})
MIN_ZOOM = 0.75  # the view shows at least this share of the picture's side
ROTATE_DEG = 10.0
BRIGHTNESS = (0.75, 1.25)  # multipliers
CONTRAST = (0.75, 1.25)
SATURATION = (0.7, 1.3)


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


def image_view(data: np.ndarray, sample_id: str, view: int,
               families: Collection[str] = IMAGE_FAMILIES) -> np.ndarray:
    """View ``view`` (1, 2, …) of a 224×224 RGB uint8 picture, the same every time for that sample and view.

    ``families`` picks the changes (all by default): ``flip`` mirrors odd views left to right;
    ``crop`` zooms in on a random part; ``rotate`` turns it by up to ±10° (zooming in just enough
    to leave no empty corner); ``colour`` changes brightness, contrast and saturation a little.
    """
    x = np.asarray(data)
    if x.ndim != 3 or x.shape[2] != 3 or x.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 picture (h, w, 3), got {x.dtype} {x.shape}")
    unknown = set(families) - IMAGE_FAMILIES
    if unknown:
        raise ValueError(f"unknown view families {sorted(unknown)}; known: {sorted(IMAGE_FAMILIES)}")
    rng = _rng(sample_id, view)
    # Every number is drawn whatever the families, so a family's change is the same in every mix.
    angle = np.deg2rad(rng.uniform(-ROTATE_DEG, ROTATE_DEG))
    zoom = rng.uniform(MIN_ZOOM, 1.0)
    dx, dy = rng.uniform(-1.0, 1.0, 2)
    bright, contrast, sat = rng.uniform(*BRIGHTNESS), rng.uniform(*CONTRAST), rng.uniform(*SATURATION)

    img = Image.fromarray(x)
    if "flip" in families and view % 2 == 1:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    angle = angle if "rotate" in families else 0.0
    c, s = abs(np.cos(angle)), abs(np.sin(angle))
    scale = min(zoom if "crop" in families else 1.0, 1.0 / (c + s))  # share of the side the view shows
    if scale < 1.0:
        h, w = x.shape[:2]
        # Room left to move the (turned) view's square inside the picture, each way.
        room_x = max(0.0, w / 2 - scale * (w * c + h * s) / 2) if "crop" in families else 0.0
        room_y = max(0.0, h / 2 - scale * (w * s + h * c) / 2) if "crop" in families else 0.0
        cx, cy = w / 2 + dx * room_x, h / 2 + dy * room_y
        a, b = scale * np.cos(angle), -scale * np.sin(angle)
        d, e = scale * np.sin(angle), scale * np.cos(angle)
        # Output pixel (u, v) shows input point centre + scale · R(angle) · ((u, v) - output centre).
        coeffs = (a, b, cx - a * w / 2 - b * h / 2, d, e, cy - d * w / 2 - e * h / 2)
        img = img.transform((w, h), Image.Transform.AFFINE, coeffs, resample=Image.Resampling.BILINEAR)
    out = np.asarray(img)
    if "colour" in families:
        f = out.astype(np.float32) * np.float32(bright)
        grey = f @ np.array([0.299, 0.587, 0.114], np.float32)
        f = grey[..., None] + (f - grey[..., None]) * np.float32(sat)
        mean = np.float32(grey.mean())
        f = mean + (f - mean) * np.float32(contrast)
        out = np.clip(np.rint(f), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(out, dtype=np.uint8)


# Whether a new project of a kind trains on views unless the user says otherwise: only where
# cross-validation showed a clear gain (README, benchmarks/augment.py and benchmarks/audio.py).
ON_BY_DEFAULT = {"audio": False, "image": False}


def on_by_default(kind: str) -> bool:
    return ON_BY_DEFAULT.get(kind, False)


def default_views(kind: str) -> int:
    """How many views per training sample ``embed_views`` makes for a project kind (0: none)."""
    return {"audio": AUDIO_VIEWS, "image": IMAGE_VIEWS}.get(kind, 0)


def embed_views(cache, encoder, dataset, split, *, views: int | None = None, on_progress=None,
                should_stop=None, families: Collection[str] = IMAGE_FAMILIES) -> tuple[np.ndarray, np.ndarray]:
    """Embed (once, cached) augmented views of the *training* samples of an image or audio dataset.

    Returns ``(features, labels)`` for ``training.train(..., extra=...)``; empty for other kinds
    (pose, hands). ``views`` defaults to ``default_views(encoder.kind)``. Audio: the noise mixed in
    comes from the training part's Background Noise samples only, so no held-out sound leaks into
    training. Images: ``families`` as in :func:`image_view`. ``on_progress(done, total)`` counts
    views embedded.
    """
    from tm_core import kinds

    kind = getattr(encoder, "kind", "")
    views = default_views(kind) if views is None else views
    if kind not in ("audio", "image") or views < 1 or not len(split.train):
        return np.zeros((0, getattr(encoder, "dim", 0)), np.float32), np.zeros(0, np.int64)
    train = [dataset.samples[i] for i in split.train]
    if kind == "audio":
        background = next((i for i, n in enumerate(dataset.class_names) if kinds.is_background_name(n)), -1)
        noise = [dataset.samples[i].data for i in split.train if dataset.labels[i] == background]
        make = lambda s, v: audio_view(s.data, s.id, v, noise)  # noqa: E731
    else:
        make = lambda s, v: image_view(s.data, s.id, v, families)  # noqa: E731
    total, done = views * len(train), 0
    for view in range(1, views + 1):
        def report(seen, _total, base=done):
            if on_progress:
                on_progress(base + seen, total)

        cache.embed(encoder, train, view=view, on_progress=report, should_stop=should_stop,
                    transform=lambda s, v=view: make(s, v))
        done += len(train)
    feats = np.concatenate([cache.matrix(encoder.name, train, view=v) for v in range(1, views + 1)])
    labels = np.tile(np.asarray(dataset.labels)[split.train], views)
    return feats, labels
