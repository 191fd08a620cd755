"""Data-health thresholds, measured on real data (figures behind tm_core.health's constants).

1. Near copies: cosine similarity of embeddings for frames of one video (a burst) against
   distinct photos of one class (rps_real, clothing4), per picture encoder; for sound, a clip
   against itself shifted / softer, against other speakers' clips of the same word.
2. Imbalance: rps_real and clothing4 with one class cut to 60/r photos, others 60: how often
   held-out photos of the small class are still recognised, for r = 1 … 6, against a balanced
   project where every class is that small.

    python benchmarks/health.py [--quick]
"""

import _common  # noqa: F401  (import order: streamlit_webrtc before TensorFlow)

import argparse

import numpy as np

from _common import DATASETS, embedded_set, encoder, header, median_seconds, row
from tm_core import media


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def q(values, qs=(0, 5, 25, 50, 75, 95, 100)) -> str:
    v = np.percentile(np.asarray(values), qs)
    return " ".join(f"p{p}={x:.3f}" for p, x in zip(qs, v))


def video_frames() -> np.ndarray:
    data = (DATASETS / "video" / "person_seated_raga_640x360_15fps.mjpeg").read_bytes()
    frames = [b"\xff\xd8" + part for part in data.split(b"\xff\xd8")[1:]]
    return np.stack([media.image_to_array(f, "frame") for f in frames])


def within_class(features, labels):
    """All within-class pair similarities and each sample's most similar other sample in its class."""
    pairs, nearest = [], []
    for c in np.unique(labels):
        f = unit(features[labels == c])
        s = f @ f.T
        iu = np.triu_indices(len(f), 1)
        pairs.append(s[iu])
        np.fill_diagonal(s, -1)
        nearest.append(s.max(1))
    return np.concatenate(pairs), np.concatenate(nearest)


def pictures(enc_name: str, thresholds) -> None:
    header(f"Near copies, pictures: {enc_name}")
    frames = unit(encoder(enc_name).encode(video_frames()))
    consecutive = (frames[1:] * frames[:-1]).sum(1)
    row(f"video: consecutive frames ({len(consecutive)}, 15 fps)", q(consecutive))
    for gap in (5, 15, 30):
        row(f"video: frames {gap} apart", q((frames[gap:] * frames[:-gap]).sum(1)))
    for name in ("rps_real", "clothing4"):
        f, y, _ = embedded_set(name, enc_name)
        pairs, nearest = within_class(f, y)
        row(f"{name}: all pairs in a class ({len(pairs)})", q(pairs))
        row(f"{name}: each photo's nearest in its class", q(nearest))
        for t in thresholds:
            row(f"  {name} photos with a neighbour ≥ {t}", f"{int((nearest >= t).sum())} of {len(nearest)}")
    for t in thresholds:
        row(f"  video consecutive frames ≥ {t}", f"{int((consecutive >= t).sum())} of {len(consecutive)}")


def speed(enc_name: str = "mobilenet_v2_0.35") -> None:
    """health.check on about 1000 real samples: rps_real, clothing4 and the video's frames as one project."""
    from tm_core import health
    from tm_core.project import Dataset, Sample

    header("Speed of health.check")
    frames = encoder(enc_name).encode(video_frames())
    feats, labels, names = [], [], []
    for name in ("rps_real", "clothing4"):
        f, y, n = embedded_set(name, enc_name)
        feats.append(f)
        labels.append(y + len(names))
        names += n
    feats.append(frames)
    labels.append(np.full(len(frames), len(names)))
    names.append("video")
    f, y = np.concatenate(feats), np.concatenate(labels)
    ds = Dataset([Sample(f"s{i}", np.zeros((1, 1, 3), np.uint8)) for i in range(len(f))], y, names)
    findings = health.check(ds, f, encoder=enc_name)
    seconds, times = median_seconds(lambda: health.check(ds, f, encoder=enc_name), 5)
    row(f"{len(f)} samples, {len(names)} classes, median of 5", f"{seconds * 1000:.0f} ms (max {max(times) * 1000:.0f}), "
                                                               f"{len(findings)} findings: {[x.kind for x in findings]}")


def confusion_sentences(seeds: int = 3) -> None:
    """What the Train page would say after Teachable Machine's default training on each image set."""
    from tm_core import health
    from tm_core.evaluation import evaluate
    from tm_core.training import TrainConfig, split_per_class, train

    header("Confusion sentences after default training (15 % held out)")
    for name in ("rps_real", "clothing4"):
        f, y, names = embedded_set(name)
        for seed in range(seeds):
            split = split_per_class(y, 0.15, seed)
            run = train(f, y, names, TrainConfig(seed=seed), split=split)
            ev = evaluate(run.head.predict_proba(f[split.test]), y[split.test], names)
            said = [x.sentence.split(".")[0] for x in health.confusions(ev, ("picture", "pictures"))]
            row(f"{name} seed {seed}: accuracy {ev.accuracy:.2f}", "; ".join(said) or "nothing")


