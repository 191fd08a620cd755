"""The audio encoder: YAMNet, rebuilt in Keras from the weights of its TFLite file.

YAMNet (AudioSet, 521 classes) is a log-mel front end and a MobileNet v1 body. The only copy
we can load offline is a TFLite file, and a TFLite graph can neither be put inside a
``.keras`` export nor give us the feature maps we want, so ``yamnet_model`` reads that file's
weights (int8 weights dequantized with their per-channel scales, BatchNorm already folded into
the biases) into ordinary Keras layers. The same Keras graph then serves training, live
prediction and export: one preprocessing for the modality, as for images.

Input: 16 kHz mono float32 waveforms in [-1, 1], one 1-second sample (16,000 values) each,
as ``tm_core.media.load_audio`` and ``clip_windows`` give.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from tm_core import assets
from tm_core.i18n import N_

YAMNET_FILE = "yamnet_with_embedding.tflite"
CLIP_SAMPLES = 16_000
# MobileNet v1 body of YAMNet: (stride, output channels) of each depthwise-separable layer 2..14.
BODY = [(1, 64), (2, 128), (1, 128), (2, 256), (1, 256), (2, 512),
        (1, 512), (1, 512), (1, 512), (1, 512), (1, 512), (2, 1024), (1, 1024)]


@dataclass(frozen=True)
class Weights:
    window: np.ndarray  # (400,)
    mel: np.ndarray  # (257, 64)
    offset: np.ndarray  # (64,)
    conv1: tuple[np.ndarray, np.ndarray]  # Keras layout kernel, bias
    layers: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]  # dw kernel, dw bias, pw kernel, pw bias
    logits: tuple[np.ndarray, np.ndarray]  # (1024, 521), (521,)


def _dequantized(interpreter, detail) -> np.ndarray:
    value = interpreter.get_tensor(detail["index"])
    q = detail["quantization_parameters"]
    if value.dtype == np.float32:
        return value.copy()
    scales = np.asarray(q["scales"], np.float32)
    zeros = np.asarray(q["zero_points"], np.float32)
    shape = [1] * value.ndim
    if scales.size > 1:
        shape[q["quantized_dimension"]] = scales.size
    return ((value.astype(np.float32) - zeros.reshape(shape)) * scales.reshape(shape)).astype(np.float32)


@functools.lru_cache(maxsize=2)
def read_weights(path: str) -> Weights:
    """YAMNet's weights from its TFLite file, in Keras layouts."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_path=path, experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    computed = {i for op in it._get_ops_details() for i in op["outputs"]}
    by_name = {d["name"]: d for d in it.get_tensor_details() if d["index"] not in computed}  # constants only

    def find(op: str, ndim: int) -> np.ndarray:  # a TFLite name lists the fused ops; the first is the layer's
        hits = [d for n, d in by_name.items() if n.split(";")[0] == f"yamnet_frames/{op}" and len(d["shape"]) == ndim]
        if len(hits) != 1:
            raise ValueError(f"{path}: expected one {ndim}-d constant for YAMNet's {op}, found {len(hits)}")
        return _dequantized(it, hits[0])

    def conv(kernel):  # TFLite OHWI -> Keras HWIO
        return kernel.transpose(1, 2, 3, 0)

    layers = []
    for i in range(2, 15):
        dw = find(f"layer{i}/depthwise_conv/bn/FusedBatchNormV3", 4)  # (1, 3, 3, C)
        layers.append((
            dw.reshape(3, 3, -1, 1),
            find(f"layer{i}/depthwise_conv/bn/FusedBatchNormV3", 1),
            conv(find(f"layer{i}/pointwise_conv/Conv2D", 4)),
            find(f"layer{i}/pointwise_conv/bn/FusedBatchNormV3", 1),
        ))
    # The logits bias has a bare number for a name: take it from the op that uses the kernel.
    dense_op = [op for op in it._get_ops_details() if op["op_name"] == "FULLY_CONNECTED" and any(
        by_name.get(n, {}).get("index") == op["inputs"][1] for n in by_name if n.startswith("yamnet_frames/dense/"))]
    if len(dense_op) != 1:
        raise ValueError(f"{path}: cannot find YAMNet's logits layer")
    logits_bias = [d for d in it.get_tensor_details() if d["index"] == dense_op[0]["inputs"][2]]
    return Weights(
        window=find("tf_op_layer_Mul_3/Mul_3/y", 1),
        mel=find("tf_op_layer_MatMul/MatMul", 2).T.copy(),
        offset=find("tf_op_layer_AddV2_3/AddV2_3", 1),
        conv1=(conv(find("layer1/conv/Conv2D", 4)), find("layer1/conv/bn/FusedBatchNormV3", 1)),
        layers=layers,
        logits=(find("dense/MatMul", 2).T.copy(), _dequantized(it, logits_bias[0])),
    )


