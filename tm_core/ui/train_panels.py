"""The Train page's panels: the "Advanced" knobs, the pictures where nothing was found, and the results
with what is under the hood. Widgets only: the training itself is ``tm_core.workflow``."""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from tm_core import augment, charts, kinds, lessons, workflow
from tm_core.diagnose import OVERFITTING, diagnose
from tm_core.encoders import available, default_encoder, encoder_label, encoder_names
from tm_core.experiments import history_frame
from tm_core.finetune import FineTuneConfig
from tm_core.finetune import supported as finetune_supported
from tm_core.i18n import N_, _, ngettext
from tm_core.training import END_OF_RECORDING, MARKED, RECORDINGS, TrainConfig
from tm_core.ui import explain, health, state
from tm_core.ui.state import Session
from tm_core.ui.widgets import pct

BATCH_SIZES = [8, 16, 32, 64, 128, 256, 512]
DEFAULTS = TrainConfig()
FINETUNE = FineTuneConfig()
NETWORKS = {  # what each pretrained network is, in the technical words shown under the hood
    "mobilenet_v2_0.35": N_("MobileNetV2 with width α=0.35, pretrained on ImageNet: 1280 numbers (an embedding) per "
                            "picture."),
    "mobilenet_v1_0.25": N_("MobileNet v1 with width α=0.25, pretrained on ImageNet: 256 numbers (an embedding) per "
                            "picture."),
    "mobilenet_v2_1.0": N_("MobileNetV2 with width α=1.0, pretrained on ImageNet: 1280 numbers (an embedding) per "
                           "picture."),
    "efficientnet_v2_b0": N_("EfficientNetV2-B0, pretrained on ImageNet: 1280 numbers (an embedding) per picture."),
    "yamnet_speech": N_("YAMNet's layer 4, pretrained on AudioSet: 7 time steps × 4 pitch bands, 3584 numbers per "
                        "second."),
    "yamnet_embedding": N_("YAMNet's last layer (its embedding), pretrained on AudioSet: 1024 numbers per second."),
}


def reset_defaults(encoder_name: str, kind: str) -> None:
    """Teachable Machine's settings back (a callback: it runs before the widgets are drawn)."""
    for key in ("epochs", "batch_size", "learning_rate", "early_stopping", "patience"):
        st.session_state[f"cfg:{key}"] = getattr(DEFAULTS, key)
    st.session_state["cfg:encoder"] = encoder_name
    st.session_state["cfg:augment"] = augment.on_by_default(kind)
    st.session_state["cfg:finetune"] = False


