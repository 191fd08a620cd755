"""Experiments: one-click lessons (epochs, samples, learning rate, batch size), a sweep, runs side by side."""

import streamlit as st

from tm_core.i18n import _
from tm_core.ui import experiments, state
from tm_core.ui.widgets import trainable

sess = state.session()

st.title(_("Experiments"))
st.write(_("Train the same samples several times, changing one thing, and compare. A model can get better and "
           "better on the pictures it trains on while getting *worse* on new ones: it starts memorising details "
           "(a background, a sleeve) instead of what makes a class. That is **overfitting**. The test "
           "samples, which the model never learns from, show it: watch the test curve, not the train curve."))

with st.container(border=True):
    st.subheader(_("The lessons, in one click"))
    st.write(_("Epochs, training samples, learning rate, batch size: each button trains the same data a few times "
               "with one of them changed. The sentences under the charts are measured from the curves."))
    ready = trainable(sess)
    experiments.lesson_buttons(sess, ready)
    if sess.config.early_stopping:
        st.caption(_("The lesson trains without early stopping, to show the whole curve; the charts below "
                     "show where early stopping would have stopped."))

with st.expander(_("Sweep two settings"), expanded=experiments.GRID in st.session_state):
    st.write(_("Pick two settings and a few values of each: every combination is trained on the features the "
               "network already read from your samples (nothing is read again), and the grid shows test accuracy "
               "and time for each."))
    experiments.sweep_panel(sess, ready)

experiments.compare(sess)
