"""Real project files for the reader's tests: real photos and clips from ../shared/datasets, trained
heads and saved embeddings (built from seeded numbers: the reader never runs a network), and the
tools to take them apart and put them back together."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np

from tm_core.finetune import FineTuneConfig, FineTuned
from tm_core.project import BACKGROUND, Project
from tm_core.project_file import ProjectFile, SavedRun, save
from tm_core.training import TrainConfig, grouped_split, train

IMAGE_ENCODER = "mobilenet_v2_0.35"  # names as tm_core.encoders knows them (not loaded: no network runs here)
DIM = 48  # embedding size of the made-up features: the reader checks shapes, not values


def _runs(p: Project, encoder: str, seed: int, finetuned: bool) -> tuple[list[SavedRun], dict]:
    ds = p.dataset()
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(len(ds.samples), DIM)).astype(np.float32)
    split = grouped_split(ds.labels, 0.3, 0, ds.groups, ds.test_only)
    run = train(x, ds.labels, ds.class_names, TrainConfig(epochs=4, hidden_units=16, early_stopping=True,
                                                          patience=1), split=split)
    run.info["note"] = "kept"
    ids = [s.id for s in ds.samples]
    runs = [SavedRun("Run 1", encoder, run, ids, ds.labels)]
    run2 = train(x, ds.labels, ds.class_names, TrainConfig(epochs=3, hidden_units=8), split=split)
    saved2 = SavedRun("Run 2", encoder, run2, ids, ds.labels)
    if finetuned:
        weights = {"block_16_project": [rng.normal(size=(4, 4)).astype(np.float32)],
                   "Conv_1_bn": [rng.normal(size=4).astype(np.float32) for _ in range(2)]}
        saved2.finetuned = FineTuned(encoder, "block_16_project", weights, run2.head, FineTuneConfig(epochs=2),
                                     list(run2.history), False, 1.5)
        saved2.features = rng.normal(size=(len(ids), DIM)).astype(np.float32)
    runs.append(saved2)
    return runs, {encoder: (ids, x)}


def image_project(rps_train: Path, kind: str = "image", n: int = 2) -> bytes:
    p = Project(kind, ["rock", "paper", "scissors"])
    for c in ("rock", "paper", "scissors"):
        files = sorted((rps_train / c).iterdir())[:n]
        list(p.add_files((c, f.name, f.read_bytes()) for f in files))
    p.set_test_only("rock", p.get_class("rock").samples[0].id, True)
    runs, features = _runs(p, IMAGE_ENCODER if kind == "image" else "movenet_lightning", 1, kind == "image")
    settings = {"config": {"epochs": 4, "hidden_units": 16}, "encoder": IMAGE_ENCODER, "augment": True,
                "keep_missing": False}
    return save(ProjectFile(p, settings, runs, 1, features))


def audio_project(datasets_dir: Path) -> bytes:
    p = Project("audio")
    p.rename_class("Class 2", "yes")
    root = datasets_dir / "speech_commands" / "train"
    list(p.add_files(("yes", f.name, f.read_bytes()) for f in sorted((root / "yes").glob("*.wav"))[:2]))
    list(p.add_files((BACKGROUND, f.name, f.read_bytes()) for f in sorted((root / "no").glob("*.wav"))[:2]))
    runs, features = _runs(p, "yamnet_embedding", 2, False)
    return save(ProjectFile(p, {"encoder": "yamnet_embedding"}, runs, 0, features))


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {i.filename: z.read(i) for i in z.infolist()}


def pack(files: dict[str, bytes], compress: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compress) as z:
        for k, v in files.items():
            z.writestr(k, v)
    return out.getvalue()


def with_manifest(data: bytes, edit, compress: int = zipfile.ZIP_DEFLATED) -> bytes:
    """The file with ``edit(manifest)`` applied (it may return a replacement: a dict or raw bytes)."""
    files = members(data)
    manifest = json.loads(files["manifest.json"])
    out = edit(manifest)
    out = manifest if out is None else out
    files["manifest.json"] = out if isinstance(out, bytes) else json.dumps(out).encode()
    return pack(files, compress)


def npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()
