"""A project: its kind, its ordered classes and their samples.

Sample ids are content hashes, so the same picture added twice to a class is one sample,
and an id stays the same across sessions (the features cache is keyed by it).
"""

from __future__ import annotations

import hashlib
import io
import unicodedata
import uuid
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from tm_core import kinds, limits, media
from tm_core.errors import InputError
from tm_core.i18n import N_, _
from tm_core.kinds import BACKGROUND  # noqa: F401  (tests and older callers import it from here)
from tm_core.recordings import Recordings, new_group, thumbnail  # noqa: F401 (new_group: part of this module's interface)

KINDS = tuple(kinds.KINDS)  # what each kind is: tm_core.kinds
BACKGROUND_FOLDERS = ("background_noise", "_background_noise_", "background noise")  # imported as that class
STARTER_CLASSES = {name: kind.starter_classes for name, kind in kinds.KINDS.items()}
_KEEP_BACKGROUND = {  # why an audio project's Background Noise class cannot be renamed, disabled or deleted
    "rename": N_("cannot rename this class: audio projects need it to learn what silence and room noise sound "
                 "like (record a few seconds of your room)"),
    "disable": N_("cannot disable this class: audio projects need it to learn what silence and room noise sound "
                  "like (record a few seconds of your room)"),
    "delete": N_("cannot delete this class: audio projects need it to learn what silence and room noise sound "
                 "like (record a few seconds of your room)"),
}


def class_key(name: str) -> str:
    """A class name as the project keeps it: NFC, so Hangul typed here and Hangul from a Mac folder
    (decomposed, 바 as ㅂ + ㅏ) name one class."""
    return unicodedata.normalize("NFC", name)


def sample_id(data: np.ndarray) -> str:
    """Stable id of a sample's content: its dtype, shape and bytes."""
    data = np.ascontiguousarray(data)
    h = hashlib.sha256(f"{data.dtype.str}{data.shape}".encode())
    h.update(data.tobytes())
    return h.hexdigest()[:16]


PNG_LEVEL = 1  # zlib level of the PNG a picture sample is kept as (and saved as): fast, lossless
# zlib's run-length strategy: on real 224×224 photos 8 % faster to write than the default and 4 % smaller
# (425 photos of rps_real and clothing4: 3.55 against 3.85 ms, 65.5 against 68.6 kB)
PNG_STRATEGY = zlib.Z_RLE


