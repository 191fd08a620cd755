"""The image backbone on LiteRT: the same embeddings as the Keras model, the converted file kept and checked.

Real MobileNetV2 0.35 weights and real photos. The converted network lives in the download cache;
these tests point the cache at a temporary folder and break it the ways a server's disk can.
"""

import logging
import threading

import numpy as np
import pytest

from tm_core.encoders import lite
from tm_core.media import image_to_array


@pytest.fixture(scope="module")
def pictures(rps_train):
    files = [p for cls in ("paper", "rock", "scissors") for p in sorted((rps_train / cls).iterdir())[:8]]
    return np.stack([image_to_array(p) for p in files])


def keras_rows(encoder, pictures):
    return np.concatenate([encoder._fn(pictures[i:i + 32]).numpy() for i in range(0, len(pictures), 32)])


def test_the_encoder_runs_on_litert_and_agrees_with_keras(encoder, pictures):
    assert encoder.engine == "litert"
    got, reference = encoder.encode(pictures), keras_rows(encoder, pictures)
    assert got.shape == (24, 1280) and got.dtype == np.float32
    assert np.abs(got - reference).max() <= 3e-4  # float32 summed in another order (seen: 1.2e-4 on values up to 6)
    # same nearest neighbours: what the galleries, health checks and heads see is unchanged
    assert (np.argsort(got @ got.T)[:, -3:] == np.argsort(reference @ reference.T)[:, -3:]).mean() >= 0.95


def test_a_picture_gets_one_embedding_whatever_its_batch(encoder, pictures):
    whole = encoder.encode(pictures)
    one_by_one = np.concatenate([encoder.encode(p) for p in pictures])
    np.testing.assert_array_equal(whole, one_by_one)
    np.testing.assert_array_equal(encoder.encode(pictures[5:9]), whole[5:9])


def test_threads_at_once_each_get_their_own_rows(encoder, pictures):
    expected = encoder.encode(pictures)
    results, errors = {}, []

    def run(k):
        try:
            for _ in range(3):
                results[k] = encoder.encode(pictures[k::4])
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and len(results) == 4
    for k in range(4):
        np.testing.assert_array_equal(results[k], expected[k::4])


def reference(encoder):
    return lambda x: encoder._fn(x).numpy()


def weights(encoder):
    from tm_core import assets
    from tm_core.encoders.image import SPECS

    return assets.resolve(SPECS[encoder.name].filename)


@pytest.fixture
def converted(encoder):
    """The good converted network's bytes (from the real cache the session's encoder loaded it into)."""
    return lite.cached_path(encoder.name, weights(encoder)).read_bytes()


def test_the_converted_network_is_kept_and_reused(encoder, converted, tmp_path, monkeypatch):
    monkeypatch.setenv("TM_CACHE_DIR", str(tmp_path / "cache"))
    calls = []
    monkeypatch.setattr(lite, "_convert", lambda model: calls.append(model) or converted)
    first = lite.load(encoder.name, weights(encoder), encoder.model, reference(encoder))
    kept = lite.cached_path(encoder.name, weights(encoder))
    assert first is not None and len(calls) == 1 and kept.read_bytes() == converted
    assert kept.parent == tmp_path / "cache" / "converted" and not list(kept.parent.glob("*.part"))
    again = lite.load(encoder.name, weights(encoder), encoder.model, reference(encoder))
    assert again is not None and len(calls) == 1  # read from the cache, not converted again


@pytest.mark.parametrize("damage", ["truncated", "another network"])
def test_a_damaged_converted_file_is_not_used_and_made_again_next_time(encoder, converted, tmp_path, monkeypatch,
                                                                       caplog, damage):
    monkeypatch.setenv("TM_CACHE_DIR", str(tmp_path / "cache"))
    kept = lite.cached_path(encoder.name, weights(encoder))
    kept.parent.mkdir(parents=True)
    if damage == "truncated":  # a disk that filled up mid-write under an older version, say
        kept.write_bytes(converted[: len(converted) // 3])
    else:  # a flatbuffer that loads and runs but is not this network: the probe pictures tell
        import keras

        inputs = keras.Input((224, 224, 3), dtype="uint8")
        pooled = keras.layers.GlobalAveragePooling2D()(keras.layers.Rescaling(1 / 127.5, offset=-1.0)(inputs))
        other = keras.Model(inputs, keras.layers.Dense(1280)(pooled))
        kept.write_bytes(lite._convert(other))
    with caplog.at_level(logging.WARNING, logger=lite.__name__):
        assert lite.load(encoder.name, weights(encoder), encoder.model, reference(encoder)) is None
    assert not kept.exists() and caplog.records  # thrown away, and said in the server's log
    monkeypatch.setattr(lite, "_convert", lambda model: converted)
    assert lite.load(encoder.name, weights(encoder), encoder.model, reference(encoder)) is not None
    assert kept.read_bytes() == converted


def test_an_unwritable_cache_only_means_converting_again(encoder, converted, tmp_path, monkeypatch, caplog):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("TM_CACHE_DIR", str(blocker / "cache"))
    calls = []
    monkeypatch.setattr(lite, "_convert", lambda model: calls.append(model) or converted)
    with caplog.at_level(logging.WARNING, logger=lite.__name__):
        for _ in range(2):
            backbone = lite.load(encoder.name, weights(encoder), encoder.model, reference(encoder))
            assert backbone is not None
    assert len(calls) == 2 and "converted again next time" in caplog.text


def test_tensorflow_can_be_chosen(encoder, monkeypatch):
    monkeypatch.setenv(lite.ENGINE_ENV, "tensorflow")
    assert lite.load(encoder.name, weights(encoder), encoder.model, reference(encoder)) is None
