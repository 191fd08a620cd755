"""Does fine-tuning MobileNetV2 α=0.35's last block(s) beat the frozen backbone? And cheaper ideas.

Study for issue 6. Every variant is scored by 5-fold stratified cross-validation on the train
folders (rps_real, clothing4), never on the held-out test sets. Per fold:

* frozen: Teachable Machine's head (Dense 100 relu → softmax, Adam 1e-3, batch 16, 50 epochs)
  on the pooled 1280-d embedding (the app today);
* pooled earlier layers, alone or concatenated with the embedding (same head);
* flip: the same head with a mirrored view of each training photo added (cached like a sample);
* fine-tune: the activations *entering* block 16 (or 15) are cached once per photo (and view);
  [block(s) + Conv_1 + pooling + head] is trained on them with Keras, BatchNorm frozen, after the
  head converged (the frozen head is its starting point), at a small learning rate.

Times are wall-clock on this shared 2-core machine (other jobs' share printed beside them).

    python benchmarks/finetune.py [--quick] [--only-frozen] [--sets rps_real]   # the CV table
    python benchmarks/finetune.py --crops 2 --sets rps_real   # + random-crop views
    python benchmarks/finetune.py --app    # the app's path (tm_core.finetune), timed, 85/15 splits

Several minutes per set on a shared 2-core machine: not part of run_all.py. Results: README,
"Larger networks and fine-tuning".
"""

from _common import (IMAGE_SETS, CpuShare, decoded_samples, header, row,  # first: import order
                     stratified_folds, train_dir)

import argparse
import time

import numpy as np

from tm_core import media
from tm_core.project import Project
from tm_core.training import Split, TrainConfig, train

FOLDS = 5
TAPS = {  # name → layer of MobileNetV2 0.35 (7×7 unless said)
    "block14_in": "block_13_project_BN",  # 7×7×56, enters block 14
    "block15_in": "block_14_add",  # 7×7×56, enters block 15
    "block16_in": "block_15_add",  # 7×7×56, enters block 16
    "block16_out": "block_16_project_BN",  # 7×7×112
    "block13_expand": "block_13_expand_relu",  # 14×14×192
    "block12_out": "block_12_add",  # 14×14×32
    "embedding": "out_relu",  # 7×7×1280 → the app's 1280-d embedding when pooled
}



def load_set(name: str):
    listing = media.list_folder(train_dir(name))
    project = Project(class_names=[])
    for _ in decoded_samples(listing, project):
        pass
    ds = project.dataset()
    return np.stack([s.data for s in ds.samples]), np.asarray(ds.labels), ds.class_names


def backbone():
    import keras

    from tm_core import assets
    from tm_core.encoders.image import INPUT_SHAPE, SPECS, normalization_layer

    spec = SPECS["mobilenet_v2_0.35"]
    base = keras.applications.MobileNetV2(alpha=0.35, include_top=False, input_shape=INPUT_SHAPE,
                                          weights=str(assets.resolve(spec.filename)))
    inputs = keras.Input(INPUT_SHAPE, dtype="uint8")
    x = normalization_layer()(inputs)
    taps = keras.Model(base.input, [base.get_layer(layer).output for layer in TAPS.values()])
    return base, keras.Model(inputs, taps(x, training=False))


def activations(tap_model, images: np.ndarray, batch: int = 32) -> dict[str, np.ndarray]:
    import tensorflow as tf

    fn = tf.function(lambda x: tap_model(x, training=False), autograph=False)
    outs = {k: [] for k in TAPS}
    for i in range(0, len(images), batch):
        for k, v in zip(TAPS, fn(tf.constant(images[i : i + batch]))):
            v = v.numpy()
            # Keep the 7×7 maps that fine-tuning starts from; pool the others straight away.
            outs[k].append(v if k.endswith("_in") else v.mean(axis=(1, 2)))
            if k == "embedding":
                outs.setdefault("embedding_max", []).append(v.max(axis=(1, 2)))
    return {k: np.concatenate(v).astype(np.float32) for k, v in outs.items()}


