"""Images per second from JPEG files on disk to cached MobileNetV2 0.35 embeddings.

The real pipeline (``list_folder`` → ``Project.add_listing`` → ``FeatureCache.embed``, as
``python -m tm_core train`` runs it: the decoding threads also make each picture's id, PNG and
thumbnail, the decoded pixels go straight to the backbone, which runs on LiteRT in a thread of its
own while the next photos decode) with 1, 2 and 3 decoding workers, next to: the same pipeline
unpacking each PNG again for the backbone, and with TensorFlow running the backbone (the engine
before); the pipeline with the backbone taking turns with the decoding; the photos already
imported (kept as PNG in the project) embedded as the app's Train does, overlapped and taking
turns; and the parts measured alone in the same run: the backbone on pre-decoded arrays (LiteRT,
and TensorFlow's traced call in batches of 32), decode + crop (one thread and the pool), the
import alone, and a naive pipeline (decode everything, then call the Keras model eagerly per batch
of 32). The variants take turns in each repeat so they share the machine's noise; figures are
medians of the repeats. Targets: the real pipeline at ≥ 150 img/s and ≥ 0.5× the backbone alone.
"""

from _common import (  # first: import order
    IMAGE_SETS, CpuShare, FeatureCache, Project, decoded_samples, encoder, header, media, row, train_dir,
)

import os
import statistics
import time

import numpy as np

REPEATS = int(os.environ.get("TM_BENCH_REPEATS", "3"))  # fewer on a busy machine: TM_BENCH_REPEATS=1
WORKERS = (1, 2, 3)
TARGET = 150.0
TARGET_RATIO = 0.5  # of the backbone alone


def listings():
    return [media.list_folder(train_dir(name)) for name in IMAGE_SETS]


def real_pipeline(enc, workers: int, hand_off: bool = True) -> None:
    for listing in listings():
        project, pixels = Project(class_names=[]), {} if hand_off else None
        FeatureCache().embed(enc, decoded_samples(listing, project, workers, pixels), total=len(listing.files),
                             pixels=pixels)


def on_tensorflow(enc, fn) -> None:
    """``fn()`` with TensorFlow running the backbone, as before LiteRT."""
    lite, enc._lite = enc._lite, None
    try:
        fn()
    finally:
        enc._lite = lite


def tensorflow_alone(enc, arrays: np.ndarray) -> None:
    for i in range(0, len(arrays), 32):
        enc._fn(arrays[i : i + 32]).numpy()


def import_alone(workers: int) -> None:
    for listing in listings():
        for _ in decoded_samples(listing, Project(class_names=[]), workers):
            pass


def taking_turns(enc, workers: int) -> None:
    """The pipeline as ``FeatureCache.embed`` ran it before: a batch fills, then the backbone runs, then the next."""
    for listing in listings():
        project, batch = Project(class_names=[]), []
        for sample in decoded_samples(listing, project, workers):
            batch.append(sample.data)
            if len(batch) == enc.batch_size:
                enc.encode(np.stack(batch))
                batch.clear()
        if batch:
            enc.encode(np.stack(batch))


def stored_turns(enc, samples) -> None:
    """Embedding samples already in the project (the app's Train) as before: unpack a batch, then the backbone."""
    for i in range(0, len(samples), enc.batch_size):
        enc.encode(np.stack([s.data for s in samples[i : i + enc.batch_size]]))


def imported_samples() -> list:
    """Every photo imported once (decoded, cropped, kept as PNG), as the app holds them before training."""
    samples = []
    for listing in listings():
        project = Project(class_names=[])
        samples += list(decoded_samples(listing, project))
    return samples


def decode_single(files) -> list:
    return [media.image_to_array(f.source, f.name) for f in files]


def decode_pool(files, workers: int) -> list:
    return [a for _, a in media.decode_images(((f.name, f.source) for f in files), workers=workers)]


def eager_loop(enc, arrays: np.ndarray) -> None:
    for i in range(0, len(arrays), 32):
        enc.model(arrays[i : i + 32], training=False).numpy()


