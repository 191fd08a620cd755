"""A 16-run sweep of head trainings: one ``train`` after another against one ``train_many``.

Real embeddings (rps_real/train through MobileNetV2 0.35: 450 photos, 1280-d), one split
(15 % of each class held out), 50 epochs, the grid of the learning-rate and batch-size lessons:
learning rate 0.00001, 0.001, 0.01, 0.5 × batch size 8, 16, 64, 256. The two ways take turns in
each repeat so they share the machine's noise; figures are medians. Both must give the same runs
(checked here: largest weight difference and histories).
"""

from _common import CpuShare, embedded_set, header, row  # first: import order

import os
import statistics
import time

import numpy as np

from tm_core import heads
from tm_core.heads import busy_cores, spare_cores, usable_cores
from tm_core.training import TrainConfig, split_per_class, train, train_many

REPEATS = 3
LEARNING_RATES = (0.00001, 0.001, 0.01, 0.5)
BATCH_SIZES = (8, 16, 64, 256)
EPOCHS = 50
TARGET_S = 10.0


def main() -> list[str]:
    features, labels, class_names = embedded_set("rps_real")
    split = split_per_class(labels, 0.15, 0)
    configs = [TrainConfig(epochs=EPOCHS, batch_size=b, learning_rate=lr) for lr in LEARNING_RATES for b in BATCH_SIZES]
    load, busy, spare = os.getloadavg()[0], busy_cores(), spare_cores()  # what train_many chooses by itself, before
    variants = {
        "one by one": lambda: [train(features, labels, class_names, c, split=split) for c in configs],
        f"train_many ({spare} thread{'s' if spare > 1 else ''}, as it chose)": lambda: many_on(spare),
        **({"train_many, 2 threads whatever the load": lambda: many_on(2)} if spare == 1 else {}),
    }

    def many_on(threads: int):
        chooses = heads.spare_cores
        heads.spare_cores = lambda: threads
        try:
            return train_many(features, labels, class_names, configs, split=split)
        finally:
            heads.spare_cores = chooses

    share = CpuShare()
    wall = {name: [] for name in variants}
    cpu = {name: [] for name in variants}
    results = {}
    for _ in range(REPEATS):
        for name, fn in variants.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            results[name] = fn()
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    single, many = results["one by one"], results[list(variants)[1]]
    diff = max(float(np.abs(getattr(a.head, w) - getattr(b.head, w)).max())
               for a, b in zip(single, many) for w in ("w1", "b1", "w2"))
    same_history = all(a.history == b.history for a, b in zip(single, many))
    one_s, many_s = statistics.median(wall["one by one"]), statistics.median(wall[list(variants)[1]])

    header(f"Sweep: {len(configs)} head trainings, {len(labels)} × {features.shape[1]}-d embeddings (rps_real), "
           f"{EPOCHS} epochs, median of {REPEATS}, {usable_cores()} cores")
    row("grid", f"learning rate {', '.join(map(str, LEARNING_RATES))} × batch size {', '.join(map(str, BATCH_SIZES))}")
    row("CPU during the measurements", share.report())
    row("before: load average, busy cores now, spare cores", f"{load:.1f}, {busy:.2f}, {spare}")
    for name in wall:
        row(f"{name}: wall, CPU (medians)",
            f"{statistics.median(wall[name]):6.2f} s  CPU {statistics.median(cpu[name]):6.2f} s  "
            f"runs {', '.join(f'{t:.2f}' for t in wall[name])}")
    for name in list(variants)[1:]:
        row(f"one by one / {name}", f"{one_s / statistics.median(wall[name]):6.2f}×")
    row("same runs: largest weight difference, histories", f"{diff:.1e}, {'equal' if same_history else 'DIFFERENT'}")
    verdict = "meets" if many_s <= TARGET_S else "misses"
    summary = [f"sweep of {len(configs)} runs: train_many {many_s:.2f} s ({verdict} ≤{TARGET_S:.0f} s), "
               f"one by one {one_s:.2f} s; ratio {one_s / many_s:.2f}×; weights differ by {diff:.1e}"]
    print("  " + summary[0])
    return summary


if __name__ == "__main__":
    main()
