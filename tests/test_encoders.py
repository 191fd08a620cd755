"""Image encoders on the real pretrained files, the features cache and the predictor."""

import numpy as np
import pytest

from tm_core.encoders import default_encoder, encoder_names, get_encoder
from tm_core.errors import InputError
from tm_core.features import FeatureCache, Stopped
from tm_core.predict import Smoother
from tm_core.project import Project


def test_registry():
    assert default_encoder("image") == "mobilenet_v2_0.35"
    assert encoder_names("image") == ["mobilenet_v2_0.35", "mobilenet_v1_0.25", "mobilenet_v2_1.0", "efficientnet_v2_b0"]
    with pytest.raises(InputError):
        get_encoder("resnet")


def test_mobilenet_v2_embeds_like_keras_applications_with_tm_preprocessing(encoder, rps_split, models_dir):
    """Same numbers as the reference recipe: keras.applications MobileNetV2 on x/127.5-1, GAP."""
    import keras

    _, (x, _, _), _ = rps_split
    batch = x[:8]
    emb = encoder.encode(batch)
    assert emb.shape == (8, 1280) and emb.dtype == np.float32 and encoder.dim == 1280
    ref = keras.applications.MobileNetV2(
        alpha=0.35, include_top=False, pooling="avg", input_shape=(224, 224, 3),
        weights=str(models_dir / "image" / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5"))
    expected = ref(batch.astype(np.float32) / 127.5 - 1, training=False).numpy()
    # the encoder runs on LiteRT (XNNPack), which sums in another order than TensorFlow: float32
    # rounding, seen up to 1.2e-4 on values up to 6 after the network's 50-odd layers
    assert encoder.engine == "litert"
    np.testing.assert_allclose(emb, expected, rtol=1e-4, atol=1e-4)
    # batching does not change the result, and a single image works
    np.testing.assert_allclose(encoder.encode(batch[3]), emb[3:4], atol=1e-4)
    assert encoder.encode(np.zeros((0, 224, 224, 3), np.uint8)).shape == (0, 1280)
    # different photos, different embeddings (a dead network would give the same vector)
    assert np.abs(emb[0] - emb[1]).max() > 0.1


def test_mobilenet_v1_encoder(rps_split):
    _, (x, _, _), _ = rps_split
    enc = get_encoder("mobilenet_v1_0.25")
    emb = enc.encode(x[:40])  # more than one internal batch of 32
    assert emb.shape == (40, 256) and np.isfinite(emb).all() and emb.std() > 0.01


def test_encoder_refuses_wrong_input(encoder):
    with pytest.raises(ValueError, match="uint8"):
        encoder.encode(np.zeros((1, 224, 224, 3), np.float32))
    with pytest.raises(ValueError):
        encoder.encode(np.zeros((1, 100, 100, 3), np.uint8))


def test_cache_embeds_each_sample_once_and_can_stop(encoder, rps_split):
    _, (x, _, _), _ = rps_split
    p = Project()
    for i in range(40):
        p.add_sample("Class 1" if i < 20 else "Class 2", x[i])
    samples = p.dataset().samples
    calls = []

    class Counting:
        name, batch_size, dim = encoder.name, 16, encoder.dim

        def encode(self, batch):
            calls.append(len(batch))
            return encoder.encode(batch)

    cache = FeatureCache()
    seen = []
    asked = []  # stop when asked before the second batch: the backbone may still be on the first (it runs ahead)
    with pytest.raises(Stopped):
        cache.embed(Counting(), samples, on_progress=lambda d, t: seen.append(d),
                    should_stop=lambda: asked.append(1) or len(asked) >= 2)
    assert len(cache) == 16  # the batch done before the stop is kept
    assert cache.embed(Counting(), samples, total=40, on_progress=lambda d, t: seen.append((d, t))) == 24
    assert calls == [16, 16, 8] and seen[-1] == (40, 40)
    assert cache.embed(Counting(), samples) == 0 and calls == [16, 16, 8]  # all cached: backbone not run again
    m = cache.matrix(encoder.name, samples)
    np.testing.assert_allclose(m, encoder.encode(np.stack([s.data for s in samples])), atol=1e-4)
    cache.forget({samples[0].id})
    assert len(cache) == 1
    with pytest.raises(KeyError, match="embed it first"):
        cache.matrix(encoder.name, samples)


def test_predictor_matches_head_on_embeddings(rps_trained):
    _run, predictor, _, x_test, y_test, _ = rps_trained
    probs = predictor.predict(x_test)
    assert probs.shape == (90, 3)
    np.testing.assert_allclose(probs.sum(1), 1, atol=1e-5)
    np.testing.assert_allclose(predictor.predict(x_test[0]), probs[0], atol=1e-5)
    assert (probs.argmax(1) == y_test).mean() > 0.6  # real learning on unseen photos (3 classes: chance is 0.33)


def test_smoother():
    s = Smoother(alpha=0.5)
    assert s.value is None
    s.update(np.array([1.0, 0.0]))
    np.testing.assert_allclose(s.update(np.array([0.0, 1.0])), [0.5, 0.5])
    s.reset()
    assert s.value is None


def test_naming_the_encoders_imports_no_tensorflow():
    """Opening a project (its settings name an encoder) and the pickers list encoders by name: that must not
    import TensorFlow, which takes seconds on a 2-core server (opening the yes/no example took ~4 s more when
    listing the audio encoders imported it)."""
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys\nfrom tm_core import encoders\n"
            "for kind in ('image', 'audio', 'pose', 'hands'):\n"
            "    for name in encoders.encoder_names(kind):\n"
            "        assert encoders.kind_of(name) == kind and encoders.encoder_label(name, kind)\n"
            "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parent.parent)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split("\n")[-2] == "[]"
