"""Why did the model say that: its mistakes, where it looked, and what it thinks a sample resembles.

- :func:`mistakes`: the held-out samples a run got wrong, with every class's probability.
- :func:`occlusion_map`: cover each place of a picture with a grey patch and measure how much the
  class's probability drops; the places that matter most drop it most.
- :func:`overlay`: that map painted over the picture, for display.
- :func:`nearest`: the training samples whose embeddings point the most the same way (cosine).

No Streamlit here; works on any encoder with ``encode(batch) -> (n, d)`` and any head with
``predict_proba(features) -> (n, k)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from tm_core.errors import InputError
from tm_core.evaluation import evaluate
from tm_core.i18n import _

GREY = 128  # the patch colour: after the encoders' x / 127.5 - 1 it is (almost) zero


@dataclass
class WrongSample:
    """One held-out sample the model got wrong."""

    index: int  # position in the dataset (``dataset.samples[index]``)
    sample: object  # the tm_core.project.Sample itself
    true: str
    predicted: str
    confidence: float  # probability given to the predicted class
    probabilities: np.ndarray  # (k,) every class's probability, in ``class_names`` order


def mistakes(record=None, *, run=None, dataset=None, features=None) -> list[WrongSample]:
    """The held-out samples ``run`` got wrong, most confident first.

    Give a ``RunRecord`` (it keeps its run, dataset and features) or ``run``, ``dataset`` and
    ``features`` (one row per dataset sample, as the run was trained on).
    """
    if record is not None:
        run, dataset, features = record.run, record.dataset, getattr(record, "features", None)
    if run is None or dataset is None or features is None:
        raise ValueError("mistakes() needs a run record, or run, dataset and features")
    features = np.asarray(features)
    if len(features) != len(dataset.samples):
        raise ValueError(f"{len(features)} feature rows for {len(dataset.samples)} samples")
    idx = np.asarray(run.split.test, np.int64)
    if not len(idx):
        return []
    probs = run.head.predict_proba(features[idx])
    ev = evaluate(probs, dataset.labels[idx], run.class_names)  # one definition of "wrong" and its order
    return [WrongSample(int(idx[m.index]), dataset.samples[idx[m.index]], m.true, m.predicted, m.confidence,
                        np.asarray(probs[m.index], np.float64)) for m in ev.mistakes]


DECISIVE_DROP = 0.05  # covering one place must lower the class by 5 points for that place to count
FULL_DROP = 0.3  # a drop of 30 points or more is painted in full colour


@dataclass
class OcclusionMap:
    """How much covering each place of a picture lowered one class's probability.

    ``grid[i, j]`` is the drop when the patch's top-left corner is at ``(ys[i], xs[j])`` (negative:
    covering it made the class *more* likely). ``pixels`` spreads it over the picture: each pixel
    gets the mean drop of the patches that covered it.
    """

    grid: np.ndarray  # (len(ys), len(xs)) float32
    ys: np.ndarray
    xs: np.ndarray
    patch: int
    class_index: int
    probability: float  # the class's probability on the whole, uncovered picture

    @property
    def decides(self) -> bool:
        """Whether covering some one place lowered the class by at least :data:`DECISIVE_DROP`: when not,
        no single place decides the answer, and there is nothing to paint."""
        return bool(self.grid.size) and float(self.grid.max()) >= DECISIVE_DROP

    @property
    def pixels(self) -> np.ndarray:
        h = int(self.ys[-1]) + self.patch
        w = int(self.xs[-1]) + self.patch
        total = np.zeros((h, w), np.float64)
        count = np.zeros((h, w), np.float64)
        for i, y in enumerate(self.ys):
            for j, x in enumerate(self.xs):
                total[y:y + self.patch, x:x + self.patch] += self.grid[i, j]
                count[y:y + self.patch, x:x + self.patch] += 1
        return (total / np.maximum(count, 1)).astype(np.float32)

    def hottest(self) -> tuple[int, int]:
        """Top-left corner (y, x) of the patch whose covering lowered the probability most."""
        i, j = np.unravel_index(int(np.argmax(self.grid)), self.grid.shape)
        return int(self.ys[i]), int(self.xs[j])


def _not_rgb(image: np.ndarray) -> InputError:
    return InputError(_("picture"), _("should be an RGB picture (uint8, height×width×3), not {dtype} {shape}",
                                      dtype=image.dtype, shape=image.shape))


def _positions(size: int, patch: int, stride: int) -> np.ndarray:
    """Patch corners every ``stride`` pixels, plus one flush with the far edge so every pixel is covered."""
    pos = list(range(0, size - patch + 1, stride))
    if pos[-1] != size - patch:
        pos.append(size - patch)
    return np.array(pos)


def occluded(image: np.ndarray, patch: int, stride: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every copy of ``image`` with one grey ``patch``×``patch`` square: (batch, ys, xs), row by row."""
    h, w = image.shape[:2]
    ys, xs = _positions(h, patch, stride), _positions(w, patch, stride)
    batch = np.repeat(image[None], len(ys) * len(xs), axis=0)
    for n, (y, x) in enumerate((y, x) for y in ys for x in xs):
        batch[n, y:y + patch, x:x + patch] = GREY
    return batch, ys, xs


