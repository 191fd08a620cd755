"""Rebuild the example projects in ``tm_core/examples/`` from ``../shared/datasets`` (real, licensed data).

    python tools/make_examples.py            # every example; prints sizes and accuracies
    python tools/make_examples.py rps-image  # one

Each example takes a fixed random choice of files per class from a data set's ``train`` folder
(seed 16), adds them as the app adds an upload (``Project.add_files``: the kind's size, crop or pad,
one-second windows), and saves a project file with the default settings and no trained model. A hand pose example also
keeps its samples' embeddings and keypoints (as "Save project" does): finding the hands in 90 photos takes 30-50 s
on a busy 2-core server, so training it in the app needs no such pass (the other kinds embed 90
samples in a few seconds, and their embeddings would cost the repo more megabytes).
PNGs are re-compressed (``optimize``: the same pixels, so the same sample ids) to fit the repo.

Then it measures, with the app's own workflow and default settings (seed 0):
- ``held_out_accuracy``: the app's held-out accuracy after training the example (what the Train page
  shows; the browser test checks the app reaches it);
- ``unseen_accuracy``: that model on the rest of the data set's files, which the example does not hold.
Both go into ``index.json``; ``LICENSES.md`` and ``licenses/`` keep each data set's licence.
"""

import streamlit_webrtc  # noqa: F401, I001  (must come before anything that imports TensorFlow)

import io
import json
import os
import random
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DATASETS = SHARED / "datasets"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if not os.environ.get("TM_MODELS_DIR") and (SHARED / "models").is_dir():
    os.environ["TM_MODELS_DIR"] = str(SHARED / "models")
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from tm_core import keypoints, kinds, workflow  # noqa: E402
from tm_core.encoders import default_encoder, get_encoder  # noqa: E402
from tm_core.errors import InputError  # noqa: E402
from tm_core.evaluation import evaluate  # noqa: E402
from tm_core.examples import FOLDER, INDEX  # noqa: E402
from tm_core.features import FeatureCache  # noqa: E402
from tm_core.project import Project, Sample, png_pixels  # noqa: E402
from tm_core.project_file import SUFFIX, ProjectFile, save  # noqa: E402
from tm_core.session import Session  # noqa: E402
from tm_core.training import TrainConfig  # noqa: E402

SEED = 16
RPS = ("CDLA-Sharing-1.0. Photos from the Roboflow Universe \"Rock Paper Scissors SXSW\" data set, as cropped in "
       "github.com/tsyurii/kaust-dsa299-rps-dataset. Changed by Teachable Studio: a selection, cut or padded to "
       "squares and saved as PNG.")
CLOTHING = ("CC0 1.0 (public domain). Photos from github.com/alexeygrigorev/clothing-dataset-small. Changed by "
            "Teachable Studio: a selection, cut to squares and saved as PNG.")
SPEECH = ("CC BY 4.0. Clips from Google's Speech Commands data set v0.02 (Pete Warden, 2018, "
          "arXiv:1804.03209). Changed by Teachable Studio: a selection, saved as 1-second float WAV.")

# name, title, kind, data set, classes, files per class, about, attribution, licence files
EXAMPLES = [
    ("rps-image", "Rock, paper, scissors (image)", "image", "rps_real", ("rock", "paper", "scissors"), 30,
     "Real photos of hands showing rock, paper or scissors, as an Image project. The model looks at the whole "
     "picture: background, light and sleeves too. This is the case people report Teachable Machine failing at: "
     "train it and see how often it is wrong on photos it has not seen.", RPS,
     ("LICENSE", "ATTRIBUTION.md", "NOTICE.md")),
    ("rps-hands", "Rock, paper, scissors (hand pose)", "hands", "rps_real", ("rock", "paper", "scissors"), 30,
     "The same kind of photos as a Hand pose project: the model learns the shape of the hand from its 21 "
     "landmarks, so the background matters much less. Compare its test accuracy with the image example.", RPS,
     ("LICENSE", "ATTRIBUTION.md", "NOTICE.md")),
    ("clothing", "Clothing", "image", "clothing4", ("hat", "pants", "shoes", "t-shirt"), 20,
     "Home photos of hats, pants, shoes and t-shirts on floors, beds and hangers. Four classes that look very "
     "different: an image model learns them from a few examples each.", CLOTHING, ("LICENSE",)),
    ("yes-no", "Spoken yes and no", "audio", "speech_commands", ("yes", "no", "background_noise"), 30,
     "One-second clips of many different people saying yes or no, and a Background Noise class of room and "
     "street sounds. The model learns to tell the words apart and to ignore the noise.", SPEECH,
     ("LICENSE",)),
]