def settings(sess: Session) -> TrainConfig:
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
    with st.expander(_("Advanced"), expanded=False):
        epochs = st.number_input(_("Epochs"), 1, 1000, step=1, key="cfg:epochs")
        st.caption(_("One epoch = every training sample has been shown to the model once. More epochs learn more, up "
                     "to a point: too many and it memorises the training pictures."))
        batch = st.selectbox(_("Batch size"), BATCH_SIZES, key="cfg:batch_size")
        st.caption(_("How many samples the model looks at before each small correction of its weights."))
        lr = st.number_input(_("Learning rate"), 0.00001, 1.0, step=0.0001, format="%.5f", key="cfg:learning_rate")
        st.caption(_("How big each correction is. Too big and learning jumps around; too small and it crawls."))
        early = st.toggle(_("Stop when the test loss stops improving"), key="cfg:early_stopping")
        patience = st.number_input(_("How long to wait"), 1, 1000, step=1, key="cfg:patience", disabled=not early)
        st.caption(_("With this on, training stops when the test result has not improved for this many epochs in a "
                     "row, and keeps the best model so far. It needs at least 2 samples in each class to test on; "
                     "without them it does nothing."))
        status = {n: available(n, kind) for n in names}  # remembered answers: cheap on every rerun

        # Labels made now, in the run's language (AppTest calls format_func outside the run)
        label = {n: encoder_label(n, kind) if ok else _("{network} (unavailable: {reason})",
                                                       network=encoder_label(n, kind), reason=reason)
                 for n, (ok, reason) in status.items()}
        enc = st.selectbox(_("Pretrained network"), names, key="cfg:encoder", format_func=label.get)
        if not status[enc][0]:
            st.error(_("This network cannot be used here: {reason}. Pick another one.", reason=status[enc][1]))
        if enc == "hand_landmarks_mobilenet":
            st.caption(_("The hand's 21 points give its shape, and a picture network looks at the whole picture. "
                         "Training only teaches the small last part of the model to tell your classes apart."))
        elif kinds.is_keypoint(kind) and kinds.thing(kind) == "hand":
            st.caption(_("This network finds the hand's keypoints in each picture. Training only teaches the small "
                         "last part of the model to tell your classes apart."))
        elif kinds.is_keypoint(kind):
            st.caption(_("This network finds the person's keypoints in each picture. Training only teaches the small "
                         "last part of the model to tell your classes apart."))
        elif kind == "audio":
            st.caption(_("This network has already learned from many sounds. Training only teaches the small last "
                         "part of the model to tell your classes apart."))
        else:
            st.caption(_("This network has already learned from millions of pictures. Training only teaches the small "
                         "last part of the model to tell your classes apart."))
        if kind == "image":
            st.session_state.setdefault("cfg:finetune", sess.finetune)
            can = finetune_supported(enc)
            sess.finetune = st.toggle(_("Fine-tune the last block"), key="cfg:finetune", disabled=not can) and can
            st.caption(_("After the usual training, the last part of the pretrained network learns a little too: "
                         "training takes longer.") if can else _("Fine-tuning works with the MobileNetV2 networks only."))
        if augment.default_views(kind):
            st.session_state.setdefault("cfg:augment", sess.augment)
            sess.augment = st.toggle(_("Also train on altered copies"), key="cfg:augment")
            st.caption(_("Also learn from changed copies of each training sound (shifted, louder or softer, with room "
                         "noise mixed in); training takes longer.") if kind == "audio" else
                       _("Also learn from changed copies of each training picture (mirrored, zoomed in, turned, "
                         "brighter or darker); training takes longer."))
            if kind == "image":
                view_preview(sess)
        st.button(_("Reset to defaults"), on_click=reset_defaults, args=(default_encoder(kind), kind))
    if status[enc][0]:  # an unavailable choice is refused: the session keeps the last usable one
        sess.encoder_name = enc
    sess.config = replace(sess.config, epochs=int(epochs), batch_size=int(batch), learning_rate=float(lr),
                          early_stopping=bool(early), patience=int(patience))
    return sess.config


def view_preview(sess: Session) -> None:
    """One of the project's pictures beside the altered copies training would add of it."""
    ds = sess.project.dataset()
    if not ds.samples:
        return
    s = ds.samples[0]
    n = augment.default_views("image")
    st.image([s.png or s.data] + [augment.image_view(s.data, s.id, v) for v in range(1, n + 1)], width=96,
             caption=[_("your picture")] + [_("copy {number}", number=v) for v in range(1, n + 1)])


def nothing_found(sess: Session) -> None:
    """Pose, hands: per class, the pictures where the keypoint model found nothing, and the choice to keep them."""
    hand = kinds.thing(sess.project.kind) == "hand"
    progress = st.empty()
    ds, features = workflow.embed(  # cached: training reuses these
        sess.project, sess.cache, state.encoder(sess.encoder_name),
        on_progress=lambda _stage, d, n: progress.progress(d / n, text=_("Finding keypoints: picture {done} of {total}",
                                                                            done=d, total=n)))
    progress.empty()
    missing = workflow.nothing_found(sess.project.kind, features)
    if not missing.any():
        return
    for i, name in enumerate(ds.class_names):
        mine = ds.labels == i
        if missing[mine].any():
            n, figures = int(mine.sum()), dict(missing=int(missing[mine].sum()), cls=name)
            st.warning(ngettext("No hand found in {missing} of {n} picture of **{cls}**.",
                                "No hand found in {missing} of {n} pictures of **{cls}**.", n, **figures)
                       if hand else
                       ngettext("No person found in {missing} of {n} picture of **{cls}**.",
                                "No person found in {missing} of {n} pictures of **{cls}**.", n, **figures))
    st.session_state.setdefault("cfg:keep_missing", sess.keep_missing)
    sess.keep_missing = st.toggle(_("Also train on pictures without a hand") if hand else
                                  _("Also train on pictures without a person"), key="cfg:keep_missing")
    left = int(missing.sum())
    st.caption(_("Off: they are left out ({n} in all), since there is no hand to learn from. On: the model also learns "
                 "what \"no hand\" looks like for those classes.", n=left) if hand else
               _("Off: they are left out ({n} in all), since there is no person to learn from. On: the model also "
                 "learns what \"no person\" looks like for those classes.", n=left))


