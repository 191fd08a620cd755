"""The Experiments page's panels: the one-click lessons, the sweep over two settings, and runs compared.

Widgets only: the training is ``tm_core.workflow`` (``sweep``, ``grid_sweep``), the numbers
``tm_core.experiments`` and ``tm_core.grid``, the sentences ``tm_core.lessons``.
"""

from __future__ import annotations

import streamlit as st

from tm_core import charts, experiments, grid, kinds, lessons, workflow
from tm_core import experiment_charts as xcharts
from tm_core.encoders import available, encoder_label, encoder_names
from tm_core.errors import InputError
from tm_core.i18n import N_, _, ngettext
from tm_core.ui import state, tables
from tm_core.ui.state import Session

DEFAULT_VALUES = {"epochs": "10, 50, 200", "batch_size": "8, 16, 64, 256", "learning_rate": "0.0001, 0.001, 0.01, 0.1"}
GRID = "grid:last"  # session_state: (sweep number, GridSpec) of the last sweep
STOP_HELP = N_("Stop; the runs already finished are kept.")
GAP_CAPTION = N_("The gap is train accuracy minus test accuracy: when it grows, the model is memorising.")


def lesson_buttons_text() -> dict[str, str]:
    """Each lesson's button, in the page's language (made at call time: the steps are numbers in the text)."""
    return {
        "epochs": _("Train for {steps} epochs", steps=", ".join(map(str, workflow.EPOCH_STEPS))),
        "samples": _("Train with {sizes} and all samples per class",
                     sizes=", ".join(str(n) for n in workflow.SAMPLE_STEPS if n)),
        "learning_rate": _("Train with learning rates {rates}",
                           rates=", ".join(map(experiments.number_text, workflow.RATE_STEPS))),
        "batch_size": _("Train with batch sizes {sizes}", sizes=", ".join(map(str, workflow.BATCH_STEPS))),
    }


def networks(sess: Session) -> list[str]:
    """The pretrained networks a sweep can compare: this kind's whose files can be had here (picture
    projects; a pose or hand project's samples depend on what its network finds, so it has one)."""
    kind = sess.project.kind
    if kinds.is_keypoint(kind):
        return []
    return [name for name in encoder_names(kind) if available(name, kind)[0]]


def setting_title(name: str) -> str:
    """A swept setting's name as a student reads it (``grid.SETTINGS``), in the page's language."""
    return _(grid.SETTINGS[name][0])


def _prepare(sess: Session, progress, network: str | None = None, raising: bool = False):
    """The project's embeddings with ``network`` (default: the session's; cached after the first time), as the
    Train page makes them; None after an error shown (raised instead with ``raising``)."""
    try:  # recordings kept on one side, pictures where nothing was found left out: as on the Train page
        return state.prepare(sess, sess.config, network=network, on_progress=lambda _stage, d, n: progress.progress(
            d / n, text=_("Embedding {done} of {total}", done=d, total=n)))
    except InputError as e:
        if raising:
            raise
        progress.empty()
        st.error(str(e))
        return None


def run_lesson(sess: Session, kind: str) -> None:
    """Train the same data several times (a Stop keeps the runs already complete), then show them."""
    progress = st.progress(0.0, text=_("Embedding…"))
    st.button(_("Stop"), icon=":material/stop:", key="stop-lesson", help=_(STOP_HELP))
    prepared = _prepare(sess, progress)
    if prepared is None:
        return

    def on_epoch(i, runs, epochs, stats) -> None:
        progress.progress((i + stats.epoch / epochs) / runs,
                          text=_("Run {run} of {runs} · epoch {epoch}", run=i + 1, runs=runs, epoch=stats.epoch)
                          if runs > 1 else _("Epoch {epoch} of {epochs}", epoch=stats.epoch, epochs=epochs))

    records = workflow.sweep(sess, prepared, kind, on_epoch=on_epoch)
    st.session_state["compare"] = [r.label for r in records]
    st.rerun()


def lesson_buttons(sess: Session, ready: bool) -> None:
    left, right = st.columns(2)
    for i, (kind, label) in enumerate(lesson_buttons_text().items()):
        if (left if i % 2 == 0 else right).button(label, disabled=not ready, width="stretch", key=f"lesson:{kind}"):
            run_lesson(sess, kind)
    st.caption(ngettext("Learning rate and batch size lessons train {n} epoch each (set on the Train page).",
                        "Learning rate and batch size lessons train {n} epochs each (set on the Train page).",
                        sess.config.epochs))