def choose(folder: Path, classes, n: int) -> tuple[list, list]:
    """``n`` files per class for the example and the rest (for the unseen accuracy), in a fixed random order."""
    picked, rest = [], []
    for c in classes:
        files = sorted(p for p in (folder / c).iterdir() if p.is_file())
        random.Random(f"{SEED}:{c}").shuffle(files)
        picked += [(c, f.name, f.read_bytes()) for f in files[:n]]
        rest += [(c, f.name, f.read_bytes()) for f in files[n:]]
    return picked, rest


def smaller(sample: Sample) -> Sample:
    """The same pixels (so the same id) in a smaller PNG."""
    if sample.png is None:
        return sample
    buf = io.BytesIO()
    Image.fromarray(png_pixels(sample.png)).save(buf, format="PNG", optimize=True)
    return Sample(sample.id, name=sample.name, group=sample.group, png=buf.getvalue())


def added(project: Project, items) -> None:
    errors = [r for r in project.add_files(items) if isinstance(r, InputError)]
    if errors:
        raise SystemExit(f"could not add: {errors[:3]}")


def build(name, title, kind, dataset, classes, n, about, attribution, licences) -> dict:
    picked, rest = choose(DATASETS / dataset / "train", classes, n)
    project = Project(kind, [])
    added(project, picked)
    for c in project.classes:
        c.samples[:] = [smaller(s) for s in c.samples]
    config = TrainConfig()
    settings = {"config": asdict(config), "encoder": default_encoder(kind), "augment": False, "keep_missing": False}
    for f in licences:
        target = FOLDER / "licenses" / dataset / f
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(DATASETS / dataset / f, target)

    encoder = get_encoder(default_encoder(kind))
    sess = Session(project=project, config=config, encoder_name=encoder.name)
    t0 = time.perf_counter()
    rec = workflow.train(sess, workflow.prepare(project, sess.cache, encoder, config), config)
    seconds = time.perf_counter() - t0
    embeddings = {}
    if kinds.is_keypoint(kind):  # finding 90 hands takes 30-50 s on a busy 2-core server: kept as "Save project" does
        for s in project.dataset().samples:  # and the raw keypoints, which the galleries draw
            keypoints.sample_keypoints(sess.cache, encoder.name, s.id, lambda s=s: s.data, lambda: encoder)
        embeddings = {k: v for k, v in sess.cache.export().items() if v[1].ndim == 2}
    path = FOLDER / f"{name}{SUFFIX}"
    path.write_bytes(save(ProjectFile(project, settings, [], None, embeddings)))
    unseen = Project(kind, [])
    added(unseen, rest)
    ds = unseen.dataset()
    cache = FeatureCache()
    cache.embed(encoder, ds.samples)
    order = [rec.run.class_names.index(c) for c in ds.class_names]
    labels = np.array([order[i] for i in ds.labels])
    ev = evaluate(rec.run.head.predict_proba(cache.matrix(encoder.name, ds.samples)), labels, rec.run.class_names)
    row = {"name": name, "title": title, "kind": kind, "about": about, "attribution": attribution,
           "classes": project.counts(), "held_out_accuracy": round(rec.evaluation.accuracy, 4),
           "unseen_accuracy": round(ev.accuracy, 4), "unseen": len(ds.samples),
           "megabytes": round(path.stat().st_size / 1e6, 2)}
    print(f"{name:10} {row['megabytes']:5.2f} MB  {sum(row['classes'].values()):4} samples  "
          f"held-out {row['held_out_accuracy']:.2f} ({len(rec.run.split.test)} samples)  "
          f"unseen {row['unseen_accuracy']:.2f} ({row['unseen']})  embed+train {seconds:.1f} s", flush=True)
    return row


