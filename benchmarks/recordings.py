"""Does the held-out accuracy the Train page shows track accuracy on new photos? (issue 19, item 3)

For each photo set and each of several draws, a quarter of every class is put aside as "new photos"
(never imported). The rest is imported the way a student would: one upload per class, or one zip of
class folders, and trained as the app trains (default settings, ``workflow.prepare`` / ``train``).
Printed per way of importing: the held-out accuracy the page shows, the same model's accuracy on the
new photos, and their difference, as medians over the draws. "one recording per upload" is how uploads
were grouped before issue 19 (every upload one recording: its last files held out).

Also printed: the thumbnail correlation of consecutive files (``tm_core.recordings.SAME_VIDEO``) for
video frames at several gaps and for photos in name order.

    python benchmarks/recordings.py [--draws N]
"""

import _common  # noqa: F401  (import order: streamlit_webrtc before TensorFlow)

import argparse
import io
import zipfile

import numpy as np

from _common import DATASETS, IMAGE_SETS, encoder, header, row, train_dir
from tm_core import media, workflow
from tm_core.features import FeatureCache
from tm_core.project import Project
from tm_core.recordings import new_group, thumbnail
from tm_core.session import Session
from tm_core.training import TrainConfig


def q(values) -> str:
    v = np.percentile(np.asarray(values), (0, 5, 50, 95, 100))
    return " ".join(f"p{p}={x:.3f}" for p, x in zip((0, 5, 50, 95, 100), v))


def thumbnails() -> None:
    header("Thumbnail correlation of consecutive files (SAME_VIDEO)")
    data = (DATASETS / "video" / "person_seated_raga_640x360_15fps.mjpeg").read_bytes()
    frames = [media.image_to_array(b"\xff\xd8" + part, "frame") for part in data.split(b"\xff\xd8")[1:]]
    t = np.stack([thumbnail(f) for f in frames])
    for gap in (1, 5, 15, 30):
        row(f"video frames {gap} apart (15 fps)", q((t[gap:] * t[:-gap]).sum(1)))
    for name in IMAGE_SETS:
        for cls in sorted(p for p in train_dir(name).iterdir() if p.is_dir()):
            files = sorted(cls.iterdir())
            t = np.stack([thumbnail(media.image_to_array(f.read_bytes(), f.name)) for f in files])
            row(f"{name}/{cls.name}: photos next in name order", q((t[1:] * t[:-1]).sum(1)))


def files_of(name: str) -> dict[str, list]:
    return {c.name: sorted(c.iterdir()) for c in sorted(p for p in train_dir(name).iterdir() if p.is_dir())}


def imported(how: str, kept: dict[str, list]) -> Project:
    p = Project("image", [])
    if how == "zip":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            for cls, files in kept.items():
                for f in files:
                    z.writestr(f"{cls}/{f.name}", f.read_bytes())
        list(p.add_listing(media.read_zip(buf.getvalue(), "photos.zip")))
    else:
        for cls, files in kept.items():  # one upload per class
            group = new_group("upload") if how == "one recording per upload" else None
            list(p.add_files(((cls, f.name, f.read_bytes()) for f in files), group=group))
    return p


def measure(name: str, draws: int) -> None:
    header(f"{name}: held-out accuracy shown vs accuracy on new photos ({draws} draws)")
    enc = encoder("mobilenet_v2_0.35")
    cache = FeatureCache()  # sample ids are content hashes: each photo is embedded once for every way
    everything = files_of(name)
    results: dict[str, list[tuple[float, float]]] = {}
    for draw in range(draws):
        rng = np.random.default_rng(draw)
        kept, new = {}, []
        for cls, files in everything.items():
            order = rng.permutation(len(files))
            cut = len(files) // 4
            new += [(cls, files[i]) for i in order[:cut]]
            kept[cls] = [files[i] for i in sorted(order[cut:])]  # imported in name order, as a folder is
        new_x = np.stack([media.image_to_array(f.read_bytes(), f.name) for _, f in new])
        new_f = enc.encode(new_x)
        for how in ("one recording per upload", "separate uploads", "zip"):
            project = imported(how, kept)
            sess = Session(project=project, encoder_name=enc.name)
            sess.cache = cache
            config = TrainConfig()
            rec = workflow.train(sess, workflow.prepare(project, cache, enc, config), config)
            proba = rec.run.head.predict_proba(new_f)
            truth = np.array([rec.run.class_names.index(c) for c, _ in new])
            results.setdefault(how, []).append((rec.evaluation.accuracy, float((proba.argmax(1) == truth).mean())))
    for how, pairs in results.items():
        shown, real = np.array(pairs).T
        row(how, f"shown {np.median(shown):.3f} · new photos {np.median(real):.3f} · "
                 f"median |shown − new| {np.median(np.abs(shown - real)):.3f} · "
                 f"per draw {' '.join(f'{a:.2f}/{b:.2f}' for a, b in pairs)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=5)
    args = parser.parse_args()
    thumbnails()
    for name in IMAGE_SETS:
        measure(name, args.draws)


if __name__ == "__main__":
    main()
