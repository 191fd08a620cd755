"""A whole project as one file: a zip with a versioned ``manifest.json``, every sample, and the runs.

    manifest.json              format, version, kind, classes (samples, test-only marks), settings, runs
    samples/<class uid>/<id>.png   image, pose and hand samples, lossless
    samples/<class uid>/<id>.wav   audio samples: 1 s of 32-bit float, lossless
    runs/<n>/head.npz          a run's trained head (w1, b1, w2, float32)
    runs/<n>/finetuned.npz     a run whose backbone's last block was fine-tuned: those layers' weights
    runs/<n>/features.npz      ... and its network's embedding of each of its samples (x)
    features/<n>.npz           embeddings of the samples by one encoder (ids, x): reopening needs no backbone

Opening (:mod:`tm_core.project_reader`) checks everything before it touches anything, within bounds:
the zip, the manifest's fields and types, every member's path, size and presence, the shapes of every
array, and each sample's content against its id (a content hash: a changed pixel is caught). A file
that fails is refused with an :class:`InputError` that says what is wrong; the caller's current
project is never modified (a new Project is returned).
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import numpy as np

from tm_core.errors import InputError
from tm_core.project import Sample, png_bytes
from tm_core.project_reader import (  # noqa: F401 - the reader's names, as they were here
    _SEP,
    FORMAT,
    MAX_FILE_BYTES,
    VERSION,
    ProjectFile,
    SavedRun,
    _Broken,
    _open,
    open_source,
)

SUFFIX = ".tmproject.zip"
_DATE = (2026, 1, 1, 0, 0, 0)  # one fixed date in the zip: the same project saves to the same bytes


# --- saving --------------------------------------------------------------------------------------------

def _sample_bytes(kind: str, sample: Sample) -> tuple[str, bytes]:
    """A sample's member: a picture's PNG bytes as the sample holds them (no re-encoding), audio as float WAV."""
    if kind == "audio":
        import soundfile as sf

        buf = io.BytesIO()
        sf.write(buf, np.asarray(sample.data, np.float32), 16_000, format="WAV", subtype="FLOAT")
        return "wav", buf.getvalue()
    return "png", sample.png if sample.png is not None else png_bytes(sample.data)


def _run_entry(i: int, saved: SavedRun) -> dict:
    r = saved.run
    return {
        "label": saved.label,
        "encoder": saved.encoder,
        "config": asdict(r.config),
        "class_names": list(r.class_names),
        "history": [asdict(h) for h in r.history],
        "stopped": bool(r.stopped),
        "seconds": float(r.seconds),
        "info": r.info,
        "early_stopped_at": r.early_stopped_at,
        "kept_epoch": r.kept_epoch,
        "samples": list(saved.sample_ids),
        "labels": [int(x) for x in saved.labels],
        "train": [int(x) for x in r.split.train],
        "test": [int(x) for x in r.split.test],
        "how": {str(k): v for k, v in r.split.how.items()},
        "head": f"runs/{i}/head.npz",
        **({"finetuned": _finetuned_entry(i, saved.finetuned)} if saved.finetuned is not None else {}),
    }


def _finetuned_entry(i: int, ft) -> dict:
    return {"start_layer": ft.start_layer, "config": asdict(ft.config), "history": [asdict(h) for h in ft.history],
            "stopped": bool(ft.stopped), "seconds": float(ft.seconds),
            "weights": f"runs/{i}/finetuned.npz", "features": f"runs/{i}/features.npz"}


def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def contents(pf: ProjectFile) -> tuple[dict, dict[str, Callable[[], bytes]]]:
    """The manifest and every other member (path → a function giving its bytes; samples are encoded
    only when asked, so a folder that already holds a sample's file does not encode it again)."""
    p = pf.project
    members: dict[str, Callable[[], bytes]] = {}
    classes = []
    for cls in p.classes:
        entries = []
        for s in cls.samples:
            path = f"samples/{cls.uid}/{s.id}.{'wav' if p.kind == 'audio' else 'png'}"
            members[path] = lambda s=s: _sample_bytes(p.kind, s)[1]
            entries.append({"id": s.id, "file": path, "name": s.name, "group": s.group,
                            "test_only": s.id in cls.test_only})
        classes.append({"name": cls.name, "uid": cls.uid, "enabled": cls.enabled, "background": cls.background,
                        "samples": entries})
    runs = []
    for i, saved in enumerate(pf.runs):
        entry = _run_entry(i, saved)
        buf = io.BytesIO()
        h = saved.run.head
        np.savez(buf, w1=h.w1.astype(np.float32), b1=h.b1.astype(np.float32), w2=h.w2.astype(np.float32))
        members[entry["head"]] = lambda blob=buf.getvalue(): blob
        if saved.finetuned is not None:
            ft = saved.finetuned
            members[entry["finetuned"]["weights"]] = lambda ft=ft: _npz(**{
                f"{layer}{_SEP}{k}": np.asarray(w, np.float32) for layer, ws in ft.weights.items() for k, w in enumerate(ws)})
            members[entry["finetuned"]["features"]] = lambda x=saved.features: _npz(x=np.asarray(x, np.float32))
        runs.append(entry)
    known = {s.id for c in p.classes for s in c.samples}
    saved_features = []
    for i, (encoder_name, (ids, x)) in enumerate(pf.features.items()):
        keep = [j for j, sid in enumerate(ids) if sid in known]  # embeddings of deleted samples are not saved
        buf = io.BytesIO()
        np.savez(buf, ids=np.array([ids[j] for j in keep], "<U16"), x=np.asarray(x, np.float32)[keep])
        members[f"features/{i}.npz"] = lambda blob=buf.getvalue(): blob
        saved_features.append({"encoder": encoder_name, "file": f"features/{i}.npz"})
    manifest = {"format": FORMAT, "version": VERSION, "kind": p.kind, "classes": classes,
                "settings": pf.settings, "runs": runs, "current": pf.current, "features": saved_features}
    return manifest, members


def manifest_text(manifest: dict) -> str:
    return json.dumps(manifest, indent=1, default=_json_default)


def save(pf: ProjectFile) -> bytes:
    """The project file's bytes (see the module's docstring for the layout)."""
    manifest, members = contents(pf)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(zipfile.ZipInfo("manifest.json", _DATE), manifest_text(manifest), compress_type=zipfile.ZIP_DEFLATED)
        for path, blob in members.items():  # PNG and WAV data: stored, compressing again gains nothing
            z.writestr(zipfile.ZipInfo(path, _DATE), blob(),
                       compress_type=zipfile.ZIP_DEFLATED if path.endswith((".wav", ".npz")) else zipfile.ZIP_STORED)
    return out.getvalue()


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"{type(o).__name__} cannot be saved in a project file")