def occlusion_map(encoder, head, image: np.ndarray, class_index: int | None = None,
                  patch: int = 56, stride: int = 28) -> OcclusionMap:
    """Where the model looked: the drop in ``class_index``'s probability (default: the class it says)
    when a grey patch covers each place of ``image`` (RGB uint8, the encoder's input size).

    The whole picture and all its covered copies go through the encoder in one call (49 + 1
    pictures with the defaults on 224×224).
    """
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise _not_rgb(image)
    h, w = image.shape[:2]
    if not 1 <= patch <= min(h, w) or stride < 1:
        raise InputError(_("patch"), _("should be 1 to {most} pixels with a stride of at least 1 (got {patch}, {stride})",
                                       most=min(h, w), patch=patch, stride=stride))
    batch, ys, xs = occluded(image, patch, stride)
    probs = head.predict_proba(encoder.encode(np.concatenate([image[None], batch])))
    if class_index is None:
        class_index = int(probs[0].argmax())
    if not 0 <= class_index < probs.shape[1]:
        raise InputError(_("class"), _("there is no class number {index} (the model has {n})", index=class_index,
                                       n=probs.shape[1]))
    drop = probs[0, class_index] - probs[1:, class_index]
    return OcclusionMap(drop.reshape(len(ys), len(xs)).astype(np.float32), ys, xs, patch, class_index,
                        float(probs[0, class_index]))


def _colours(heat: np.ndarray) -> np.ndarray:
    """0..1 → dark red, red, orange, yellow (a heat ramp), float RGB in 0..255."""
    anchors = np.array([[120, 0, 0], [230, 30, 0], [255, 150, 0], [255, 255, 90]], np.float64)
    pos = np.clip(heat, 0, 1) * (len(anchors) - 1)
    lo = np.floor(pos).astype(int).clip(0, len(anchors) - 2)
    t = (pos - lo)[..., None]
    return anchors[lo] * (1 - t) + anchors[lo + 1] * t


def _box_blur(a: np.ndarray, width: int) -> np.ndarray:
    """Mean over a ``width``×``width`` window around each pixel (the edge pixels repeated beyond the picture)."""
    if width <= 1:
        return a
    r = width // 2
    out = np.asarray(a, np.float64)
    for axis in (0, 1):
        c = np.cumsum(np.pad(out, [(r + 1, r) if ax == axis else (0, 0) for ax in (0, 1)], mode="edge"), axis=axis)
        n = out.shape[axis]
        hi = np.take(c, np.arange(2 * r + 1, 2 * r + 1 + n), axis=axis)
        lo = np.take(c, np.arange(0, n), axis=axis)
        out = (hi - lo) / (2 * r + 1)
    return out.astype(np.float32)


