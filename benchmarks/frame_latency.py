"""Latency of one live frame: encoder + head (``Predictor.predict``) against the bare backbone.

One real 224×224 frame (a rps_real photo, cropped as the app crops it). The calls take turns,
one of each per round, so that they share the machine's noise: ``Predictor.predict(frame)``,
``encoder.encode(frame[None])`` (traced, uint8 in), a ``tf.function`` of ``encoder.backbone``
on the already normalised float frame, and the head alone on one embedding.
"""

from _common import CpuShare, encoder, header, media, row, train_dir  # first: import order

import time

import numpy as np

from tm_core.predict import Predictor
from tm_core.training import init_head

CALLS = 200
WARMUP = 20
TARGET_MS = 25.0
TARGET_RATIO = 1.2


def main() -> list[str]:
    import tensorflow as tf

    enc = encoder("mobilenet_v2_0.35")
    listing = media.list_folder(train_dir("rps_real"))
    frame = media.image_to_array(listing.files[0].source)
    # Latency does not depend on the head's weights: an untrained head of the right shape will do.
    head = init_head(enc.dim, len(listing.classes), 100, seed=0)
    predictor = Predictor(enc, head, listing.classes)
    backbone = tf.function(lambda x: enc.backbone(x, training=False), autograph=False)
    normalised = tf.constant(frame[None].astype(np.float32) / 127.5 - 1)
    embedding = enc.encode(frame[None])

    calls = {
        "Predictor.predict(frame)": lambda: predictor.predict(frame),
        "encoder.encode(frame[None])": lambda: enc.encode(frame[None]),
        "tf.function(backbone)(normalised float)": lambda: backbone(normalised).numpy(),
        "head alone: predict_proba(embedding)": lambda: head.predict_proba(embedding),
    }
    for _ in range(WARMUP):
        for fn in calls.values():
            fn()
    share = CpuShare()
    ms = {name: [] for name in calls}
    for _ in range(CALLS):
        for name, fn in calls.items():
            start = time.perf_counter()
            fn()
            ms[name].append((time.perf_counter() - start) * 1000)

    p50 = {name: float(np.percentile(t, 50)) for name, t in ms.items()}
    p90 = {name: float(np.percentile(t, 90)) for name, t in ms.items()}
    header(f"Frame latency: one 224×224 frame, {CALLS} calls each, interleaved, after {WARMUP} warm-up")
    row("CPU during the measurements", share.report())
    for name in calls:
        row(name, f"p50 {p50[name]:6.2f} ms   p90 {p90[name]:6.2f} ms")
    predict = p50["Predictor.predict(frame)"]
    vs_encode = predict / p50["encoder.encode(frame[None])"]
    vs_backbone = predict / p50["tf.function(backbone)(normalised float)"]
    row("p50 ratio: predict/encode, predict/backbone", f"{vs_encode:.2f}×, {vs_backbone:.2f}×")
    ok = predict <= TARGET_MS and vs_backbone <= TARGET_RATIO
    summary = [f"frame latency: predict p50 {predict:.1f} ms, p90 {p90['Predictor.predict(frame)']:.1f} ms; "
               f"{vs_backbone:.2f}× bare backbone, {vs_encode:.2f}× encode "
               f"({'meets' if ok else 'misses'} ≤{TARGET_MS:.0f} ms and ≤{TARGET_RATIO}×)"]
    print("  " + summary[0])
    return summary


if __name__ == "__main__":
    main()
