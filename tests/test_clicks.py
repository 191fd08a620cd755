"""A click is not lost when the run it started is stopped before reaching its button (``widgets.clicked``).

In the browser, streamlit-webrtc's component sends its first message a second or more after a page with a
camera opens, and that rerun stops the run a quick click started: Streamlit then forgets the click (it
resets a button's trigger when its run is stopped early). Here a run is stopped by ``st.rerun()`` before the
button, the same reset, deterministically. (tests/e2e/test_classroom_flow.py's share test clicks "Add a
class" as soon as a student's copy shows, where it was lost in 5 of 11 runs before.)"""

from streamlit.testing.v1 import AppTest


def counting_app(use_helper: bool):
    import streamlit as st

    from tm_core.ui.widgets import clicked

    if st.session_state.pop("interrupt", False):  # another rerun arrives before the button is reached
        st.rerun()
    if clicked(st, "Add a class", "add") if use_helper else st.button("Add a class", key="add"):
        st.session_state["added"] = st.session_state.get("added", 0) + 1


def click_then_stop(at: AppTest) -> AppTest:
    at.session_state["interrupt"] = True
    at.button(key="add").click().run()
    return at


def test_a_click_survives_its_run_being_stopped_and_counts_once():
    at = AppTest.from_function(counting_app, args=(True,))
    at.run()
    click_then_stop(at)
    assert not at.exception and at.session_state["added"] == 1
    at.run()
    assert at.session_state["added"] == 1  # taken once
    at.button(key="add").click().run()  # an ordinary click
    assert at.session_state["added"] == 2


def test_a_plain_button_loses_that_click():
    """Why the helper exists: the same steps with st.button do nothing."""
    at = AppTest.from_function(counting_app, args=(False,))
    at.run()
    click_then_stop(at)
    assert not at.exception and "added" not in at.session_state