def sweep_panel(sess: Session, ready: bool) -> None:
    """Pick two settings and their values, how many seeds per cell; train the grid; heatmaps and the table."""
    nets = networks(sess)
    names = [k for k in grid.SETTINGS if k != grid.NETWORK or len(nets) > 1]
    label = {k: setting_title(k) for k in grid.SETTINGS}
    c1, c2, c3 = st.columns([2, 2, 1])
    first = c1.selectbox(_("First setting"), names, index=2, format_func=label.get, key="grid:a")
    others = [n for n in names if n != first]
    second = c2.selectbox(_("Second setting"), others, index=others.index("batch_size") if "batch_size" in others else 0,
                          format_func=label.get, key="grid:b")
    seeds = c3.number_input(_("Seeds per cell"), 1, grid.MAX_SEEDS, 1, key="grid:seeds",
                            help=_("Each cell trained again with other starting weights: the spread shows how much "
                                   "is chance."))

    def values(column, setting: str) -> tuple:
        if setting == grid.NETWORK:  # picked from those that can be had, not typed
            return tuple(column.multiselect(_("Networks"), nets, nets, key="grid:values:encoder",
                                            format_func=lambda n: encoder_label(n, sess.project.kind)))
        return grid.parse_values(setting, column.text_input(_("{setting} values", setting=label[setting]),
                                                            DEFAULT_VALUES[setting], key=f"grid:values:{setting}"))

    try:
        spec = grid.GridSpec({first: values(c1, first), second: values(c2, second)}, int(seeds)).validate(sess.config)
    except InputError as e:
        st.error(str(e))
        spec = None
    if spec is not None:
        st.caption(ngettext("{n} model to train, on the test samples, without early stopping.",
                            "{n} models to train, every one on the same test samples, without early stopping.",
                            spec.runs))
    if st.button(_("Run the sweep"), type="primary", disabled=not ready or spec is None, key="grid:run"):
        progress = st.progress(0.0, text=_("Embedding…"))
        st.button(_("Stop"), icon=":material/stop:", key="stop-grid", help=_(STOP_HELP))
        prepared = _prepare(sess, progress)
        if prepared is not None:
            number = 1 + max((r.run.info.get("grid", 0) for r in sess.runs), default=0)
            st.session_state[GRID] = (number, spec)  # set first: a Stop keeps what finished, and shows it
            try:
                workflow.grid_sweep(sess, prepared, spec, on_progress=lambda d, n: progress.progress(
                    d / n, text=_("Sweep: epoch {done} of {total} in all", done=d, total=n)),
                    prepare_network=lambda name: _prepare(sess, progress, name, raising=True))
            except InputError as e:  # another network could not be had: the runs finished before it are kept
                progress.empty()
                st.error(str(e))
            else:
                st.rerun()
    if GRID in st.session_state:
        show_sweep(sess, *st.session_state[GRID])


def show_sweep(sess: Session, number: int, spec: grid.GridSpec) -> None:
    pairs, labels = workflow.grid_results(sess, number)
    if not pairs:  # stopped before a row finished, or a new project since
        return
    runs = grid.run_table(pairs, labels)
    axes = list(spec.axes)
    cells = grid.cell_table(runs, axes)
    if len(runs) < spec.runs:
        st.info(_("Stopped: {n} of {planned} runs finished; they are kept.", n=len(runs), planned=spec.runs))
    x, y = axes[0], axes[-1]
    title = {k: setting_title(k) for k in grid.SETTINGS}
    left, right = st.columns(2)
    left.altair_chart(xcharts.heatmap(cells, x, y, "test_accuracy_mean",
                                      title=_("Test accuracy (mean ± spread over seeds)"),
                                      x_title=title[x], y_title=title[y], text="accuracy_text", domain=(0, 1)))
    right.altair_chart(xcharts.heatmap(cells, x, y, "seconds_mean", title=_("Training time"), x_title=title[x],
                                       y_title=title[y], text="seconds_text", scheme="oranges", fmt=".2f"))
    if cells["test_accuracy_mean"].isna().all():  # nothing held out: nothing to compare on
        tables.sweep_runs(runs)
        return
    best = cells.loc[cells["test_accuracy_mean"].idxmax()]
    st.write(_("Best cell: {first} {first_value} and {second} {second_value}, {accuracy} test accuracy. The spread "
               "is how much the same cell varies between seeds: a difference smaller than that may be chance.",
               first=title[x].lower(), first_value=grid.value_text(best[x]), second=title[y].lower(),
               second_value=grid.value_text(best[y]), accuracy=best["accuracy_text"]))
    tables.sweep_runs(runs)
    st.download_button(_("Download the table (CSV)"), grid.to_csv(runs), file_name=f"sweep-{number}.csv",
                       mime="text/csv", icon=":material/download:", key="grid:csv")


