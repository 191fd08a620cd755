"""Opening a project file (or its server copy), bounded: every count, shape, type and size is checked
against the limits and against each other before anything is decoded, so any file within the
file-size limit either opens with memory proportional to its real content or is refused with the
reason. The layout is described in :mod:`tm_core.project_file`.

What is checked, in order: the zip's entry count from its end record (before the directory is
parsed), member paths and sizes (and, in a zip, how much each member inflates), the manifest's size,
nesting and number of objects before it is parsed, then every field's type. Each member is named
by the manifest at most once (two runs cannot share one head, two samples one file); sounds are
checked from their header before they are decoded; ``.npz`` arrays from their ``.npy`` headers
before they are loaded; heads against the class count and the embedding size every run and the
saved embeddings of the same network agree on. Settings keep only known keys of the right types.
"""

from __future__ import annotations

import io
import math
import re
import zipfile
from dataclasses import asdict, dataclass, field, fields

import numpy as np

from tm_core import bounded, limits
from tm_core.errors import InputError
from tm_core.i18n import _
from tm_core.project import (
    KINDS,
    Project,
    ProjectClass,
    Sample,
    png_bytes,
    png_pixels,
    sample_id,
)
from tm_core.training import EpochStats, Head, Run, Split, TrainConfig

FORMAT = "teachable-studio-project"
VERSION = 1
MAX_FILE_BYTES = limits.PROJECT_FILE_BYTES  # the whole project file (TM_MAX_PROJECT_FILE_MB)
MAX_RUNS = 1000
MAX_CLASSES = 1000
MAX_MEMBERS = max(20_000, limits.SAMPLES + 4 * MAX_RUNS + 64)
MAX_MANIFEST_BYTES = 32 * 1024**2
MAX_JSON_DEPTH = 32  # the manifest needs 6
MAX_JSON_CONTAINERS = 2_000_000  # objects and lists in the manifest: one per sample and per epoch, a few per run
MAX_SAMPLE_BYTES = 4 * 1024**2  # a 256-pixel PNG is far below this
MAX_SOUND_BYTES = 256 * 1024  # a 1-second float WAV is 64 KB
MAX_HEAD_BYTES = 256 * 1024**2
MAX_EMBEDDING_DIM = 4096  # the widest network here gives 1280 numbers (YAMNet 1024)
MAX_HIDDEN = 4096  # TrainConfig.hidden_units' limit
MAX_EPOCHS = 10_000  # TrainConfig.epochs' limit
MAX_INFLATION = 10  # a member may unpack to at most 10× its packed size (+64 KB): weights barely compress
MAX_TEXT = 1000  # characters in a label, an encoder name, a sample's name or group
SAMPLE_SHAPES = {"image": (224, 224, 3), "pose": (256, 256, 3), "hands": (256, 256, 3), "audio": (16_000,)}
_ID = re.compile(r"[0-9a-f]{16}")
_LAYER = re.compile(r"[A-Za-z0-9_]{1,100}")
_SEP = "::"  # in finetuned.npz: "<layer name>::<index of the layer's weight>"
_UID = re.compile(r"[0-9A-Za-z_-]{1,64}")
_SETTINGS = {"encoder": str, "augment": bool, "keep_missing": bool}  # and "config", validated


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
    notes: list[str] = field(default_factory=list)  # what opening left out, for the student (never saved)


class _Broken(Exception):
    """Why the file cannot be opened (turned into an InputError naming the file)."""


def _need(ok: bool, why) -> None:
    """Refuse the file unless ``ok``; ``why`` is the reason, or (for checks made once per sample) a function
    that makes it, so the reason is translated only when it is needed."""
    if not ok:
        raise _Broken(why() if callable(why) else why)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    """A finite JSON number (an integer within float range: 10**400 is not a number of seconds)."""
    if isinstance(v, float):
        return math.isfinite(v)
    return _is_int(v) and abs(v) < 2**63


def _typed(obj: dict, key: str, types, where: str):
    """``obj[key]``, checked to be one of ``types`` (a JSON true/false is not a number here)."""
    types = types if isinstance(types, tuple) else (types,)
    _need(isinstance(obj, dict), lambda: _("{where} is not a JSON object", where=where))
    _need(key in obj, lambda: _("{where} has no \"{key}\"", where=where, key=key))
    value = obj[key]
    _need(isinstance(value, types) and (bool in types or not isinstance(value, bool)),
          lambda: _("\"{key}\" in {where} has the wrong type ({type})", key=key, where=where, type=type(value).__name__))
    _need(not isinstance(value, str) or len(value) <= MAX_TEXT, lambda: _("\"{key}\" in {where} is too long", key=key, where=where))
    return value