def held_out_text(rec) -> str:
    """Per class, how its held-out samples were chosen (``training.grouped_split``), as a short list."""
    split, ds = rec.run.split, rec.dataset
    lines = []
    for c, name in enumerate(ds.class_names):
        test = split.test[ds.labels[split.test] == c]
        how, n = split.how.get(c), len(test)
        groups = len({ds.samples[i].group or ds.samples[i].id for i in test})
        if how == MARKED:
            lines.append(ngettext("**{cls}**: the {n} sample you marked *test only*.",
                                  "**{cls}**: the {n} samples you marked *test only*.", n, cls=name))
        elif how == RECORDINGS:  # whole recordings, and samples of their own (photos) counted apart
            singles = sum(1 for i in test if not ds.samples[i].group)
            recordings = groups - singles
            from_recordings = ngettext("{samples} samples from {n} whole recording",
                                       "{samples} samples from {n} whole recordings", recordings,
                                       samples=n - singles)
            single = ngettext("{n} single sample", "{n} single samples", singles)
            if n > singles and singles:
                lines.append(_("**{cls}**: {recordings} and {singles} (a webcam burst or a sound recording is never "
                               "split between training and testing).", cls=name, recordings=from_recordings,
                               singles=single))
            else:
                lines.append(_("**{cls}**: {samples} (a webcam burst or a sound recording is never split between "
                               "training and testing).", cls=name,
                               samples=from_recordings if n > singles else single))
        elif how == END_OF_RECORDING:
            lines.append(_("**{cls}**: the last {n} samples of one recording. The frames just before them were trained "
                           "on, so this test is easier than new samples would be: add a second recording or upload, "
                           "or mark some samples *test only* on the Gather page.", cls=name, n=n))
        elif n:
            lines.append(ngettext("**{cls}**: {n} single sample chosen at random.",
                                  "**{cls}**: {n} single samples chosen at random.", n, cls=name))
        else:
            lines.append(_("**{cls}**: none (too few samples).", cls=name))
    return "\n".join(f"- {line}" for line in lines)


