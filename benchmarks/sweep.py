"""A 16-run sweep of head trainings: one ``train`` after another against one ``train_many``.

Real embeddings (rps_real/train through MobileNetV2 0.35: 450 photos, 1280-d), one split
(15 % of each class held out), 50 epochs, the grid of the learning-rate and batch-size lessons:
learning rate 0.00001, 0.001, 0.01, 0.5 × batch size 8, 16, 64, 256. The two ways take turns in
each repeat so they share the machine's noise; figures are medians. Both must give the same runs
(checked here: largest weight difference and histories).
"""

from _common import CpuShare, embedded_set, header, row  # first: import order

import statistics
import time

import numpy as np

from tm_core.heads import usable_cores
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
    share = CpuShare()
    wall = {"one by one": [], "train_many": []}
    cpu = {"one by one": [], "train_many": []}
    single, many = [], []
    for _ in range(REPEATS):
        for name in wall:
            start, start_cpu = time.perf_counter(), time.process_time()
            if name == "one by one":
                single = [train(features, labels, class_names, c, split=split) for c in configs]
            else:
                many = train_many(features, labels, class_names, configs, split=split)
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    diff = max(float(np.abs(getattr(a.head, w) - getattr(b.head, w)).max())
               for a, b in zip(single, many) for w in ("w1", "b1", "w2"))
    same_history = all(a.history == b.history for a, b in zip(single, many))
    one_s, many_s = statistics.median(wall["one by one"]), statistics.median(wall["train_many"])

    header(f"Sweep: {len(configs)} head trainings, {len(labels)} × {features.shape[1]}-d embeddings (rps_real), "
           f"{EPOCHS} epochs, median of {REPEATS}, {usable_cores()} cores")
    row("grid", f"learning rate {', '.join(map(str, LEARNING_RATES))} × batch size {', '.join(map(str, BATCH_SIZES))}")
    row("CPU during the measurements", share.report())
    for name in wall:
        row(f"{name} (median wall, median CPU)",
            f"{statistics.median(wall[name]):6.2f} s  CPU {statistics.median(cpu[name]):6.2f} s  "
            f"runs {', '.join(f'{t:.2f}' for t in wall[name])}")
    row("one by one / train_many", f"{one_s / many_s:6.2f}×")
    row("same runs: largest weight difference, histories", f"{diff:.1e}, {'equal' if same_history else 'DIFFERENT'}")
    verdict = "meets" if many_s <= TARGET_S else "misses"
    summary = [f"sweep of {len(configs)} runs: train_many {many_s:.2f} s ({verdict} ≤{TARGET_S:.0f} s), "
               f"one by one {one_s:.2f} s; ratio {one_s / many_s:.2f}×; weights differ by {diff:.1e}"]
    print("  " + summary[0])
    return summary


if __name__ == "__main__":
    main()