def _optional(obj: dict, key: str, check, default, what: str, where: str):
    value = obj.get(key, default)
    _need(check(value), lambda: _("\"{key}\" in {where} is not {what}", key=key, where=where, what=what))
    return value


class _Members:
    """The file's members: each read at most once, within its size limit and (in a zip) inflation."""

    def __init__(self, z):
        self.z, self.infos, self.used = z, {i.filename: i for i in z.infolist()}, set()
        self.packed = isinstance(z, zipfile.ZipFile)  # a folder's files are their own size

    def read(self, path: str, limit: int, *, inflates: bool = False) -> bytes:
        _need(isinstance(path, str) and path in self.infos,
              lambda: _("the member {path} named in the manifest is missing", path=repr(str(path)[:200])))
        _need(path not in self.used, lambda: _("{path} is named twice in the manifest (each file belongs to one place)", path=path))
        self.used.add(path)
        info = self.infos[path]
        _need(info.file_size <= limit, lambda: _("{path} is too large ({size} bytes; at most {limit})", path=path,
                                         size=f"{info.file_size:,}", limit=f"{limit:,}"))
        _need(inflates or not self.packed or info.compress_type == zipfile.ZIP_STORED
              or info.file_size <= MAX_INFLATION * info.compress_size + 65536,
              lambda: _("{path} unpacks to {size} bytes from {packed}: it is not what Teachable Studio saves", path=path,
                size=f"{info.file_size:,}", packed=f"{info.compress_size:,}"))
        try:
            with self.z.open(info) as f:
                data = f.read(info.file_size + 1)
        except Exception as exc:  # noqa: BLE001 - BadZipFile (CRC), zlib, bz2 and lzma errors, EOFError...
            raise _Broken(_("{path} is damaged ({error})", path=path, error=type(exc).__name__)) from None
        _need(len(data) == info.file_size, lambda: _("{path} is damaged (it does not hold the size it declares)", path=path))
        return data

    def npz(self, path, want: dict, where: str) -> dict[str, np.ndarray]:
        blob = self.read(path, MAX_HEAD_BYTES)
        try:
            return bounded.load_npz(blob, want)
        except bounded.Refused as e:
            raise _Broken(_("{where} cannot be read ({path}: {why})", where=where, path=path, why=e)) from None


def _decode_sample(kind: str, blob: bytes, path: str) -> np.ndarray:
    try:
        if kind == "audio":
            import soundfile as sf

            with sf.SoundFile(io.BytesIO(blob)) as sound:  # the header first: a sample is 1 s, nothing longer is decoded
                _need(sound.format == "WAV" and sound.samplerate == 16_000 and sound.channels == 1
                      and sound.frames == SAMPLE_SHAPES["audio"][0],
                      lambda: _("{path} is not a 1-second 16 kHz WAV sample", path=path))
                data = sound.read(SAMPLE_SHAPES["audio"][0] + 1, dtype="float32", always_2d=False)
            _need(bool(np.isfinite(data).all()), lambda: _("{path} holds invalid sound values", path=path))
        else:
            from PIL import Image

            with Image.open(io.BytesIO(blob)) as img:
                _need(img.format == "PNG", lambda: _("{path} is not a PNG picture", path=path))
                _need(img.width * img.height <= 256 * 256, lambda: _("{path} is larger than a sample can be", path=path))
            data = png_pixels(blob)  # as Sample.data decodes it, so the id checked here is the one it shows
    except _Broken:
        raise
    except Exception as exc:
        raise _Broken(_("{path} cannot be decoded ({error})", path=path, error=type(exc).__name__)) from exc
    _need(data.shape == SAMPLE_SHAPES[kind], lambda: _("{path} has the wrong size for a {kind} sample ({shape})", path=path,
                                               kind=kind, shape=data.shape))
    return data


