"""Which recording each imported file belongs to: the held-out split keeps a recording on one side.

Decided by what the files are (a sound file's windows, frames of one video, a sub-folder asked to be
one recording), the same way for the app and the CLI. No Streamlit here.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import numpy as np

from tm_core.i18n import _, ngettext


def new_group(source: str) -> str:
    """A fresh recording id (``"burst-1a2b3c4d"``): samples sharing it stay on one side of the split."""
    return f"{source}-{uuid.uuid4().hex[:8]}"


# Two pictures imported one after the other are frames of one video when their 16×16 grey thumbnails
# correlate at least this much. Measured (benchmarks/recordings.py) on real files: frames of a video 0.1 s
# apart 0.98-1.00, 2 s apart ≥ 0.91; consecutive distinct photos (by name) of rps_real median 0.18-0.33,
# 95th percentile 0.68-0.77, of clothing4 at most 0.89 (pants). The few rps_real pairs above it (2, 1 and 3
# of 149 per class) are crops of one source clip: kept together is right for them too.
SAME_VIDEO = 0.9
THUMBNAIL = 16  # side of the grey thumbnail compared


def thumbnail(picture: np.ndarray) -> np.ndarray:
    """A picture as a ``THUMBNAIL``² grey vector with zero mean and unit length: its correlation with
    another is one dot product, blind to brightness and contrast (cheap: about 0.1 ms)."""
    from PIL import Image

    grey = Image.fromarray(np.asarray(picture, np.uint8)).convert("L").resize((THUMBNAIL, THUMBNAIL), Image.BILINEAR)
    v = np.asarray(grey, np.float32).ravel()
    v -= v.mean()
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v


class Recordings:
    """Which recording each imported file's samples belong to: the one rule for every import (the app's
    uploads and zips, and ``python -m tm_core train``), so the held-out split is the same everywhere.

    Separate files are separate recordings: a photo is a sample of its own (group ``""``), and the
    one-second windows of one sound file share that file's recording. Pictures that follow one another
    in name order (in one class folder or one upload) and look nearly the same (``SAME_VIDEO``) are frames
    of one video: they share a recording, decided by what the files are, not by how they came. With
    ``by_folder``, every sub-folder inside a class folder (``rock/video 1/0001.jpg``) is one recording.
    A webcam burst is one recording too (the Gather page gives its frames one group).

    After an import, :meth:`sentences` says what was decided, for the page and the CLI.
    """

    def __init__(self, by_folder: bool = False):
        self.by_folder = by_folder
        self._folders: dict[tuple[str, str], str] = {}
        self._last: dict[tuple[str, str], tuple[np.ndarray, str, str]] = {}  # (class, folder) → thumbnail, id, group
        self.pictures: dict[str, int] = {}  # class → pictures added by this import
        self.videos: dict[str, dict[str, int]] = {}  # class → {group: frames} of the videos found
        self._thumb: np.ndarray | None = None  # the thumbnail of the picture ``follow`` last looked at

    @staticmethod
    def sub_folder(class_name: str, name: str) -> str:
        """The folders between the class folder and the file in ``name`` ("" when the file is directly in it)."""
        parts = name.replace("\\", "/").split("/")
        if class_name not in parts[:-1]:
            return ""
        return "/".join(parts[parts.index(class_name) + 1:-1])

    def group(self, class_name: str, name: str, several: bool) -> str:
        """The group of file ``name`` of folder ``class_name``; ``several``: the file gives several samples."""
        folder = self.sub_folder(class_name, name) if self.by_folder else ""
        if folder:
            return self._folders.setdefault((class_name, folder), new_group("folder"))
        return new_group("file") if several else ""

    def follow(self, regroup: Callable[[str, str, str], None], into: str, folder: str, name: str,
               picture: np.ndarray, group: str, thumb: np.ndarray | None = None) -> str:
        """The group of picture file ``name`` (of class folder ``folder``, going into class ``into``; ``group``:
        the one :meth:`group` gave it), given the picture before it in the same folder: a near-identical one
        makes both frames of one video (``regroup(class, id, group)`` moves the earlier one's sample into that
        video's group). ``thumb``: the picture's :func:`thumbnail`, if already made."""
        key = (into, self.sub_folder(folder, name))
        thumb = self._thumb = thumbnail(picture) if thumb is None else thumb
        last = self._last.get(key)
        if group or last is None or float(thumb @ last[0]) < SAME_VIDEO:
            return group
        _, last_id, last_group = last
        if not last_group:
            last_group = new_group("frames")
            regroup(into, last_id, last_group)
            self.videos.setdefault(into, {})[last_group] = 1
            self._last[key] = (last[0], last_id, last_group)
        return last_group

    def added(self, into: str, folder: str, name: str, sid: str, group: str) -> None:
        """Note picture sample ``sid`` (of recording ``group``), the picture :meth:`follow` just placed, added
        by the import: for the next :meth:`follow` and for :meth:`sentences`."""
        self.pictures[into] = self.pictures.get(into, 0) + 1
        self._last[(into, self.sub_folder(folder, name))] = (self._thumb, sid, group)
        if group in self.videos.get(into, {}):
            self.videos[into][group] += 1

    def sentences(self) -> list[str]:
        """What was decided for the pictures of this import, one sentence per class (none for one picture)."""
        out = []
        for into, n in self.pictures.items():
            videos = self.videos.get(into, {})
            frames = sum(videos.values())
            if n < 2:
                continue
            if not videos:
                out.append(_("The {n} new pictures of {into} look like separate photos, so each one can be "
                             "tested on its own.", n=n, into=into))
            elif frames == n and len(videos) == 1:
                out.append(_("The {n} new pictures of {into} look like frames of one video, so they are kept "
                             "together: the test never uses frames of a video the model learned from.", n=n, into=into))
            elif len(videos) == 1:
                out.append(_("{frames} of the {n} new pictures of {into} look like frames of one video, so they "
                             "are kept together: the test never uses frames of a video the model learned from.",
                             frames=frames, n=n, into=into))
            else:
                out.append(ngettext("{frames} of the {total} new pictures of {into} look like frames of {n} video. "
                                    "The frames of each video are kept together: the test never uses frames of a "
                                    "video the model learned from.",
                                    "{frames} of the {total} new pictures of {into} look like frames of {n} videos. "
                                    "The frames of each video are kept together: the test never uses frames of a "
                                    "video the model learned from.", len(videos), frames=frames, total=n, into=into))
        return out
