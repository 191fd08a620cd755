"""A frozen Keras image backbone run by LiteRT (XNNPack): the same embeddings, several times faster on a CPU.

TensorFlow runs MobileNetV2 α=0.35 at 120–150 pictures a second on two cores; the same network
converted to a LiteRT flatbuffer and run by XNNPack, one picture per call, runs 700–980 (see
docs/benchmarks.md). The Keras model stays the reference: exports, fine-tuning and explanations
use it, and every load checks the converted network against it on probe pictures (the two agree
to about 1e-5; a file that does not is thrown away and TensorFlow is used).

Converting takes 8–10 s, so the flatbuffer is kept in the download cache (``converted/`` beside
the pretrained files), named by the encoder, the weights file's sha256 and the TensorFlow and
LiteRT versions: a server converts once, later processes read the file. An unwritable cache only
means converting again next time. ``TM_ENCODER_ENGINE=tensorflow`` turns LiteRT off.
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import tempfile
from pathlib import Path

import numpy as np

from tm_core import assets

log = logging.getLogger(__name__)

ENGINE_ENV = "TM_ENCODER_ENGINE"
PROBE_TOLERANCE = 1e-3  # largest difference from the Keras model on the probe pictures (seen: 1.4e-5)


def wanted() -> bool:
    """Whether image backbones should run on LiteRT (``TM_ENCODER_ENGINE``: ``litert``, the default, or ``tensorflow``)."""
    return os.environ.get(ENGINE_ENV, "litert").strip().lower() != "tensorflow"


def probe_pictures(shape: tuple[int, int, int]) -> np.ndarray:
    """Two fixed uint8 pictures (a smooth gradient and seeded noise) to compare the two engines on."""
    h, w, c = shape
    ramp = (np.add.outer(np.arange(h), np.arange(w))[..., None] * np.arange(1, c + 1) % 256).astype(np.uint8)
    noise = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    return np.stack([ramp, noise])


def _key(name: str, weights: Path) -> str:
    import ai_edge_litert
    import tensorflow as tf

    h = hashlib.sha256()
    with open(weights, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    versions = f"{name}|{h.hexdigest()}|tf {tf.__version__}|litert {getattr(ai_edge_litert, '__version__', '?')}"
    return hashlib.sha256(versions.encode()).hexdigest()[:20]


def cached_path(name: str, weights: Path) -> Path:
    return assets.cache_dir() / "converted" / f"{name}-{_key(name, weights)}.tflite"


def _convert(model) -> bytes:
    import tensorflow as tf

    return tf.lite.TFLiteConverter.from_keras_model(model).convert()


def flatbuffer(name: str, weights: Path, model) -> tuple[bytes, Path]:
    """The converted network (read from the cache, else converted and written there when it can be)."""
    path = cached_path(name, weights)
    try:
        return path.read_bytes(), path
    except OSError:
        pass
    content = _convert(model)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(content)
            os.chmod(tmp, 0o644)  # readable like the pretrained files beside it
            os.replace(tmp, path)  # whole or not at all: a reader never sees half a file
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as err:
        log.warning("could not keep the converted %s network in %s (%s): it is converted again next time",
                    name, path.parent, err)
    return content, path


class LiteBackbone:
    """Runs a converted network on uint8 pictures, one picture per call, from any number of threads.

    An interpreter serves one thread at a time: each call takes a free one (or makes one) and gives
    it back, so concurrent sessions never share one and idle ones are reused.
    """

    def __init__(self, content: bytes, num_threads: int | None = None):
        self._content = content
        self._threads = num_threads or max(1, min(4, os.cpu_count() or 1))
        self._free: queue.SimpleQueue = queue.SimpleQueue()
        self._free.put(self._make())

    def _make(self):
        from ai_edge_litert.interpreter import Interpreter

        it = Interpreter(model_content=self._content, num_threads=self._threads)
        it.allocate_tensors()
        (inp,), (out,) = it.get_input_details(), it.get_output_details()
        return it, inp["index"], out["index"]

    def run(self, batch: np.ndarray) -> np.ndarray:
        """(n, h, w, 3) uint8 → (n, dim) float32."""
        try:
            held = self._free.get_nowait()
        except queue.Empty:
            held = self._make()
        it, inp, out = held
        try:
            rows = []
            for picture in batch:
                it.set_tensor(inp, picture[None])
                it.invoke()
                rows.append(it.get_tensor(out)[0].copy())
            return np.stack(rows).astype(np.float32, copy=False)
        finally:
            self._free.put(held)


def load(name: str, weights: Path, model, reference) -> LiteBackbone | None:
    """The LiteRT backbone of ``model`` if it agrees with ``reference`` (the Keras model's traced call)
    on the probe pictures; None (TensorFlow is used) when LiteRT is off, fails or disagrees."""
    if not wanted():
        return None
    path = None
    try:
        content, path = flatbuffer(name, weights, model)
        lite = LiteBackbone(content)
        probe = probe_pictures(tuple(model.input_shape[1:]))
        gap = float(np.abs(lite.run(probe) - np.asarray(reference(probe))).max())
        if gap <= PROBE_TOLERANCE:
            return lite
        log.warning("the converted %s network differs from Keras by %.3g on the probe pictures: not used", name, gap)
    except Exception as err:  # noqa: BLE001 - any failure only means the slower engine
        log.warning("LiteRT cannot run the %s network (%s): TensorFlow runs it", name, err)
    if path is not None:
        path.unlink(missing_ok=True)  # a later load converts afresh
    return None