SETS = {
    "rps_real": ("CDLA-Sharing-1.0", "Roboflow Universe \"Rock Paper Scissors SXSW\" (Roboflow, Inc.), hand crops as "
                 "published in github.com/tsyurii/kaust-dsa299-rps-dataset @ 78d6481c", "ATTRIBUTION.md, NOTICE.md, "
                 "LICENSE", "Re-published under the same licence (CDLA-Sharing-1.0). Changes: a selection of 30 photos "
                 "per class, each centre-cropped (image) or padded (hand pose) to a square, resized, saved as PNG."),
    "clothing4": ("CC0 1.0", "github.com/alexeygrigorev/clothing-dataset-small @ 11961516 (Alexey Grigorev and "
                  "contributors)", "LICENSE", "Public domain. Changes: a selection of 20 photos per class, "
                  "centre-cropped to squares, resized, saved as PNG."),
    "speech_commands": ("CC BY 4.0", "Speech Commands v0.02 test set, Pete Warden (Google), 2018, "
                        "https://arxiv.org/abs/1804.03209", "LICENSE", "Changes: a selection of 30 clips of \"yes\", "
                        "\"no\" and background noise, saved as 1-second 32-bit float WAV in the project file."),
}
DATASET_OF = {spec[0]: spec[3] for spec in EXAMPLES}


def licences_text(rows: list[dict]) -> str:
    """LICENSES.md: per example, whose data, which licence, what was changed, and the measured accuracies."""
    out = ["# Example projects: where the data comes from\n",
           "Written by `tools/make_examples.py`, which builds the examples from `../shared/datasets` (files "
           "byte-identical to the published ones). The licence texts are in `licenses/<data set>/`.\n",
           "| example | samples | held-out accuracy (app, default settings) | accuracy on unseen files | size |",
           "|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['title']} | {sum(r['classes'].values())} ({', '.join(r['classes'])}) | "
                   f"{r['held_out_accuracy']:.2f} | {r['unseen_accuracy']:.2f} ({r['unseen']} files) | "
                   f"{r['megabytes']:.1f} MB |")
    for r in rows:
        licence, source, files, changes = SETS[DATASET_OF[r["name"]]]
        out += [f"\n## {r['title']} (`{r['name']}{SUFFIX}`)\n", f"- Licence: {licence} "
                f"(`licenses/{DATASET_OF[r['name']]}/`: {files})", f"- Source: {source}", f"- {changes}",
                f"- Shown in the app when opened: {r['attribution']}"]
    return "\n".join(out) + "\n"


def main(names: list[str]) -> None:
    rows = {r["name"]: r for r in (json.loads(INDEX.read_text()) if INDEX.exists() else [])}
    for spec in EXAMPLES:
        if not names or spec[0] in names:
            rows[spec[0]] = build(*spec)
    ordered = [rows[s[0]] for s in EXAMPLES if s[0] in rows]
    INDEX.write_text(json.dumps(ordered, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    (FOLDER / "LICENSES.md").write_text(licences_text(ordered), encoding="utf-8")
    total = sum(p.stat().st_size for p in FOLDER.rglob("*") if p.is_file() and "__pycache__" not in p.parts) / 1e6
    print(f"tm_core/examples: {total:.1f} MB in all")


if __name__ == "__main__":
    main(sys.argv[1:])
