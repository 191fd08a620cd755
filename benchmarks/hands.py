"""Hand-pose projects on rock-paper-scissors: held-out accuracy by cross-validation on
``rps_real/train`` (450 tightly cropped photos), for each part of the recipe.

    python benchmarks/hands.py [--seeds 3]

Every photo becomes a hand sample as the app makes it (the whole picture padded to 256). Rows:
the hand block from one look at the photo (the live path) and from the seven padded/mirrored
views (``hand_features.VIEWS``), MobileNetV2's numbers alone (an image project's features, on
its 224 centre crop), and the default: the picture's numbers beside the seven-view hand block.
5-fold stratified CV, 3 fold seeds, Teachable Machine's head and defaults. Photos where no hand
was found are left out of the training folds (the app's default) but every photo of a test fold
counts: the head answers from whatever the features hold, as ``python -m tm_core evaluate``
does. Anchors on the hidden test photos (the data sets' notes; docs/benchmarks.md): Teachable Machine's
image pipeline 0.81, plain landmarks 0.65. Target: 0.95.
"""

from _common import DATASETS, header, stratified_folds  # first: import order

import argparse
import time

import numpy as np

from tm_core import media
from tm_core.encoders import get_encoder, hand_features
from tm_core.training import Split, TrainConfig, train

CLASSES = ("paper", "rock", "scissors")


def load():
    files, labels = [], []
    for k, c in enumerate(CLASSES):
        for f in sorted((DATASETS / "rps_real" / "train" / c).iterdir()):
            files.append(f)
            labels.append(k)
    return files, np.array(labels)



def cv(train_x, labels, seeds, test_x=None, extra=None):
    """Mean and std over folds × seeds of held-out accuracy; training rows without a hand left out.
    ``extra(train_index) -> (rows, labels)``: more training rows (never tested on)."""
    test_x = train_x if test_x is None else test_x
    accs = []
    for seed in range(seeds):
        folds = stratified_folds(labels, 5, seed)
        for f in range(5):
            te = np.where(folds == f)[0]
            tr = np.where((folds != f) & hand_features.found(train_x))[0]
            run = train(train_x, labels, list(CLASSES), TrainConfig(seed=seed), split=Split(tr, te),
                        extra=extra(tr) if extra else None)
            accs.append(float((run.head.predict_proba(test_x[te]).argmax(1) == labels[te]).mean()))
    return float(np.mean(accs)), float(np.std(accs))


def main(seeds: int = 3) -> list[str]:
    files, labels = load()
    samples = np.stack([media.image_to_array(f, f.name, media.KEYPOINT_IMAGE_SIZE, pad=True) for f in files])
    crops = np.stack([media.image_to_array(f, f.name) for f in files])
    hands = get_encoder("hand_landmarks_mobilenet")
    t = time.perf_counter()
    kp7 = hands.keypoints(samples)
    t7 = (time.perf_counter() - t) / len(files)
    t = time.perf_counter()
    kp1 = hands.keypoints(samples, live=True)
    t1 = (time.perf_counter() - t) / len(files)
    block7 = np.stack([hand_features.hand_block(k) for k in kp7])
    block1 = np.stack([hand_features.hand_block(k) for k in kp1])
    picture = hands.picture.encode(crops)
    both7 = hands.features(samples, kp7)
    both1 = np.concatenate([both7[:, : hands.picture.dim], block1], 1)
    with_flag = lambda x: np.concatenate([x, np.ones((len(x), 1), np.float32)], 1)  # noqa: E731  (nothing to find)
    rows = [
        ("hand block, one look (the live path)", block1, {}),
        ("hand block, seven views", block7, {}),
        ("MobileNetV2 0.35 alone (an image project's numbers)", with_flag(picture), {}),
        ("picture + hand block, one look", both1, {}),
        ("**picture + hand block, seven views (default)**", both7, {}),
        ("default, tested on one look (what live video sees)", both7, {"test_x": both1}),
    ]
    lines = [f"hands found: one look {hand_features.found(block1).mean():.3f}, seven views "
             f"{hand_features.found(block7).mean():.3f} of {len(files)} photos; landmarks per photo: one look "
             f"{t1 * 1000:.0f} ms, seven views {t7 * 1000:.0f} ms",
             f"| features | CV accuracy ({seeds} seeds × 5 folds) |", "|---|---|"]
    print("\n".join(lines), flush=True)
    for name, x, kw in rows:
        m, s = cv(x, labels, seeds, **kw)
        lines.append(f"| {name} | {m:.3f} ± {s:.3f} |")
        print(lines[-1], flush=True)
    return lines


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", type=int, default=3)
    header("hands: rock-paper-scissors cross-validation")
    main(p.parse_args().seeds)