def main() -> list[str]:
    enc = encoder("mobilenet_v2_0.35")
    assert enc.engine == "litert", f"the backbone runs on {enc.engine}: LiteRT did not load (see the log)"
    files = [f for listing in listings() for f in listing.files]
    n = len(files)
    arrays = np.stack(decode_single(files))  # also warms the page cache
    enc.encode(arrays[:32])
    tensorflow_alone(enc, arrays[:32])
    eager_loop(enc, arrays[:32])

    naive_split = []

    def naive() -> None:
        start = time.perf_counter()
        decoded = np.stack(decode_single(files))
        middle = time.perf_counter()
        eager_loop(enc, decoded)
        naive_split.append((middle - start, time.perf_counter() - middle))

    stored = imported_samples()
    variants = {f"real pipeline, workers={w}": (lambda w=w: real_pipeline(enc, w)) for w in WORKERS}
    variants |= {
        "pipeline, PNG unpacked again, workers=2": lambda: real_pipeline(enc, 2, hand_off=False),
        "pipeline, TensorFlow backbone, workers=2": lambda: on_tensorflow(enc, lambda: real_pipeline(enc, 2)),
        "pipeline taking turns, workers=2": lambda: taking_turns(enc, 2),
        "imported samples → embed (Train in the app)": lambda: FeatureCache().embed(enc, stored),
        "imported samples, TensorFlow backbone": lambda: on_tensorflow(enc, lambda: FeatureCache().embed(enc, stored)),
        "imported samples, taking turns": lambda: stored_turns(enc, stored),
        "backbone alone (LiteRT, decoded)": lambda: enc.encode(arrays),
        "backbone alone (TensorFlow, batch 32)": lambda: tensorflow_alone(enc, arrays),
        "decode + crop, 1 thread": lambda: decode_single(files),
        **{f"decode + crop, pool workers={w}": (lambda w=w: decode_pool(files, w)) for w in WORKERS},
        "import alone (+ id, PNG, thumbnail), workers=2": lambda: import_alone(2),
        "naive: decode all, then eager model(batch)": naive,
    }
    share = CpuShare()
    wall = {name: [] for name in variants}
    cpu = {name: [] for name in variants}
    for _ in range(REPEATS):
        for name, fn in variants.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            fn()
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)

    header(f"Embedding throughput: {n} JPEGs ({' + '.join(IMAGE_SETS)}), median of {REPEATS}, {os.cpu_count()} cores")
    row("CPU during the measurements", share.report())
    rate = {name: n / statistics.median(times) for name, times in wall.items()}
    backbone = rate["backbone alone (LiteRT, decoded)"]
    tf_backbone = rate["backbone alone (TensorFlow, batch 32)"]
    for name in variants:
        cores = statistics.median(c / w for c, w in zip(cpu[name], wall[name]))
        row(name, f"{rate[name]:7.1f} img/s  {rate[name] / backbone:5.2f}× backbone  CPU {cores:4.2f} cores")
    decode_s, eager_s = (statistics.median(part) for part in zip(*naive_split))
    row("  naive, decode part / eager inference part", f"{n / decode_s:7.1f} / {n / eager_s:.1f} img/s")

    pipeline = {w: rate[f"real pipeline, workers={w}"] for w in WORKERS}
    best = max(pipeline, key=pipeline.get)
    ratio = pipeline[best] / backbone
    imported = rate["import alone (+ id, PNG, thumbnail), workers=2"]
    verdict = (f"{'meets' if pipeline[best] >= TARGET else 'misses'} ≥{TARGET:.0f} img/s; "
               f"{'meets' if ratio >= TARGET_RATIO else 'misses'} ≥{TARGET_RATIO}× the LiteRT backbone, "
               f"{'meets' if pipeline[best] / tf_backbone >= TARGET_RATIO else 'misses'} it against TensorFlow's; "
               f"the import alone runs {imported / backbone:.2f}× the LiteRT backbone")
    per_worker = ", ".join(f"workers={w} {r:.0f}" for w, r in pipeline.items())
    summary = [
        f"embedding: real pipeline {per_worker} img/s, best {best}: {ratio:.2f}× the LiteRT backbone alone "
        f"{backbone:.0f}, {pipeline[best] / tf_backbone:.2f}× the TensorFlow backbone alone {tf_backbone:.0f} "
        f"({verdict}); with the TensorFlow "
        f"backbone {rate['pipeline, TensorFlow backbone, workers=2']:.0f}, PNG unpacked again "
        f"{rate['pipeline, PNG unpacked again, workers=2']:.0f}; import alone {imported:.0f}; imported samples → embed "
        f"{rate['imported samples → embed (Train in the app)']:.0f} "
        f"(TensorFlow {rate['imported samples, TensorFlow backbone']:.0f}); "
        f"decode 1 thread {rate['decode + crop, 1 thread']:.0f}, "
        f"naive {rate['naive: decode all, then eager model(batch)']:.0f} img/s"
    ]
    print("  " + summary[0])
    return summary


if __name__ == "__main__":
    main()
