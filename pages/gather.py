"""Gather: the project kind, classes and their samples (upload, folder, zip of class folders, webcam or
microphone), gallery."""

import re

import numpy as np
import streamlit_webrtc  # noqa: F401  (before anything that imports TensorFlow)
import streamlit as st
from streamlit_webrtc import WebRtcMode, webrtc_streamer

from tm_core import media
from tm_core.errors import InputError
from tm_core.project import Sample, new_group
from tm_core.ui import health, keypoints, state, webrtc
from tm_core.ui.widgets import UPLOAD_IMAGE_TYPES, class_warnings, save_and_open, session_cache, start_over

GALLERY = 24  # thumbnails shown per class before "show all"
KINDS = {  # project kind -> what it learns from
    "image": "Image · teach it pictures: photos, a folder or the webcam.",
    "audio": "Audio · teach it sounds: one-second recordings from the microphone or sound files.",
    "pose": "Body pose · teach it poses of the whole body: keypoints, not pixels, so where you stand and your "
            "clothes do not matter.",
    "hands": "Hand pose · teach it hand shapes and gestures (rock, paper, scissors, thumbs up): 21 landmarks of "
             "the hand, whichever hand, however turned, beside the picture.",
}
# cross-validation on rps_real/train (benchmarks/hands.py): hand pose 0.92, an image project 0.82
GESTURE_TIP = ("Gestures or hand shapes, like rock, paper, scissors? Start a **Hand pose** project under "
               "**New project**: it learns the shape of the hand, and was right on 92 % of rock-paper-scissors "
               "photos it had not seen where an image project was right on 82 %.")
BACKGROUND_CAPTION = ("Record at least 20 seconds of your room without speaking: the model learns what silence "
                      "and room noise sound like, so it does not hear your other classes in them. "
                      "This class cannot be renamed, disabled or deleted.")

sess = state.session()
project = sess.project
audio = project.kind == "audio"
keypoint = keypoints.is_keypoint(project.kind)  # pose, hands: whole pictures, skeletons drawn


def nonce(key: str) -> int:
    """A counter in a widget's key: bumping it gives a fresh, empty widget (uploads are taken once)."""
    return st.session_state.setdefault(f"nonce:{key}", 0)


def reset(key: str) -> None:
    st.session_state[f"nonce:{key}"] = nonce(key) + 1


def report(*messages: tuple[str, str]) -> None:
    """What the last action added or refused, shown at the top until the next action replaces it.

    Kept across reruns on purpose: the page reruns after taking an upload, and the camera
    component can rerun it again at any time, so a show-once message could vanish unread.
    """
    st.session_state["report"] = list(messages)


def take(items, where: str) -> None:
    """Add decoded items to the project and report what was added and what was not."""
    added, errors = 0, []
    with st.spinner(f"Reading {'sounds' if audio else 'images'} for {where}…"):
        for result in items:
            if isinstance(result, Sample):
                added += 1
            else:
                errors.append(result)
    messages = [("success" if added else "info", f"Added {added} sample{'s' if added != 1 else ''} to {where}.")]
    if errors:
        messages.append(("warning", f"{len(errors)} file{'s were' if len(errors) != 1 else ' was'} not added:\n\n"
                         + "\n".join(f"- {e}" for e in errors[:30]) + ("\n- …" if len(errors) > 30 else "")))
    report(*messages)


def test_only(cls) -> bool:
    """Whether new samples of ``cls`` go in as test only (the class card's toggle)."""
    return bool(st.session_state.get(f"testonly:{cls.uid}", False))


def split_controls(cls) -> bool:
    """The class's test-only toggles; True when the gallery should show a test-only box per sample."""
    left, right = st.columns(2)
    left.toggle("Add new samples as test only", key=f"testonly:{cls.uid}",
                help="Samples added while this is on are never trained on: the model is tested on them only.")
    return right.toggle("Choose test-only samples", key=f"choose:{cls.uid}", disabled=not cls.samples,
                        help="Tick samples to keep them for testing only. Under each one: train or test in the last "
                             "training.")


def upload_into(cls, k: str, label: str, **options) -> None:
    """A file uploader whose files all go to ``cls`` as one upload; taken once, then the uploader starts empty."""
    files = st.file_uploader(label, key=f"{k}:{nonce(k)}", label_visibility="collapsed", **options)
    if files:
        take(project.add_files(((cls.name, f.name, f.getvalue()) for f in files), test_only=test_only(cls)), cls.name)
        state.release_uploads(*files)
        reset(k)
        st.rerun()


