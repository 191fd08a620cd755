"""Links a class passes around: a student's own project link (for their phone), a teacher's copy link,
and their QR codes (``segno``, a pure-Python QR code library). No Streamlit here.

The app's address is what the browser shows (``st.context.url``, given by the UI) without the page's
own path, or ``TM_PUBLIC_URL`` when the server sits behind an address it cannot see (a proxy path).
"""

from __future__ import annotations

import io
import os
from urllib.parse import urlencode, urlsplit, urlunsplit

import segno

PROJECT, COPY = "project", "copy"  # the address parameters: a project's token, a shared copy's token
PAGES = ("gather", "train", "overfitting", "test")  # the pages' url paths (pages/<name>.py)


def app_address(url: str | None, pages: tuple[str, ...] = PAGES) -> str | None:
    """The app's own address from the browser's ``url`` (its page path, query and anchor removed);
    ``TM_PUBLIC_URL`` when set; None when neither is known."""
    public = os.environ.get("TM_PUBLIC_URL", "").strip()
    if public:
        url = public
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    path = parts.path.rstrip("/")
    last = path.rsplit("/", 1)[-1]
    if last in pages:
        path = path[: -len(last)].rstrip("/")
    return urlunsplit((parts.scheme, parts.netloc, path + "/", "", ""))


def link(address: str | None, param: str, token: str) -> str:
    """``address?param=token`` (just ``?param=token`` when the address is not known)."""
    return f"{address or ''}?{urlencode({param: token})}"


def qr_png(text: str, scale: int = 6) -> bytes:
    """A QR code of ``text`` as PNG bytes (error correction M, the quiet zone of 4 modules the standard asks)."""
    buf = io.BytesIO()
    segno.make(text, error="m", micro=False).save(buf, kind="png", scale=scale, border=4)
    return buf.getvalue()


def qr_svg(text: str, scale: int = 6) -> str:
    """The same QR code as an SVG document (for a page to print)."""
    return segno.make(text, error="m", micro=False).svg_inline(scale=scale, border=4)
