"""File names made from what the student typed: safe on every system, letters of any script kept
(Hangul, accents), everything else a dash."""

from __future__ import annotations

import datetime as dt
import functools
import re
import unicodedata

from tm_core.i18n import LANGUAGES, N_, _, translations
from tm_core.kinds import is_starter_name

STEM_LIMIT = 60  # characters of the name before the date: long enough for three class names


def slug(text: str) -> str:
    """``text`` in lower case with every run of characters that are not letters or digits made one dash
    (no slash, colon, dot or space is left, so it is safe as part of a file name anywhere)."""
    text = unicodedata.normalize("NFC", str(text)).casefold()
    return re.sub(r"[\W_]+", "-", text).strip("-")


def project_stem(class_names: list[str], kind: str) -> str:
    """What a project is called in a file name: its classes' names (``rock-paper-scissors``), or, while they
    are still the starter names or too long, its kind (``image-project``)."""
    named = [slug(n) for n in class_names if not is_starter_name(n)]  # "Class 1", "클래스 1", "Background Noise"
    named = [n for n in named if n]
    stem = "-".join(named)
    if not named or len(stem) > STEM_LIMIT:
        return f"{slug(kind) or 'teachable'}-project"
    return stem


def project_file_name(class_names: list[str], kind: str, suffix: str, day: dt.date | None = None) -> str:
    """``rock-paper-scissors-2026-12-04.tmproject.zip``: the project's name and the day it was saved."""
    return f"{project_stem(class_names, kind)}-{(day or dt.date.today()).isoformat()}{suffix}"


# --- run labels: "Run 3 · 50 epochs · batch 16 · lr 0.001" (in Korean "학습 3 · …") ---------------------------

RUN_NAME = N_("Run {number}")  # the head of a plain run's label, in the language it was trained in


def run_name(number: int) -> str:
    """A plain run's name in the current language: "Run 3" ("학습 3")."""
    return _(RUN_NAME, number=number)


@functools.cache
def _run_patterns() -> tuple[re.Pattern, ...]:
    """"Run N" in every language the app speaks: a label keeps the language it was made in."""
    out = []
    for lang in LANGUAGES:
        said = translations(lang).gettext(RUN_NAME)
        out.append(re.compile(re.escape(said).replace(re.escape("{number}"), r"(\d+)")))
    return tuple(out)


def run_number(label: str) -> int | None:
    """N of a label made by :func:`run_name` (in any language), else None (a lesson's or a sweep's label)."""
    head = str(label).split(" ·", 1)[0].strip()
    for pattern in _run_patterns():
        m = pattern.fullmatch(head)
        if m:
            return int(m.group(1))
    return None


def renumber(label: str, number: int) -> str:
    """``label`` of a plain run with its number changed, in the label's own language."""
    head, sep, rest = str(label).partition(" ·")
    return re.sub(r"\d+", str(number), head, count=1) + sep + rest
