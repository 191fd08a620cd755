"""The translation catalogs: extract, update, check, compile and merge (Babel's Python API).

    python tools/translations.py update            # code → tm_core/locale/messages.pot → ko and en .po
    python tools/translations.py check             # every ko message translated, placeholders kept
    python tools/translations.py compile           # the .mo files (the app also does this on start-up)
    python tools/translations.py todo [PATH...]     # the ko messages still untranslated (from PATHs only)
    python tools/translations.py merge OTHER.po... # fill ko's empty translations from other ko catalogs

What is extracted: ``_()``, ``N_()`` and ``ngettext()`` calls in ``streamlit_app.py``, ``app_pages/`` and
``tm_core/`` (the CLI, ``tm_core/__main__.py``, stays English), and the example projects' titles, texts
and attributions in ``tm_core/examples/index.json``. ``update`` keeps every translation whose English
did not change, and drops those whose English is gone (Babel marks near matches fuzzy; ``check`` and
the app ignore fuzzy ones, so a changed sentence shows in English until it is translated again).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tm_core import i18n  # noqa: E402

POT = i18n.LOCALE_DIR / f"{i18n.DOMAIN}.pot"
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2)}
SOURCES = ("streamlit_app.py", "app_pages", "tm_core")
SKIP = ("tm_core/__main__.py",)
EXAMPLE_FIELDS = ("title", "about", "attribution")
PLACEHOLDER = re.compile(r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)(?:[:!][^{}]*)?\}")


def po_path(lang: str) -> Path:
    return i18n.LOCALE_DIR / lang / "LC_MESSAGES" / f"{i18n.DOMAIN}.po"


def extract() -> Catalog:
    """Every wrapped message of the app, with where it is."""
    cat = Catalog(project="Teachable Studio", version="1", msgid_bugs_address="", copyright_holder="",
                  charset="utf-8")
    method_map = [("**.py", "python")]
    for src in SOURCES:
        path = ROOT / src
        if path.is_file():
            items = ((path.name, *m) for m in _extract_file(path))
        else:
            items = ((f"{src}/{name}", lineno, msg, comments, ctx)
                     for name, lineno, msg, comments, ctx in extract_from_dir(path, method_map, keywords=KEYWORDS))
        for where, lineno, message, comments, context in items:
            if where in SKIP or ("/examples/" in where and where.endswith(".json")):
                continue
            cat.add(message, None, [(where, lineno)], auto_comments=comments, context=context)
    index = ROOT / "tm_core" / "examples" / "index.json"
    for n, row in enumerate(json.loads(index.read_text(encoding="utf-8"))):
        for field in EXAMPLE_FIELDS:
            if row.get(field):
                cat.add(row[field], None, [("tm_core/examples/index.json", n + 1)], auto_comments=[field])
    return cat


def _extract_file(path: Path):
    from babel.messages.extract import extract

    with path.open("rb") as f:
        yield from extract("python", f, keywords=KEYWORDS)


def _write(catalog: Catalog, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        write_po(f, catalog, width=0, sort_output=False, include_previous=False)


def _read(path: Path, lang: str | None = None) -> Catalog:
    with path.open("rb") as f:
        return read_po(f, locale=lang)


def update() -> None:
    template = extract()
    _write(template, POT)
    for lang in i18n.LANGUAGES:
        path = po_path(lang)
        if path.is_file():
            cat = _read(path, lang)
        else:
            cat = Catalog(locale=lang, charset="utf-8", project="Teachable Studio", version="1")
        cat.update(template, update_header_comment=False)
        cat.obsolete.clear()  # gone from the code: not kept
        _write(cat, path)
    print(f"{len(template)} messages → {POT.relative_to(ROOT)}")


def ids(message) -> tuple[str, ...]:
    return message.id if isinstance(message.id, tuple) else (message.id,)


def strings(message) -> tuple[str, ...]:
    s = message.string
    return tuple(s) if isinstance(s, (tuple, list)) else (s,)


def problems(lang: str = "ko") -> list[str]:
    """What is wrong with ``lang``'s catalog against the template: untranslated, fuzzy, placeholders."""
    template = _read(POT)
    cat = _read(po_path(lang), lang)
    found = []
    for msg in template:
        if not msg.id:
            continue
        got = cat.get(msg.id, msg.context)
        if got is None or not all(strings(got)) or not strings(got):
            found.append(f"untranslated: {ids(msg)[0]!r}")
            continue
        if got.fuzzy:
            found.append(f"fuzzy: {ids(msg)[0]!r}")
            continue
        want = set(PLACEHOLDER.findall(" ".join(ids(msg))))
        for s in strings(got):
            have = set(PLACEHOLDER.findall(s))
            if have != want:
                found.append(f"placeholders {sorted(have)} ≠ {sorted(want)}: {ids(msg)[0]!r}")
        if isinstance(msg.id, tuple) != isinstance(got.id, tuple):
            found.append(f"plural form missing: {ids(msg)[0]!r}")
    return found


def todo(paths: list[str]) -> list:
    cat = _read(po_path("ko"), "ko")
    left = []
    for msg in cat:
        if not msg.id or (all(strings(msg)) and not msg.fuzzy):
            continue
        if paths and not any(loc.startswith(p) for loc, _ in msg.locations for p in paths):
            continue
        left.append(msg)
    return left


def merge(others: list[Path]) -> int:
    cat = _read(po_path("ko"), "ko")
    filled = 0
    for other in others:
        for msg in _read(other, "ko"):
            if not msg.id or msg.fuzzy or not all(strings(msg)):
                continue
            mine = cat.get(msg.id, msg.context)
            if mine is not None and (not all(strings(mine)) or mine.fuzzy):
                mine.string, mine.flags = msg.string, {f for f in mine.flags if f != "fuzzy"}
                filled += 1
    _write(cat, po_path("ko"))
    return filled


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=("update", "check", "compile", "todo", "merge"))
    ap.add_argument("paths", nargs="*")
    args = ap.parse_args(argv)
    if args.command == "update":
        update()
    elif args.command == "check":
        found = problems("ko")
        print("\n".join(found) or "ko: every message translated")
        return 1 if found else 0
    elif args.command == "compile":
        for lang in i18n.LANGUAGES:
            print(i18n.compile_catalog(lang))
    elif args.command == "todo":
        left = todo(args.paths)
        for msg in left:
            where = ", ".join(f"{loc}:{line}" for loc, line in msg.locations[:2])
            print(f"{where}\t{ids(msg)[0]!r}")
        print(f"{len(left)} untranslated", file=sys.stderr)
    elif args.command == "merge":
        print(f"{merge([Path(p) for p in args.paths])} translations filled")
    return 0


if __name__ == "__main__":
    sys.exit(main())
