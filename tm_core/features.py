"""Embeddings cache: each sample goes through the backbone once per encoder (and view).

Keyed by ``(encoder name, sample id, view)``; view 0 is the sample itself, later views are
augmentations. Training reads arrays from here and never re-runs the backbone.
A cache belongs to one user's session; it is never shared.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np

from tm_core.project import Sample

Progress = Callable[[int, int | None], None]  # (done, total or None)


class Stopped(Exception):
    """Raised when ``should_stop`` answered yes; what was embedded before stays cached."""


class FeatureCache:
    def __init__(self) -> None:
        self._store: dict[tuple[str, str, int], np.ndarray] = {}

    def __len__(self) -> int:
        return len(self._store)

    def __contains__(self, key: tuple[str, str, int]) -> bool:
        return key in self._store

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
    ) -> int:
        """Embed the samples not cached yet, in the encoder's batches; returns how many were new.

        ``view`` > 0 caches ``transform(sample)`` (an augmented view, see ``tm_core.augment``)
        under that view number instead of the sample itself.

        ``samples`` may be a generator still decoding files: batches are run as they fill, so
        decoding the next files overlaps with the backbone. Progress counts every sample seen.
        """
        batch: list[Sample] = []
        seen = new = 0
        size = getattr(encoder, "batch_size", 32)

        def flush() -> None:
            nonlocal new
            if not batch:
                return
            if should_stop is not None and should_stop():
                raise Stopped
            vectors = encoder.encode(np.stack([transform(s) if transform else s.data for s in batch]))
            for s, v in zip(batch, vectors):
                self._store[(encoder.name, s.id, view)] = v
            new += len(batch)
            batch.clear()

        for s in samples:
            seen += 1
            if (encoder.name, s.id, view) in self._store:
                continue
            batch.append(s)
            if len(batch) >= size:
                flush()
                if on_progress:
                    on_progress(seen, total)
        flush()
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