def overlay(image: np.ndarray, heatmap, strength: float = 0.65) -> np.ndarray:
    """``image`` (RGB uint8) with the hot places of ``heatmap`` painted in red to yellow; places that
    did not matter (or made the class more likely when covered) stay as they are. ``heatmap`` is an
    :class:`OcclusionMap` (painted by its drops: faint when they are small) or any 2-D array (its
    largest value painted in full), stretched to the picture's size."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise _not_rgb(image)
    if isinstance(heatmap, OcclusionMap):  # soften the patches' square edges for display (the map is unchanged)
        step = int(heatmap.ys[1] - heatmap.ys[0]) if len(heatmap.ys) > 1 else heatmap.patch
        heat = _box_blur(_box_blur(heatmap.pixels, step), step)
    else:
        heat = np.asarray(heatmap, np.float32)
    if heat.ndim != 2 or not heat.size:
        raise InputError(_("heatmap"), _("should be a 2-D array, not shape {shape}", shape=heat.shape))
    h, w = image.shape[:2]
    if heat.shape != (h, w):
        heat = np.asarray(Image.fromarray(heat.astype(np.float32), mode="F").resize((w, h), Image.Resampling.BILINEAR))
    heat = np.nan_to_num(heat, nan=0.0).clip(0, None)
    # An occlusion map is painted by its real drops: full colour for a drop of FULL_DROP or more, so
    # a map whose biggest drop is a few points stays faint instead of being stretched to look sure.
    top = max(float(heat.max()), FULL_DROP) if isinstance(heatmap, OcclusionMap) else float(heat.max())
    heat = heat / top if top > 0 else heat
    a = (strength * heat)[..., None]
    out = image.astype(np.float64) * (1 - a) + _colours(heat) * a
    return out.round().clip(0, 255).astype(np.uint8)


def nearest(query: np.ndarray, train_features: np.ndarray, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` rows of ``train_features`` most similar to ``query`` (cosine similarity), most similar first.

    ``query`` is one feature vector (d,) → (indices (k,), similarities (k,)), or several (n, d) →
    (n, k) each. A row of zeros (e.g. no hand found) is similar to nothing (similarity 0).
    """
    q = np.asarray(query, np.float64)
    single = q.ndim == 1
    q = np.atleast_2d(q)
    t = np.asarray(train_features, np.float64)
    if t.ndim != 2 or q.shape[1] != t.shape[1]:
        raise InputError(_("features"), _("query has {query} numbers per sample, the training samples {train}: they "
                                          "must come from the same encoder", query=q.shape[-1],
                                          train=t.shape[-1] if t.ndim else 0))
    k = min(int(k), len(t))
    if k < 1:
        empty = np.zeros((len(q), 0))
        return (empty[0].astype(np.int64), empty[0]) if single else (empty.astype(np.int64), empty)

    def unit(x):
        n = np.linalg.norm(x, axis=1, keepdims=True)
        return np.divide(x, n, out=np.zeros_like(x), where=n > 0)

    sims = unit(q) @ unit(t).T
    order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    best = np.take_along_axis(sims, order, axis=1)
    return (order[0], best[0]) if single else (order, best)


@dataclass
class Neighbour:
    index: int  # position in the dataset
    sample: object
    class_name: str
    similarity: float


def nearest_training(run, dataset, features: np.ndarray, query: np.ndarray, k: int = 5) -> list[Neighbour]:
    """The ``k`` samples ``run`` trained on that are most like ``query`` (one feature vector)."""
    train_idx = np.asarray(run.split.train, np.int64)
    order, sims = nearest(query, np.asarray(features)[train_idx], k)
    return [Neighbour(int(train_idx[o]), dataset.samples[train_idx[o]], dataset.class_names[dataset.labels[train_idx[o]]],
                      float(s)) for o, s in zip(order, sims)]
