"""Teachable Machine's TensorFlow.js export of an image model: ``model.json`` + ``weights.bin`` (a
tfjs layers model) and ``metadata.json``, the three files that ``tmImage.load(modelURL, metadataURL)``
of npm ``@teachablemachine/image`` and ``tf.loadLayersModel`` read.

The official ``tensorflowjs`` converter is not used: its pip package pulls in jax, flax, tf-keras
and tensorflow-decision-forests. The layers format is small and documented (a Keras-2-style model
topology in JSON, and a weights manifest naming float32 arrays stored one after another in
``weights.bin``), so this module writes it from the Keras model itself, layer by layer, with only
the config keys tfjs-layers reads (Keras 3's own ``get_config`` has keys and formats it does not).

The model is, as in Teachable Machine, a Sequential whose layers are the backbone (itself a model)
and the head (a Sequential of the two Dense layers), with one layer in front: ``tmImage`` feeds
pixels scaled as ``x / 127 - 1`` (its ``capture``) while the app's backbone was trained on
``x / 127.5 - 1``, so a 1×1 depthwise convolution (weights ``127 / 127.5``, bias ``127 / 127.5 - 1``)
turns the one into the other exactly. Fed what ``tmImage`` feeds, the export predicts what the app
predicts. A fine-tuned run's encoder carries its fine-tuned backbone, so its export does too.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import numpy as np

from tm_core.encoders.image import INPUT_SHAPE
from tm_core.errors import InputError
from tm_core.export.models import _atomic_write as atomic_write
from tm_core.i18n import _

FILES = ("model.json", "weights.bin", "metadata.json")
ZIP_NAME = "tm-my-image-model.zip"  # the name of Teachable Machine's own TensorFlow.js download
TFJS_VERSION = "4.22.0"  # the @tensorflow/tfjs the export is tested with (tests/js/package.json)
TM_PACKAGE, TM_PACKAGE_VERSION = "@teachablemachine/image", "0.8.5"
MODEL_NAME = "tm-my-image-model"
SCALE_LAYER = "tm_input_scale"
TM_SCALE = 127.0  # tmImage's capture(): pixels / 127 - 1
APP_SCALE = 127.5  # the app's normalisation: pixels / 127.5 - 1
# Activations every tfjs-layers version reads (Teachable Machine's library was built against tfjs 1.3.1).
ACTIVATIONS = {"linear", "relu", "relu6", "softmax", "sigmoid", "tanh", "elu", "selu", "softplus", "softsign"}

# The config keys tfjs-layers reads for each layer type (snake_case, as Keras 2 wrote them).
_KEYS: dict[str, tuple[str, ...]] = {
    "Conv2D": ("filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate", "activation",
               "use_bias"),
    "DepthwiseConv2D": ("kernel_size", "strides", "padding", "depth_multiplier", "data_format", "dilation_rate",
                        "activation", "use_bias"),
    "BatchNormalization": ("axis", "momentum", "epsilon", "center", "scale"),
    "ReLU": ("max_value",),
    "ZeroPadding2D": ("padding", "data_format"),
    "Add": (),
    "GlobalAveragePooling2D": ("data_format",),
    "Dense": ("units", "activation", "use_bias"),
    "Dropout": ("rate",),
}
# Keras 3 variable name → the name tfjs-layers gives that weight.
_WEIGHT_NAMES = {("DepthwiseConv2D", "kernel"): "depthwise_kernel"}


def _unsupported(layer, why: str) -> InputError:
    return InputError(_("layer {name}", name=layer.name), _("cannot be written for TensorFlow.js: {why}", why=why))


def layer_config(layer) -> dict:
    """``layer``'s config as tfjs-layers reads it: only the keys it knows, dtype as a plain string."""
    cls = type(layer).__name__
    if cls not in _KEYS:
        raise _unsupported(layer, _("TensorFlow.js export does not handle {cls} layers", cls=cls))
    cfg = layer.get_config()
    if cls == "Conv2D" and cfg.get("groups", 1) != 1:
        raise _unsupported(layer, _("grouped convolution"))
    if cls == "ReLU" and (cfg.get("negative_slope") or cfg.get("threshold")):
        raise _unsupported(layer, _("leaky or thresholded ReLU"))
    if cls == "GlobalAveragePooling2D" and cfg.get("keepdims"):
        raise _unsupported(layer, _("pooling that keeps its dimensions"))
    if cfg.get("activation", "linear") not in ACTIVATIONS:
        raise _unsupported(layer, _("activation {name}", name=repr(cfg.get("activation"))))
    out = {"name": layer.name, "trainable": bool(layer.trainable), "dtype": "float32"}
    out.update({k: cfg[k] for k in _KEYS[cls]})
    return {"class_name": cls, "config": out}


def _weights(layer) -> list[tuple[str, np.ndarray]]:
    """``layer``'s weights under the names tfjs-layers gives them (``layer/kernel``), as float32."""
    cls = type(layer).__name__
    return [(f"{layer.name}/{_WEIGHT_NAMES.get((cls, v.name), v.name)}", np.asarray(v.numpy(), np.float32))
            for v in layer.weights]


def _histories(args) -> list[list]:
    """The ``[layer, node, tensor]`` of every Keras tensor in a Keras 3 node's ``args``, in order."""
    if isinstance(args, dict):
        if args.get("class_name") == "__keras_tensor__":
            return [list(args["config"]["keras_history"])]
        return []
    if isinstance(args, list | tuple):
        return [h for a in args for h in _histories(a)]
    return []