def under_the_hood(sess: Session) -> None:
    rec = sess.current
    if rec is None:
        return
    run, ev = rec.run, rec.evaluation
    st.subheader(_("Results"))
    if run.stopped:
        if run.kept_epoch is None:
            st.info(_("Stopped after {done} of {epochs} epochs; the model learned so far is kept.",
                      done=len(run.history), epochs=run.config.epochs))
        else:
            st.info(_("Stopped after {done} of {epochs} epochs; kept epoch {kept}'s weights (lowest test loss so far).",
                      done=len(run.history), epochs=run.config.epochs, kept=run.kept_epoch))
    elif run.early_stopped_at is not None:
        st.info(_("Stopped early at epoch {stopped}; kept epoch {kept}'s weights: the test loss had not gone below "
                  "epoch {kept}'s for {patience} epochs.", stopped=run.early_stopped_at, kept=run.kept_epoch,
                  patience=run.config.patience))
    elif run.kept_epoch is not None:
        st.info(_("Early stopping was on but did not stop: the test loss never went {patience} epochs without a new "
                  "lowest. Kept epoch {kept}'s weights, where it was lowest.", patience=run.config.patience,
                  kept=run.kept_epoch))
    elif run.config.early_stopping:
        st.info(_("Early stopping was on, but no samples were kept aside for testing (each class needs at least 2), "
                  "so it did nothing: all the epochs ran."))
    cols = st.columns(3)
    shown = run.kept_stats()  # the epoch the model comes from
    if rec.finetuned is not None and rec.finetuned.history:  # the model is the fine-tuned one: its last pass
        shown = rec.finetuned.history[-1]
    cols[0].metric(_("Train accuracy"), pct(shown.accuracy))
    cols[1].metric(_("Test accuracy"), pct(ev.accuracy if rec.finetuned is not None else shown.test_accuracy))
    cols[2].metric(_("Epochs"), len(run.history))
    if run.info.get("left_out"):
        n = run.info["left_out"]
        trained = len(run.split.train) + len(run.split.test)
        if kinds.thing(sess.project.kind) == "hand":
            st.info(ngettext("{n} picture without a hand was left out: it trained on {trained} pictures.",
                             "{n} pictures without a hand were left out: it trained on {trained} pictures.",
                             n, trained=trained))
        else:
            st.info(ngettext("{n} picture without a person was left out: it trained on {trained} pictures.",
                             "{n} pictures without a person were left out: it trained on {trained} pictures.",
                             n, trained=trained))
    frame = history_frame([(rec.label, run)])
    left, right = st.columns(2)
    left.altair_chart(charts.metric_chart(frame, "accuracy", _("Accuracy per epoch")))
    right.altair_chart(charts.metric_chart(frame, "loss", _("Loss per epoch")))
    found = diagnose(run, ev.confusion)  # the settings first: a too-large learning rate is no data problem
    said = lessons.diagnosis_sentences(run, diagnosis=found)
    if said and not (found.kind == OVERFITTING and run.kept_epoch is not None):  # early stopping already kept the best
        (st.warning if found.settings_at_fault else st.info)(" ".join(said))
    if not found.settings_at_fault:
        health.confusion_notes(sess)
    with st.expander(_("Under the hood"), expanded=True):
        n_test = len(run.split.test)
        if not n_test:
            st.write(_("No samples were held out (each class needs at least 2), so there is nothing to test on."))
        else:
            st.write(ngettext("{n} sample was held out: the model never trained on it, so it shows how it does on new "
                              "sounds.",
                              "{n} samples were held out: the model never trained on them, so they show how it does "
                              "on new sounds.", n_test)
                     if sess.project.kind == "audio" else
                     ngettext("{n} sample was held out: the model never trained on it, so it shows how it does on new "
                              "pictures.",
                              "{n} samples were held out: the model never trained on them, so they show how it does "
                              "on new pictures.", n_test))
            st.markdown(held_out_text(rec))
            if run.info.get("fine_tuned"):
                ft = run.info["fine_tuned"]
                st.write(_("Then the network's last block was fine-tuned ({epochs} more passes): held-out accuracy went "
                           "from {before} to {after}. The charts show the head's training before that.",
                           epochs=ft["epochs"], before=pct(ft["test_accuracy_before"]), after=pct(ev.accuracy)))
            if run.info.get("augmented_views"):
                views = run.info["augmented_views"]
                st.write(_("It also trained on {n} altered copies of the training sounds (shifted in time, louder or "
                           "softer, with your Background Noise mixed in): never on held-out ones.", n=views)
                         if sess.project.kind == "audio" else
                         _("It also trained on {n} altered copies of the training pictures (mirrored, zoomed in, "
                           "turned a little, brighter or darker): never on held-out ones.", n=views))
            left, right = st.columns(2)
            left.altair_chart(charts.per_class_chart(ev))
            right.altair_chart(charts.confusion_chart(ev))
            st.caption(_("Confusion matrix: each row is the true class, each column what the model said. Everything "
                         "on the diagonal is right; the rest shows which classes it mixes up."))
            explain.mistakes_panel(rec)
        settings_details(sess, rec)


def settings_details(sess: Session, rec) -> None:
    """Under the hood: the settings in the technical words, with what was measured for them."""
    kind = sess.project.kind
    st.markdown(_("**The settings, in more detail**"))
    if kind == "audio":
        st.write(_("The pretrained network is frozen: it turns each second of sound into numbers (an embedding) and "
                   "does not change. Only the small classifier on top, the *head*, is trained."))
    else:
        st.write(_("The pretrained network is frozen: it turns each picture into numbers (an embedding) and does not "
                   "change. Only the small classifier on top, the *head*, is trained."))
    if rec.encoder in NETWORKS:
        st.write(_(NETWORKS[rec.encoder]))
    st.write(lessons.early_stopping_help())
    if kind == "image":
        st.write(lessons.finetune_help(FINETUNE.epochs))
    if augment.default_views(kind):
        st.write(lessons.augment_help(kind))
