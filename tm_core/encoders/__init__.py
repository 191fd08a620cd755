"""Encoders: frozen pretrained networks that turn one modality into embeddings.

One interface for every modality: ``encoder.encode(batch) -> (n, dim) float32``, with
``name``, ``kind``, ``dim`` and ``input_shape``. Encoders know nothing of projects.
Modules are imported lazily so that ``import tm_core`` never imports TensorFlow.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from tm_core.errors import InputError
from tm_core.i18n import _


class Encoder(Protocol):
    name: str
    kind: str
    dim: int
    input_shape: tuple[int, ...]

    def encode(self, batch: np.ndarray) -> np.ndarray: ...


def encoder_names(kind: str = "image") -> list[str]:
    """Names of the encoders available for a project kind, default first."""
    if kind == "image":
        from tm_core.encoders import image

        return list(image.SPECS)
    if kind == "audio":
        from tm_core.encoders import audio

        return list(audio.SPECS)
    if kind == "pose":
        return ["movenet_lightning"]
    if kind == "hands":
        from tm_core.encoders import hands

        return list(hands.SPECS)
    raise InputError(kind, _("no encoders for '{kind}' projects yet", kind=kind))


def encoder_label(name: str, kind: str = "image") -> str:
    """What the encoder is, in a few words, for pickers (in the current language)."""
    from tm_core.encoders import audio, hands, image, pose

    if kind == "pose":
        return _(pose.PoseEncoder.label)
    spec = {"audio": audio.SPECS, "hands": hands.SPECS}.get(kind, image.SPECS).get(name)
    return _(spec.label) if spec else name


def available(name: str, kind: str | None = None) -> tuple[bool, str]:
    """Can encoder ``name`` be loaded here and now? ``(True, "")``, or ``(False, reason in plain words)``.

    Image encoders need their pretrained file on disk or a download server that answers; the
    check never downloads and waits a few seconds at most (answers are remembered, see
    ``tm_core.assets.available``). Other kinds are checked when they are built.
    """
    kind = kind or kind_of(name)
    if kind != "image":
        return True, ""
    from tm_core import assets
    from tm_core.encoders import image

    spec = image.SPECS.get(name)
    if spec is None:
        return False, _("unknown encoder")
    return assets.available(spec.filename)


def default_encoder(kind: str = "image") -> str:
    return encoder_names(kind)[0]


def kind_of(name: str) -> str:
    """The project kind an encoder name belongs to (names are unique across kinds)."""
    for kind in ("image", "audio", "pose", "hands"):
        if name in encoder_names(kind):
            return kind
    raise InputError(name, _("unknown encoder"))


def keypoint_class(name: str):
    """The class of keypoint encoder ``name`` (body pose, hands): its ``edges`` and ``found(keypoints)``
    without loading its pretrained files (nor importing TensorFlow, as ``kind_of`` does)."""
    if name in encoder_names("pose"):
        from tm_core.encoders import pose

        return pose.PoseEncoder
    if name in encoder_names("hands"):
        from tm_core.encoders import hands

        return hands.HandsEncoder
    raise ValueError(f"{name} is not a keypoint encoder")


def get_encoder(name: str, kind: str | None = None) -> Encoder:
    """Build the encoder called ``name`` (loads its pretrained file: slow, cache the result)."""
    kind = kind or kind_of(name)
    names = encoder_names(kind)
    if name not in names:
        raise InputError(name, _("unknown {kind} encoder; choose one of: {names}", kind=kind, names=", ".join(names)))
    if kind == "audio":
        from tm_core.encoders import audio

        return audio.AudioEncoder(name)
    if kind == "pose":
        from tm_core.encoders import pose

        return pose.PoseEncoder(name)
    if kind == "hands":
        from tm_core.encoders import hands

        return hands.HandsEncoder(name)
    from tm_core.encoders import image

    ok, reason = available(name, kind)
    if not ok:  # say so now rather than wait for a download that cannot work
        raise InputError(encoder_label(name, kind), _("unavailable: {reason} (it needs the file {file}: put it in the "
                                                      "folder TM_MODELS_DIR names)", reason=reason,
                                                      file=image.SPECS[name].filename))

    return image.ImageEncoder(name)