def class_card(cls) -> None:
    key = cls.uid
    fixed = audio and cls.background  # Background Noise: always there, always used, named as in Teachable Machine
    with st.container(border=True):
        top = st.columns([4, 1.3, 1, 1], vertical_alignment="bottom")
        new_name = top[0].text_input("Class name", cls.name, key=f"name:{key}:{cls.name}", disabled=fixed)
        if new_name.strip() != cls.name:
            try:
                project.rename_class(cls.name, new_name)
                st.rerun()
            except InputError as e:
                top[0].error(e.reason)
        enabled = top[1].toggle("Use in training", cls.enabled, key=f"on:{key}", disabled=fixed,
                                help="A disabled class keeps its samples but is left out of training.")
        if enabled != cls.enabled:
            try:
                project.set_enabled(cls.name, enabled)
                st.rerun()
            except InputError as e:
                top[1].error(e.reason)
        if top[2].button("Clear", key=f"clear:{key}", disabled=not cls.samples, help="Remove every sample of this class"):
            project.clear_class(cls.name)
            st.rerun()
        if not fixed:
            with top[3].popover("Delete", help="Delete this class and its samples"):
                st.write(f"Delete **{cls.name}** and its {len(cls)} samples?")
                if st.button("Yes, delete", key=f"del:{key}", type="primary"):
                    project.delete_class(cls.name)
                    st.rerun()
        if fixed:
            st.caption(BACKGROUND_CAPTION)

        st.markdown(f"**{len(cls)}** sample{'s' if len(cls) != 1 else ''}" + (" (one second each)" if audio else "")
                    + (f", {len(cls.test_only)} of them test only" if cls.test_only else ""))
        choose = split_controls(cls)
        if audio:
            sound_inputs(cls)
            sound_gallery(cls, choose)
            return
        upload, folder, camera = st.tabs(["Upload images", "Upload a folder", "Webcam photo"])
        with upload:
            upload_into(cls, f"up:{key}", "Images", type=UPLOAD_IMAGE_TYPES, accept_multiple_files=True)
        with folder:
            upload_into(cls, f"dir:{key}", "A folder of images", accept_multiple_files="directory")
        with camera:
            k = f"cam:{key}"
            photo = st.camera_input("Take a photo", key=f"{k}:{nonce(k)}")
            if photo is not None:
                take(project.add_files([(cls.name, "webcam photo", photo.getvalue())], test_only=test_only(cls)), cls.name)
                reset(k)
                st.rerun()
        if keypoint:
            keypoint_gallery(cls, choose)
        else:
            gallery(cls, choose=choose)


def gallery(cls, picture=lambda s: s.png or s.data, columns: int = 8, width: int = 80, caption: int = 18,
            label=None, choose: bool = False) -> bool:
    """Thumbnails of the newest samples (all on request), each with a delete button; False if there are none.

    Each caption starts with the sample's side in the last training ("train", "test") or "test only";
    with ``choose``, a box under each sample keeps it for testing only."""
    if not cls.samples:
        st.caption("No samples yet.")
        return False
    show_all = len(cls) <= GALLERY or st.toggle(f"Show all {len(cls)}", key=f"all:{cls.uid}")
    shown = cls.samples if show_all else cls.samples[-GALLERY:]
    cols = st.columns(columns)
    sides = sess.sample_splits()
    for i, sample in enumerate(reversed(shown)):
        with cols[i % columns]:
            text = label(sample) if label else sample.name[-caption:] or None
            side = "test only" if sample.id in cls.test_only else sides.get(sample.id)
            st.image(picture(sample), caption=" · ".join(t for t in (side, text) if t) or None, width=width)
            if choose:
                marked = st.checkbox("test only", sample.id in cls.test_only, key=f"to:{cls.uid}:{sample.id}")
                if marked != (sample.id in cls.test_only):
                    project.set_test_only(cls.name, sample.id, marked)
                    st.rerun()
            if st.button("✕", key=f"rm:{cls.uid}:{sample.id}", help="Delete this sample"):
                project.delete_sample(cls.name, sample.id)
                st.rerun()
    return True


def keypoint_gallery(cls, choose: bool = False) -> None:
    """Pose, hands: each sample with the skeleton found in it, "no person" / "no hand" under those where none was."""
    name, what = sess.encoder_name, keypoints.thing(project.kind)
    if cls.samples:
        with st.spinner(f"Finding {what}s in the pictures…"):
            missing = keypoints.missing_count(name, cls.samples)
        if missing:
            st.warning(f"{missing} without a {what}: no {what} was found in {missing} of {len(cls)} pictures. "
                       "They are left out of training unless you keep them on the Train page.")
    gallery(cls, lambda s: keypoints.thumbnail(name, s.id, s), width=90,
            label=lambda s: (s.name[-18:] or None) if keypoints.sample_found(name, s) else f"no {what}", choose=choose)


