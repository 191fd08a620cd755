"""Train: the knobs, Train / Stop, live accuracy and loss per epoch, and what is under the hood."""

from dataclasses import replace

import streamlit as st

from tm_core import augment, charts
from tm_core.encoders import available, default_encoder, encoder_label, encoder_names
from tm_core.errors import InputError
from tm_core.experiments import history_frame
from tm_core.finetune import FineTuneConfig, supported as finetune_supported
from tm_core.training import END_OF_RECORDING, MARKED, RECORDINGS, TrainConfig, train
from tm_core.ui import explain, health, keypoints, state
from tm_core.ui.state import PendingRun
from tm_core.ui.widgets import pct, trainable

BATCH_SIZES = [8, 16, 32, 64, 128, 256, 512]
DEFAULTS = TrainConfig()
FINETUNE = FineTuneConfig()
FINETUNE_HELP = (
    f"After the head has learned, the network's last block learns too, gently ({FINETUNE.epochs} more passes, "
    "with a mirrored copy of each training picture). Measured on real photos: rock-paper-scissors 81 % → 86 %, "
    "clothing 98 % → 97 %. It takes about 20 seconds more for 450 pictures on a small 2-core computer."
)

sess = state.session()


def reset_defaults(encoder_name: str, kind: str) -> None:
    """Teachable Machine's settings back (a callback: it runs before the widgets are drawn)."""
    for key in ("epochs", "batch_size", "learning_rate", "early_stopping", "patience"):
        st.session_state[f"cfg:{key}"] = getattr(DEFAULTS, key)
    st.session_state["cfg:encoder"] = encoder_name
    st.session_state["cfg:augment"] = augment.on_by_default(kind)
    st.session_state["cfg:finetune"] = False


def settings() -> TrainConfig:
    """The "Advanced" knobs, each with what it does in plain words; kept in the session."""
    c = sess.config
    for key in ("epochs", "batch_size", "learning_rate", "early_stopping", "patience"):
        st.session_state.setdefault(f"cfg:{key}", getattr(c, key))
    kind = sess.project.kind
    names = encoder_names(kind)
    if sess.encoder_name not in names:
        sess.encoder_name = default_encoder(kind)
    if st.session_state.get("cfg:encoder") not in names:  # e.g. the project kind changed
        st.session_state["cfg:encoder"] = sess.encoder_name
    with st.expander("Advanced", expanded=False):
        epochs = st.number_input("Epochs", 1, 1000, step=1, key="cfg:epochs")
        st.caption("One epoch = every training sample has been shown to the model once. "
                   "More epochs learn more, up to a point: too many and it memorises the training pictures.")
        batch = st.selectbox("Batch size", BATCH_SIZES, key="cfg:batch_size")
        st.caption("How many samples the model looks at before each small correction of its weights.")
        lr = st.number_input("Learning rate", 0.00001, 1.0, step=0.0001, format="%.5f", key="cfg:learning_rate")
        st.caption("How big each correction is. Too big and learning jumps around; too small and it crawls.")
        early = st.toggle("Stop when the test loss stops improving", key="cfg:early_stopping")
        patience = st.number_input("Patience", 1, 1000, step=1, key="cfg:patience", disabled=not early)
        st.caption("Early stopping: after each epoch, the loss on the held-out samples is checked. When it has not "
                   "gone down for *patience* epochs in a row, training stops and keeps the weights of the epoch where "
                   "it was lowest. It needs held-out samples (at least 2 per class); without them it does nothing. "
                   "The held-out samples then also pick the epoch, so their accuracy flatters the model a little. "
                   "On our rock-paper-scissors and clothing photos it stopped after 11 to 16 epochs of 50 on average, "
                   "with about the same accuracy on new pictures.")
        status = {n: available(n, kind) for n in names}  # remembered answers: cheap on every rerun

        def label(n: str) -> str:
            ok, reason = status[n]
            return encoder_label(n, kind) if ok else f"{encoder_label(n, kind)} (unavailable: {reason})"

        enc = st.selectbox("Pretrained network", names, key="cfg:encoder", format_func=label)
        if not status[enc][0]:
            st.error(f"This network cannot be used here: {status[enc][1]}. Pick another one.")
        if enc == "hand_landmarks_mobilenet":
            st.caption("The hand's 21 landmarks, made into numbers for its shape only (not where it is, how big or "
                       "which hand), beside MobileNetV2's numbers for the whole picture; only the small head on top "
                       "is trained.")
        elif keypoints.is_keypoint(kind):
            st.caption(f"The frozen network that finds the {keypoints.thing(kind)}'s keypoints in each picture; they "
                       "become numbers that do not depend on where it is or how big; only the small head on top is trained.")
        else:
            st.caption(f"The frozen network that turns each {'sound' if kind == 'audio' else 'picture'} into numbers; "
                       "only the small head on top is trained.")
        if kind == "image":
            st.session_state.setdefault("cfg:finetune", sess.finetune)
            can = finetune_supported(enc)
            sess.finetune = st.toggle("Fine-tune the last block", key="cfg:finetune", disabled=not can) and can
            st.caption(FINETUNE_HELP if can else "Fine-tuning works with the MobileNetV2 networks only.")
        if kind in AUGMENT_CAPTIONS:
            st.session_state.setdefault("cfg:augment", sess.augment)
            sess.augment = st.toggle("Also train on altered copies", key="cfg:augment")
            st.caption(AUGMENT_CAPTIONS[kind])
            if kind == "image":
                view_preview()
        st.button("Reset to defaults", on_click=reset_defaults, args=(default_encoder(kind), kind))
    if status[enc][0]:  # an unavailable choice is refused: the session keeps the last usable one
        sess.encoder_name = enc
    sess.config = replace(sess.config, epochs=int(epochs), batch_size=int(batch), learning_rate=float(lr),
                          early_stopping=bool(early), patience=int(patience))
    return sess.config