def speech_clips(word: str, n: int) -> np.ndarray:
    files = sorted((DATASETS / "speech_commands" / "train" / word).iterdir())[:n]
    return np.stack([media.clip_windows(media.load_audio(f))[0] for f in files])


def sounds(enc_name: str, n: int, thresholds) -> None:
    header(f"Near copies, sounds: {enc_name}")
    enc = encoder(enc_name)
    for word in ("yes", "up"):
        clips = speech_clips(word, n)
        base = unit(enc.encode(clips))
        shifted = unit(enc.encode(np.roll(clips, 1600, axis=1)))  # the same recording 0.1 s later
        softer = unit(enc.encode(clips * 0.5))
        same_shift = (base * shifted).sum(1)
        same_soft = (base * softer).sum(1)
        pairs, nearest = within_class(base, np.zeros(len(base)))
        row(f"{word}: clip vs itself 0.1 s later", q(same_shift))
        row(f"{word}: clip vs itself at half volume", q(same_soft))
        row(f"{word}: other speakers' clips, all pairs", q(pairs))
        row(f"{word}: each clip's nearest other speaker", q(nearest))
        for t in thresholds:
            row(f"  ≥ {t}: shifted / softer / distinct clips",
                f"{int((same_shift >= t).sum())} / {int((same_soft >= t).sum())} / {int((nearest >= t).sum())} of {len(clips)}")


def imbalance(set_name: str, ratios, seeds: int) -> None:
    from tm_core.training import TrainConfig, train

    header(f"Imbalance: {set_name}, one class cut to 60/r photos, the others 60; held-out 40 per class")
    f, y, names = embedded_set(set_name)
    row("held-out recall of the small class, of the big ones, and of the small class when all are small", "")
    for r in ratios:
        small_recall, big_recall, control = [], [], []
        for seed in range(seeds):
            rng = np.random.default_rng(seed)
            for small in range(len(names)):
                tr, te = [], []
                for c in range(len(names)):
                    idx = rng.permutation(np.flatnonzero(y == c))
                    te += list(idx[:40])
                    tr += list(idx[40:40 + (round(60 / r) if c == small else 60)])
                tr, te = np.array(tr), np.array(te)
                run = train(f[tr], y[tr], names, TrainConfig(test_fraction=0.0, seed=seed))
                pred = run.head.predict_proba(f[te]).argmax(1)
                yt = y[te]
                small_recall.append(float((pred[yt == small] == small).mean()))
                big_recall.append(float((pred[yt != small] == yt[yt != small]).mean()))
                # control: every class as small as the small one (balanced), same held-out photos
                keep = np.concatenate([tr[y[tr] == c][:round(60 / r)] for c in range(len(names))])
                ctrl = train(f[keep], y[keep], names, TrainConfig(test_fraction=0.0, seed=seed))
                control.append(float((ctrl.head.predict_proba(f[te]).argmax(1)[yt == small] == small).mean()))
        row(f"r = {r} ({round(60 / r)} vs 60)", f"small {np.mean(small_recall):.3f} ± {np.std(small_recall):.3f} · "
                                              f"big {np.mean(big_recall):.3f} · small class when all "
                                              f"are {round(60 / r)} (balanced) {np.mean(control):.3f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer clips and seeds")
    ap.add_argument("--only", choices=("pictures", "sounds", "imbalance", "speed", "confusion"))
    a = ap.parse_args()
    thresholds = (0.90, 0.93, 0.95, 0.97)
    if a.only in (None, "pictures"):
        for name in ("mobilenet_v2_0.35", "mobilenet_v1_0.25"):
            pictures(name, thresholds)
        speed()
    if a.only == "speed":
        speed()
    if a.only in (None, "confusion"):
        confusion_sentences()
    if a.only in (None, "sounds"):
        for name in ("yamnet_speech", "yamnet_embedding"):
            sounds(name, 40 if a.quick else 100, (0.90, 0.95, 0.97, 0.98, 0.99))
    if a.only in (None, "imbalance"):
        imbalance("rps_real", (1, 2, 3, 4, 6), 1 if a.quick else 3)
        imbalance("clothing4", (1, 2, 3, 6), 1)


if __name__ == "__main__":
    main()
