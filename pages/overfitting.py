"""Overfitting: runs side by side, the best epoch, and a one-click lesson."""

from dataclasses import replace

import numpy as np
import streamlit as st

from tm_core import charts, experiments
from tm_core.errors import InputError
from tm_core.ui import state
from tm_core.ui.widgets import trainable

EPOCHS = (5, 20, 50, 200)
PER_CLASS = (5, 10, 20, None)

sess = state.session()


def lesson(kind: str) -> None:
    """Train the same data several times, one run at a time (a Stop keeps the runs already done)."""
    progress = st.progress(0.0, text="Embedding…")
    st.button("Stop", icon=":material/stop:", key="stop-lesson", help="Stop; the runs already finished are kept.")
    ds, features = state.embed_dataset(sess, on_progress=lambda d, n: progress.progress(d / n, text=f"Embedding {d} of {n}"))
    seen = [s.id for s in ds.samples]
    try:  # pose, hands: as on the Train page, pictures where nothing was found are left out unless kept
        ds, features, left_out = state.usable_dataset(sess, ds, features)
    except InputError as e:
        progress.empty()
        st.error(str(e))
        return
    split = state.split_for(ds, sess.config)  # as on the Train page: recordings kept on one side
    if kind == "epochs":
        steps = EPOCHS
    else:  # sizes at or above the smallest class's training count would all train on everything
        smallest = int(np.bincount(ds.labels[split.train]).min())
        steps = [n for n in PER_CLASS if n is None or n < smallest]
    labels = []
    for i, step in enumerate(steps):
        def on_epoch(_run_index, stats, i=i):
            progress.progress((i + stats.epoch / config.epochs) / len(steps),
                              text=f"Run {i + 1} of {len(steps)} · epoch {stats.epoch}")

        if kind == "epochs":
            config = replace(sess.config, epochs=step, early_stopping=False)  # the lesson shows the whole fall
            (label, run), = experiments.epoch_sweep(features, ds.labels, ds.class_names, (step,), config, split=split,
                                                      on_epoch=on_epoch)
        else:
            config = replace(sess.config, early_stopping=False)
            (label, run), = experiments.samples_sweep(features, ds.labels, ds.class_names, (step,), config,
                                                       split=split, order="random", on_epoch=on_epoch)
        if left_out:
            run.info["left_out"] = left_out
        labels.append(sess.add_run(run, sess.encoder_name, ds, features, label=f"Lesson · {label}",
                                   seen=seen if left_out else None).label)
    st.session_state["compare"] = labels
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
    if left.button(f"Train for {', '.join(map(str, EPOCHS))} epochs", disabled=not ready, width="stretch"):
        lesson("epochs")
    if right.button("Train with 5, 10, 20 and all samples per class", disabled=not ready, width="stretch"):
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
        best = {label: e for label, run in picked if (e := experiments.best_epoch(run)) is not None}
        st.info(experiments.lesson_text(picked))
        patience = sess.config.patience  # a run trained with early stopping is marked with its own
        own = {label: run.config.patience if run.kept_epoch is not None else patience for label, run in picked}
        stops = {label: tuple(s) for label, run in picked if (s := experiments.early_stop_epoch(run, own[label]))}
        left, right = st.columns(2)
        left.altair_chart(charts.overlay_chart(frame, "accuracy", "test", best, stops))
        right.altair_chart(charts.overlay_chart(frame, "loss", "test", best, stops))
        if stops:
            st.markdown("**When to stop**\n\n" + "\n".join(
                f"- *{label}*: {text}" for label, run in picked
                if (text := experiments.early_stop_text(run, own[label]))))
            st.caption(f"Dotted lines: where early stopping (patience {patience}, set on the Train page under "
                       "Advanced) would have ended each run; diamonds: the epoch it would have kept, the lowest test loss.")
        st.altair_chart(charts.gap_chart(frame))
        st.caption("The gap is train accuracy minus test accuracy: when it grows, the model is memorising.")
        st.dataframe(experiments.summary_frame(picked), hide_index=True)
