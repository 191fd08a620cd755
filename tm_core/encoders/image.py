"""Image encoders: MobileNetV2 α=0.35 (Teachable Machine's backbone), MobileNet v1 α=0.25, and larger
ones offered when their weights can be had (MobileNetV2 α=1.0, EfficientNetV2-B0).

Input is what ``tm_core.media.image_to_array`` gives: RGB uint8, 224×224 (cover-fit centre
crop). The one pixel normalisation, ``x / 127.5 - 1``, is the first layer of
``preprocessing_model`` so that training, live prediction and export all share it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tm_core import assets
from tm_core.encoders import lite
from tm_core.i18n import N_
from tm_core.media import IMAGE_SIZE

INPUT_SHAPE = (IMAGE_SIZE, IMAGE_SIZE, 3)


@dataclass(frozen=True)
class Spec:
    filename: str
    label: str
    build: Callable[[str], object]  # weights path -> Keras backbone (normalised float input, pooled output)


def _mobilenet_v2(path: str):
    import keras

    return keras.applications.MobileNetV2(
        alpha=0.35, include_top=False, pooling="avg", input_shape=INPUT_SHAPE, weights=path
    )


def _mobilenet_v1(path: str):
    import keras

    return keras.applications.MobileNet(
        alpha=0.25, include_top=False, pooling="avg", input_shape=INPUT_SHAPE, weights=path
    )


def _mobilenet_v2_100(path: str):
    import keras

    return keras.applications.MobileNetV2(
        alpha=1.0, include_top=False, pooling="avg", input_shape=INPUT_SHAPE, weights=path
    )


def _efficientnet_v2_b0(path: str):
    """EfficientNetV2-B0 takes 0..255 pixels (its own ImageNet normalisation is inside): undo ``x/127.5-1`` first."""
    import keras

    base = keras.applications.EfficientNetV2B0(
        include_top=False, pooling="avg", input_shape=INPUT_SHAPE, weights=path, include_preprocessing=True
    )
    inputs = keras.Input(INPUT_SHAPE, name="normalized")
    pixels = keras.layers.Rescaling(127.5, offset=127.5, name="to_pixels")(inputs)
    return keras.Model(inputs, base(pixels), name="efficientnetv2_b0_backbone")


SPECS: dict[str, Spec] = {
    "mobilenet_v2_0.35": Spec(
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5",
        N_("MobileNetV2, small (Teachable Machine's network)"),
        _mobilenet_v2,
    ),
    "mobilenet_v1_0.25": Spec(
        "mobilenet_2_5_224_tf_no_top.h5", N_("MobileNet v1, tiny (faster, a little less accurate)"), _mobilenet_v1
    ),
    "mobilenet_v2_1.0": Spec(
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5",
        N_("MobileNetV2, full size (larger, slower)"),
        _mobilenet_v2_100,
    ),
    "efficientnet_v2_b0": Spec(
        "efficientnetv2-b0_notop.h5", N_("EfficientNetV2-B0 (larger, slower)"), _efficientnet_v2_b0
    ),
}
LARGER = ("mobilenet_v2_1.0", "efficientnet_v2_b0")  # offered only when their weights can be had


def normalization_layer():
    """``x / 127.5 - 1`` as a Keras layer (casts uint8 input to float32)."""
    import keras

    return keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="normalize")


class ImageEncoder:
    """A frozen backbone: run by LiteRT when its converted copy agrees with Keras (``tm_core.encoders.lite``),
    else called in batches inside one traced ``tf.function``. ``engine`` says which."""

    kind = "image"
    input_shape = INPUT_SHAPE

    def __init__(self, name: str = "mobilenet_v2_0.35", batch_size: int = 32):
        import keras
        import tensorflow as tf

        spec = SPECS[name]
        self.name = name
        self.label = spec.label
        self.batch_size = batch_size
        weights = assets.resolve(spec.filename)
        self.backbone = spec.build(str(weights))
        self.backbone.trainable = False
        self.dim = int(self.backbone.output_shape[-1])
        inputs = keras.Input(INPUT_SHAPE, dtype="uint8", name="image")
        self.model = keras.Model(inputs, self.backbone(normalization_layer()(inputs), training=False),
                                 name=f"{name}_encoder")
        self._fn = tf.function(
            lambda x: self.model(x, training=False),
            input_signature=[tf.TensorSpec((None, *INPUT_SHAPE), tf.uint8)],
            autograph=False,
        )
        self._lite = None
        self.encode(np.zeros((1, *INPUT_SHAPE), np.uint8))  # trace once now, not on the first frame
        self._lite = lite.load(name, weights, self.model, lambda x: self._fn(x).numpy())
        self.engine = "litert" if self._lite is not None else "tensorflow"

    def encode(self, batch: np.ndarray) -> np.ndarray:
        """(n, 224, 224, 3) uint8 → (n, dim) float32, in chunks of ``batch_size``."""
        batch = np.asarray(batch)
        if batch.ndim == 3:
            batch = batch[None]
        if batch.dtype != np.uint8 or batch.shape[1:] != INPUT_SHAPE:
            raise ValueError(f"expected uint8 images of shape (n, {IMAGE_SIZE}, {IMAGE_SIZE}, 3), got {batch.dtype} {batch.shape}")
        if len(batch) == 0:
            return np.zeros((0, self.dim), np.float32)
        if self._lite is not None:
            return self._lite.run(batch)
        out = [self._fn(batch[i : i + self.batch_size]).numpy() for i in range(0, len(batch), self.batch_size)]
        return np.concatenate(out).astype(np.float32, copy=False)