def _prefix_chain(picked) -> bool:
    """Do the picked runs form an epochs lesson: each the first epochs of the longest, same split and settings?"""
    if len(picked) < 2:
        return False
    longest = max((run for _label, run in picked), key=lambda r: len(r.history))
    for _label, run in picked:
        n = len(run.history)
        same = (run.config.learning_rate, run.config.batch_size, run.config.seed) == (
            longest.config.learning_rate, longest.config.batch_size, longest.config.seed)
        if not same or list(run.split.test) != list(longest.split.test) or list(run.split.train) != list(longest.split.train):
            return False
        if [s.loss for s in run.history] != [s.loss for s in longest.history[:n]]:
            return False
    return True


def compare(sess: Session) -> None:
    """Runs side by side: the chart that tells their story best, the lesson in words, and the summary table."""
    runs = {r.label: r for r in sess.runs}
    if not runs:
        st.info(_("No training runs yet: train on the Train page, or run a lesson above."))
        return
    default = [label for label in st.session_state.get("compare", []) if label in runs] or list(runs)[-3:]
    chosen = st.multiselect(_("Runs to compare"), list(runs), default=default)
    picked = [(label, runs[label].run) for label in chosen]
    if not picked:
        return
    frame = experiments.history_frame(picked)
    st.info(lessons.lesson_text(picked))
    patience = sess.config.patience  # a run trained with early stopping is marked with its own
    best, stops, own = experiments.chart_marks(picked, patience)
    rates = {run.config.learning_rate for _, run in picked}
    batches = {run.config.batch_size for _, run in picked}
    sizes = {len(run.split.train) for _, run in picked}
    left, right = st.columns(2)
    if _prefix_chain(picked):
        label, long = max(picked, key=lambda r: len(r[1].history))
        marks = [len(run.history) for _, run in picked]
        stop = stops.get(label)
        one = experiments.history_frame([(label, long)])
        left.altair_chart(xcharts.epochs_story_chart(one, "accuracy", marks, best.get(label), stop))
        right.altair_chart(xcharts.epochs_story_chart(one, "loss", marks, best.get(label), stop))
        st.caption(_("One training: each shorter run is the first epochs of the longest (same start, same order of "
                     "samples), marked on it. The epoch axis is logarithmic, so the first epochs get room."))
        st.altair_chart(charts.gap_chart(one))
        st.caption(_(GAP_CAPTION))
    elif len(sizes) == 1 and (len(rates) > 1 or len(batches) > 1):
        left.altair_chart(xcharts.runs_chart(frame, "accuracy", "test", best))
        right.altair_chart(xcharts.runs_chart(frame, "loss", "train", {}, log_y=True))
        st.caption(_("Training loss on a log scale: a loss that jumps to hundreds and one near 0.001 fit on one "
                     "chart."))
        if len(batches) > 1:
            tables.batch_runs([(label, run.config.batch_size, lessons.updates_per_epoch(run),
                                round(lessons.seconds_per_epoch(run) * 1000, 1)) for label, run in picked])
    else:
        left.altair_chart(charts.overlay_chart(frame, "accuracy", "test", best, stops))
        right.altair_chart(charts.overlay_chart(frame, "loss", "test", best, stops))
        st.altair_chart(charts.gap_chart(frame))
        st.caption(_(GAP_CAPTION))
    if stops:
        st.markdown("**" + _("When to stop") + "**\n\n" + "\n".join(
            f"- *{label}*: {text}" for label, run in picked if (text := lessons.early_stop_text(run, own[label]))))
        st.caption(ngettext("Dotted lines: where early stopping (waiting {n} epoch, as set on the Train page under "
                            "Advanced) would have ended each run; diamonds: the epoch it would have kept, the lowest "
                            "test loss.",
                            "Dotted lines: where early stopping (waiting {n} epochs, as set on the Train page under "
                            "Advanced) would have ended each run; diamonds: the epoch it would have kept, the lowest "
                            "test loss.", patience))
    tables.run_summary(experiments.summary_frame(picked))  # readable titles, percentages
