"""The app in the student's language: gettext catalogs, and the language of the code running now.

Every sentence a student or teacher reads is written in English in the code and wrapped:

- ``_("Train model")``, with named placeholders filled after translation:
  ``_("{n} photos in {cls}", n=12, cls=name)`` (never sentence parts glued together: word order differs
  between languages);
- ``ngettext("{n} sample", "{n} samples", n)`` where the number changes the words (``n`` is filled in);
- ``N_("...")`` marks a sentence kept in a module-level constant: it is translated where it is shown,
  ``_(CONSTANT)`` (a constant is made once, before any student's language is known).

The catalogs live in ``tm_core/locale``: ``messages.pot`` (every wrapped sentence, extracted by Babel:
``python tools/translations.py update``), ``ko/LC_MESSAGES/messages.po`` and ``en/...``, and
``GLOSSARY.md`` (the Korean terms the translations keep to). The compiled ``.mo`` files are not in the
repository: the first translation compiles them from the ``.po`` (Babel), so a fresh clone works.

The language belongs to the code running now (a context variable): the page's script sets it at the top
of every run (``tm_core.ui.language.choose``), and the engine's messages (``InputError`` reasons, lesson
and health sentences) are translated where they are made, in that language. Work handed to another
thread takes the language along with :func:`bound`. Without a language set (the CLI, a plain import),
everything is English.
"""

from __future__ import annotations

import contextvars
import functools
import gettext
import io
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

LANGUAGES = {"ko": "한국어", "en": "English"}  # code → the language's own name (the picker shows it)
DEFAULT = "en"
DOMAIN = "messages"
LOCALE_DIR = Path(__file__).parent / "locale"

_language: contextvars.ContextVar[str] = contextvars.ContextVar("tm_language", default=DEFAULT)
log = logging.getLogger(__name__)
T = TypeVar("T")


def normalise(code: str | None) -> str | None:
    """A supported language code from a page address or a browser locale (``ko``, ``ko-KR``, ``en_US``),
    else None."""
    if not code:
        return None
    base = str(code).strip().replace("_", "-").split("-")[0].lower()
    return base if base in LANGUAGES else None


def use(code: str | None) -> str:
    """Make ``code`` (else English) the language of the code running now, in this thread; returns it."""
    lang = normalise(code) or DEFAULT
    _language.set(lang)
    return lang


def current() -> str:
    """The language of the code running now."""
    return _language.get()


def bound(fn: Callable[..., T]) -> Callable[..., T]:
    """``fn`` run in the language of the code calling :func:`bound` (for worker threads and callbacks)."""
    lang = current()

    @functools.wraps(fn)
    def run(*args, **kwargs):
        token = _language.set(lang)
        try:
            return fn(*args, **kwargs)
        finally:
            _language.reset(token)

    return run


def _compile(lang: str) -> bytes | None:
    """The ``.mo`` of ``lang``'s catalog, compiled from its ``.po`` (without its fuzzy entries), or None."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    po = LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not po.is_file():
        return None
    with po.open("rb") as f:
        catalog = read_po(f, locale=lang)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    return buf.getvalue()


def compile_catalog(lang: str) -> Path | None:
    """Write ``lang``'s ``.mo`` beside its ``.po`` when it is missing or older; returns its path (None when
    there is no catalog). A folder the server cannot write to is not an error: :func:`translations`
    then compiles in memory."""
    po = LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    mo = po.with_suffix(".mo")
    if not po.is_file():
        return None
    if mo.is_file() and mo.stat().st_mtime >= po.stat().st_mtime:
        return mo
    data = _compile(lang)
    tmp = mo.with_name(f".{mo.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(mo)
    return mo


@functools.cache
def translations(lang: str) -> gettext.NullTranslations:
    """The catalog of ``lang`` (compiled on first use); English and a missing catalog translate nothing."""
    if lang == DEFAULT:
        return gettext.NullTranslations()
    try:
        mo = compile_catalog(lang)
        if mo is not None:
            with mo.open("rb") as f:
                return gettext.GNUTranslations(f)
    except OSError as exc:  # a read-only install: compile in memory instead
        log.info("could not write the %s catalog (%s); compiling it in memory", lang, exc)
        data = _compile(lang)
        if data is not None:
            return gettext.GNUTranslations(io.BytesIO(data))
    return gettext.NullTranslations()


def _(message: str, /, **values) -> str:
    """``message`` in the current language, its ``{placeholders}`` filled from ``values``."""
    text = translations(current()).gettext(message) if message else message
    return text.format(**values) if values else text


def ngettext(singular: str, plural: str, n: int, /, **values) -> str:
    """The form of ``singular``/``plural`` for ``n`` in the current language; ``{n}`` and ``values`` filled."""
    return translations(current()).ngettext(singular, plural, n).format(n=n, **values)


def pgettext(context: str, message: str, /, **values) -> str:
    """``message`` in the current language where the same English needs different words by ``context``
    (a button's "Train" and a page's "Train"); placeholders filled from ``values``."""
    text = translations(current()).pgettext(context, message) if message else message
    return text.format(**values) if values else text


def N_(message: str, /) -> str:
    """Marks ``message`` for translation where it is shown (``_(message)`` there); returns it unchanged."""
    return message


def words_of(code: str | None = None) -> str:
    """The language's own name."""
    return LANGUAGES[normalise(code) or current()]