def png_bytes(picture: np.ndarray) -> bytes:
    """A picture (RGB uint8, height × width × 3) as lossless PNG bytes, the way samples keep it."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(picture, np.uint8)).save(buf, format="PNG", compress_level=PNG_LEVEL,
                                                   compress_type=PNG_STRATEGY)
    return buf.getvalue()


def png_pixels(blob: bytes) -> np.ndarray:
    """The RGB uint8 pixels of PNG bytes (any PNG colour mode is turned into RGB)."""
    from PIL import Image

    with Image.open(io.BytesIO(blob)) as img:
        return np.array(img.convert("RGB") if img.mode != "RGB" else img, np.uint8)


class Packed(NamedTuple):
    """A decoded picture made ready for the project by the thread that decoded it: its pixels, content
    id, PNG bytes and grey thumbnail (``recordings.thumbnail``). An import of many files makes these in
    its decoding threads rather than one picture at a time on the thread adding them."""

    pixels: np.ndarray
    id: str
    png: bytes
    thumb: np.ndarray


def pack(picture: np.ndarray) -> Packed:
    picture = np.asarray(picture, np.uint8)
    return Packed(picture, sample_id(picture), png_bytes(picture), thumbnail(picture))


class Sample:
    """One example of a class: its content id, its content, where it came from.

    A picture sample (image, pose, hands) is kept compactly as lossless PNG bytes (``png``: 30–50 %
    of the raw pixels for real photos); ``data`` decodes them when asked (about 1.3 ms for 224×224).
    Audio samples keep their array (``png`` is None). ``Sample(id, array)``
    keeps an array as it is; ``Sample(id, png=bytes)`` keeps PNG bytes whose pixels have that id.
    Samples are immutable, and ``data`` is read-only, so an id always tells the content.

    ``data``: image: RGB uint8 224×224×3 (media.image_to_array); audio: 1 s float32 at 16 kHz
    (16000,); pose, hands: RGB uint8 256×256×3, the whole picture padded (media.pad_image).
    ``name``: where it came from (file name, "webcam"), for galleries and messages.
    ``group``: the recording it came from (a webcam burst, one upload, one sound file): kept on one
    side of the held-out split; "" = a recording of its own (a single photo).
    """

    __slots__ = ("_array", "group", "id", "name", "png")

    def __init__(self, id: str, data: np.ndarray | None = None, name: str = "", group: str = "", *,
                 png: bytes | None = None):
        if (data is None) == (png is None):
            raise TypeError("a Sample holds either data (an array) or png (bytes)")
        for key, value in (("id", id), ("png", None if png is None else bytes(png)), ("name", name),
                           ("group", group), ("_array", data)):
            object.__setattr__(self, key, value)

    @classmethod
    def of_picture(cls, picture: np.ndarray, name: str = "", group: str = "", sid: str | None = None) -> Sample:
        """A picture sample kept as PNG bytes (``sid``: its id if already known)."""
        return cls(sample_id(picture) if sid is None else sid, name=name, group=group, png=png_bytes(picture))

    @property
    def data(self) -> np.ndarray:
        """The content as an array (read-only; a picture is decoded from its PNG bytes each time: nothing
        of a student's samples is kept outside their session)."""
        if self._array is not None:
            return self._array
        pixels = png_pixels(self.png)
        pixels.setflags(write=False)
        return pixels

    @property
    def nbytes(self) -> int:
        """Bytes the sample's content takes in memory (the PNG bytes, or the array)."""
        return len(self.png) if self.png is not None else int(self._array.nbytes)

    def __setattr__(self, key, value):
        raise AttributeError(f"a Sample cannot be changed (tried to set {key})")

    def __delattr__(self, key):
        raise AttributeError(f"a Sample cannot be changed (tried to delete {key})")

    def __reduce__(self):  # copy and pickle through the constructor (attributes cannot be set one by one)
        return _sample, (self.id, self._array, self.name, self.group, self.png)

    def __eq__(self, other) -> bool:
        if not isinstance(other, Sample):
            return NotImplemented
        return (self.id, self.name, self.group) == (other.id, other.name, other.group)

    def __hash__(self) -> int:
        return hash((self.id, self.name, self.group))

    def __repr__(self) -> str:
        held = f"png={len(self.png)} bytes" if self.png is not None else f"data={self._array.dtype}{self._array.shape}"
        return f"Sample(id={self.id!r}, {held}, name={self.name!r}, group={self.group!r})"


def _sample(id: str, data, name: str, group: str, png) -> Sample:
    return Sample(id, data, name, group, png=png)


@dataclass
class ProjectClass:
    name: str
    samples: list[Sample] = field(default_factory=list)
    enabled: bool = True
    uid: str = field(default_factory=lambda: uuid.uuid4().hex[:8])  # stays the same when renamed
    background: bool = False  # audio projects: the Background Noise class (cannot be renamed or removed)
    test_only: set[str] = field(default_factory=set)  # ids of samples the student keeps for testing only

    def __len__(self) -> int:
        return len(self.samples)


@dataclass
class Dataset:
    """The enabled classes' samples as training sees them: parallel lists, labels 0..k-1."""

    samples: list[Sample]
    labels: np.ndarray
    class_names: list[str]
    test_only: np.ndarray | None = None  # bool per sample: never trained on, always tested (None: none marked)

    @property
    def groups(self) -> list[str]:
        """Each sample's recording (see ``Sample.group``), for ``training.grouped_split``."""
        return [s.group for s in self.samples]

    def subset(self, keep: np.ndarray) -> Dataset:
        """Only the samples where ``keep`` is True (e.g. those where a person was found); every class
        must keep at least one."""
        keep = np.asarray(keep, bool)
        for i, name in enumerate(self.class_names):
            if not keep[self.labels == i].any():
                raise InputError(name, _("has no usable sample left (no person or hand found in any of them)"))
        return Dataset([s for s, k in zip(self.samples, keep) if k], self.labels[keep], list(self.class_names),
                       None if self.test_only is None else self.test_only[keep])


class Project:
    """Classes in the order the user made them; each holds its samples."""

    last_import: Recordings | None = None  # what the last ``add_files`` decided (``Recordings.sentences``)

    def __init__(self, kind: str = "image", class_names: Iterable[str] | None = None):
        """A new project; without ``class_names`` it starts as Teachable Machine's does (two classes,
        an audio project's first being Background Noise)."""
        if kind not in KINDS:
            raise InputError(kind, _("unknown project kind; choose one of: {kinds}", kinds=", ".join(KINDS)))
        self.kind = kind
        self.max_samples = limits.SAMPLES  # TM_MAX_SAMPLES
        self.classes: list[ProjectClass] = []
        for name in kinds.starter_classes(kind) if class_names is None else class_names:  # in the student's language
            self.add_class(name)

    @property
    def background(self) -> ProjectClass | None:
        """An audio project's Background Noise class (None for other kinds, or if not made yet)."""
        return next((c for c in self.classes if c.background), None)

    def _not_background(self, name: str, action: str) -> ProjectClass:
        cls = self.get_class(name)
        if cls.background:
            raise InputError(name, _(_KEEP_BACKGROUND[action]))
        return cls

    # classes
    def get_class(self, name: str) -> ProjectClass:
        key = class_key(name)
        for c in self.classes:
            if c.name == name or class_key(c.name) == key:  # (a file saved before names were NFC may hold NFD)
                return c
        raise InputError(name, _("there is no class with this name"))

    def has_class(self, name: str) -> bool:
        key = class_key(name)
        return any(class_key(c.name) == key for c in self.classes)

    def _check_new_name(self, name: str) -> str:
        name = class_key((name or "").strip())
        if not name:
            raise InputError(_("class name"), _("a class needs a name"))
        if len(name) > 100:
            raise InputError(name[:40] + "…", _("a class name can have at most 100 characters"))
        if "\n" in name or "\r" in name:
            raise InputError(name, _("a class name must fit on one line"))
        if self.has_class(name):
            raise InputError(name, _("another class already has this name"))
        return name

    def add_class(self, name: str | None = None) -> ProjectClass:
        """Add an empty class; without a name it is "Class N" with the next free N."""
        if name is None:
            n = len(self.classes) + 1
            while self.has_class(kinds.class_name(n)):
                n += 1
            name = kinds.class_name(n)
        name = self._check_new_name(name)
        background = self.kind == "audio" and self.background is None and (
            kinds.is_background_name(name) or name.lower() in BACKGROUND_FOLDERS)
        cls = ProjectClass(kinds.background_name() if background and not kinds.is_background_name(name) else name,
                           background=background)
        self.classes.append(cls)
        return cls

    def class_for(self, name: str) -> str:
        """The class a folder called ``name`` goes into (an audio project's background folders → Background Noise,
        in either language); NFC, as class names are kept."""
        name = class_key(name)
        if self.kind == "audio" and (name.lower() in BACKGROUND_FOLDERS or kinds.is_background_name(name)) and self.background is not None:
            return self.background.name
        return name

    def rename_class(self, old: str, new: str) -> None:
        if class_key(new.strip()) == class_key(old):
            return
        cls = self._not_background(old, "rename")
        cls.name = self._check_new_name(new)

    def set_enabled(self, name: str, enabled: bool) -> None:
        cls = self.get_class(name) if enabled else self._not_background(name, "disable")
        cls.enabled = enabled

    def delete_class(self, name: str) -> None:
        self.classes.remove(self._not_background(name, "delete"))

    def clear_class(self, name: str) -> None:
        self.get_class(name).samples.clear()
        self.get_class(name).test_only.clear()

    # samples
    def add_sample(self, class_name: str, data: np.ndarray | Packed, name: str = "", group: str = "",
                   test_only: bool = False) -> Sample | None:
        """Add one sample; returns it, or None when the class already holds the same content.

        ``data``: its array, or a picture already :func:`pack`-ed. ``group`` names the recording it
        belongs to (see :func:`new_group`); ``test_only`` keeps it out of training, for testing only."""
        cls = self.get_class(class_name)
        packed = data if isinstance(data, Packed) else None
        data = np.asarray(data.pixels if packed else data)
        sid = packed.id if packed else sample_id(data)
        if any(s.id == sid for s in cls.samples):
            return None
        if self.full():
            raise self.full_error()
        if packed:
            sample = Sample(sid, name=name, group=group, png=packed.png)
        elif data.dtype == np.uint8 and data.ndim == 3 and data.shape[2] == 3:  # an RGB picture: kept as its PNG bytes
            sample = Sample.of_picture(data, name, group, sid)
        else:
            data = np.ascontiguousarray(data)
            data.setflags(write=False)
            sample = Sample(sid, data, name, group)
        cls.samples.append(sample)
        if test_only:
            cls.test_only.add(sid)
        return sample

    def full(self) -> bool:
        return sum(len(c) for c in self.classes) >= self.max_samples

    def full_error(self) -> InputError:
        return InputError(_("project"), _("is full: it can hold {n} samples. Remove samples you do not need (near "
                                          "copies first: Check my data finds them), or start a new project (the "
                                          "limit is set by TM_MAX_SAMPLES on the server)", n=f"{self.max_samples:,}"))

    def set_test_only(self, class_name: str, sid: str, test_only: bool) -> None:
        """Keep a sample for testing only (never trained on), or give it back to the normal split."""
        cls = self.get_class(class_name)
        if not any(s.id == sid for s in cls.samples):
            raise InputError(sid, _("class '{cls}' has no sample with this id", cls=class_name))
        (cls.test_only.add if test_only else cls.test_only.discard)(sid)

    def regroup(self, class_name: str, sid: str, group: str) -> None:
        """Put sample ``sid`` of ``class_name`` into recording ``group`` (samples cannot change: it is replaced)."""
        cls = self.get_class(class_name)
        cls.samples = [Sample(s.id, s._array, s.name, group, png=s.png) if s.id == sid else s for s in cls.samples]

    def delete_sample(self, class_name: str, sid: str) -> None:
        cls = self.get_class(class_name)
        before = len(cls.samples)
        cls.samples = [s for s in cls.samples if s.id != sid]
        cls.test_only.discard(sid)
        if len(cls.samples) == before:
            raise InputError(sid, _("class '{cls}' has no sample with this id", cls=class_name))

    def add_files(self, items: Iterable[tuple[str, str, object]], *, workers: int = 2, group: str | None = None,
                  test_only: bool = False, by_folder: bool = False,
                  pixels: dict[str, np.ndarray] | None = None) -> Iterator[Sample | InputError]:
        """Decode ``(class_name, name, bytes | path)`` items into the project, creating classes as needed.

        Each file is a recording of its own (:class:`Recordings`; with ``by_folder``, each sub-folder
        of a class folder is one), unless ``group`` names one recording for them all: the held-out
        split keeps a recording on one side. ``test_only`` marks every added sample so.

        Images become one sample each; an audio file becomes one sample per second (Teachable
        Machine's "extract samples", see ``media.clip_windows``). Yields each added sample (or the
        InputError of a file that could not be used) as soon as it is decoded, so a consumer can
        embed batches while the next files are still decoding (``pixels``: a dict that gets each
        added picture's decoded pixels under its id, for ``FeatureCache.embed(pixels=...)`` to take
        instead of unpacking the PNG again). Duplicates of a sample already in the class are skipped
        silently. A picture's id, PNG and thumbnail are made in the decoding threads (:func:`pack`).
        """
        classes: list[str] = []
        folders: list[str] = []
        groups: list[str] = []
        recordings = self.last_import = Recordings(by_folder)

        def sources():
            for folder, name, source in items:
                class_name = self.class_for(folder)
                if not self.has_class(class_name):
                    class_name = self.add_class(class_name).name
                classes.append(class_name)
                folders.append(folder)
                groups.append(recordings.group(folder, name, self.kind == "audio") if group is None else group)
                yield name, source

        if self.kind == "audio":
            for i, result in enumerate(media.decode_audio_files(sources(), workers=workers)):
                if isinstance(result, InputError):
                    yield result
                    continue
                name, windows = result
                for k, window in enumerate(windows):
                    if self.full():
                        yield self.full_error()
                        return
                    sample = self.add_sample(classes[i], window, f"{name} · {k + 1}/{len(windows)}" if len(windows) > 1
                                             else name, groups[i], test_only)
                    if sample is not None:
                        yield sample
            return
        # the kind's size and centre crop or pad (pose, hands: the body or hand may be anywhere)
        for i, (name, result) in enumerate(kinds.decode_images(self.kind, sources(), workers=workers, then=pack)):
            if isinstance(result, InputError):
                yield result
                continue
            if self.full():
                yield self.full_error()
                return
            into = classes[i]
            chosen = groups[i] if group is not None else recordings.follow(self.regroup, into, folders[i], name,
                                                                           result.pixels, groups[i], result.thumb)
            sample = self.add_sample(into, result, name, chosen, test_only)
            if sample is None:
                continue
            if group is None:
                recordings.added(into, folders[i], name, sample.id, sample.group)
            if pixels is not None:
                pixels[sample.id] = result.pixels
            yield sample

    def add_listing(self, listing, *, workers: int = 2, by_folder: bool = False,
                    pixels: dict[str, np.ndarray] | None = None) -> Iterator[Sample | InputError]:
        """``add_files`` for a ``media.TreeListing`` (a folder or zip of class folders): each file a
        recording of its own, or with ``by_folder`` each sub-folder of a class folder one recording."""
        for class_name in listing.classes:
            if not self.has_class(self.class_for(class_name)):
                self.add_class(class_name)
        yield from listing.skipped
        yield from self.add_files(((f.class_name, f.name, f.source) for f in listing.files), workers=workers,
                                  by_folder=by_folder, pixels=pixels)

    # views
    def counts(self) -> dict[str, int]:
        return {c.name: len(c) for c in self.classes}

    def dataset(self) -> Dataset:
        """Enabled classes with at least one sample, in project order."""
        use = [c for c in self.classes if c.enabled and c.samples]
        samples = [s for c in use for s in c.samples]
        labels = np.concatenate([np.full(len(c), i, np.int64) for i, c in enumerate(use)]) if use else np.zeros(0, np.int64)
        test_only = np.array([s.id in c.test_only for c in use for s in c.samples], bool)
        return Dataset(samples, labels, [c.name for c in use], test_only if test_only.any() else None)

    def check_trainable(self, *, require_background: bool = True) -> None:
        """Raise InputError unless training can start: two enabled classes with samples, and for an
        audio project (unless ``require_background`` is False) Background Noise samples."""
        if self.kind == "audio" and require_background and not (self.background and self.background.samples):
            background = self.background.name if self.background else kinds.background_name()
            raise InputError(background, _("an audio project needs {background} samples to train: record a few "
                                           "seconds of your room being quiet, so the model learns what is not a sound "
                                           "class", background=background))
        ds = self.dataset()
        if len(ds.class_names) < 2:
            now = ", ".join(f"{k} {v}" for k, v in self.counts().items()) or _("no classes")
            raise InputError(_("project"), _("training needs at least two enabled classes with samples (now: {now})",
                                             now=now))
