"""Overfitting: runs side by side, the best epoch, and a one-click lesson."""

import streamlit as st

from tm_core import charts, experiments, lessons, workflow
from tm_core.errors import InputError
from tm_core.ui import state, tables
from tm_core.ui.widgets import trainable

sess = state.session()


def lesson(kind: str) -> None:
    """Train the same data several times, one run at a time (a Stop keeps the runs already done)."""
    progress = st.progress(0.0, text="Embedding…")
    st.button("Stop", icon=":material/stop:", key="stop-lesson", help="Stop; the runs already finished are kept.")
    try:  # as on the Train page: recordings kept on one side, pictures where nothing was found left out
        prepared = state.prepare(sess, sess.config, on_progress=lambda _stage, d, n: progress.progress(
            d / n, text=f"Embedding {d} of {n}"))
    except InputError as e:
        progress.empty()
        st.error(str(e))
        return

    def on_epoch(i, runs, epochs, stats) -> None:
        progress.progress((i + stats.epoch / epochs) / runs, text=f"Run {i + 1} of {runs} · epoch {stats.epoch}")

    records = workflow.sweep(sess, prepared, kind, on_epoch=on_epoch)
    st.session_state["compare"] = [r.label for r in records]
    st.rerun()


st.title("Overfitting")
st.write("A model can get better and better on the pictures it trains on while getting *worse* on new ones: it "
         "starts memorising details (a background, a sleeve) instead of what makes a class. That is **overfitting**. "
         "The held-out test samples show it: watch the test curve, not the train curve.")

with st.container(border=True):
    st.subheader("The lesson, in one click")
    st.write("Train the same samples several times and compare. Where does test accuracy stop improving "
             "while train accuracy keeps rising?")
    left, right = st.columns(2)
    ready = trainable(sess)
    if left.button(f"Train for {', '.join(map(str, workflow.EPOCH_STEPS))} epochs", disabled=not ready, width="stretch"):
        lesson("epochs")
    if right.button(f"Train with {', '.join(str(n) for n in workflow.SAMPLE_STEPS if n)} and all samples per class", disabled=not ready, width="stretch"):
        lesson("samples")
    if sess.config.early_stopping:
        st.caption("The lesson trains without early stopping, to show the whole curve; the dotted lines below "
                   "show where early stopping would have stopped.")

runs = {r.label: r for r in sess.runs}
if not runs:
    st.info("No training runs yet: train on the Train page, or run the lesson above.")
else:
    default = [label for label in st.session_state.get("compare", []) if label in runs] or list(runs)[-3:]
    chosen = st.multiselect("Runs to compare", list(runs), default=default)
    picked = [(label, runs[label].run) for label in chosen]
    if picked:
        frame = experiments.history_frame(picked)
        st.info(lessons.lesson_text(picked))
        patience = sess.config.patience  # a run trained with early stopping is marked with its own
        best, stops, own = experiments.chart_marks(picked, patience)
        left, right = st.columns(2)
        left.altair_chart(charts.overlay_chart(frame, "accuracy", "test", best, stops))
        right.altair_chart(charts.overlay_chart(frame, "loss", "test", best, stops))
        if stops:
            st.markdown("**When to stop**\n\n" + "\n".join(
                f"- *{label}*: {text}" for label, run in picked
                if (text := lessons.early_stop_text(run, own[label]))))
            st.caption(f"Dotted lines: where early stopping (patience {patience}, set on the Train page under "
                       "Advanced) would have ended each run; diamonds: the epoch it would have kept, the lowest test loss.")
        st.altair_chart(charts.gap_chart(frame))
        st.caption("The gap is train accuracy minus test accuracy: when it grows, the model is memorising.")
        tables.run_summary(experiments.summary_frame(picked))  # readable titles, percentages
