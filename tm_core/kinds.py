"""What each kind of project is, in one table: how its pictures are prepared, what its keypoint
model finds, what one sample looks like, and the words the pages use for it.

Every place that turns a picture or a camera frame into a sample or a model input goes through
here (:func:`prepare_image`, :func:`decode_images`, :func:`prepare_frame`), so image projects
always get Teachable Machine's 224×224 centre crop and pose and hand projects always the whole
picture padded to a 256×256 square (their keypoint models look for the body or hand anywhere in
the frame, so nothing may be cut off). A new kind is one more row in :data:`KINDS`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image

from tm_core import media
from tm_core.errors import InputError

BACKGROUND = "Background Noise"  # audio projects: the class of silence and room noise, as in Teachable Machine


@dataclass(frozen=True)
class Kind:
    name: str  # "image", "audio", "pose", "hands"
    title: str  # as the new-project picker names it
    pitch: str  # what a project of this kind learns from, one sentence for the picker
    words: tuple[str, str]  # a sample, samples: "picture", "pictures"
    finds: str | None = None  # what its keypoint model looks for ("person", "hand"); None: no keypoint model
    image_size: int | None = None  # pictures: the side of the square a sample is made into
    pad: bool = False  # pictures: the whole picture padded to the square (else Teachable Machine's centre crop)
    starter_classes: tuple[str, ...] = ("Class 1", "Class 2")  # what a new project of this kind starts with

    @property
    def keypoint(self) -> bool:
        return self.finds is not None

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """One sample's array shape: RGB uint8 pictures, or one second of 16 kHz mono sound (float32)."""
        if self.image_size is None:
            return (media.CLIP_SAMPLES,)
        return (self.image_size, self.image_size, 3)


KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("image", "Image", "teach it pictures: photos, a folder or the webcam.", ("picture", "pictures"),
         image_size=media.IMAGE_SIZE),
    Kind("audio", "Audio", "teach it sounds: one-second recordings from the microphone or sound files.",
         ("sound", "sounds"), starter_classes=(BACKGROUND, "Class 2")),
    Kind("pose", "Body pose", "teach it poses of the whole body: keypoints, not pixels, so where you stand and your "
         "clothes do not matter.", ("picture", "pictures"), finds="person", image_size=media.KEYPOINT_IMAGE_SIZE,
         pad=True),
    Kind("hands", "Hand pose", "teach it hand shapes and gestures (rock, paper, scissors, thumbs up): 21 landmarks "
         "of the hand, whichever hand, however turned, beside the picture.", ("picture", "pictures"), finds="hand",
         image_size=media.KEYPOINT_IMAGE_SIZE, pad=True),
)}


def get(kind: str) -> Kind:
    """The row of ``kind``; an unknown kind is an ``InputError`` (e.g. from a hand-edited project file)."""
    try:
        return KINDS[kind]
    except KeyError:
        raise InputError(f"project kind {kind!r}", f"is not one of {', '.join(KINDS)}") from None


def is_keypoint(kind: str) -> bool:
    """Pose and hands: learned from what a keypoint model finds in the picture, not from its pixels."""
    return kind in KINDS and KINDS[kind].keypoint


def thing(kind: str) -> str:
    """What the kind's keypoint model looks for: "person", "hand" (else "person")."""
    return (KINDS[kind].finds if kind in KINDS else None) or "person"


def words(kind: str) -> tuple[str, str]:
    """What one sample and several are called: ("sound", "sounds") or ("picture", "pictures")."""
    return get(kind).words


def _picture(kind: str) -> Kind:
    row = get(kind)
    if row.image_size is None:
        raise ValueError(f"a {kind} project has no pictures")
    return row


# ---------------------------------------------------------------------------------------------
# Files: an uploaded or stored picture made into a sample


def prepare_image(kind: str, source, name: str | None = None) -> np.ndarray:
    """A picture file (bytes or path) as a sample of a ``kind`` project (``media.image_to_array``)."""
    row = _picture(kind)
    return media.image_to_array(source, name, row.image_size, pad=row.pad)


def decode_images(kind: str, sources: Iterable[tuple[str, object]], **options) -> Iterator[tuple[str, object]]:
    """``media.decode_images`` with the kind's size and crop or pad: ``(name, array or InputError)`` in order."""
    row = _picture(kind)
    return media.decode_images(sources, row.image_size, pad=row.pad, **options)


# ---------------------------------------------------------------------------------------------
# Camera frames: the same preparation for arrays


def crop_frame(frame_rgb: np.ndarray) -> np.ndarray:
    """An image project's camera frame: Teachable Machine's 224×224 cover-fit, as for files."""
    return media.fit_image(Image.fromarray(np.asarray(frame_rgb, np.uint8)), media.IMAGE_SIZE)


def pad_frame(frame_rgb: np.ndarray) -> np.ndarray:
    """A pose or hand project's camera frame: the whole frame padded to the square (never cropped)."""
    return media.pad_image(Image.fromarray(np.asarray(frame_rgb, np.uint8)), media.KEYPOINT_IMAGE_SIZE)


def prepare_frame(kind: str) -> Callable[[np.ndarray], np.ndarray]:
    """What turns a camera frame (RGB, any size) into a sample / model input for a ``kind`` project."""
    return pad_frame if _picture(kind).pad else crop_frame
