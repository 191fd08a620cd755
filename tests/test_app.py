"""The app starts and explains itself (AppTest: a real script run, no browser)."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")


def test_app_starts_and_says_what_to_do():
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert at.title[0].value == "Teachable Studio"
    assert "python -m tm_core train" in at.info[0].value
