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
import zipfile
from collections.abc import Callable
from dataclasses import asdict

import numpy as np

from tm_core.i18n import _
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
    """``np.savez``'s file with one fixed date inside (``np.savez`` stamps the current time): the same
    arrays give the same bytes, so the server's copy can name a head or embeddings by their hash."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for key, value in arrays.items():
            with z.open(zipfile.ZipInfo(f"{key}.npy", _DATE), "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asanyarray(value), allow_pickle=False)
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
        h = saved.run.head
        head = _npz(w1=h.w1.astype(np.float32), b1=h.b1.astype(np.float32), w2=h.w2.astype(np.float32))
        members[entry["head"]] = lambda blob=head: blob
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
        rows = _npz(ids=np.array([ids[j] for j in keep], "<U16"), x=np.asarray(x, np.float32)[keep])
        members[f"features/{i}.npz"] = lambda blob=rows: blob
        saved_features.append({"encoder": encoder_name, "file": f"features/{i}.npz"})
    manifest = {"format": FORMAT, "version": VERSION, "kind": p.kind, "classes": classes,
                "settings": pf.settings, "runs": runs, "current": pf.current, "features": saved_features}
    return manifest, members


def manifest_text(manifest: dict, indent: int | None = 1) -> str:
    """The manifest as JSON; ``indent=None``: one line, written by json's C encoder (many times faster)."""
    return json.dumps(manifest, indent=indent, default=_json_default)


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


# --- opening (tm_core.project_reader) ---------------------------------------------------------------

def open_project(source: bytes, name: str | None = None) -> ProjectFile:
    """Read a project file; ``InputError`` (naming ``name``, else "project file") says why one cannot be opened."""
    return open_source(bytes(source), name or _("project file"))


def open_members(members, name: str | None = None) -> ProjectFile:
    """Read a project from ``members``, any object with ZipFile's ``infolist()`` (ZipInfo with the
    member's path and ``file_size``) and ``open(info)`` (a binary file), such as the server's folder
    copy (``tm_core.store``); every check ``open_project`` makes. ``InputError`` (naming ``name``) says
    why it cannot be opened; OSError from ``members`` passes through."""
    return open_source(members, name or _("saved project"))
