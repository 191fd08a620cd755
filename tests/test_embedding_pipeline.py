"""Embedding photos while the next ones decode: the backbone runs beside the decoding, not after it.

Real photos (rock / paper / scissors) decoded by the app's own import (``Project.add_files``), the
real MobileNetV2 0.35; the embeddings must be those of the plain one-thread way, batch for batch.
"""

import threading
import time

import numpy as np
import pytest

from tm_core.features import FeatureCache
from tm_core.project import Project


class Watched:
    """The real encoder, noting on which thread and when each batch ran."""

    def __init__(self, encoder, batch_size: int = 16):
        self.encoder, self.batch_size, self.calls = encoder, batch_size, []

    def __getattr__(self, name):
        return getattr(self.encoder, name)

    def encode(self, batch):
        start = time.perf_counter()
        out = self.encoder.encode(batch)
        self.calls.append((threading.current_thread(), start, time.perf_counter(), len(batch)))
        return out


@pytest.fixture(scope="module")
def photos(rps_train):
    return [(p.parent.name, p.name, p) for cls in ("paper", "rock", "scissors")
            for p in sorted((rps_train / cls).iterdir())[:15]]


@pytest.mark.slow  # decodes and embeds 45 photos twice: about 3-5 s
def test_embeddings_are_the_one_thread_ones_and_decoding_goes_on_meanwhile(encoder, photos):
    project, cache, enc = Project(class_names=[]), FeatureCache(), Watched(encoder)
    pulled = []

    def samples():
        for sample in project.add_files(photos):
            pulled.append(time.perf_counter())
            yield sample

    assert cache.embed(enc, samples(), total=len(photos)) == 45
    ds = project.dataset()
    got = cache.matrix(encoder.name, ds.samples)
    pixels = np.stack([s.data for s in ds.samples])
    serial = np.concatenate([encoder.encode(pixels[i:i + 16]) for i in range(0, 45, 16)])  # the same batches, one thread
    np.testing.assert_allclose(got, serial, rtol=0, atol=1e-5)
    assert [n for *_, n in enc.calls] == [16, 16, 13]
    assert all(thread is not threading.current_thread() for thread, *_ in enc.calls)  # the backbone's own thread
    # photos were decoded and added while a batch was in the backbone (the old way: never)
    assert any(start < t < end for _, start, end, _ in enc.calls[:-1] for t in pulled)


def test_a_failing_import_keeps_the_batches_already_embedded(encoder, photos):
    project, cache, enc = Project(class_names=[]), FeatureCache(), Watched(encoder, batch_size=8)

    def samples():
        for i, sample in enumerate(project.add_files(photos)):
            if i == 20:
                raise OSError("the disk went away")
            yield sample

    with pytest.raises(OSError, match="disk went away"):
        cache.embed(enc, samples())
    ds = project.dataset()
    assert len(cache) == 16 and cache.missing(encoder.name, ds.samples) == ds.samples[16:]  # two whole batches kept
    assert not [t for t in threading.enumerate() if t.name.startswith(("tm-embed", "tm-unpack"))]  # no thread left


def test_pixels_handed_from_the_import_give_the_same_embeddings_and_are_all_taken(encoder, photos):
    """``add_files(pixels=...)`` → ``embed(pixels=...)``: the backbone reads the decoded pictures, not their PNG
    unpacked again; the embeddings are the same, nothing is left behind, and each sample keeps its PNG."""
    plain, handed = FeatureCache(), FeatureCache()
    first, second = Project(class_names=[]), Project(class_names=[])
    assert plain.embed(encoder, (s for s in first.add_files(photos) if not isinstance(s, Exception))) == 45
    pixels, unpacked = {}, []
    watched = Watched(encoder)

    def samples():
        for sample in second.add_files(photos, pixels=pixels):
            unpacked.append(sample.id in pixels)  # put there by the import, before the embedding takes it
            yield sample

    assert handed.embed(watched, samples(), pixels=pixels) == 45
    assert all(unpacked) and pixels == {}
    ds = second.dataset()
    assert [s.id for s in ds.samples] == [s.id for s in first.dataset().samples]
    np.testing.assert_array_equal(handed.matrix(encoder.name, ds.samples), plain.matrix(encoder.name, ds.samples))
    assert all(s.png is not None for s in ds.samples)


def test_pixels_of_samples_already_embedded_are_dropped_too(encoder, photos):
    project, cache, pixels = Project(class_names=[]), FeatureCache(), {}
    cache.embed(encoder, (s for s in project.add_files(photos[:20]) if not isinstance(s, Exception)))
    again = Project(class_names=[])
    assert cache.embed(encoder, again.add_files(photos[:30], pixels=pixels), pixels=pixels) == 10
    assert pixels == {}