AUGMENT_CAPTIONS = {
    "audio": "Three copies of each training sound, shifted in time, louder or softer, with your Background "
             "Noise mixed in: more robust in a noisy room. On clean recordings it changed held-out "
             "accuracy little (words +1 %, spoken digits −7 %), so it is off by default.",
    "image": "Four copies of each training picture: every other one mirrored, each zoomed in, turned a little, "
             "made brighter or darker. "
             "Measured by cross-validation it changed held-out accuracy by +1 % on rock-paper-scissors photos "
             "(within chance) and −1 % on clothing photos, and made the first training 5 times slower (16 s "
             "instead of 3 s for 450 photos), so it is off by default.",
}


def view_preview() -> None:
    """One of the project's pictures beside the altered copies training would add of it."""
    ds = sess.project.dataset()
    if not ds.samples:
        return
    s = ds.samples[0]
    n = augment.default_views("image")
    st.image([s.png or s.data] + [augment.image_view(s.data, s.id, v) for v in range(1, n + 1)], width=96,
             caption=["your picture"] + [f"copy {v}" for v in range(1, n + 1)])


def run_training(config: TrainConfig) -> None:
    progress = st.progress(0.0, text="Starting…")
    st.button("Stop", icon=":material/stop:", help="Stop training; every epoch finished so far is kept.")
    left, right = st.columns(2)
    acc_chart, loss_chart = left.empty(), right.empty()
    ds, features = state.embed_dataset(
        sess, on_progress=lambda d, n: progress.progress(d / n, text=f"Embedding sample {d} of {n}"))
    seen = [s.id for s in ds.samples]
    try:  # pose, hands: pictures where nothing was found are left out unless the user keeps them
        ds, features, left_out = state.usable_dataset(sess, ds, features)
    except InputError as e:
        progress.empty()
        st.error(f"{e}. Add pictures with a {keypoints.thing(sess.project.kind)} in them, or turn on "
                 f"\"Also train on pictures without a {keypoints.thing(sess.project.kind)}\".")
        return
    split = state.split_for(ds, config)
    # Altered views of the training samples (cached; trained on, never tested); none for pose and hands
    extra = state.embed_views(
        sess, ds, split, on_progress=lambda d, n: progress.progress(d / n, text=f"Augmenting {d} of {n}")
    ) if sess.augment else None
    pending = sess.pending = PendingRun(config, sess.encoder_name, ds, features, split)
    if left_out:
        pending.info["left_out"], pending.seen = left_out, seen
    if extra is not None and len(extra[1]):
        pending.info["augmented_views"] = int(len(extra[1]))

    def on_epoch(stats) -> None:
        pending.history.append(stats)
        progress.progress(stats.epoch / config.epochs, text=f"Epoch {stats.epoch} of {config.epochs}")
        frame = history_frame([("this run", pending)])
        acc_chart.altair_chart(charts.metric_chart(frame, "accuracy", "Accuracy per epoch"))
        loss_chart.altair_chart(charts.metric_chart(frame, "loss", "Loss per epoch"))

    pending.finished = train(features, ds.labels, ds.class_names, config, split=split, on_epoch=on_epoch,
                             on_head=lambda head: setattr(pending, "head", head), extra=extra)
    rec = sess.finish_pending()
    if rec is not None and sess.finetune and finetune_supported(rec.encoder):
        # A Stop now keeps the run just trained, as it is (not fine-tuned).
        state.fine_tune(
            sess, rec,
            on_progress=lambda d, n: progress.progress(d / n, text=f"Fine-tuning: preparing picture {d} of {n}"),
            on_epoch=lambda s: progress.progress(
                s.epoch / FINETUNE.epochs, text=f"Fine-tuning the last block: pass {s.epoch} of {FINETUNE.epochs}"))
    st.rerun()


