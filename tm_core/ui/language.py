"""The page's language: from its address (``?lang=ko``), else the one picked in this session, else the
browser's (``st.context.locale``), else English; and the sidebar's picker.

The entry script calls :func:`choose` first of all (before the page titles are made), and
:func:`keep_in_address` once the run may write to the page: switching pages drops the address's
parameters, and the language goes back beside the project's token, so a reload or a shared link keeps it.
"""

from __future__ import annotations

import streamlit as st

from tm_core import i18n

PARAM = "lang"  # the page address's parameter
KEY = "ui:lang"  # session_state: the language this session uses


def choose() -> str:
    """This run's language, set for everything it translates; returns its code. Reads only (no element)."""
    lang = i18n.normalise(st.query_params.get(PARAM)) or st.session_state.get(KEY)
    if lang is None:
        lang = i18n.normalise(_browser_locale())
    lang = i18n.use(lang)
    st.session_state[KEY] = lang
    return lang


def _browser_locale() -> str | None:
    try:
        return st.context.locale
    except Exception:  # noqa: BLE001 - no browser (a bare script run): English
        return None


def keep_in_address() -> None:
    """Put the language in the page's address when it is not there (a page switch dropped it)."""
    lang = st.session_state.get(KEY, i18n.DEFAULT)
    if st.query_params.get(PARAM) != lang:
        st.query_params[PARAM] = lang


def _picked() -> None:
    lang = st.session_state.get("ui:lang_picker")
    if lang in i18n.LANGUAGES:
        st.session_state[KEY] = lang
        st.query_params[PARAM] = lang
        i18n.use(lang)


def picker() -> None:
    """The sidebar's language choice (each language named in its own words)."""
    codes = list(i18n.LANGUAGES)
    current = st.session_state.get(KEY, i18n.DEFAULT)
    st.session_state["ui:lang_picker"] = current  # follows ?lang= too
    st.sidebar.segmented_control("언어 · Language", codes, format_func=i18n.LANGUAGES.get, key="ui:lang_picker",
                                 on_change=_picked, selection_mode="single")