def flipped(images: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(images[:, :, ::-1])


def cropped(images: np.ndarray, view: int) -> np.ndarray:
    """A random crop of 60-100 % of each side, resized back to 224, mirrored every other view."""
    from PIL import Image

    rng = np.random.default_rng(1000 + view)
    out = np.empty_like(images)
    size = images.shape[1]
    for i, img in enumerate(images):
        side = int(size * rng.uniform(0.6, 1.0))
        top, left = rng.integers(0, size - side + 1, 2)
        crop = Image.fromarray(img[top : top + side, left : left + side]).resize((size, size), Image.BILINEAR)
        out[i] = np.asarray(crop)[:, ::-1] if view % 2 else np.asarray(crop)
    return out


def head_fit(x, y, names, seed, extra=None):
    cfg = TrainConfig(seed=seed)
    split = Split(np.arange(len(y)), np.zeros(0, np.int64))
    return train(x, y, names, cfg, split=split, extra=extra).head


def tail_model(base, start_layer: str, head, n_classes: int):
    """[blocks after ``start_layer`` + Conv_1 + out_relu] with fresh copies of their weights, then pool + head."""
    import keras

    src = base.get_layer(start_layer).output
    sub = keras.Model(src, base.get_layer("out_relu").output)
    clone = keras.models.clone_model(sub)
    clone.set_weights(sub.get_weights())
    for layer in clone.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False  # inference mode: moving statistics stay ImageNet's
    inputs = keras.Input(tuple(src.shape[1:]))
    x = keras.layers.GlobalAveragePooling2D()(clone(inputs))
    hidden, out = head.keras_layers()
    model = keras.Model(inputs, out(hidden(x)))
    return model


def finetune_fold(base, start_layer, head, xtr, ytr, n_classes, lr, epochs, seed):
    import keras

    keras.utils.set_random_seed(seed)
    model = tail_model(base, start_layer, head, n_classes)
    model.compile(optimizer=keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy")
    model.fit(xtr, ytr, batch_size=16, epochs=epochs, shuffle=True, verbose=0)
    return model


def predict(model, x):
    return np.asarray(model(x, training=False)).argmax(1)


def cv_frozen(feat, y, names, folds, extra_feat=None, seeds=(0,), tta=False):
    """``tta``: the held-out photo's probabilities averaged with its mirror's (``extra_feat``)."""
    accs = []
    for seed in seeds:
        f = stratified_folds(y, FOLDS, seed)
        for k in range(FOLDS):
            tr, te = f != k, f == k
            extra = (extra_feat[tr], y[tr]) if extra_feat is not None else None
            head = head_fit(feat[tr], y[tr], names, seed, extra)
            p = head.predict_proba(feat[te])
            if tta:
                p = p + head.predict_proba(extra_feat[te])
            accs.append(float((p.argmax(1) == y[te]).mean()))
    return accs


def report(label, accs, seconds):
    row(label, f"{np.mean(accs):.3f} ± {np.std(accs, ddof=1):.3f} ({len(accs)} folds, {seconds:.1f} s)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", nargs="*", default=list(IMAGE_SETS))
    ap.add_argument("--only-frozen", action="store_true")
    ap.add_argument("--toggle-only", action="store_true", help="only the fine-tuning the toggle does")
    ap.add_argument("--app", action="store_true", help="time the app's path (tm_core.finetune) on a whole folder")
    ap.add_argument("--quick", action="store_true", help="fewer fine-tuning variants")
    ap.add_argument("--crops", type=int, default=0, help="random-crop views to add (crop study only)")
    ap.add_argument("--seeds", type=int, default=1, help="fold seeds for the frozen variants")
    args = ap.parse_args()
    seeds = tuple(range(args.seeds))
    if args.app:
        for set_name in args.sets:
            app_path(set_name)
        return
    base, taps = backbone()
    for set_name in args.sets:
        cpu = CpuShare()
        images, y, names = load_set(set_name)
        header(f"{set_name}: {len(y)} photos, {len(names)} classes, {FOLDS}-fold stratified CV")
        t = time.perf_counter()
        act = activations(taps, images)
        t_embed = time.perf_counter() - t
        t = time.perf_counter()
        act_f = activations(taps, flipped(images))
        t_flip = time.perf_counter() - t
        row("backbone pass (all taps), originals", f"{t_embed:.1f} s for {len(y)} photos ({cpu.report()})")
        row("backbone pass, mirrored views", f"{t_flip:.1f} s")

        emb, emb_f = act["embedding"], act_f["embedding"]
        if args.crops:
            crop_study(base, taps, images, y, names, act, act_f, args.crops, cpu)
            continue
        variants = {
            "frozen 1280-d (app today)": (emb, None),
            "frozen + mirrored views": (emb, emb_f),
            "max-pooled 1280-d": (act["embedding_max"], None),
            "avg + max pooled (2560-d)": (np.hstack([emb, act["embedding_max"]]), None),
            "block16_out pooled (112-d)": (act["block16_out"], None),
            "block13_expand pooled (192-d)": (act["block13_expand"], None),
            "concat 1280 + block16_out": (np.hstack([emb, act["block16_out"]]), None),
            "concat 1280 + block13_expand": (np.hstack([emb, act["block13_expand"]]), None),
            "concat 1280 + block12_out": (np.hstack([emb, act["block12_out"]]), None),
        }
        variants["frozen + mirrored views + mirror at test"] = (emb, emb_f)
        if args.toggle_only:
            variants = {}
        for label, (feat, extra) in variants.items():
            t = time.perf_counter()
            accs = cv_frozen(feat, y, names, FOLDS, extra, seeds, tta="at test" in label)
            report(label, accs, time.perf_counter() - t)

        grid = [("block16_in", 1e-4, 10, False), ("block16_in", 1e-3, 10, False), ("block16_in", 1e-3, 10, True)]
        if not args.quick:
            grid += [("block16_in", 1e-5, 20, False), ("block16_in", 1e-4, 10, True),
                     ("block15_in", 1e-4, 10, True), ("block14_in", 1e-3, 10, True)]
        start_of = {"block16_in": "block_15_add", "block15_in": "block_14_add", "block14_in": "block_13_project_BN"}
        if args.toggle_only:
            variants, grid = {}, [("block16_in", 1e-3, 10, True)]
        for tap, lr, epochs, use_flip in ([] if args.only_frozen else grid):
            accs, accs_tta, t_fit, n_fit = [], [], 0.0, 0
            f = stratified_folds(y, FOLDS, 0)
            for k in range(FOLDS):
                tr, te = f != k, f == k
                extra = (emb_f[tr], y[tr]) if use_flip else None
                head = head_fit(emb[tr], y[tr], names, 0, extra)
                xtr, ytr = act[tap][tr], y[tr]
                if use_flip:
                    xtr, ytr = np.concatenate([xtr, act_f[tap][tr]]), np.concatenate([ytr, ytr])
                t = time.perf_counter()
                model = finetune_fold(base, start_of[tap], head, xtr, ytr, len(names), lr, epochs, k)
                t_fit += time.perf_counter() - t
                n_fit += len(ytr)
                accs.append(float((predict(model, act[tap][te]) == y[te]).mean()))
                both = np.asarray(model(act[tap][te], training=False)) + np.asarray(model(act_f[tap][te], training=False))
                accs_tta.append(float((both.argmax(1) == y[te]).mean()))
            per450 = t_fit / n_fit * 450
            report(f"fine-tune from {tap}, lr {lr:g}, {epochs} ep{', +mirror' if use_flip else ''}", accs, t_fit)
            report("  the same, mirror averaged in at test", accs_tta, t_fit)
            row("", f"  fine-tuning time ≈ {per450:.1f} s per 450 training rows ({cpu.report()})")


def app_path(set_name: str) -> None:
    """What the app does with the toggle on, timed: block inputs of every photo and mirrored training
    photo, then ``tm_core.finetune.fine_tune`` with its defaults, on Teachable Machine's 85/15 split."""
    from tm_core import finetune
    from tm_core.encoders import get_encoder
    from tm_core.training import split_per_class

    images, y, names = load_set(set_name)
    header(f"{set_name}: the app's path, {len(y)} photos, 85/15 split seeds 0-2")
    enc = get_encoder("mobilenet_v2_0.35")
    cpu = CpuShare()
    t = time.perf_counter()
    emb = enc.encode(images)
    t_emb = time.perf_counter() - t
    blocks = finetune.BlockInputs(enc)
    t = time.perf_counter()
    inputs = blocks.encode(images)
    mirror_all = blocks.encode(np.stack([finetune.mirrored(i) for i in images]))
    t_blocks = time.perf_counter() - t
    row("embeddings (frozen path)", f"{t_emb:.1f} s")
    row("block inputs, photos + mirrored", f"{t_blocks:.1f} s (the app mirrors the 85 % trained on only)")
    for seed in range(3):
        cfg = TrainConfig(seed=seed)
        split = split_per_class(y, cfg.test_fraction, cfg.seed)
        t = time.perf_counter()
        run = train(emb, y, names, cfg, split=split)
        t_head = time.perf_counter() - t
        before = float((run.head.predict_proba(emb[split.test]).argmax(1) == y[split.test]).mean())
        t = time.perf_counter()
        ft = finetune.fine_tune(enc, run.head, inputs, y, split, extra=(mirror_all[split.train], y[split.train]))
        row(f"seed {seed}: held-out frozen → fine-tuned",
            f"{before:.3f} → {ft.history[-1].test_accuracy:.3f}; head {t_head:.1f} s, fine-tuning "
            f"{time.perf_counter() - t:.1f} s ({cpu.report()})")


def crop_study(base, taps, images, y, names, act, act_f, n_views, cpu):
    """Frozen head and fine-tuning with the mirror plus ``n_views`` random-crop views per training photo."""
    t = time.perf_counter()
    views = [act_f] + [activations(taps, cropped(images, v)) for v in range(1, n_views + 1)]
    row(f"backbone pass, {n_views} crop views", f"{time.perf_counter() - t:.1f} s ({cpu.report()})")
    emb = act["embedding"]
    f = stratified_folds(y, FOLDS, 0)
    accs = []
    for k in range(FOLDS):
        tr, te = f != k, f == k
        extra = (np.concatenate([v["embedding"][tr] for v in views]), np.tile(y[tr], len(views)))
        head = head_fit(emb[tr], y[tr], names, 0, extra)
        accs.append(float((head.predict_proba(emb[te]).argmax(1) == y[te]).mean()))
    report(f"frozen + mirror + {n_views} crop views", accs, 0.0)
    start_of = {"block16_in": "block_15_add", "block15_in": "block_14_add", "block14_in": "block_13_project_BN"}
    for tap, lr, epochs in (("block16_in", 1e-3, 10),):
        accs, t_fit, n_fit = [], 0.0, 0
        for k in range(FOLDS):
            tr, te = f != k, f == k
            extra = (np.concatenate([v["embedding"][tr] for v in views]), np.tile(y[tr], len(views)))
            head = head_fit(emb[tr], y[tr], names, 0, extra)
            xtr = np.concatenate([act[tap][tr]] + [v[tap][tr] for v in views])
            ytr = np.tile(y[tr], len(views) + 1)
            t = time.perf_counter()
            model = finetune_fold(base, start_of[tap], head, xtr, ytr, len(names), lr, epochs, k)
            t_fit += time.perf_counter() - t
            n_fit += len(ytr)
            accs.append(float((predict(model, act[tap][te]) == y[te]).mean()))
        report(f"fine-tune from {tap}, lr {lr:g}, {epochs} ep, +mirror +{n_views} crops", accs, t_fit)
        row("", f"  fine-tuning time ≈ {t_fit / n_fit * 450:.1f} s per 450 training rows ({cpu.report()})")


if __name__ == "__main__":
    main()
