"""Training the head: our NumPy ``train`` against ``keras.Model.fit`` on the same data and settings.

Real embeddings (rps_real/train through MobileNetV2 0.35, 1280-d), Teachable Machine's
defaults (50 epochs, batch 16, Adam 1e-3, 15 % of each class held out). Keras gets the same
head (``init_head(...).keras_layers()``, same initial weights) and the held-out part as
validation data, as Teachable Machine's own training does. (``train`` runs NumPy's BLAS on one
thread: on a shared 2-core machine, a second BLAS thread waiting for a busy core made these
small matrices take 10-30 s instead of 0.5 s.) Target: ours ≥ 10× faster than ``fit``. The CPU
time of each is printed too: on a busy machine it says what the wall time cannot.
"""

from _common import CpuShare, embedded_set, header, row  # first: import order

import statistics
import time

import numpy as np

from tm_core.training import TrainConfig, init_head, split_per_class, train

OURS_REPEATS = 5
KERAS_REPEATS = 3
TARGET_S = 1.0
TARGET_RATIO = 10.0  # keras fit / ours


def keras_fit(features, labels, n_classes: int, config: TrainConfig) -> float:
    """One ``fit`` from scratch (model built outside the timing); its final held-out accuracy."""
    import keras

    split = split_per_class(labels, config.test_fraction, config.seed)
    onehot = np.eye(n_classes, dtype=np.float32)[labels]
    head = init_head(features.shape[1], n_classes, config.hidden_units, config.seed)
    model = keras.Sequential([keras.Input((features.shape[1],)), *head.keras_layers()])
    model.compile(keras.optimizers.Adam(config.learning_rate), "categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(
        features[split.train], onehot[split.train],
        batch_size=config.batch_size, epochs=config.epochs, verbose=0,
        validation_data=(features[split.test], onehot[split.test]),
    )
    return history.history["val_accuracy"][-1]


CPU_S: dict[str, list[float]] = {"ours": [], "keras": []}


def timed(fn, who: str):
    start, start_cpu = time.perf_counter(), time.process_time()
    result = fn()
    CPU_S[who].append(time.process_time() - start_cpu)
    return time.perf_counter() - start, result


def main() -> list[str]:
    features, labels, class_names = embedded_set("rps_real")
    config = TrainConfig()
    share = CpuShare()
    ours_all, keras_all, runs, accs = [], [], [], []
    for i in range(OURS_REPEATS):  # taking turns, so both see the same noise
        seconds, run = timed(lambda: train(features, labels, class_names, config), "ours")
        ours_all.append(seconds)
        runs.append(run)
        if i < KERAS_REPEATS:
            seconds, acc = timed(lambda: keras_fit(features, labels, len(class_names), config), "keras")
            keras_all.append(seconds)
            accs.append(acc)
    ours_s, keras_s = statistics.median(ours_all), statistics.median(keras_all)

    header(f"Head training: {len(labels)} × {features.shape[1]}-d embeddings (rps_real), "
           f"{config.epochs} epochs, batch {config.batch_size}")
    row("CPU during the measurements", share.report())
    row(f"ours: tm_core.training.train (median of {OURS_REPEATS})",
        f"{ours_s:6.3f} s  runs {', '.join(f'{t:.3f}' for t in ours_all)}")
    row(f"keras.Model.fit (median of {KERAS_REPEATS})",
        f"{keras_s:6.3f} s  runs {', '.join(f'{t:.2f}' for t in keras_all)}")
    row("keras / ours", f"{keras_s / ours_s:6.1f}×")
    row("CPU time, ours / keras (medians)", f"{statistics.median(CPU_S['ours']):.3f} s / {statistics.median(CPU_S['keras']):.2f} s")
    row("final held-out accuracy, ours / keras", f"{runs[0].history[-1].test_accuracy:.3f} / {accs[0]:.3f}")
    verdict = "meets" if ours_s <= TARGET_S else "misses"
    ratio_verdict = "meets" if keras_s / ours_s >= TARGET_RATIO else "misses"
    summary = [f"head training: ours {ours_s:.3f} s ({verdict} ≤{TARGET_S:.0f} s), "
               f"keras fit {keras_s:.2f} s; keras/ours {keras_s / ours_s:.1f}× ({ratio_verdict} ≥{TARGET_RATIO:.0f}×)"]
    print("  " + summary[0])
    return summary


if __name__ == "__main__":
    main()
