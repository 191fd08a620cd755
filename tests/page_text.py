"""The texts a page shows, as AppTest sees them: every text an element shows (body, label, help, options,
captions, metric values), through the element protos; ids, keys, picture data and chart specs (field
names, not shown as such) are not text. Used by the jargon and the language tests."""

from __future__ import annotations

from google.protobuf.json_format import MessageToDict
from streamlit.testing.v1.element_tree import Block, Expander

from tm_core import i18n

HOOD = "Under the hood"  # the label of the expanders that keep technical words out of the way
HOODS = tuple({i18n.translations(lang).gettext(HOOD).lower() for lang in i18n.LANGUAGES})  # in every language
NOT_TEXT = {"id", "formId", "key", "url", "src", "spec", "data", "arrowData", "useContainerWidth", "vegaLiteChart",
            "imgs", "markdownAllowed", "icon", "type"}


def strings(value, out: list[str]) -> list[str]:
    if isinstance(value, dict):
        for k, v in value.items():
            if k not in NOT_TEXT:
                strings(v, out)
    elif isinstance(value, list):
        for v in value:
            strings(v, out)
    elif isinstance(value, str):
        out.append(value)
    return out


def main_path(node, out: list[str], hood: bool = False) -> list[str]:
    """Every text shown outside "Under the hood" expanders, under ``node`` (``hood``: inside them too)."""
    if isinstance(node, Expander):
        if any(h in node.label.lower() for h in HOODS) and not hood:
            return out
        out.append(node.label)
    if isinstance(node, Block):
        for child in node.children.values():
            main_path(child, out, hood)
        return out
    proto = getattr(node, "proto", None)
    if proto is not None:
        strings(MessageToDict(proto), out)
    return out


