"""Derived data of a student's samples (thumbnails, keypoints, spectrograms) is cached per session:
only the encoders are shared between sessions (issue 7). (AppTest gives every test the same session
id, so two sessions cannot be told apart here; the browser test runs several.)"""

from streamlit.testing.v1 import AppTest


def app():
    import streamlit as st

    from tm_core.ui.widgets import session_cache

    calls = st.session_state.setdefault("calls", [])

    @session_cache(max_entries=10)
    def derived(sample_id: str, _data) -> str:
        calls.append(sample_id)
        return f"{sample_id}:{len(_data)}"

    st.write(derived("abc", [1, 2, 3]))
    st.write(derived("abc", [1, 2, 3]))


def test_cached_in_the_session_across_reruns():
    at = AppTest.from_function(app)
    at.run()
    at.run()
    assert not at.exception
    assert at.session_state["calls"] == ["abc"]  # once: the rerun and the second call were cache hits
    assert [m.value for m in at.markdown] == ["abc:3", "abc:3"]


def test_thumbnails_are_cached_per_session():
    """(A sample's keypoints are kept in the session's own embeddings, saved with its project:
    tests/test_hands.py.)"""
    from tm_core.ui import keypoints

    assert keypoints.thumbnail.cached._info.scope == "session"


def test_outside_a_script_run_it_simply_computes():
    from tm_core.ui.widgets import session_cache

    calls = []

    @session_cache(max_entries=10)
    def derived(x):
        calls.append(x)
        return x * 2

    assert (derived(2), derived(2)) == (4, 4) and calls == [2, 2]