def _zip(source: bytes) -> zipfile.ZipFile:
    _need(len(source) > 0, lambda: _("it is empty"))
    _need(len(source) <= MAX_FILE_BYTES, lambda: _("it is larger than {n} MB", n=MAX_FILE_BYTES // 1024**2))
    try:
        return bounded.open_zip(source, MAX_MEMBERS)
    except bounded.Refused as e:
        raise _Broken(str(e) if source[:2] == b"PK" else _("it is not a zip file")) from None


def _manifest(m: _Members) -> dict:
    _need("manifest.json" in m.infos, lambda: _("it has no manifest.json: it is not a Teachable Studio project file"))
    try:
        manifest = bounded.load_json(m.read("manifest.json", MAX_MANIFEST_BYTES, inflates=True),
                                     max_bytes=MAX_MANIFEST_BYTES, max_depth=MAX_JSON_DEPTH,
                                     max_containers=MAX_JSON_CONTAINERS)
    except bounded.Refused as e:
        raise _Broken(_("its manifest.json cannot be used: {why}", why=e)) from None
    _need(isinstance(manifest, dict), lambda: _("its manifest.json is not a JSON object"))
    _need(manifest.get("format") == FORMAT, lambda: _("its manifest.json is not a Teachable Studio project manifest"))
    version = manifest.get("version")
    _need(_is_int(version), lambda: _("its manifest has no format version"))
    _need(version <= VERSION, lambda: _("it was saved by a newer Teachable Studio (project format {version}); this one opens "
                                "format {mine} and older: update the app to open it", version=version, mine=VERSION))
    _need(version >= 1, lambda: _("project format {version} does not exist", version=version))
    return manifest


def _open(source) -> ProjectFile:
    """Read ``source``: the file's bytes, or a zip-like object (``infolist()``, ``open(info)``) such as
    the server's folder copy."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        z = _zip(bytes(source))
        _need(sum(i.file_size for i in z.infolist()) <= MAX_FILE_BYTES,
              lambda: _("it unpacks to more than {n} MB", n=MAX_FILE_BYTES // 1024**2))
    else:
        z = source
        _need(len(z.infolist()) <= MAX_MEMBERS, lambda: _("it has more than {n} files inside", n=f"{MAX_MEMBERS:,}"))
        _need(sum(i.file_size for i in z.infolist()) <= MAX_FILE_BYTES,
              lambda: _("it is larger than {n} MB", n=MAX_FILE_BYTES // 1024**2))
    m = _Members(z)
    _need(bool(m.infos), lambda: _("it is empty"))
    _need(len(m.infos) <= MAX_MEMBERS, lambda: _("it has more than {n} files inside", n=f"{MAX_MEMBERS:,}"))
    for name, info in m.infos.items():
        parts = name.replace("\\", "/").split("/")
        _need(not name.startswith(("/", "\\")) and ".." not in parts and not re.match(r"[A-Za-z]:", name),
              _("it holds a file with an unsafe path ({path})", path=repr(name[:200])))
        _need(not info.flag_bits & 0x1, lambda: _("it holds a password-protected file"))
    manifest = _manifest(m)
    kind = _typed(manifest, "kind", str, _("the manifest"))
    _need(kind in KINDS, lambda: _("its kind {kind} is not one of {kinds}", kind=repr(kind), kinds=", ".join(KINDS)))
    project = _classes(m, kind, _typed(manifest, "classes", list, _("the manifest")))
    settings, notes = _settings(manifest.get("settings", {}))
    known = {s.id for c in project.classes for s in c.samples}
    raw_runs = _typed(manifest, "runs", list, _("the manifest"))
    _need(len(raw_runs) <= MAX_RUNS, lambda: _("it holds {n} runs, more than the {limit} it can", n=f"{len(raw_runs):,}",
                                       limit=f"{MAX_RUNS:,}"))
    dims: dict[str, int] = {}  # encoder → the embedding size its runs and embeddings agree on
    runs = [_open_run(m, i, r, known, len(project.classes), dims) for i, r in enumerate(raw_runs)]
    current = manifest.get("current")
    _need(current is None or (_is_int(current) and 0 <= current < len(runs)), lambda: _("its current model points at no run"))
    features = {}
    raw_features = manifest.get("features", [])
    _need(isinstance(raw_features, list) and len(raw_features) <= 64, lambda: _("its embeddings are not a list of a few"))
    for fi, f in enumerate(raw_features):
        where = _("embeddings {n}", n=fi + 1)
        name, path = _typed(f, "encoder", str, where), _typed(f, "file", str, where)
        _need(name not in features, _("{where} repeats the embeddings of {name}", where=where, name=name))
        arrays = m.npz(path, {"ids": ((-1,), "U"), "x": ((-1, dims.get(name, -1)), "f")}, where)
        ids, x = arrays["ids"], arrays["x"]
        _need(len(x) == len(ids) <= len(known) and 0 < x.shape[1] <= MAX_EMBEDDING_DIM,
              _("{path} holds malformed embeddings", path=path))
        ids = [str(i) for i in ids]
        _need(len(set(ids)) == len(ids) and all(i in known for i in ids),
              _("{path} has embeddings of samples that are not in the project, or twice", path=path))
        x = np.asarray(x, np.float32)
        _need(bool(np.isfinite(x).all()), _("{path} holds invalid numbers", path=path))
        features[name] = (ids, x)
    return ProjectFile(project, settings, runs, current, features, notes)


def _classes(m: _Members, kind: str, entries: list) -> Project:
    project = Project(kind, [])
    _need(len(entries) <= MAX_CLASSES, lambda: _("it holds {n} classes, more than the {limit} it can", n=f"{len(entries):,}",
                                         limit=f"{MAX_CLASSES:,}"))
    total = sum(len(c["samples"]) for c in entries if isinstance(c, dict) and isinstance(c.get("samples"), list))
    _need(total <= project.max_samples, lambda: _("it holds {n} samples, more than the {limit} a project can hold here "
                                          "(TM_MAX_SAMPLES on the server)", n=f"{total:,}",
                                          limit=f"{project.max_samples:,}"))
    uids = set()
    for ci, c in enumerate(entries):
        where = _("class {n}", n=ci + 1)
        name = _typed(c, "name", str, where)
        uid = _typed(c, "uid", str, where)
        _need(bool(_UID.fullmatch(uid)), _("{where} has a malformed uid", where=where))
        _need(uid not in uids, _("{where} repeats the uid of another class", where=where))
        uids.add(uid)
        try:
            project._check_new_name(name)
        except InputError as e:
            raise _Broken(f"{where}: {e}") from None
        cls = ProjectClass(name, enabled=_typed(c, "enabled", bool, where),
                           uid=uid, background=_typed(c, "background", bool, where))
        _need(not cls.background or (kind == "audio" and project.background is None),
              _("{where} is marked Background Noise where it cannot be", where=where))
        ids = set()
        for si, s in enumerate(_typed(c, "samples", list, where)):
            here = _("sample {n} of {cls}", n=si + 1, cls=repr(name))
            sid, path = _typed(s, "id", str, here), _typed(s, "file", str, here)
            _need(bool(_ID.fullmatch(sid)), _("{where} has a malformed id", where=here))
            _need(sid not in ids, _("{where} is in its class twice", where=here))
            ids.add(sid)
            origin, group = _typed(s, "name", str, here), _typed(s, "group", str, here)
            test_only = _typed(s, "test_only", bool, here)
            blob = m.read(path, MAX_SOUND_BYTES if kind == "audio" else MAX_SAMPLE_BYTES, inflates=kind == "audio")
            data = _decode_sample(kind, blob, path)
            _need(sample_id(data) == sid, _("{path} does not match its id: the file was changed or damaged", path=path))
            if kind == "audio":
                data.setflags(write=False)
                sample = Sample(sid, data, origin, group)
            else:  # the PNG bytes as read (checked above); re-encoded only if larger than the pixels (extra chunks)
                sample = Sample(sid, name=origin, group=group, png=blob if len(blob) <= data.nbytes else png_bytes(data))
            cls.samples.append(sample)
            if test_only:
                cls.test_only.add(sid)
        project.classes.append(cls)
    _need(kind != "audio" or project.background is not None, lambda: _("the audio project has no Background Noise class"))
    return project


def _settings(raw) -> tuple[dict, list[str]]:
    """Only the settings this version knows, of the right types (in their order), and notes. Training
    settings that are not valid are left out (the defaults are used, and a note says so): they are
    the student's next choice, not part of their work, so they never cost the project."""
    _need(isinstance(raw, dict), lambda: _("its settings are not a JSON object"))
    settings, notes = {}, []
    for k, v in raw.items():
        if k == "config":
            try:
                settings[k] = asdict(_config(v, _("the project")))
            except _Broken as e:
                notes.append(_("The training settings in the file were not used ({why}): the defaults are used.", why=e))
        elif k in _SETTINGS and isinstance(v, _SETTINGS[k]) and (not isinstance(v, str) or len(v) <= MAX_TEXT):
            settings[k] = v
    return settings, notes


def _config(raw: dict, where: str, kind=TrainConfig):
    _need(isinstance(raw, dict), lambda: _("the settings of {where} are not a JSON object", where=where))
    types = {f.name: type(f.default) for f in fields(kind)}
    for k, v in raw.items():  # settings added by later versions are ignored; missing ones take their defaults
        want = types.get(k)
        if want in (int, float):
            _need(_is_number(v) and (want is float or _is_int(v)),
                  _("the setting {key} of {where} is not a number", key=repr(k), where=where))
        elif want is not None:
            _need(isinstance(v, want), _("the setting {key} of {where} has the wrong type", key=repr(k), where=where))
    try:
        return kind(**{k: v for k, v in raw.items() if k in types}).validate()
    except (InputError, TypeError, ValueError, OverflowError) as e:
        raise _Broken(_("the settings of {where} are not valid ({why})", where=where, why=e)) from None


def _history(obj: dict, where: str) -> list[EpochStats]:
    history, last, epochs = [], 0, MAX_EPOCHS
    raw = _typed(obj, "history", list, where)
    _need(len(raw) <= epochs, lambda: _("{where} has more than {n} epochs", where=where, n=f"{epochs:,}"))
    for h in raw:
        _need(isinstance(h, dict) and all(f.name in h for f in fields(EpochStats)),
              lambda: _("{where} has a malformed epoch", where=where))
        _need(_is_int(h["epoch"]) and last < h["epoch"] <= epochs, lambda: _("{where} has epochs out of order", where=where))
        _need(_is_number(h["loss"]) and _is_number(h["accuracy"])
              and all(h[k] is None or _is_number(h[k]) for k in ("test_loss", "test_accuracy")),
              lambda: _("{where} has an epoch whose figures are not numbers", where=where))
        last = h["epoch"]
        history.append(EpochStats(**{f.name: h[f.name] for f in fields(EpochStats)}))
    return history


def _open_run(m: _Members, i: int, r: dict, known: set[str], n_classes: int, dims: dict[str, int]) -> SavedRun:
    where = _("run {n}", n=i + 1)
    _need(isinstance(r, dict), lambda: _("{where} is not a JSON object", where=where))
    label, encoder = _typed(r, "label", str, where), _typed(r, "encoder", str, where)
    config = _config(_typed(r, "config", dict, where), where)
    class_names = _typed(r, "class_names", list, where)
    _need(2 <= len(class_names) <= n_classes and all(isinstance(n, str) and len(n) <= MAX_TEXT for n in class_names),
          lambda: _("{where} has bad class names", where=where))
    ids = _typed(r, "samples", list, where)
    labels = _typed(r, "labels", list, where)
    _need(all(isinstance(s, str) and s in known for s in ids),
          lambda: _("{where} names samples that are not in the project", where=where))
    _need(len(labels) == len(ids) and all(_is_int(x) and 0 <= x < len(class_names) for x in labels),
          lambda: _("{where} has bad labels", where=where))
    n = len(ids)
    parts = []
    for key in ("train", "test"):
        idx = _typed(r, key, list, where)
        _need(all(_is_int(x) and 0 <= x < n for x in idx) and len(set(idx)) == len(idx),
              _("{where}'s {part} part points outside its samples", part=key, where=where))
        parts.append(np.array(idx, np.int64))
    how = _typed(r, "how", dict, where) if "how" in r else {}
    _need(all(isinstance(v, str) and len(v) <= MAX_TEXT for v in how.values()),
          lambda: _("{where}'s split is malformed", where=where))
    history = _history(r, where)
    arrays = m.npz(_typed(r, "head", str, where), {"w1": ((dims.get(encoder, -1), -1), "f"), "b1": ((-1,), "f"),
                                                   "w2": ((-1, len(class_names)), "f")}, _("the head of {where}", where=where))
    w1, b1, w2 = (np.asarray(arrays[k], np.float32) for k in ("w1", "b1", "w2"))
    _need(0 < w1.shape[0] <= MAX_EMBEDDING_DIM and 0 < w1.shape[1] <= MAX_HIDDEN and b1.shape == (w1.shape[1],)
          and w2.shape[0] == w1.shape[1], lambda: _("the head of {where} has inconsistent shapes", where=where))
    _need(all(np.isfinite(w).all() for w in (w1, b1, w2)), lambda: _("the head of {where} holds invalid numbers", where=where))
    dims.setdefault(encoder, w1.shape[0])
    info = _optional(r, "info", lambda v: isinstance(v, dict), {}, _("a JSON object"), where)
    epochs = {h.epoch for h in history}
    marks = {key: _optional(r, key, lambda v: v is None or (_is_int(v) and v in epochs), None,
                            _("one of its epochs"), where) for key in ("early_stopped_at", "kept_epoch")}
    stopped = _optional(r, "stopped", lambda v: isinstance(v, bool), False, _("true or false"), where)
    seconds = _optional(r, "seconds", lambda v: _is_number(v) and v >= 0, 0.0, _("a number of seconds"), where)
    run = Run(config, list(class_names), history, Head(w1, b1, w2),
              Split(parts[0], parts[1], {int(k): v for k, v in how.items() if str(k).isdigit() and len(k) < 6}),
              stopped, float(seconds), info, **marks)
    saved = SavedRun(label, encoder, run, list(ids), np.array(labels, np.int64))
    if "finetuned" in r:
        saved.finetuned, saved.features = _open_finetuned(m, _typed(r, "finetuned", dict, where), where, saved)
    return saved


def _open_finetuned(m: _Members, f: dict, where: str, saved: SavedRun):
    from tm_core.finetune import FineTuneConfig, FineTuned

    where = _("the fine-tuned block of {where}", where=where)
    start = _typed(f, "start_layer", str, where)
    _need(bool(_LAYER.fullmatch(start)), lambda: _("{where} names a malformed layer", where=where))
    config = _config(_typed(f, "config", dict, where), where, FineTuneConfig)
    history = _history(f, where)
    stopped = _optional(f, "stopped", lambda v: isinstance(v, bool), False, _("true or false"), where)
    seconds = _optional(f, "seconds", lambda v: _is_number(v) and v >= 0, 0.0, _("a number of seconds"), where)
    path = _typed(f, "weights", str, where)
    blob = m.read(path, MAX_HEAD_BYTES)
    try:
        headers = bounded.npz_headers(blob)
    except bounded.Refused as e:
        raise _Broken(_("{where} cannot be read ({path}: {why})", where=where, path=path, why=e)) from None
    weights: dict[str, list[tuple[int, str]]] = {}
    for key, (_shape, dtype) in headers.items():
        layer, _sep, k = key.partition(_SEP)
        _need(bool(_LAYER.fullmatch(layer)) and k.isdigit() and len(k) < 6 and dtype.kind == "f",
              lambda: _("{where} holds a malformed weight name", where=where))
        weights.setdefault(layer, []).append((int(k), key))
    _need(bool(weights) and all(sorted(k for k, _key in ws) == list(range(len(ws))) for ws in weights.values()),
          lambda: _("{where} holds no weights, or misses some of a layer's weights", where=where))
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
            loaded = {layer: [np.asarray(npz[key], np.float32) for _k, key in sorted(ws)] for layer, ws in weights.items()}
    except Exception as exc:  # noqa: BLE001 - damaged data under sound headers (CRC, zlib)
        raise _Broken(_("{where} cannot be read ({path}: {why})", where=where, path=path, why=type(exc).__name__)) from None
    _need(all(np.isfinite(w).all() for ws in loaded.values() for w in ws), lambda: _("{where} holds invalid numbers", where=where))
    x = np.asarray(m.npz(_typed(f, "features", str, where), {"x": ((-1, -1), "f")}, where)["x"], np.float32)
    _need(x.shape == (len(saved.sample_ids), saved.run.head.w1.shape[0]) and np.isfinite(x).all(),
          lambda: _("{where} has embeddings that do not fit its samples and head", where=where))
    tuned = FineTuned(saved.encoder, start, loaded, saved.run.head, config, history, stopped, float(seconds))
    return tuned, x


def open_source(source, name: str) -> ProjectFile:
    """``_open(source)``, with every refusal as an ``InputError`` naming ``name``."""
    try:
        return _open(source)
    except _Broken as e:
        raise InputError(name, _("cannot be opened: {why}", why=e)) from None