def nothing_found() -> None:
    """Pose, hands: per class, the pictures where the keypoint model found nothing, and the choice to keep them."""
    what = keypoints.thing(sess.project.kind)
    progress = st.empty()
    ds, features = state.embed_dataset(  # cached: training reuses these
        sess, on_progress=lambda d, n: progress.progress(d / n, text=f"Finding keypoints: picture {d} of {n}"))
    progress.empty()
    missing = ~keypoints.found(features)
    if not missing.any():
        return
    for i, name in enumerate(ds.class_names):
        mine = ds.labels == i
        if missing[mine].any():
            st.warning(f"No {what} found in {int(missing[mine].sum())} of {int(mine.sum())} pictures of **{name}**.")
    st.session_state.setdefault("cfg:keep_missing", sess.keep_missing)
    sess.keep_missing = st.toggle(f"Also train on pictures without a {what}", key="cfg:keep_missing")
    st.caption(f"Off: they are left out ({int(missing.sum())} in all), since there is no {what} to learn from. "
               f"On: the model also learns what \"no {what}\" looks like for those classes.")


def held_out_text(rec) -> str:
    """Per class, how its held-out samples were chosen (``training.grouped_split``), as a short list."""
    split, ds = rec.run.split, rec.dataset
    lines = []
    for c, name in enumerate(ds.class_names):
        test = split.test[ds.labels[split.test] == c]
        how, n = split.how.get(c), len(test)
        groups = len({ds.samples[i].group or ds.samples[i].id for i in test})
        if how == MARKED:
            lines.append(f"**{name}**: the {n} sample{'s' if n != 1 else ''} you marked *test only*.")
        elif how == RECORDINGS:
            lines.append(f"**{name}**: {n} samples from {groups} whole recording{'s' if groups != 1 else ''} "
                         "(a webcam burst or an upload is never split between training and testing).")
        elif how == END_OF_RECORDING:
            lines.append(f"**{name}**: the last {n} samples of one recording. The frames just before them were "
                         "trained on, so this test is easier than new samples would be: add a second recording or "
                         "upload, or mark some samples *test only* on the Gather page.")
        elif n:
            lines.append(f"**{name}**: {n} single samples chosen at random.")
        else:
            lines.append(f"**{name}**: none (too few samples).")
    return "\n".join(f"- {line}" for line in lines)


