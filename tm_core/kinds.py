"""What each kind of project is, in one table: how its pictures are prepared, what its keypoint
model finds, what one sample looks like, and the words the pages use for it.

Every place that turns a picture or a camera frame into a sample or a model input goes through
here (:func:`prepare_image`, :func:`decode_images`, :func:`prepare_frame`), so image projects
always get Teachable Machine's 224×224 centre crop and pose and hand projects always the whole
picture padded to a 256×256 square (their keypoint models look for the body or hand anywhere in
the frame, so nothing may be cut off). A new kind is one more row in :data:`KINDS`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image

from tm_core import i18n, media
from tm_core.errors import InputError
from tm_core.i18n import N_, _

BACKGROUND = N_("Background Noise")  # audio projects: the class of silence and room noise, as in Teachable Machine
CLASS_N = N_("Class {n}")  # a new class's name before the student names it ("Class 1", "Class 2")


@dataclass(frozen=True)
class Kind:
    name: str  # "image", "audio", "pose", "hands"
    title: str  # as the new-project picker names it (English: shown translated, :func:`title`)
    pitch: str  # what a project of this kind learns from, one sentence for the picker (:func:`pitch`)
    words: tuple[str, str]  # a sample, samples: "picture", "pictures" (English keys: :func:`said` translates)
    finds: str | None = None  # what its keypoint model looks for ("person", "hand"); None: no keypoint model
    image_size: int | None = None  # pictures: the side of the square a sample is made into
    pad: bool = False  # pictures: the whole picture padded to the square (else Teachable Machine's centre crop)
    # what a new project of this kind starts with, in English ("Class 1"): :func:`starter_classes` names them
    # in the student's language
    starter_classes: tuple[str, ...] = ("Class 1", "Class 2")

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
    Kind("image", N_("Image"), N_("teach it pictures: photos, a folder or the webcam."), ("picture", "pictures"),
         image_size=media.IMAGE_SIZE),
    Kind("audio", N_("Audio"), N_("teach it sounds: one-second recordings from the microphone or sound files."),
         ("sound", "sounds"), starter_classes=(BACKGROUND, "Class 2")),
    Kind("pose", N_("Body pose"), N_("teach it poses of the whole body: keypoints, not pixels, so where you stand "
                                     "and your clothes do not matter."),
         ("picture", "pictures"), finds="person", image_size=media.KEYPOINT_IMAGE_SIZE, pad=True),
    Kind("hands", N_("Hand pose"), N_("teach it hand shapes and gestures (rock, paper, scissors, thumbs up): 21 "
                                      "landmarks of the hand, whichever hand, however turned, beside the picture."),
         ("picture", "pictures"), finds="hand", image_size=media.KEYPOINT_IMAGE_SIZE, pad=True),
)}


def get(kind: str) -> Kind:
    """The row of ``kind``; an unknown kind is an ``InputError`` (e.g. from a hand-edited project file)."""
    try:
        return KINDS[kind]
    except KeyError:
        raise InputError(_("project kind {kind}", kind=repr(kind)),
                         _("is not one of {kinds}", kinds=", ".join(KINDS))) from None


def is_keypoint(kind: str) -> bool:
    """Pose and hands: learned from what a keypoint model finds in the picture, not from its pixels."""
    return kind in KINDS and KINDS[kind].keypoint


def thing(kind: str) -> str:
    """What the kind's keypoint model looks for: "person", "hand" (else "person")."""
    return (KINDS[kind].finds if kind in KINDS else None) or "person"


def words(kind: str) -> tuple[str, str]:
    """What one sample and several are called: ("sound", "sounds") or ("picture", "pictures")."""
    return get(kind).words


# The English keys of words() and thing(), marked for translation: said() and found_word() translate them
WORDS = {"picture": N_("picture"), "pictures": N_("pictures"), "sound": N_("sound"), "sounds": N_("sounds"),
         "sample": N_("sample"), "samples": N_("samples"), "person": N_("person"), "hand": N_("hand")}


def title(kind: str) -> str:
    """The kind's name in the student's language ("Image", "Body pose")."""
    return _(get(kind).title)


def pitch(kind: str) -> str:
    """What a project of this kind learns from, one sentence in the student's language."""
    return _(get(kind).pitch)


def said(words: tuple[str, str]) -> tuple[str, str]:
    """``words(kind)`` (or ("sample", "samples")) in the student's language, for sentences."""
    return _(WORDS.get(words[0], words[0])), _(WORDS.get(words[1], words[1]))


def found_word(kind: str) -> str:
    """:func:`thing` in the student's language ("person" → "사람")."""
    what = thing(kind)
    return _(WORDS.get(what, what))


# ---------------------------------------------------------------------------------------------
# Class names a project starts with: in the language of the student who makes it. The user's own
# words once made: a Korean project keeps "클래스 1" when opened in English. Everything that asks
# whether a name is a starter name accepts every language's.


def class_name(n: int) -> str:
    """The name of a new, unnamed class number ``n``: "Class 1" (English), "클래스 1" (Korean)."""
    return _(CLASS_N, n=n)


def background_name() -> str:
    """An audio project's background class as a new project names it: "Background Noise", "배경 소음"."""
    return _(BACKGROUND)


def starter_classes(kind: str) -> tuple[str, ...]:
    """The classes a new ``kind`` project starts with, in the student's language."""
    out = []
    for name in get(kind).starter_classes:
        number = re.fullmatch(r"Class (\d+)", name)
        out.append(background_name() if name == BACKGROUND else class_name(int(number[1])) if number else _(name))
    return tuple(out)


def _every_language(message: str) -> set[str]:
    return {message} | {i18n.translations(lang).gettext(message) for lang in i18n.LANGUAGES}


def is_numbered_name(name: str) -> bool:
    """Whether ``name`` is a "Class N" a new class gets, in any language ("Class 2", "클래스 2", "class 3")."""
    text = (name or "").strip().casefold()
    return any(re.fullmatch(re.escape(pattern.casefold()).replace(re.escape("{n}"), r"\d+"), text)
               for pattern in _every_language(CLASS_N))


def is_background_name(name: str) -> bool:
    """Whether ``name`` is the background class's name in any language ("Background Noise", "배경 소음")."""
    return (name or "").strip() in _every_language(BACKGROUND)


def is_starter_name(name: str) -> bool:
    """Whether ``name`` is a name the student did not choose: a "Class N" or the background class, any language."""
    return is_numbered_name(name) or is_background_name(name)


def _picture(kind: str) -> Kind:
    row = get(kind)
    if row.image_size is None:
        raise ValueError(f"a {kind} project has no pictures")  # a programming error: English
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
