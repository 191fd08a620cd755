"""A whole project as one file: a zip with a versioned ``manifest.json``, every sample, and the runs.

    manifest.json              format, version, kind, classes (samples, test-only marks), settings, runs
    samples/<class uid>/<id>.png   image, pose and hand samples, lossless
    samples/<class uid>/<id>.wav   audio samples: 1 s of 32-bit float, lossless
    runs/<n>/head.npz          a run's trained head (w1, b1, w2, float32)
    runs/<n>/finetuned.npz     a run whose backbone's last block was fine-tuned: those layers' weights
    runs/<n>/features.npz      ... and its network's embedding of each of its samples (x)
    features/<n>.npz           embeddings of the samples by one encoder (ids, x): reopening needs no backbone

Opening checks everything before it touches anything: the zip, the manifest's fields and types,
every member's path, size and presence, and each sample's content against its id (a content hash:
a changed pixel is caught). A file that fails is refused with an :class:`InputError` that says
what is wrong; the caller's current project is never modified (a new Project is returned).
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import asdict, dataclass, field, fields
from typing import Callable

import numpy as np

from tm_core import limits
from tm_core.errors import InputError
from tm_core.project import KINDS, Project, ProjectClass, Sample, png_bytes, png_pixels, sample_id
from tm_core.training import EpochStats, Head, Run, Split, TrainConfig

FORMAT = "teachable-studio-project"
VERSION = 1
SUFFIX = ".tmproject.zip"
MAX_FILE_BYTES = limits.PROJECT_FILE_BYTES  # the whole project file (TM_MAX_PROJECT_FILE_MB)
MAX_MEMBERS = 100_000
MAX_MANIFEST_BYTES = 50 * 1024**2
MAX_SAMPLE_BYTES = 4 * 1024**2  # a 256-pixel PNG or a 1-second float WAV is far below this
MAX_HEAD_BYTES = 256 * 1024**2
SAMPLE_SHAPES = {"image": (224, 224, 3), "pose": (256, 256, 3), "hands": (256, 256, 3), "audio": (16_000,)}
_DATE = (2026, 1, 1, 0, 0, 0)  # one fixed date in the zip: the same project saves to the same bytes
_ID = re.compile(r"[0-9a-f]{16}")
_LAYER = re.compile(r"[A-Za-z0-9_]{1,100}")
_SEP = "::"  # in finetuned.npz: "<layer name>::<index of the layer's weight>"
_UID = re.compile(r"[0-9A-Za-z_-]{1,64}")


@dataclass
class SavedRun:
    """A run as a project file keeps it: the run, its encoder, and which samples (by id, in the
    order training saw them) with which labels it was trained and tested on."""

    label: str
    encoder: str
    run: Run
    sample_ids: list[str]
    labels: np.ndarray
    finetuned: object | None = None  # tm_core.finetune.FineTuned: the backbone's last block was fine-tuned
    features: np.ndarray | None = None  # with ``finetuned``: the fine-tuned network's embedding of each sample


@dataclass
class ProjectFile:
    project: Project
    settings: dict = field(default_factory=dict)  # e.g. {"config": {...}, "encoder": "...", "augment": false}
    runs: list[SavedRun] = field(default_factory=list)
    current: int | None = None  # index into runs of the model the Test page uses
    features: dict[str, tuple[list[str], np.ndarray]] = field(default_factory=dict)  # encoder → (sample ids, rows)


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


# --- opening -------------------------------------------------------------------------------------------

class _Broken(Exception):
    """Why the file cannot be opened (turned into an InputError naming the file)."""


def _need(ok: bool, why: str) -> None:
    if not ok:
        raise _Broken(why)


def _typed(obj: dict, key: str, types, where: str):
    """``obj[key]``, checked to be one of ``types`` (a JSON true/false is not a number here)."""
    types = types if isinstance(types, tuple) else (types,)
    _need(isinstance(obj, dict), f"{where} is not a JSON object")
    _need(key in obj, f"{where} has no \"{key}\"")
    value = obj[key]
    _need(isinstance(value, types) and (bool in types or not isinstance(value, bool)),
          f"\"{key}\" in {where} has the wrong type ({type(value).__name__})")
    return value


def _read(z: zipfile.ZipFile, infos: dict[str, zipfile.ZipInfo], path: str, limit: int) -> bytes:
    _need(isinstance(path, str) and path in infos, f"the member {path!r} named in the manifest is missing")
    info = infos[path]
    _need(info.file_size <= limit, f"{path} is too large ({info.file_size} bytes; at most {limit})")
    with z.open(info) as f:
        data = f.read(limit + 1)
    _need(len(data) <= limit, f"{path} unpacks to more than {limit} bytes")
    return data


def _decode_sample(kind: str, blob: bytes, path: str) -> np.ndarray:
    try:
        if kind == "audio":
            import soundfile as sf

            data, rate = sf.read(io.BytesIO(blob), dtype="float32", always_2d=False)
            _need(rate == 16_000, f"{path} is not 16 kHz")
        else:
            from PIL import Image

            with Image.open(io.BytesIO(blob)) as img:
                _need(img.format == "PNG", f"{path} is not a PNG picture")
                _need(img.width * img.height <= 256 * 256, f"{path} is larger than a sample can be")
            data = png_pixels(blob)  # as Sample.data decodes it, so the id checked here is the one it shows
    except _Broken:
        raise
    except Exception as exc:  # noqa: BLE001 - Pillow and libsndfile raise many kinds
        raise _Broken(f"{path} cannot be decoded ({type(exc).__name__})") from exc
    _need(data.shape == SAMPLE_SHAPES[kind], f"{path} has the wrong size for a {kind} sample ({data.shape})")
    return data


class _Folder:
    """What ``_open`` reads besides a zip's bytes: any object with ZipFile's ``infolist()`` and
    ``open(info)`` (the server's project folders, ``tm_core.store``), seen through those two methods."""

    def __init__(self, members):
        self.infolist, self.open = members.infolist, members.open


def _open(source: bytes | _Folder) -> ProjectFile:
    if isinstance(source, _Folder):
        z = source
        infos = {i.filename: i for i in z.infolist()}
        _need(bool(infos), "it is empty")
        _need(sum(i.file_size for i in infos.values()) <= MAX_FILE_BYTES, f"it is larger than {MAX_FILE_BYTES // 1024**2} MB")
    else:
        _need(len(source) > 0, "it is empty")
        _need(len(source) <= MAX_FILE_BYTES, f"it is larger than {MAX_FILE_BYTES // 1024**2} MB")
        try:
            z = zipfile.ZipFile(io.BytesIO(source))
            infos = {i.filename: i for i in z.infolist()}
        except Exception as exc:  # noqa: BLE001 - BadZipFile, and OSError/ValueError on crafted files
            raise _Broken("it is not a zip file, or it is damaged" if source[:2] == b"PK" else "it is not a zip file") from exc
    _need(len(infos) <= MAX_MEMBERS, f"it has more than {MAX_MEMBERS} files inside")
    for name, info in infos.items():
        parts = name.replace("\\", "/").split("/")
        _need(not name.startswith(("/", "\\")) and ".." not in parts and not re.match(r"[A-Za-z]:", name),
              f"it holds a file with an unsafe path ({name!r})")
        _need(not info.flag_bits & 0x1, "it holds a password-protected file")
    _need("manifest.json" in infos, "it has no manifest.json: it is not a Teachable Studio project file")
    try:
        manifest = json.loads(_read(z, infos, "manifest.json", MAX_MANIFEST_BYTES))
    except ValueError as exc:
        raise _Broken(f"its manifest.json is not valid JSON ({exc})") from exc
    _need(isinstance(manifest, dict), "its manifest.json is not a JSON object")
    _need(manifest.get("format") == FORMAT, "its manifest.json is not a Teachable Studio project manifest")
    version = manifest.get("version")
    _need(isinstance(version, int) and not isinstance(version, bool), "its manifest has no format version")
    _need(version <= VERSION, f"it was saved by a newer Teachable Studio (project format {version}); this one "
                              f"opens format {VERSION} and older: update the app to open it")
    _need(version >= 1, f"project format {version} does not exist")
    kind = _typed(manifest, "kind", str, "the manifest")
    _need(kind in KINDS, f"its kind {kind!r} is not one of {', '.join(KINDS)}")

    project = Project(kind, [])
    entries = _typed(manifest, "classes", list, "the manifest")
    total = sum(len(c["samples"]) for c in entries if isinstance(c, dict) and isinstance(c.get("samples"), list))
    _need(total <= project.max_samples, f"it holds {total:,} samples, more than the {project.max_samples:,} a project "
                                        "can hold here (TM_MAX_SAMPLES on the server)")
    for ci, c in enumerate(entries):
        where = f"class {ci + 1}"
        name = _typed(c, "name", str, where)
        uid = _typed(c, "uid", str, where)
        _need(bool(_UID.fullmatch(uid)), f"{where} has a malformed uid")
        _need(all(u.uid != uid for u in project.classes), f"{where} repeats the uid of another class")
        try:
            project._check_new_name(name)
        except InputError as e:
            raise _Broken(f"{where}: {e}") from None
        cls = ProjectClass(name, enabled=_typed(c, "enabled", bool, where),
                           uid=uid, background=_typed(c, "background", bool, where))
        _need(not cls.background or (kind == "audio" and project.background is None),
              f"{where} is marked Background Noise where it cannot be")
        for si, s in enumerate(_typed(c, "samples", list, where)):
            here = f"sample {si + 1} of {name!r}"
            sid, path = _typed(s, "id", str, here), _typed(s, "file", str, here)
            _need(bool(_ID.fullmatch(sid)), f"{here} has a malformed id")
            blob = _read(z, infos, path, MAX_SAMPLE_BYTES)
            data = _decode_sample(kind, blob, path)
            _need(sample_id(data) == sid, f"{path} does not match its id: the file was changed or damaged")
            _need(all(x.id != sid for x in cls.samples), f"{here} is in its class twice")
            origin, group = _typed(s, "name", str, here), _typed(s, "group", str, here)
            if kind == "audio":
                data.setflags(write=False)
                sample = Sample(sid, data, origin, group)
            else:  # the PNG bytes as read (checked above); re-encoded only if larger than the pixels (extra chunks)
                sample = Sample(sid, name=origin, group=group, png=blob if len(blob) <= data.nbytes else png_bytes(data))
            cls.samples.append(sample)
            if _typed(s, "test_only", bool, here):
                cls.test_only.add(sid)
        project.classes.append(cls)
    _need(kind != "audio" or project.background is not None, "the audio project has no Background Noise class")

    settings = manifest.get("settings", {})
    _need(isinstance(settings, dict), "its settings are not a JSON object")
    known = {s.id for c in project.classes for s in c.samples}
    runs = [_open_run(z, infos, i, r, known) for i, r in enumerate(_typed(manifest, "runs", list, "the manifest"))]
    current = manifest.get("current")
    _need(current is None or (isinstance(current, int) and not isinstance(current, bool) and 0 <= current < len(runs)),
          "its current model points at no run")
    features = {}
    for fi, f in enumerate(manifest.get("features", [])):
        where = f"embeddings {fi + 1}"
        name, path = _typed(f, "encoder", str, where), _typed(f, "file", str, where)
        try:
            with np.load(io.BytesIO(_read(z, infos, path, MAX_HEAD_BYTES)), allow_pickle=False) as npz:
                ids, x = [str(i) for i in npz["ids"]], np.asarray(npz["x"], np.float32)
        except _Broken:
            raise
        except Exception as exc:  # noqa: BLE001 - not an npz, missing arrays, pickled objects
            raise _Broken(f"{path} cannot be read ({type(exc).__name__})") from exc
        _need(x.ndim == 2 and len(x) == len(ids) and np.isfinite(x).all(), f"{path} holds malformed embeddings")
        _need(all(i in known for i in ids), f"{path} has embeddings of samples that are not in the project")
        features[name] = (ids, x)
    return ProjectFile(project, settings, runs, current, features)


def _config(raw: dict, where: str, kind=TrainConfig):
    _need(isinstance(raw, dict), f"the settings of {where} are not a JSON object")
    names = {f.name for f in fields(kind)}
    try:  # settings added by later versions are ignored; missing ones take their defaults
        return kind(**{k: v for k, v in raw.items() if k in names}).validate()
    except (InputError, TypeError, ValueError) as e:
        raise _Broken(f"the settings of {where} are not valid ({e})") from None


def _history(obj: dict, where: str) -> list[EpochStats]:
    history = []
    for h in _typed(obj, "history", list, where):
        try:
            history.append(EpochStats(**{f.name: h[f.name] for f in fields(EpochStats)}))
        except (KeyError, TypeError) as e:
            raise _Broken(f"{where} has a malformed epoch ({e})") from None
    return history


def _open_run(z, infos, i: int, r: dict, known: set[str]) -> SavedRun:
    where = f"run {i + 1}"
    config = _config(_typed(r, "config", dict, where), where)
    class_names = _typed(r, "class_names", list, where)
    _need(len(class_names) >= 2 and all(isinstance(n, str) for n in class_names), f"{where} has bad class names")
    ids = _typed(r, "samples", list, where)
    labels = _typed(r, "labels", list, where)
    _need(all(isinstance(s, str) and s in known for s in ids), f"{where} names samples that are not in the project")
    _need(len(labels) == len(ids) and all(isinstance(x, int) and 0 <= x < len(class_names) for x in labels),
          f"{where} has bad labels")
    n = len(ids)
    parts = []
    for key in ("train", "test"):
        idx = _typed(r, key, list, where)
        _need(all(isinstance(x, int) and not isinstance(x, bool) and 0 <= x < n for x in idx),
              f"{where}'s {key} part points outside its samples")
        parts.append(np.array(idx, np.int64))
    how = _typed(r, "how", dict, where) if "how" in r else {}
    history = _history(r, where)
    blob = _read(z, infos, _typed(r, "head", str, where), MAX_HEAD_BYTES)
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
            w1, b1, w2 = (np.asarray(npz[k], np.float32) for k in ("w1", "b1", "w2"))
    except Exception as exc:  # noqa: BLE001 - not an npz, missing arrays, pickled objects
        raise _Broken(f"the head of {where} cannot be read ({type(exc).__name__})") from exc
    _need(w1.ndim == 2 and b1.shape == (w1.shape[1],) and w2.shape == (w1.shape[1], len(class_names)),
          f"the head of {where} has inconsistent shapes")
    _need(all(np.isfinite(w).all() for w in (w1, b1, w2)), f"the head of {where} holds invalid numbers")
    info = r.get("info", {})
    _need(isinstance(info, dict), f"{where}'s info is not a JSON object")
    epochs = {h.epoch for h in history}
    marks = {}
    for key in ("early_stopped_at", "kept_epoch"):
        value = r.get(key)
        _need(value is None or (isinstance(value, int) and value in epochs), f"{where}'s {key} is not one of its epochs")
        marks[key] = value
    run = Run(config, list(class_names), history, Head(w1, b1, w2),
              Split(parts[0], parts[1], {int(k): v for k, v in how.items() if str(k).isdigit()}),
              bool(r.get("stopped", False)), float(r.get("seconds", 0.0)), info, **marks)
    saved = SavedRun(_typed(r, "label", str, where), _typed(r, "encoder", str, where), run, list(ids),
                     np.array(labels, np.int64))
    if "finetuned" in r:
        saved.finetuned, saved.features = _open_finetuned(z, infos, _typed(r, "finetuned", dict, where), where, saved)
    return saved


def _open_finetuned(z, infos, f: dict, where: str, saved: SavedRun):
    from tm_core.finetune import FineTuneConfig, FineTuned

    where = f"the fine-tuned block of {where}"
    _need(bool(_LAYER.fullmatch(_typed(f, "start_layer", str, where))), f"{where} names a malformed layer")
    config = _config(_typed(f, "config", dict, where), where, FineTuneConfig)
    history = _history(f, where)
    weights: dict[str, list[tuple[int, np.ndarray]]] = {}
    try:
        with np.load(io.BytesIO(_read(z, infos, _typed(f, "weights", str, where), MAX_HEAD_BYTES)),
                     allow_pickle=False) as npz:
            for key in npz.files:
                layer, _, k = key.partition(_SEP)
                _need(bool(_LAYER.fullmatch(layer)) and k.isdigit(), f"{where} holds a malformed weight name")
                weights.setdefault(layer, []).append((int(k), np.asarray(npz[key], np.float32)))
        with np.load(io.BytesIO(_read(z, infos, _typed(f, "features", str, where), MAX_HEAD_BYTES)),
                     allow_pickle=False) as npz:
            x = np.asarray(npz["x"], np.float32)
    except _Broken:
        raise
    except Exception as exc:  # noqa: BLE001 - not an npz, missing arrays, pickled objects
        raise _Broken(f"{where} cannot be read ({type(exc).__name__})") from exc
    _need(bool(weights) and all(np.isfinite(w).all() for ws in weights.values() for _, w in ws),
          f"{where} holds no weights or invalid numbers")
    _need(all(sorted(k for k, _ in ws) == list(range(len(ws))) for ws in weights.values()),
          f"{where} misses some of a layer's weights")
    _need(x.shape == (len(saved.sample_ids), saved.run.head.w1.shape[0]) and np.isfinite(x).all(),
          f"{where} has embeddings that do not fit its samples and head")
    tuned = FineTuned(saved.encoder, f["start_layer"], {layer: [w for _, w in sorted(ws, key=lambda t: t[0])]
                                                        for layer, ws in weights.items()},
                      saved.run.head, config, history, bool(f.get("stopped", False)), float(f.get("seconds", 0.0)))
    return tuned, x


def open_project(source: bytes, name: str = "project file") -> ProjectFile:
    """Read a project file; ``InputError`` (naming ``name``) says why one cannot be opened."""
    try:
        return _open(bytes(source))
    except _Broken as e:
        raise InputError(name, f"cannot be opened: {e}") from None


def open_members(members, name: str = "saved project") -> ProjectFile:
    """Read a project from ``members``, any object with ZipFile's ``infolist()`` (ZipInfo with the
    member's path and ``file_size``) and ``open(info)`` (a binary file); every check ``open_project``
    makes. ``InputError`` (naming ``name``) says why it cannot be opened; OSError from ``members``
    passes through."""
    try:
        return _open(_Folder(members))
    except _Broken as e:
        raise InputError(name, f"cannot be opened: {e}") from None
