"""Embeddings cache: each sample goes through the backbone once per encoder (and view).

Keyed by ``(encoder name, sample id, view)``; view 0 is the sample itself, later views are
augmentations. Training reads arrays from here and never re-runs the backbone.
A cache belongs to one user's session; it is never shared.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial

import numpy as np

from tm_core import i18n
from tm_core.project import Sample

Progress = Callable[[int, int | None], None]  # (done, total or None)
AHEAD = 2  # batches handed to the backbone and not stored yet, at most
UNPACKERS = 2  # threads unpacking samples' pixels for the backbone


class Stopped(Exception):
    """Raised when ``should_stop`` answered yes; what was embedded before stays cached."""


def _pixels(sample: Sample) -> np.ndarray:
    return sample.data


def _ready(pixels: np.ndarray) -> Future:
    done: Future = Future()
    done.set_result(pixels)
    return done


def _encode_when_ready(encoder, unpacked: list[Future]) -> np.ndarray:
    return encoder.encode(np.stack([f.result() for f in unpacked]))


class FeatureCache:
    def __init__(self) -> None:
        self._store: dict[tuple[str, str, int], np.ndarray] = {}

    def __len__(self) -> int:
        return len(self._store)

    def __contains__(self, key: tuple[str, str, int]) -> bool:
        return key in self._store

    def get(self, encoder_name: str, sample_id: str, view: int = 0) -> np.ndarray | None:
        """One sample's cached row, or None."""
        return self._store.get((encoder_name, sample_id, view))

    def missing(self, encoder_name: str, samples: Iterable[Sample], view: int = 0) -> list[Sample]:
        return [s for s in samples if (encoder_name, s.id, view) not in self._store]

    def embed(
        self,
        encoder,
        samples: Iterable[Sample],
        *,
        total: int | None = None,
        on_progress: Progress | None = None,
        should_stop: Callable[[], bool] | None = None,
        view: int = 0,
        transform: Callable[[Sample], np.ndarray] | None = None,
        pixels: dict[str, np.ndarray] | None = None,
    ) -> int:
        """Embed the samples not cached yet, in the encoder's batches; returns how many were new.

        ``view`` > 0 caches ``transform(sample)`` (an augmented view, see ``tm_core.augment``)
        under that view number instead of the sample itself.

        The backbone runs in a thread of its own, ``AHEAD`` batches at most behind this one, which
        meanwhile gathers the next batch from ``samples`` (which may be a generator still decoding
        files); ``UNPACKERS`` threads unpack the batches' pixels (a picture sample keeps PNG bytes),
        unless ``pixels`` (filled by ``Project.add_files(pixels=...)``) has them already: each is
        taken out of it as its sample is seen.
        Decoding and the backbone overlap instead of taking turns (both let go of the GIL); the
        batches, so the embeddings, are those of one thread doing it all. Progress counts every sample seen, once its batch is embedded. ``should_stop`` is asked
        before each batch: a stop keeps every batch embedded before it, then raises ``Stopped``.
        """
        size = getattr(encoder, "batch_size", 32)
        batch: list[Sample] = []
        running: deque[tuple[Future, list[Sample], int | None]] = deque()  # (embeddings, samples, seen) in order
        handed: set[str] = set()  # ids of the samples in ``running``: as good as stored, as one thread would have
        given: dict[str, np.ndarray] = {}  # the batch's pixels taken from ``pixels``
        seen = new = 0

        def collect(keep: int) -> None:
            """Store the embedded batches in order until at most ``keep`` are still running."""
            nonlocal new
            while len(running) > keep:
                future, done, seen_then = running[0]
                for s, v in zip(done, future.result()):
                    self._store[(encoder.name, s.id, view)] = v
                running.popleft()
                handed.difference_update(s.id for s in done)
                new += len(done)
                if on_progress and seen_then is not None:
                    on_progress(seen_then, total)

        def submit(infer: ThreadPoolExecutor, unpack: ThreadPoolExecutor, last: bool = False) -> None:
            if not batch:
                return
            if should_stop is not None and should_stop():
                collect(0)
                raise Stopped
            if transform is None:  # the pixels given, else unpacked (a picture's PNG, 1-2 ms) by the pool as needed
                unpacked = [_ready(given[s.id]) if s.id in given else unpack.submit(i18n.bound(_pixels), s)
                            for s in batch]
                given.clear()
                task = partial(_encode_when_ready, encoder, unpacked)
            else:  # views: made here, in order (a transform may draw from one random generator)
                task = partial(encoder.encode, np.stack([transform(s) for s in batch]))
            collect(AHEAD - 1)
            running.append((infer.submit(i18n.bound(task)), list(batch), None if last else seen))  # refusals in the caller's language
            handed.update(s.id for s in batch)
            batch.clear()

        with ThreadPoolExecutor(1, "tm-embed") as infer, ThreadPoolExecutor(UNPACKERS, "tm-unpack") as unpack:
            try:
                for s in samples:
                    seen += 1
                    ready = pixels.pop(s.id, None) if pixels is not None else None
                    if (encoder.name, s.id, view) in self._store or s.id in handed:
                        continue
                    if ready is not None:
                        given[s.id] = ready
                    batch.append(s)
                    if len(batch) >= size:
                        submit(infer, unpack)
                submit(infer, unpack, last=True)  # reported with the end, below
                collect(0)
            except BaseException:  # the samples' generator failed, or a stop: keep the batches embedded
                for future, done, _ in running:
                    if not future.cancel() and future.exception() is None:
                        for s, v in zip(done, future.result()):
                            self._store[(encoder.name, s.id, view)] = v
                raise
        if on_progress:
            on_progress(seen, total)
        return new

    def matrix(self, encoder_name: str, samples: Sequence[Sample], view: int = 0) -> np.ndarray:
        """Cached embeddings of ``samples`` stacked in order; KeyError names a missing one."""
        if not samples:
            return np.zeros((0, 0), np.float32)
        try:
            return np.stack([self._store[(encoder_name, s.id, view)] for s in samples])
        except KeyError as e:
            raise KeyError(f"sample {e.args[0][1]} has no cached {encoder_name} embedding; embed it first") from None

    def export(self, view: int = 0) -> dict[str, tuple[list[str], np.ndarray]]:
        """Every cached embedding of ``view``: encoder name → (sample ids, matrix), e.g. to save a project."""
        out: dict[str, tuple[list[str], list[np.ndarray]]] = {}
        for (name, sid, v), vector in self._store.items():
            if v == view:
                ids, rows = out.setdefault(name, ([], []))
                ids.append(sid)
                rows.append(vector)
        return {name: (ids, np.stack(rows)) for name, (ids, rows) in out.items()}

    def load(self, encoder_name: str, ids: Sequence[str], matrix: np.ndarray, view: int = 0) -> None:
        """Put embeddings computed before (``export``) back, one row per sample id."""
        for sid, vector in zip(ids, np.asarray(matrix, np.float32)):
            self._store[(encoder_name, sid, view)] = vector

    def forget(self, keep_ids: set[str]) -> None:
        """Drop embeddings of samples no longer in the project."""
        self._store = {k: v for k, v in self._store.items() if k[1] in keep_ids}
