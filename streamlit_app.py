"""Teachable Studio: teach a computer to recognise your own examples.

Entry point. streamlit_webrtc is imported before anything that can import TensorFlow:
the other order crashes the process (see ../shared/TESTING.md).
"""

import streamlit_webrtc  # noqa: F401  (must precede TensorFlow)
import streamlit as st

st.set_page_config(page_title="Teachable Studio", page_icon="🧠", layout="wide")


def home() -> None:
    st.title("Teachable Studio")
    st.write(
        "Teach a computer to recognise your own examples: gather pictures for a few classes, "
        "train a small classifier on top of a pretrained network, watch it learn epoch by epoch, "
        "see when it overfits, and test it live."
    )
    st.info(
        "The pages for gathering, training, overfitting and testing are on their way. "
        "Today the engine works from the command line:\n\n"
        "`python -m tm_core train DATA_DIR --out OUT_DIR` with `DATA_DIR/<class>/<images>`, then "
        "`python -m tm_core evaluate OUT_DIR TEST_DIR` and `python -m tm_core predict OUT_DIR FILE...`."
    )


st.navigation([st.Page(home, title="Home", icon="🏠", default=True)]).run()