# --- the server's folder copy (tm_core.store) -----------------------------------------------------------

class _Folder:
    """A project kept as a folder (the zip's members as files, see tm_core.store), read through the
    two ZipFile methods ``_open`` uses. Symbolic links are not followed; unfinished writes are skipped."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._infos = []
        for dirpath, _dirs, files in os.walk(self.root):
            for f in files:
                full = Path(dirpath, f)
                if f.endswith(PARTIAL) or full.is_symlink() or not full.is_file():
                    continue
                info = zipfile.ZipInfo(full.relative_to(self.root).as_posix())
                info.file_size = full.stat().st_size
                self._infos.append(info)

    def infolist(self) -> list[zipfile.ZipInfo]:
        return self._infos

    def open(self, info: zipfile.ZipInfo):
        return (self.root / info.filename).open("rb")


PARTIAL = ".partial"  # a member being written (renamed into place when complete)


def open_project(source: bytes, name: str = "project file") -> ProjectFile:
    """Read a project file; ``InputError`` (naming ``name``) says why one cannot be opened."""
    return open_source(bytes(source), name)


def open_folder(root: Path, name: str = "saved project") -> ProjectFile:
    """Read a project kept as a folder (``write_folder``), with every check ``open_project`` makes."""
    try:
        return _open(_Folder(root))
    except _Broken as e:
        raise InputError(name, f"cannot be opened: {e}") from None
    except OSError as e:
        raise InputError(name, f"cannot be read ({e.strerror or type(e).__name__})") from None


def write_folder(pf: ProjectFile, root: Path, previous: dict[str, str] | None = None) -> dict[str, str]:
    """Keep ``pf`` in the folder ``root``, with the zip's layout: write the members that are new or
    changed, then the manifest (each renamed into place, so a crash leaves the last complete
    state), then remove the members it no longer names.

    A sample's file name is its content id, so one that is there is never encoded again. Other
    members are compared with ``previous`` (path → digest, what the last call returned) or, when it
    has none, with the file there; returns the digests now on disk.
    """
    import hashlib

    root = Path(root)
    manifest, members = contents(pf)
    digests: dict[str, str] = {}
    for path, blob in members.items():
        target = root / path
        if path.startswith("samples/"):
            if not target.is_file():
                _write(target, blob())
            continue
        data = blob()
        digests[path] = hashlib.sha256(data).hexdigest()
        if not target.is_file():
            _write(target, data)
            continue
        before = (previous or {}).get(path) or hashlib.sha256(target.read_bytes()).hexdigest()
        if before != digests[path]:
            _write(target, data)
    _write(root / "manifest.json", manifest_text(manifest).encode())
    keep = set(members) | {"manifest.json"}
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            full = Path(dirpath, f)
            if full.relative_to(root).as_posix() not in keep:
                full.unlink(missing_ok=True)
    return digests


def _write(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + PARTIAL)
    partial.write_bytes(data)
    os.replace(partial, target)