def under_the_hood() -> None:
    rec = sess.current
    if rec is None:
        return
    run, ev = rec.run, rec.evaluation
    st.subheader("Results")
    if run.stopped:
        kept = ("; the model learned so far is kept" if run.kept_epoch is None
                else f"; kept epoch {run.kept_epoch}'s weights (lowest test loss so far)")
        st.info(f"Stopped after {len(run.history)} of {run.config.epochs} epochs{kept}.")
    elif run.early_stopped_at is not None:
        st.info(f"Stopped early at epoch {run.early_stopped_at}; kept epoch {run.kept_epoch}'s weights: the test loss "
                f"had not gone below epoch {run.kept_epoch}'s for {run.config.patience} epochs.")
    elif run.kept_epoch is not None:
        st.info(f"Early stopping was on but did not stop: the test loss never went {run.config.patience} epochs "
                f"without a new lowest. Kept epoch {run.kept_epoch}'s weights, where it was lowest.")
    elif run.config.early_stopping:
        st.info("Early stopping was on, but no samples were held out (each class needs at least 2), so it did "
                "nothing: all the epochs ran.")
    cols = st.columns(3)
    shown = run.kept_stats()  # the epoch the model comes from
    if rec.finetuned is not None and rec.finetuned.history:  # the model is the fine-tuned one: its last pass
        shown = rec.finetuned.history[-1]
    cols[0].metric("Train accuracy", pct(shown.accuracy))
    cols[1].metric("Test accuracy (held-out)", pct(ev.accuracy if rec.finetuned is not None else shown.test_accuracy))
    cols[2].metric("Epochs", len(run.history))
    if run.info.get("left_out"):
        n = run.info["left_out"]
        st.info(f"{n} picture{'s' if n != 1 else ''} without a {keypoints.thing(sess.project.kind)} "
                f"{'were' if n != 1 else 'was'} left out: it trained on {len(run.split.train) + len(run.split.test)} pictures.")
    frame = history_frame([(rec.label, run)])
    left, right = st.columns(2)
    left.altair_chart(charts.metric_chart(frame, "accuracy", "Accuracy per epoch"))
    right.altair_chart(charts.metric_chart(frame, "loss", "Loss per epoch"))
    health.confusion_notes(sess)
    with st.expander("Under the hood", expanded=True):
        n_test = len(run.split.test)
        if not n_test:
            st.write("No samples were held out (each class needs at least 2), so there is nothing to test on.")
            return
        st.write(f"{n_test} samples were held out: the model never trained on them, so they show how it does on new "
                 f"{'sounds' if sess.project.kind == 'audio' else 'pictures'}.")
        st.markdown(held_out_text(rec))
        if run.info.get("fine_tuned"):
            ft = run.info["fine_tuned"]
            st.write(f"Then the network's last block was fine-tuned ({ft['epochs']} more passes): held-out "
                     f"accuracy went from {pct(ft['test_accuracy_before'])} to {pct(ev.accuracy)}. The charts show "
                     "the head's training before that.")
        if run.info.get("augmented_views"):
            how = ("sounds (shifted in time, louder or softer, with your Background Noise mixed in)"
                   if sess.project.kind == "audio" else "pictures (mirrored, zoomed in, turned a little, "
                   "brighter or darker)")
            st.write(f"It also trained on {run.info['augmented_views']} altered copies of the training {how}: "
                     "never on held-out ones.")
        left, right = st.columns(2)
        left.altair_chart(charts.per_class_chart(ev))
        right.altair_chart(charts.confusion_chart(ev))
        st.caption("Confusion matrix: each row is the true class, each column what the model said. "
                   "Everything on the diagonal is right; the rest shows which classes it mixes up.")
        explain.mistakes_panel(rec)


st.title("Train")
st.write("Training shows every sample to the model many times and nudges a small classifier on top of a "
         "pretrained network until it tells your classes apart. About 15 % of each class is held out to test it, "
         "whole recordings at a time, so near-identical frames of one burst are never on both sides.")
config = settings()
ready = trainable(sess) and available(st.session_state["cfg:encoder"], sess.project.kind)[0]
if ready and keypoints.is_keypoint(sess.project.kind):
    nothing_found()
if sess.project_changed_since(sess.current):
    st.caption("Your samples changed since the last training.")
if st.button("Train model", type="primary", disabled=not ready):
    run_training(config)
under_the_hood()
