"""How long the TensorFlow.js export takes, and how closely npm @tensorflow/tfjs (node) matches the app.

A head is trained the app's way on 20 real photos per class of rps_real; then
``tm_core.export.tfjs.model_files`` (model.json + weights.bin + metadata.json) and its zip are timed
(median of 5), and the Test page's whole ``export.prepare`` once for comparison. With tests/js's npm
packages installed (``npm ci`` in tests/js), node loads the export and predicts 30 held-out photos fed
as @teachablemachine/image feeds them (pixels / 127 - 1): the largest difference from the app's
probabilities is printed. Target: export ≤ 5 s, parity ≤ 1e-4.

    python benchmarks/export_tfjs.py
"""

from _common import CpuShare, encoder, header, median_seconds, row, train_dir  # first: import order

import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from tm_core import export, media
from tm_core.export import tfjs
from tm_core.predict import Predictor
from tm_core.training import TrainConfig, train

JS = Path(__file__).resolve().parents[1] / "tests" / "js"


def photos(per_class: int, offset: int):
    root = train_dir("rps_real")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    items = [(f, y) for y, c in enumerate(classes) for f in sorted((root / c).iterdir())[offset:offset + per_class]]
    return classes, np.stack([media.image_to_array(f) for f, _ in items]), np.array([y for _, y in items])


def node_parity(files: dict[str, bytes], pixels: np.ndarray, app: np.ndarray) -> str:
    if shutil.which("node") is None or not (JS / "node_modules" / "@tensorflow" / "tfjs").is_dir():
        return "not measured: run `npm ci` in tests/js"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "tfjs"
        folder.mkdir()
        for name, data in files.items():
            (folder / name).write_bytes(data)
        (Path(tmp) / "px.bin").write_bytes(pixels.tobytes())
        start = time.perf_counter()
        r = subprocess.run(["node", str(JS / "predict_node.mjs"), str(folder), str(Path(tmp) / "px.bin"),
                            str(len(pixels))], cwd=JS, capture_output=True, text=True, timeout=900, check=True)
        seconds = time.perf_counter() - start
    got = np.array(json.loads(r.stdout)["probs"])
    same = float((got.argmax(1) == app.argmax(1)).mean())
    return (f"max |tfjs - app| {np.abs(got - app).max():.2e} on {len(pixels)} photos, same top class {same:.0%} "
            f"(node, cpu backend, {seconds:.1f} s)")


def main() -> None:
    header("TensorFlow.js export (tm_core.export.tfjs)")
    share = CpuShare()
    enc = encoder()
    classes, x_train, y_train = photos(20, 0)
    _, x_test, _ = photos(10, 100)
    run = train(enc.encode(x_train), y_train, classes, TrainConfig(test_fraction=0.0))
    files = tfjs.model_files(enc, run.head, classes)
    median, times = median_seconds(lambda: tfjs.model_files(enc, run.head, classes), 5)
    row("model.json + weights.bin + metadata.json", f"median {median:.2f} s ({', '.join(f'{t:.2f}' for t in times)})")
    zipped, _ = median_seconds(lambda: export.zip_files(tfjs.model_files(enc, run.head, classes), tfjs.FILES), 5)
    row(f"{tfjs.ZIP_NAME}", f"median {zipped:.2f} s, {len(export.zip_files(files, tfjs.FILES)) / 1e6:.2f} MB")
    start = time.perf_counter()
    export.prepare(enc, run.head, classes, [SimpleNamespace(data=img) for img in x_train])
    row("the Test page's whole export (prepare, for comparison)", f"{time.perf_counter() - start:.1f} s (once)")
    row("parity in node (@tensorflow/tfjs)", node_parity(files, x_test, Predictor(enc, run.head, classes).predict(x_test)))
    row("machine", share.report())


if __name__ == "__main__":
    main()
