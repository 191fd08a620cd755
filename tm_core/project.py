"""A project: its kind, its ordered classes and their samples.

Sample ids are content hashes, so the same picture added twice to a class is one sample,
and an id stays the same across sessions (the features cache is keyed by it).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from typing import Iterable, Iterator

import numpy as np

from tm_core.errors import InputError

KINDS = ("image", "audio", "pose", "hands")


def sample_id(data: np.ndarray) -> str:
    """Stable id of a sample's content: its dtype, shape and bytes."""
    data = np.ascontiguousarray(data)
    h = hashlib.sha256(f"{data.dtype.str}{data.shape}".encode())
    h.update(data.tobytes())
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class Sample:
    id: str
    data: np.ndarray  # image projects: RGB uint8 224×224×3, as media.image_to_array gives
    name: str = ""  # where it came from (file name, "webcam"), for galleries and messages


@dataclass
class ProjectClass:
    name: str
    samples: list[Sample] = field(default_factory=list)
    enabled: bool = True
    uid: str = field(default_factory=lambda: uuid.uuid4().hex[:8])  # stays the same when renamed

    def __len__(self) -> int:
        return len(self.samples)


@dataclass
class Dataset:
    """The enabled classes' samples as training sees them: parallel lists, labels 0..k-1."""

    samples: list[Sample]
    labels: np.ndarray
    class_names: list[str]


class Project:
    """Classes in the order the user made them; each holds its samples."""

    def __init__(self, kind: str = "image", class_names: Iterable[str] = ("Class 1", "Class 2")):
        if kind not in KINDS:
            raise InputError(kind, f"unknown project kind; choose one of: {', '.join(KINDS)}")
        self.kind = kind
        self.classes: list[ProjectClass] = []
        for name in class_names:
            self.add_class(name)

    # classes
    def get_class(self, name: str) -> ProjectClass:
        for c in self.classes:
            if c.name == name:
                return c
        raise InputError(name, "there is no class with this name")

    def has_class(self, name: str) -> bool:
        return any(c.name == name for c in self.classes)

    def _check_new_name(self, name: str) -> str:
        name = (name or "").strip()
        if not name:
            raise InputError("class name", "a class needs a name")
        if len(name) > 100:
            raise InputError(name[:40] + "…", "a class name can have at most 100 characters")
        if "\n" in name or "\r" in name:
            raise InputError(name, "a class name must fit on one line")
        if self.has_class(name):
            raise InputError(name, "another class already has this name")
        return name

    def add_class(self, name: str | None = None) -> ProjectClass:
        """Add an empty class; without a name it is "Class N" with the next free N."""
        if name is None:
            n = len(self.classes) + 1
            while self.has_class(f"Class {n}"):
                n += 1
            name = f"Class {n}"
        cls = ProjectClass(self._check_new_name(name))
        self.classes.append(cls)
        return cls

    def rename_class(self, old: str, new: str) -> None:
        cls = self.get_class(old)
        if new.strip() == old:
            return
        cls.name = self._check_new_name(new)

    def set_enabled(self, name: str, enabled: bool) -> None:
        self.get_class(name).enabled = enabled

    def delete_class(self, name: str) -> None:
        self.classes.remove(self.get_class(name))

    def clear_class(self, name: str) -> None:
        self.get_class(name).samples.clear()

    # samples
    def add_sample(self, class_name: str, data: np.ndarray, name: str = "") -> Sample | None:
        """Add one sample; returns it, or None when the class already holds the same content."""
        cls = self.get_class(class_name)
        sid = sample_id(data)
        if any(s.id == sid for s in cls.samples):
            return None
        data = np.ascontiguousarray(data)
        data.setflags(write=False)
        sample = Sample(sid, data, name)
        cls.samples.append(sample)
        return sample

    def delete_sample(self, class_name: str, sid: str) -> None:
        cls = self.get_class(class_name)
        before = len(cls.samples)
        cls.samples = [s for s in cls.samples if s.id != sid]
        if len(cls.samples) == before:
            raise InputError(sid, f"class '{class_name}' has no sample with this id")

    def add_images(self, items: Iterable[tuple[str, str, object]], *, workers: int = 2) -> Iterator[Sample | InputError]:
        """Decode ``(class_name, name, bytes | path)`` items into the project, creating classes as needed.

        Yields each added sample (or the InputError of a file that could not be used) as soon as it
        is decoded, so a consumer can embed batches while the next files are still decoding.
        Duplicates of a sample already in the class are skipped silently.
        """
        from tm_core import media

        classes: list[str] = []

        def sources():
            for class_name, name, source in items:
                if not self.has_class(class_name):
                    self.add_class(class_name)
                classes.append(class_name)
                yield name, source

        for i, (name, result) in enumerate(media.decode_images(sources(), workers=workers)):
            if isinstance(result, InputError):
                yield result
                continue
            sample = self.add_sample(classes[i], result, name)
            if sample is not None:
                yield sample

    def add_listing(self, listing, *, workers: int = 2) -> Iterator[Sample | InputError]:
        """``add_images`` for a ``media.TreeListing`` (a folder or zip of class folders)."""
        for class_name in listing.classes:
            if not self.has_class(class_name):
                self.add_class(class_name)
        yield from listing.skipped
        yield from self.add_images(((f.class_name, f.name, f.source) for f in listing.files), workers=workers)

    # views
    def counts(self) -> dict[str, int]:
        return {c.name: len(c) for c in self.classes}

    def dataset(self) -> Dataset:
        """Enabled classes with at least one sample, in project order."""
        use = [c for c in self.classes if c.enabled and c.samples]
        samples = [s for c in use for s in c.samples]
        labels = np.concatenate([np.full(len(c), i, np.int64) for i, c in enumerate(use)]) if use else np.zeros(0, np.int64)
        return Dataset(samples, labels, [c.name for c in use])

    def check_trainable(self) -> None:
        """Raise InputError unless training can start: two enabled classes with samples."""
        ds = self.dataset()
        if len(ds.class_names) < 2:
            raise InputError(
                "project", "training needs at least two enabled classes with samples "
                f"(now: {', '.join(f'{k} {v}' for k, v in self.counts().items()) or 'no classes'})"
            )
