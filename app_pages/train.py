"""Train: the knobs, Train / Stop, live accuracy and loss per epoch, and what is under the hood."""

import streamlit as st
from streamlit.runtime.scriptrunner_utils.exceptions import StopException

from tm_core import charts, kinds, workflow
from tm_core.errors import InputError
from tm_core.experiments import history_frame
from tm_core.i18n import N_, _, pgettext
from tm_core.training import TrainConfig
from tm_core.ui import state, sync, train_panels
from tm_core.ui.widgets import why_not_trainable

STAGES = {workflow.EMBEDDING: N_("Reading sample {done} of {total}"),
          workflow.AUGMENTING: N_("Making changed copies {done} of {total}"),
          workflow.BLOCKS: N_("Fine-tuning: preparing picture {done} of {total}")}
# A pose or hand project where no picture shows a body or a hand: the engine's reason, and what to do
NOTHING_FOUND = {"hand": N_("{reason}. Add pictures with a hand in them, or turn on \"Also train on pictures without "
                            "a hand\"."),
                 "person": N_("{reason}. Add pictures with a person in them, or turn on \"Also train on pictures "
                              "without a person\".")}

# While training, the page's Stop is the only one: it reruns the page, which keeps the epochs done and shows
# them. Streamlit's own Stop in the top bar ends the script run instead, with nothing to follow: the page
# stayed at "Epoch 55 of 200" and a reload lost the run. Hidden for the training's run only (the style
# goes with the run); run_training still keeps and saves a run ended that way.
ONE_STOP = "<style>[data-testid='stStatusWidget'] button { display: none; }</style>"

sess = state.session()


def show_progress(bar):
    return lambda stage, d, n: bar.progress(d / n, text=_(STAGES[stage], done=d, total=n))


def run_training(config: TrainConfig) -> None:
    st.html(ONE_STOP)
    progress = st.progress(0.0, text=_("Starting…"))
    st.button(_("Stop"), icon=":material/stop:", help=_("Stop training; every epoch finished so far is kept."))
    left, right = st.columns(2)
    acc_chart, loss_chart = left.empty(), right.empty()
    try:  # pose, hands: pictures where nothing was found are left out unless the user keeps them
        prepared = state.prepare(sess, config, augment_views=sess.augment, on_progress=show_progress(progress))
    except InputError as e:
        progress.empty()
        what = kinds.thing(sess.project.kind)
        st.error(_(NOTHING_FOUND.get(what, NOTHING_FOUND["person"]), reason=str(e))
                 if kinds.is_keypoint(sess.project.kind) else str(e))
        return

    def on_epoch(stats) -> None:
        progress.progress(stats.epoch / config.epochs,
                          text=_("Epoch {epoch} of {epochs}", epoch=stats.epoch, epochs=config.epochs))
        frame = history_frame([(_("this run"), sess.pending)])
        acc_chart.altair_chart(charts.metric_chart(frame, "accuracy", _("Accuracy per epoch")))
        loss_chart.altair_chart(charts.metric_chart(frame, "loss", _("Loss per epoch")))

    try:
        rec = workflow.train(sess, prepared, config, on_epoch=on_epoch)
        if sess.finetune and workflow.can_fine_tune(rec):  # a Stop now keeps the run just trained, as it is
            epochs = train_panels.FINETUNE.epochs
            state.fine_tune(sess, rec, on_progress=show_progress(progress), on_epoch=lambda s: progress.progress(
                s.epoch / epochs, text=_("Fine-tuning the last block: pass {epoch} of {epochs}", epoch=s.epoch,
                                         epochs=epochs)))
    except StopException:  # the script run was ended with no rerun to follow: keep the epochs done, on the server
        sess.finish_pending()
        sync.autosave(sess)
        raise
    st.rerun()


st.title(pgettext("page", "Train"))
st.write(_("Training shows every sample to the model many times, until it learns to tell your classes apart. About "
           "{percent} % of each class is kept aside to test it: the model never learns from those samples. The "
           "samples of one recording stay on the same side, so the test is fair.",
           percent=round(sess.config.test_fraction * 100)))
config = train_panels.settings(sess)
why = why_not_trainable(sess, st.session_state["cfg:encoder"])
if why is None and kinds.is_keypoint(sess.project.kind):
    train_panels.nothing_found(sess)
if sess.project_changed_since(sess.current):
    st.caption(_("Your samples changed since the last training."))
clicked = st.button(_("Train model"), key="train:go", type="primary", disabled=why is not None)
if why is not None:
    st.info(why, icon=":material/block:")  # beside the greyed-out button: why, and what to do
if clicked:
    run_training(config)
train_panels.under_the_hood(sess)