def yamnet_model(weights: Weights, samples: int = CLIP_SAMPLES, *, scores: bool = False):
    """Keras YAMNet: waveform (batch, samples) → dict of feature maps (and AudioSet scores).

    Outputs: ``"log_mel"`` (b, frames, 64); ``"layer12"`` (b, t12, 4, 512); ``"layer14"``
    (b, t14, 2, 1024), the map YAMNet averages into its embedding; ``"embedding"`` (b, 1024);
    with ``scores=True`` also ``"scores"`` (b, 521) sigmoid AudioSet scores.
    """
    import keras

    from tm_core.encoders import audio_layers  # Keras: imported here, so listing the encoders needs no TensorFlow

    wave = keras.Input((samples,), dtype="float32", name="waveform")
    front = audio_layers.LogMelSpectrogram(name="log_mel")
    log_mel = front(wave)
    front.set_weights([audio_layers.dft_kernel(weights.window), weights.mel, weights.offset])
    x = keras.layers.Reshape((-1, audio_layers.MEL_BANDS, 1), name="patch")(log_mel)
    c1 = keras.layers.Conv2D(32, 3, strides=2, padding="same", activation="relu", name="layer1")
    x = c1(x)
    c1.set_weights(list(weights.conv1))
    maps = {}
    for i, ((stride, channels), (dk, db, pk, pb)) in enumerate(zip(BODY, weights.layers), start=2):
        dw = keras.layers.DepthwiseConv2D(3, strides=stride, padding="same", activation="relu", name=f"layer{i}_dw")
        x = dw(x)
        dw.set_weights([dk, db])
        pw = keras.layers.Conv2D(channels, 1, activation="relu", name=f"layer{i}_pw")
        x = pw(x)
        pw.set_weights([pk, pb])
        maps[i] = x
    embedding = keras.layers.GlobalAveragePooling2D(name="embedding")(x)
    outputs = {"log_mel": log_mel, "layer12": maps[12], "layer14": maps[14], "embedding": embedding}
    if scores:
        dense = keras.layers.Dense(521, activation="sigmoid", name="scores")
        outputs["scores"] = dense(embedding)
        dense.set_weights(list(weights.logits))
    model = keras.Model(wave, outputs, name="yamnet")
    model.trainable = False
    return model


def load_weights() -> Weights:
    return read_weights(str(assets.resolve(YAMNET_FILE)))


@dataclass(frozen=True)
class Spec:
    label: str
    tap: str  # the YAMNet layer whose feature map becomes the embedding
    time_pool: int  # feature-map steps averaged into one (0: all of them)
    freq_bands: int  # frequency bands kept (1 = averaged over frequency)


SPECS: dict[str, Spec] = {
    # Speaker-disjoint cross-validation (README): YAMNet's early layers keep the fine time and
    # frequency detail of speech; its final embedding is tuned to AudioSet's sound events.
    "yamnet_speech": Spec(N_("YAMNet, early layers (best for spoken words)"), "layer4_pw", 4, 4),
    "yamnet_embedding": Spec(N_("YAMNet, last layer (Teachable Machine's choice, for sounds)"), "layer14_pw", 0, 1),
}


def _pooled(model, spec: Spec, samples: int):
    """A Keras model: waveform → the tapped map averaged over time steps and frequency bands, flattened."""
    import keras

    fmap = model.get_layer(spec.tap).output  # (b, t, f, c)
    _, t, f, _ = fmap.shape
    pool = (spec.time_pool or t, f // spec.freq_bands)  # time_pool 0: average over the whole second
    pooled = keras.layers.AveragePooling2D(pool, padding="same", name="pool")(fmap)
    return keras.Model(model.input, keras.layers.Flatten(name="embedding_flat")(pooled), name=f"yamnet_{spec.tap}")


class AudioEncoder:
    """YAMNet features of 1-second, 16 kHz waveforms, computed in batches by one traced function."""

    kind = "audio"
    input_shape = (CLIP_SAMPLES,)

    def __init__(self, name: str, batch_size: int = 64):
        import tensorflow as tf

        spec = SPECS[name]
        self.name = name
        self.label = spec.label
        self.batch_size = batch_size
        self.yamnet = yamnet_model(load_weights(), CLIP_SAMPLES)
        self.model = _pooled(self.yamnet, spec, CLIP_SAMPLES)
        self.model.trainable = False
        self.dim = int(self.model.output_shape[-1])
        self._fn = tf.function(lambda x: self.model(x, training=False),
                               input_signature=[tf.TensorSpec((None, CLIP_SAMPLES), tf.float32)], autograph=False)
        self.encode(np.zeros((1, CLIP_SAMPLES), np.float32))  # trace once now, not on the first window

    def encode(self, batch: np.ndarray) -> np.ndarray:
        """(n, 16000) float32 → (n, dim) float32."""
        batch = np.asarray(batch, np.float32)
        if batch.ndim == 1:
            batch = batch[None]
        if batch.shape[1:] != self.input_shape:
            raise ValueError(f"expected 1-second windows of shape (n, {CLIP_SAMPLES}), got {batch.shape}")
        if len(batch) == 0:
            return np.zeros((0, self.dim), np.float32)
        out = [self._fn(batch[i : i + self.batch_size]).numpy() for i in range(0, len(batch), self.batch_size)]
        return np.concatenate(out).astype(np.float32, copy=False)