def sound_inputs(cls) -> None:
    """Audio classes: record with the microphone (cut into 1-second samples), upload files or a folder."""
    key = cls.uid
    record, upload, folder = st.tabs(["Record", "Upload sounds", "Upload a folder"])
    with record:
        k = f"rec:{key}"
        clip = st.audio_input("Record", key=f"{k}:{nonce(k)}", label_visibility="collapsed")
        st.caption("Each second of the recording becomes one sample (Teachable Machine's \"extract samples\").")
        if clip is not None:
            take(project.add_files([(cls.name, "recording", clip.getvalue())], test_only=test_only(cls)), cls.name)
            reset(k)
            st.rerun()
    with upload:
        upload_into(cls, f"up:{key}", "Sound files", type=list(media.AUDIO_EXTENSIONS), accept_multiple_files=True)
        st.caption(f"{', '.join(media.AUDIO_EXTENSIONS)}; any length: each second becomes one sample.")
    with folder:
        upload_into(cls, f"dir:{key}", "A folder of sounds", accept_multiple_files="directory")


@session_cache(max_entries=5000)
def spectrogram(sample_id: str, _wave: np.ndarray) -> np.ndarray:
    """A sample's spectrogram picture (keyed by its content id: samples never change)."""
    return media.spectrogram_image(_wave)


def sound_gallery(cls, choose: bool = False) -> None:
    """Spectrogram thumbnails with a delete button each, and playback of any sample."""
    if not gallery(cls, lambda s: spectrogram(s.id, s.data), columns=6, width=110, caption=22, choose=choose):
        return
    by_label = {f"{i + 1}. {s.name or 'sample'}": s for i, s in enumerate(cls.samples)}
    labels = list(by_label)
    left, right = st.columns([2, 3], vertical_alignment="bottom")
    pick = left.selectbox("Listen to", labels, index=len(labels) - 1, key=f"play:{cls.uid}")
    right.audio(by_label[pick].data, sample_rate=media.SAMPLE_RATE)


def webcam_recorder() -> None:
    """Teachable Machine's webcam recording: pick a class, press Record, frames are added after the delay."""
    recorder = webrtc.session_object("burst", webrtc.BurstRecorder)
    with st.container(border=True):
        st.markdown("**:material/videocam: Record from the webcam**")
        st.caption("Press **START** to turn the camera on, pick the class, then **Record**: after the delay, "
                   "frames are taken for the duration and added to the class.")
        cols = st.columns(4)
        names = [c.name for c in project.classes]
        target = cols[0].selectbox("Record into", names, key="burst:class") if names else None
        fps = cols[1].number_input("Frames per second", 1, 30, 24, key="burst:fps")
        delay = cols[2].number_input("Delay (s)", 0.0, 10.0, 3.0, step=0.5, key="burst:delay")
        duration = cols[3].number_input("Duration (s)", 1.0, 30.0, 6.0, step=0.5, key="burst:duration")
        recorder.prepare = keypoints.prepare_frame(project.kind)  # pose, hands: the whole frame, padded
        webrtc_streamer(key="gather-camera", mode=WebRtcMode.SENDRECV, rtc_configuration=webrtc.rtc_configuration(),
                        media_stream_constraints={"video": True, "audio": False},
                        video_frame_callback=webrtc.video_callback(recorder))
        left, right = st.columns(2)
        if left.button("Record", icon=":material/fiber_manual_record:", disabled=target is None, width="stretch"):
            recorder.configure(fps=fps, delay=delay, duration=duration)
            recorder.start()
            st.session_state["burst:into"] = target
        if right.button("Stop recording", icon=":material/stop:", width="stretch"):
            recorder.stop()
        burst_status(recorder)


