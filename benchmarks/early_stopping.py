"""Does early stopping help on pictures it never saw? Accuracy with and without it, on the real image sets.

Early stopping picks the epoch by the loss on the held-out samples, so their accuracy no
longer tells how the model does on new pictures. So here each train folder is cut in two:
an *outside* 20 % of each class that nothing looks at, and the rest, which the app's training
uses as usual (85 % trained on, 15 % held out, which early stopping watches). Both heads, the
last epoch's (early stopping off) and the kept epoch's (on, patience 5), are scored on the
outside pictures. Mean ± sample sd over seeds 0..4 (each seed another cut, split and start).
"""

from _common import IMAGE_SETS, embedded_set, header, row  # first: import order

from dataclasses import replace

import numpy as np

from tm_core.training import TrainConfig, split_per_class, train

SEEDS = range(5)
SETTINGS = {
    "TM defaults (50 epochs, lr 0.001)": TrainConfig(),
    "200 epochs, lr 0.001": TrainConfig(epochs=200),
    "150 epochs, lr 0.01": TrainConfig(epochs=150, learning_rate=0.01),
}


def accuracy(head, x, y) -> float:
    return float((head.predict_proba(x).argmax(1) == y).mean())


def compare(features, labels, class_names, config: TrainConfig):
    """Per seed: (outside accuracy off, outside accuracy on, epochs run with it on, held-out accuracy it reported)."""
    out = []
    for seed in SEEDS:
        cut = split_per_class(labels, 0.2, 1000 + seed)  # .test: the outside pictures
        x, y = features[cut.train], labels[cut.train]
        cfg = replace(config, seed=seed)
        off = train(x, y, class_names, cfg)
        on = train(x, y, class_names, replace(cfg, early_stopping=True, patience=5))
        xo, yo = features[cut.test], labels[cut.test]
        out.append((accuracy(off.head, xo, yo), accuracy(on.head, xo, yo), len(on.history),
                    on.kept_stats().test_accuracy, len(yo)))
    return out


def fmt(values) -> str:
    return f"{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f}"


def main() -> list[str]:
    summary = []
    header("Early stopping (patience 5): accuracy on 20 % outside pictures, seeds 0-4")
    for set_name in IMAGE_SETS:
        data = embedded_set(set_name)
        for name, config in SETTINGS.items():
            r = np.array(compare(*data, config))
            text = (f"off {fmt(r[:, 0])}, on {fmt(r[:, 1])} (on - off {fmt(r[:, 1] - r[:, 0])}); "
                    f"epochs run {np.mean(r[:, 2]):.1f} ± {np.std(r[:, 2], ddof=1):.1f} of {config.epochs} "
                    f"({int(r[:, 2].min())}-{int(r[:, 2].max())}); "
                    f"held-out accuracy reported with it on {fmt(r[:, 3])}; {int(r[0, 4])} outside pictures")
            row(f"{set_name}, {name}", text)
            summary.append(f"early_stopping {set_name} {name}: {text}")
    return summary


if __name__ == "__main__":
    main()