def functional_config(model) -> tuple[dict, list[tuple[str, np.ndarray]]]:
    """A Keras functional model (the backbone) as a tfjs ``Model`` layer, and its weights in layer order."""
    keras_cfg = model.get_config()
    layers, weights = [], []
    for entry in keras_cfg["layers"]:
        layer = model.get_layer(entry["name"])
        if type(layer).__name__ == "InputLayer":
            shape = list(entry["config"]["batch_shape"])
            conf = {"class_name": "InputLayer",
                    "config": {"batch_input_shape": shape, "dtype": "float32", "sparse": False, "name": layer.name}}
        else:
            conf = layer_config(layer)
            weights += _weights(layer)
        inbound = [[[*h, {}] for h in _histories(node["args"])] for node in entry["inbound_nodes"]]
        layers.append({**conf, "name": layer.name, "inbound_nodes": inbound})
    config = {"name": model.name, "layers": layers, "input_layers": _ends(keras_cfg["input_layers"]),
              "output_layers": _ends(keras_cfg["output_layers"])}
    return {"class_name": "Model", "config": config}, weights


def _ends(refs) -> list[list]:
    """Keras 3 writes one input or output as ``[name, node, tensor]``; Keras 2 (and tfjs) a list of them."""
    return [list(refs)] if refs and isinstance(refs[0], str) else [list(r) for r in refs]


def _scale_layer() -> tuple[dict, list[tuple[str, np.ndarray]]]:
    """A 1×1 depthwise convolution that takes tmImage's ``x / 127 - 1`` to the app's ``x / 127.5 - 1``."""
    a = TM_SCALE / APP_SCALE
    conf = {"class_name": "DepthwiseConv2D", "config": {
        "name": SCALE_LAYER, "trainable": False, "dtype": "float32", "batch_input_shape": [None, *INPUT_SHAPE],
        "kernel_size": [1, 1], "strides": [1, 1], "padding": "valid", "depth_multiplier": 1,
        "data_format": "channels_last", "dilation_rate": [1, 1], "activation": "linear", "use_bias": True}}
    weights = [(f"{SCALE_LAYER}/depthwise_kernel", np.full((1, 1, 3, 1), a, np.float32)),
               (f"{SCALE_LAYER}/bias", np.full((3,), a - 1.0, np.float32))]
    return conf, weights


def _head_config(head, dim: int) -> tuple[dict, list[tuple[str, np.ndarray]]]:
    layers, weights = [], []
    for i, layer in enumerate(head.keras_layers()):
        conf = layer_config(layer)
        if i == 0:
            conf["config"]["batch_input_shape"] = [None, dim]
        layers.append(conf)
        weights += _weights(layer)
    return {"class_name": "Sequential", "config": {"name": "sequential_head", "layers": layers}}, weights


def check(encoder) -> None:
    """Raise :class:`InputError` unless this encoder's model can be written for TensorFlow.js."""
    if encoder.kind != "image":
        raise InputError(_("{kind} model", kind=encoder.kind), _("the TensorFlow.js export is made for image projects only"))
    for layer in encoder.backbone.layers:
        if type(layer).__name__ != "InputLayer":
            layer_config(layer)


def supported(encoder) -> bool:
    """Whether :func:`model_files` can write this encoder's model (MobileNet backbones: yes)."""
    try:
        check(encoder)
    except InputError:
        return False
    return True


def metadata(class_names: list[str], encoder_name: str = "", model_name: str = MODEL_NAME) -> dict:
    """``metadata.json`` with the fields Teachable Machine writes, labels in class order."""
    stamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {"tfjsVersion": TFJS_VERSION, "packageVersion": TM_PACKAGE_VERSION, "packageName": TM_PACKAGE,
            "timeStamp": stamp, "userMetadata": {"madeWith": "Teachable Studio", "encoder": encoder_name},
            "modelName": model_name, "labels": list(class_names), "imageSize": INPUT_SHAPE[0]}


def model_files(encoder, head, class_names: list[str], model_name: str = MODEL_NAME) -> dict[str, bytes]:
    """The three files of the export (name → bytes)."""
    check(encoder)
    if head.n_classes != len(class_names):
        raise InputError(_("class names"), _("there are {n} names for a model of {classes} classes",
                                             n=len(class_names), classes=head.n_classes))
    scale, w_scale = _scale_layer()
    backbone, w_backbone = functional_config(encoder.backbone)
    top, w_head = _head_config(head, encoder.dim)
    weights = w_scale + w_backbone + w_head
    names = [n for n, _w in weights]
    if len(set(names)) != len(names):
        raise InputError(_("TensorFlow.js export"), _("two weights have the same name"))
    topology = {"class_name": "Sequential", "config": {"name": "sequential", "layers": [scale, backbone, top]},
                "keras_version": f"tfjs-layers {TFJS_VERSION}", "backend": "tensor_flow.js"}
    manifest = [{"paths": ["weights.bin"],
                 "weights": [{"name": n, "shape": list(w.shape), "dtype": "float32"} for n, w in weights]}]
    model_json = {"modelTopology": topology, "weightsManifest": manifest, "format": "layers-model",
                  "generatedBy": "Teachable Studio", "convertedBy": None}
    blob = b"".join(np.ascontiguousarray(w, "<f4").tobytes() for _n, w in weights)
    meta = metadata(class_names, getattr(encoder, "name", ""), model_name)
    return {"model.json": json.dumps(model_json).encode("utf-8"), "weights.bin": blob,
            "metadata.json": json.dumps(meta, ensure_ascii=False, indent=2).encode("utf-8")}


def write(folder: str | Path, encoder, head, class_names: list[str]) -> dict[str, Path]:
    """Write the three files into ``folder`` (created if needed), each atomically; returns name → path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, data in model_files(encoder, head, class_names).items():
        atomic_write(folder / name, lambda p, data=data: p.write_bytes(data))
        written[name] = folder / name
    return written