@st.fragment(run_every=0.5)
def burst_status(recorder) -> None:
    """Live count while recording; when done, the frames go into the class chosen at Record."""
    phase, left, count = recorder.status()
    into = st.session_state.get("burst:into")
    if phase == "waiting":
        st.info(f"Recording into **{into}** in {left:.1f} s…")
    elif phase == "recording":
        st.warning(f"Recording into **{into}**: {count} frames, {left:.1f} s left")
    elif phase == "done":
        frames = recorder.take()
        if into is not None and project.has_class(into):
            group, marked = new_group("burst"), test_only(project.get_class(into))  # one burst, one recording
            added, full = 0, None
            for f in frames:
                try:
                    added += project.add_sample(into, f, "webcam", group, marked) is not None
                except InputError as e:  # the project's sample limit: keep what fitted, say so
                    full = e
                    break
            if full is not None:
                report(("warning", f"Added {added} webcam frames to {into}, then stopped: {full}."))
            elif frames:
                report(("success", f"Added {added} webcam frames to {into}."))
            else:  # seen rarely right after a rerun: the stream was up but no frame reached the recorder
                report(("warning", f"Added 0 webcam frames to {into}: no frame came from the camera while "
                                   "recording. Press STOP and START on the camera, then Record again."))
        st.rerun(scope="app")


def new_project_control() -> None:
    """Start over with another kind of project (Teachable Machine's start page)."""
    with st.popover("New project", icon=":material/add_circle:"):
        kind = st.radio("Kind of project", list(KINDS), format_func=KINDS.get, key="new:kind")
        n = sum(project.counts().values())
        confirmed = True
        if n:
            confirmed = st.checkbox(f"I understand that the {n} samples and the models of this project will be lost "
                                    "(deleted from this server too)", key="new:confirm")
        if st.button(f"Start a new {kind} project", type="primary", disabled=not confirmed):
            state.new_project(kind)
            st.session_state.pop("new:confirm", None)
            st.rerun()


st.title("Gather examples")
if audio:
    st.write("Give each class a name and add sounds of it: record with the microphone or upload sound files; "
             "each second becomes one sample. Record at least 20 seconds of **Background Noise** and 8 seconds "
             "of each other class, then go to **Train**.")
elif project.kind == "hands":
    st.write("Give each class a name and add pictures of the hand shape or gesture: photos, a folder, or the webcam. "
             "The model learns the hand's shape from its 21 landmarks (drawn on each picture; left or right hand, "
             "near or far, turned or not: the same shape) and looks at the picture too. The whole picture is used, "
             "padded to a square. Aim for at least 10 examples per class, then go to **Train**.")
elif keypoint:
    what = keypoints.thing(project.kind)
    st.write(f"Give each class a name and add pictures of a {what} in that pose: photos, a folder, or the webcam. "
             f"The model learns from the {what}'s keypoints (drawn on each picture), not from the pixels. The whole "
             f"picture is used, padded to a square. Aim for at least 10 examples per class, then go to **Train**.")
else:
    st.write("Give each class a name and add examples of it: photos, a folder, or the webcam. "
             "Aim for at least 10 varied examples per class (angles, light, backgrounds), then go to **Train**.")
    st.info(GESTURE_TIP, icon=":material/back_hand:")
st.caption(f"{project.kind.capitalize()} project")
left, mid, right = st.columns([1, 1, 1.2], vertical_alignment="top")
with left:
    new_project_control()
with mid:
    save_and_open(sess)
with right:
    start_over(sess)

for kind, text in st.session_state.get("report", []):
    getattr(st, kind)(text)
for note in class_warnings(sess):
    st.warning(note)

if not audio:
    webcam_recorder()  # early and unconditionally: the WebRTC component must not come and go
for cls in list(project.classes):
    class_card(cls)

left, right = st.columns(2)
if left.button("Add a class", icon=":material/add:", width="stretch"):
    project.add_class()
    st.rerun()
with right.expander("Import a zip of class folders"):
    if audio:
        st.caption("A zip with one folder per class (`yes/1.wav`, `no/2.wav`, …); a `background_noise` folder goes "
                   "into Background Noise. Folders become classes; existing classes with the same name get the new samples.")
    else:
        st.caption("A zip with one folder per class (`rock/1.jpg`, `paper/2.jpg`, …). "
                   "Folders become classes; existing classes with the same name get the new samples.")
    k = "zip"
    archive = st.file_uploader("Zip file", type=["zip"], key=f"{k}:{nonce(k)}", label_visibility="collapsed")
    if archive is not None:
        try:
            listing = media.read_zip(archive.getvalue(), archive.name)
            for cls in list(project.classes):  # the untouched starter classes make way for the zip's
                if not cls.samples and re.fullmatch(r"Class \d+", cls.name) and cls.name not in listing.classes:
                    project.delete_class(cls.name)
            take(project.add_listing(listing), f"{len(listing.classes)} classes from {archive.name}")
        except InputError as e:
            report(("error", str(e)))
        state.release_uploads(archive)
        reset(k)
        st.rerun()

health.gather_panel(sess)
