"""Example projects a student opens with one click: real, licensed photos and sounds, shipped in this
folder as project files (``tm_core.project_file``), with where they come from and their licences.

``index.json`` lists them (name, title, kind, what they show, attribution, and the accuracies that
``tools/make_examples.py`` measured when it built them from the original data sets); ``LICENSES.md``
and ``licenses/`` keep each data set's licence and attribution. The app reads only the files
here.

:func:`open_example` reads one through the same checks as any project file, so an example becomes a
normal, editable project of the student's own (the caller gives it a new token and saves it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from tm_core.errors import InputError
from tm_core.i18n import _
from tm_core.project_file import SUFFIX, ProjectFile, open_project

FOLDER = Path(__file__).resolve().parent
INDEX = FOLDER / "index.json"


@dataclass(frozen=True)
class Example:
    name: str  # file stem and id: "rps-hands"
    title: str  # "Rock, paper, scissors (hand pose)"
    kind: str  # a tm_core.kinds kind
    about: str  # what it shows, in one or two sentences a student reads
    attribution: str  # whose data, which licence (shown in the app when the example is opened)
    classes: dict[str, int]  # class → samples
    held_out_accuracy: float  # the app's own held-out accuracy with the default settings (seed 0)
    unseen_accuracy: float  # the same model on the data set's pictures or clips the example does not hold
    unseen: int  # how many those were
    megabytes: float

    @property
    def path(self) -> Path:
        return FOLDER / f"{self.name}{SUFFIX}"


@cache
def examples() -> tuple[Example, ...]:
    """Every example shipped with the app, in the order the page shows them."""
    try:
        rows = json.loads(INDEX.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ()
    return tuple(Example(**row) for row in rows)


def get(name: str) -> Example:
    for ex in examples():
        if ex.name == name:
            return ex
    raise InputError(_("example {name}", name=repr(name)), _("is not one of the examples shipped with this app"))


def open_example(name: str) -> ProjectFile:
    """The example's project (checked as any project file is); ``InputError`` if it is missing or damaged."""
    ex = get(name)
    try:
        data = ex.path.read_bytes()
    except OSError as e:
        raise InputError(_(ex.title), _("cannot be read on this server ({why})",
                                        why=e.strerror or type(e).__name__)) from None
    return open_project(data, _(ex.title))
