"""How often the int8 TFLite file names the same class as the app, on held-out samples of the real
image sets: the export's int8 file (int8 weights, float activations) beside the fully integer file the
export used to write (int8 activations too, calibrated on up to 100 training pictures).

Each set is trained with Teachable Machine's defaults (85 % of each class trained on, 15 % held out,
seeds 0..2); both files are written from that model and run with LiteRT on the held-out pictures.
Also printed: file sizes and the median time of one prediction (LiteRT, 2 threads, this machine).
"""

from _common import IMAGE_SETS, CpuShare, decoded_samples, encoder, header, row, train_dir  # first: import order

import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from tm_core import media
from tm_core.encoders.image import INPUT_SHAPE
from tm_core.export import build_model, int8_agreement, save_tflite, some_images
from tm_core.predict import TFLiteModel
from tm_core.project import Project
from tm_core.training import TrainConfig, train

SEEDS = range(3)


def full_integer(path: Path, enc, head, calibration: np.ndarray) -> None:
    """The export's former int8 file: int8 weights and activations, calibrated on ``calibration``."""
    import tensorflow as tf

    calib = np.array(calibration, np.uint8)
    calib[0, 0, 0], calib[0, 0, 1] = 0, 255  # so that the input's scale is 1 and its zero point 0
    build_model(enc, head, input_dtype="float32").export(
        str(path), format="litert", input_signature=[tf.TensorSpec((1, *INPUT_SHAPE), tf.float32)], verbose=False,
        optimizations=[tf.lite.Optimize.DEFAULT],
        representative_dataset=lambda: ([img[None].astype(np.float32)] for img in calib),
        target_spec={"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]},
        inference_input_type=tf.uint8, inference_output_type=tf.float32)


def per_picture_ms(path: Path, images: np.ndarray) -> float:
    model = TFLiteModel(path)
    times = []
    for img in images[:30]:
        start = time.perf_counter()
        model.predict(img)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> list[str]:
    enc, summary = encoder(), []
    for set_name in IMAGE_SETS:
        header(f"int8 TFLite vs the app, {set_name} (held-out 15 %, seeds {SEEDS.start}..{SEEDS.stop - 1})")
        cpu = CpuShare()
        project = Project(class_names=[])
        listing = media.list_folder(train_dir(set_name))
        list(decoded_samples(listing, project))
        ds = project.dataset()
        images = np.stack([s.data for s in ds.samples])
        features = enc.encode(images)
        now, before = [], []
        for seed in SEEDS:
            run = train(features, ds.labels, ds.class_names, TrainConfig(seed=seed))
            held_out, trained = images[run.split.test], images[run.split.train]
            with tempfile.TemporaryDirectory() as tmp:
                f32, i8, full = Path(tmp) / "f32.tflite", Path(tmp) / "int8.tflite", Path(tmp) / "full.tflite"
                save_tflite(f32, enc, run.head, int8=False)
                save_tflite(i8, enc, run.head, int8=True)
                full_integer(full, enc, run.head, some_images(list(trained), limit=100))
                a, b = int8_agreement(f32, i8, held_out), int8_agreement(f32, full, held_out)
                now.append(a.share)
                before.append(b.share)
                row(f"seed {seed}: int8 weights (exported now)", f"{a.same}/{a.n} = {a.share:.3f}")
                row(f"seed {seed}: fully integer (exported before)", f"{b.same}/{b.n} = {b.share:.3f}")
                if seed == SEEDS.start:
                    sizes = {p.name: p.stat().st_size / 1024 for p in (f32, i8, full)}
                    speed = {p.name: per_picture_ms(p, held_out) for p in (f32, i8, full)}
        row("agreement, mean over seeds: now / before", f"{np.mean(now):.3f} / {np.mean(before):.3f}")
        row("size KB: float32 / int8 weights / fully integer",
            " / ".join(f"{sizes[n]:.0f}" for n in ("f32.tflite", "int8.tflite", "full.tflite")))
        row("ms a picture (median): float32 / int8 weights / fully integer",
            " / ".join(f"{speed[n]:.1f}" for n in ("f32.tflite", "int8.tflite", "full.tflite")))
        row("cpu", cpu.report())
        summary.append(f"int8 agreement {set_name}: now {np.mean(now):.3f} (min {min(now):.3f}), "
                       f"before {np.mean(before):.3f}")
    return summary


if __name__ == "__main__":
    for line in main():
        print(line)
    sys.exit(0)
