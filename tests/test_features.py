"""The embeddings cache (tm_core.features) with the real MobileNetV2 on the real photos of tests/data."""

from pathlib import Path

import numpy as np
import pytest

from tm_core import media
from tm_core.features import FeatureCache, Stopped
from tm_core.project import Sample


class Counting:
    """The real encoder, counting the pictures it is asked to embed."""

    def __init__(self, encoder, batch_size: int = 32):
        self.encoder, self.batch_size, self.seen = encoder, batch_size, 0

    def __getattr__(self, name):
        return getattr(self.encoder, name)

    def encode(self, batch):
        self.seen += len(batch)
        return self.encoder.encode(batch)


@pytest.fixture(scope="module")
def samples(small_data) -> list[Sample]:
    paths = sorted(Path(small_data / "rps").glob("*/*.jpg"))
    return [Sample.of_picture(media.image_to_array(p), p.name) for p in paths]


def test_each_sample_goes_through_the_network_once(encoder, samples):
    enc, cache, progress = Counting(encoder, batch_size=5), FeatureCache(), []
    assert cache.embed(enc, samples, total=len(samples), on_progress=lambda done, total: progress.append(done)) == 12
    assert enc.seen == 12 and len(cache) == 12
    assert progress[-1] == 12 and progress == sorted(progress)
    assert cache.embed(enc, samples) == 0 and enc.seen == 12  # all cached: the network is not run again
    m = cache.matrix(encoder.name, samples)
    assert m.shape == (12, encoder.dim)
    # the cached rows are the network's own answer for each picture, in the order asked
    np.testing.assert_allclose(m[[3, 7]], encoder.encode(np.stack([samples[3].data, samples[7].data])), atol=1e-4)
    np.testing.assert_array_equal(cache.matrix(encoder.name, samples[::-1]), m[::-1])


def test_a_missing_embedding_is_named_and_export_load_round_trips(encoder, samples):
    cache = FeatureCache()
    cache.embed(encoder, samples[:4])
    assert cache.missing(encoder.name, samples) == samples[4:]
    with pytest.raises(KeyError, match=f"sample {samples[4].id} has no cached"):  # the first missing one
        cache.matrix(encoder.name, samples[:6])
    ids, matrix = cache.export()[encoder.name]
    other = FeatureCache()
    other.load(encoder.name, ids, matrix)
    np.testing.assert_array_equal(other.matrix(encoder.name, samples[:4]), cache.matrix(encoder.name, samples[:4]))
    other.forget({samples[0].id})
    assert len(other) == 1 and other.missing(encoder.name, samples[:2]) == [samples[1]]


def test_stop_keeps_what_was_embedded_before(encoder, samples):
    enc, cache = Counting(encoder, batch_size=4), FeatureCache()
    asked = []

    def should_stop():
        asked.append(1)
        return len(asked) > 1  # the first batch runs, the second is refused

    with pytest.raises(Stopped):
        cache.embed(enc, samples, should_stop=should_stop)
    assert enc.seen == 4 and len(cache) == 4
    assert cache.missing(encoder.name, samples) == samples[4:]


def test_views_are_cached_apart_from_the_sample(encoder, samples):
    cache = FeatureCache()
    cache.embed(encoder, samples[:2])
    cache.embed(encoder, samples[:2], view=1, transform=lambda s: s.data[:, ::-1])  # the mirror image
    own, mirrored = cache.matrix(encoder.name, samples[:2]), cache.matrix(encoder.name, samples[:2], view=1)
    assert not np.allclose(own, mirrored)
    np.testing.assert_allclose(mirrored[0], encoder.encode(samples[0].data[None, :, ::-1])[0], atol=1e-4)
    assert set(cache.export(view=1)[encoder.name][0]) == {s.id for s in samples[:2]}
