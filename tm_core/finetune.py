"""Fine-tuning the last block of an image backbone, after the head has converged.

As the keras-io transfer-learning guide says: train the head on the frozen backbone first, then
unfreeze the top of the backbone and train on at a small learning rate, BatchNorm kept in
inference mode. Only MobileNetV2's last inverted-residual block (block 16) and its final 1×1
convolution (Conv_1) are trained here, so the activations *entering* block 16 are computed once
per sample (and per mirrored view) and cached like embeddings: each epoch runs a 7×7 network,
not the whole backbone. Measured by 5-fold CV on the train folders (``benchmarks/finetune.py``).

The result, :class:`FineTuned`, holds the new weights of those layers and of the head: pure
arrays. :class:`FineTunedEncoder` rebuilds the whole backbone with them, so live prediction and
export (``tm_core.export``) use one model, as for a frozen encoder. No Streamlit here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from tm_core.errors import InputError
from tm_core.i18n import _
from tm_core.loop import EpochStats, epoch_loop
from tm_core.training import EPSILON, Head, Split

START_LAYER = {  # encoder → the layer whose output enters the block that is fine-tuned
    "mobilenet_v2_0.35": "block_15_add",
    "mobilenet_v2_1.0": "block_15_add",
}
LAST_LAYER = "out_relu"


def supported(encoder_name: str) -> bool:
    return encoder_name in START_LAYER


@dataclass
class FineTuneConfig:
    """Settings of the fine-tuning stage (defaults measured in benchmarks/finetune.py).

    epochs: passes over the training samples (and their mirrored copies).
    learning_rate: Adam's step size for the block and the head.
    batch_size: samples per correction.
    mirror: also train on each training picture mirrored left-right.
    seed: fixes the shuffling.
    """

    epochs: int = 10
    learning_rate: float = 0.001
    batch_size: int = 16
    mirror: bool = True
    seed: int = 0

    def validate(self) -> FineTuneConfig:
        if not (isinstance(self.epochs, int) and 1 <= self.epochs <= 1000):
            raise InputError(_("fine-tuning epochs"), _("must be a whole number from 1 to 1000"))
        if not 0 < float(self.learning_rate) <= 0.1:
            raise InputError(_("fine-tuning learning rate"), _("must be above 0 and at most 0.1"))
        if not (isinstance(self.batch_size, int) and 1 <= self.batch_size <= 4096):
            raise InputError(_("fine-tuning batch size"), _("must be a whole number from 1 to 4096"))
        return self


@dataclass
class FineTuned:
    """New weights of the fine-tuned backbone layers (by layer name) and of the head."""

    encoder_name: str
    start_layer: str
    weights: dict[str, list[np.ndarray]]
    head: Head
    config: FineTuneConfig
    history: list[EpochStats] = field(default_factory=list)
    stopped: bool = False
    seconds: float = 0.0
    _encoder: object = field(default=None, repr=False, compare=False)

    def encoder(self, base):
        """The fine-tuned encoder (built once, then kept with these weights)."""
        if self._encoder is None:
            self._encoder = FineTunedEncoder(base, self)
        return self._encoder


class BlockInputs:
    """The activations entering the fine-tuned block, as an encoder the ``FeatureCache`` can store.

    ``encode`` gives (n, 7, 7, C) float32 for (n, 224, 224, 3) uint8 pictures, through the same
    normalisation as the encoder.
    """

    kind = "image"

    def __init__(self, encoder, batch_size: int = 32):
        import keras
        import tensorflow as tf

        from tm_core.encoders.image import INPUT_SHAPE, normalization_layer

        if not supported(encoder.name):
            raise InputError(encoder.name, _("fine-tuning works with the MobileNetV2 networks only"))
        self.start_layer = START_LAYER[encoder.name]
        self.name = f"{encoder.name}>{self.start_layer}"
        self.batch_size = batch_size
        self.input_shape = INPUT_SHAPE
        backbone = encoder.backbone
        part = keras.Model(backbone.input, backbone.get_layer(self.start_layer).output)
        inputs = keras.Input(INPUT_SHAPE, dtype="uint8")
        model = keras.Model(inputs, part(normalization_layer()(inputs), training=False))
        self.shape = tuple(int(d) for d in part.output.shape[1:])
        self._fn = tf.function(lambda x: model(x, training=False),
                               input_signature=[tf.TensorSpec((None, *INPUT_SHAPE), tf.uint8)], autograph=False)

    def encode(self, batch: np.ndarray) -> np.ndarray:
        batch = np.asarray(batch)
        if batch.ndim == 3:
            batch = batch[None]
        out = [self._fn(batch[i : i + self.batch_size]).numpy() for i in range(0, len(batch), self.batch_size)]
        return np.concatenate(out).astype(np.float32, copy=False) if out else np.zeros((0, *self.shape), np.float32)


def mirrored(image: np.ndarray) -> np.ndarray:
    """The picture mirrored left-right (a training view: a hand or a shoe is the same class mirrored)."""
    return np.ascontiguousarray(np.asarray(image)[:, ::-1])


def tail_model(encoder, head: Head, start_layer: str):
    """[layers after ``start_layer`` … out_relu] with their own copy of the weights, pooled, then the head.

    BatchNorm layers are frozen (inference mode: ImageNet's statistics stay), as for fine-tuning
    on few samples; every other layer of the block, Conv_1 and the head are trained.
    """
    import keras

    backbone = encoder.backbone
    src = backbone.get_layer(start_layer).output
    part = keras.Model(src, backbone.get_layer(LAST_LAYER).output)
    block = keras.models.clone_model(part)
    block.set_weights(part.get_weights())
    block.trainable = True  # the encoder's backbone is frozen, and its clone copies that setting
    for layer in block.layers:
        layer.trainable = not isinstance(layer, keras.layers.BatchNormalization)
    inputs = keras.Input(tuple(src.shape[1:]), name="block_inputs")
    hidden, out = head.keras_layers()
    x = keras.layers.GlobalAveragePooling2D(name="pool")(block(inputs))
    return keras.Model(inputs, out(hidden(x)), name="fine_tune"), block


def _tuned_weights(block) -> dict[str, list[np.ndarray]]:
    return {layer.name: [np.array(w) for w in layer.get_weights()] for layer in block.layers if layer.weights}


def _head_of(model) -> Head:
    w1, b1 = model.get_layer("dense_hidden").get_weights()
    (w2,) = model.get_layer("dense_classes").get_weights()
    return Head(np.array(w1), np.array(b1), np.array(w2))


def fine_tune(
    encoder,
    head: Head,
    inputs: np.ndarray,
    labels: np.ndarray,
    split: Split,
    config: FineTuneConfig | None = None,
    *,
    extra: tuple[np.ndarray, np.ndarray] | None = None,
    on_epoch: Callable[[EpochStats], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> FineTuned:
    """Fine-tune the last block of ``encoder`` and ``head`` (already trained on the frozen encoder).

    ``inputs`` are the cached :class:`BlockInputs` of every sample, in the order of ``labels``;
    ``split`` says which are trained on and which are held out (tested after each epoch).
    ``extra`` = (block inputs, labels) of views of *training* samples (e.g. mirrored): trained on,
    never tested. ``should_stop`` is asked before each epoch: the epochs done are kept.
    """
    import keras
    import tensorflow as tf

    config = (config or FineTuneConfig()).validate()
    if not supported(encoder.name):
        raise InputError(encoder.name, _("fine-tuning works with the MobileNetV2 networks only"))
    start_layer = START_LAYER[encoder.name]
    x = np.asarray(inputs, np.float32)
    y = np.asarray(labels, np.int64)
    xtr, ytr, xte, yte = x[split.train], y[split.train], x[split.test], y[split.test]
    if extra is not None and len(extra[1]):
        xtr = np.concatenate([xtr, np.asarray(extra[0], np.float32)])
        ytr = np.concatenate([ytr, np.asarray(extra[1], np.int64)])
    if len(np.unique(ytr)) < 2:
        raise InputError(_("classes"), _("fine-tuning needs training samples in at least two classes"))

    model, block = tail_model(encoder, head, start_layer)
    optimizer = keras.optimizers.Adam(config.learning_rate)
    variables = model.trainable_variables
    optimizer.build(variables)

    @tf.function(reduce_retracing=True)
    def step(xb, yb):
        with tf.GradientTape() as tape:
            p = model(xb, training=True)
            loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(yb, p))
        optimizer.apply(tape.gradient(loss, variables), variables)
        return loss * tf.cast(tf.shape(yb)[0], tf.float32), tf.reduce_sum(
            tf.cast(tf.equal(tf.argmax(p, 1), yb), tf.float32))

    def evaluate(xs, ys) -> tuple[float, float]:
        p = np.clip(predict_blocks(model, xs), EPSILON, 1 - EPSILON)
        return float(-np.log(p[np.arange(len(ys)), ys]).mean()), float((p.argmax(1) == ys).mean())

    def train_batch(b: np.ndarray) -> tuple[float, float]:
        loss_b, correct_b = step(tf.constant(xtr[b]), tf.constant(ytr[b]))
        return float(loss_b), float(correct_b)

    start = time.perf_counter()
    done = epoch_loop(config.epochs, len(ytr), config.batch_size, np.random.default_rng(config.seed + 7), train_batch,
                      (lambda: evaluate(xte, yte)) if len(yte) else None, on_epoch=on_epoch, should_stop=should_stop)
    return FineTuned(encoder.name, start_layer, _tuned_weights(block), _head_of(model), config, done.history,
                     done.stopped, time.perf_counter() - start)


def predict_blocks(model, inputs: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Probabilities of the fine-tuning model on cached block inputs."""
    out = [np.asarray(model(inputs[i : i + batch_size], training=False)) for i in range(0, len(inputs), batch_size)]
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


class FineTunedEncoder:
    """The encoder's whole backbone with the fine-tuned layers' new weights: a drop-in encoder.

    Same ``name``-style attributes as ``ImageEncoder`` (``backbone``, ``model``, ``dim``, ``kind``,
    ``input_shape``, ``encode``), so ``Predictor`` and ``export.build_model`` use it as they are.
    """

    kind = "image"

    def __init__(self, base, tuned: FineTuned):
        import keras
        import tensorflow as tf

        from tm_core.encoders.image import INPUT_SHAPE, normalization_layer

        if base.name != tuned.encoder_name:
            raise ValueError(f"these weights were fine-tuned from {tuned.encoder_name}, not {base.name}")
        self.name = f"{base.name}+fine-tuned"
        self.label = _("{label}, last block fine-tuned", label=base.label)
        self.batch_size = base.batch_size
        self.input_shape = INPUT_SHAPE
        self.backbone = keras.models.clone_model(base.backbone)
        self.backbone.set_weights(base.backbone.get_weights())
        for name, weights in tuned.weights.items():
            self.backbone.get_layer(name).set_weights(weights)
        self.backbone.trainable = False
        self.dim = int(self.backbone.output_shape[-1])
        inputs = keras.Input(INPUT_SHAPE, dtype="uint8", name="image")
        self.model = keras.Model(inputs, self.backbone(normalization_layer()(inputs), training=False))
        self._fn = tf.function(lambda x: self.model(x, training=False),
                               input_signature=[tf.TensorSpec((None, *INPUT_SHAPE), tf.uint8)], autograph=False)

    def encode(self, batch: np.ndarray) -> np.ndarray:
        batch = np.asarray(batch)
        if batch.ndim == 3:
            batch = batch[None]
        if batch.dtype != np.uint8 or batch.shape[1:] != self.input_shape:
            raise ValueError(f"expected uint8 images of shape (n, 224, 224, 3), got {batch.dtype} {batch.shape}")
        if len(batch) == 0:
            return np.zeros((0, self.dim), np.float32)
        out = [self._fn(batch[i : i + self.batch_size]).numpy() for i in range(0, len(batch), self.batch_size)]
        return np.concatenate(out).astype(np.float32, copy=False)
