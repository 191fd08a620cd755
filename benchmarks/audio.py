"""Audio projects: held-out accuracy by speaker-disjoint cross-validation, and live window latency.

    python benchmarks/audio.py [--encoders yamnet_speech,yamnet_embedding] [--augment]

Accuracy: each train folder is split into folds by SPEAKER (speech_commands: the hash before
``_nohash_``; fsdd_digits: the name in ``<digit>_<speaker>_<n>.wav``; background clips each on
their own), then Teachable Machine's head and defaults (Dense 100, Adam 1e-3, batch 16, 50
epochs) are trained on the other folds exactly as the app does (with ``--augment``, also on
``augment.embed_views`` of the training part only) and tested on the held-out speakers. Anchors (the data sets' notes; docs/benchmarks.md)
(YAMNet's mean embedding + the same head, on the hidden test sets): 0.62 and 0.55.

Latency: one 1-second window through encoder + head (``Predictor.predict``), as the live
microphone does every half second; median and p90 of 200 calls, against the bare encoder.
"""

from _common import DATASETS, header, median_seconds  # first: import order

import argparse
import statistics
import time

import numpy as np

from tm_core import augment
from tm_core.features import FeatureCache
from tm_core.predict import Predictor
from tm_core.project import Project
from tm_core.training import Split, TrainConfig, train

SETS = {"speech_commands": 5, "fsdd_digits": 4}  # folds
ANCHORS = {"speech_commands": 0.62, "fsdd_digits": 0.55}


def speaker(set_name: str, file_name: str) -> str:
    if "_nohash_" in file_name:
        return file_name.split("_nohash_")[0]
    if set_name == "fsdd_digits":
        return file_name.split("_")[1]
    return "clip:" + file_name  # background noise slices: no speaker


def folds(groups: np.ndarray, k: int):
    speakers = np.array(sorted(set(groups)))
    np.random.default_rng(0).shuffle(speakers)
    for part in np.array_split(speakers, k):
        test = np.isin(groups, part)
        yield np.flatnonzero(~test), np.flatnonzero(test)


def cross_validate(set_name: str, encoder, views: bool) -> list[float]:
    project = Project("audio", class_names=[])
    root = DATASETS / set_name / "train"
    for cls in sorted(p.name for p in root.iterdir()):
        for item in project.add_files((cls, f.name, f) for f in sorted((root / cls).iterdir())):
            if not hasattr(item, "data"):
                raise SystemExit(f"unexpected bad file: {item}")
    ds = project.dataset()
    groups = np.array([speaker(set_name, s.name) for s in ds.samples])
    cache = FeatureCache()
    cache.embed(encoder, ds.samples)
    x = cache.matrix(encoder.name, ds.samples)
    accs = []
    for tr, te in folds(groups, SETS[set_name]):
        split = Split(tr, te)
        extra = augment.embed_views(cache, encoder, ds, split) if views else None
        run = train(x, ds.labels, ds.class_names, TrainConfig(), split=split, extra=extra)
        accs.append(run.history[-1].test_accuracy)
    return accs


def latency(encoder, repeats: int = 200) -> tuple[float, float, float]:
    rng = np.random.default_rng(0)
    head_run = train(rng.normal(size=(20, encoder.dim)).astype(np.float32), np.repeat([0, 1], 10), ["a", "b"],
                     TrainConfig(epochs=1))
    predictor = Predictor(encoder, head_run.head, ["a", "b"])
    window = rng.normal(0, 0.1, 16_000).astype(np.float32)
    for _ in range(10):
        predictor.predict(window)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        predictor.predict(window)
        times.append(time.perf_counter() - t)
    bare, _ = median_seconds(lambda: encoder.encode(window[None]), repeats)
    return statistics.median(times), float(np.percentile(times, 90)), bare


def main(encoders=("yamnet_speech",), views: bool = False) -> list[str]:
    from tm_core.encoders import get_encoder

    lines = []
    for name in encoders:
        enc = get_encoder(name)
        for set_name in SETS:
            t = time.perf_counter()
            accs = cross_validate(set_name, enc, views)
            lines.append(f"audio accuracy {set_name} {name}{' + views' if views else ''}: "
                         f"{np.mean(accs):.3f} ± {np.std(accs):.3f} over {len(accs)} speaker-disjoint folds "
                         f"({', '.join(f'{a:.2f}' for a in accs)}; anchor {ANCHORS[set_name]}) "
                         f"[{time.perf_counter() - t:.0f} s]")
            print(lines[-1], flush=True)
        p50, p90, bare = latency(enc)
        lines.append(f"audio window latency {name}: p50 {p50 * 1000:.1f} ms, p90 {p90 * 1000:.1f} ms "
                     f"(bare encoder {bare * 1000:.1f} ms; target <= 50 ms)")
        print(lines[-1], flush=True)
    return lines


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--encoders", default="yamnet_speech")
    ap.add_argument("--augment", action="store_true")
    a = ap.parse_args()
    header("audio")
    main(tuple(a.encoders.split(",")), views=a.augment)
