"""The explanation panels: the model's mistakes (Train page), where it looked and what a tested
sample resembles (Test page). The numbers come from :mod:`tm_core.explain`.

What is computed for a user's picture (its heatmap, its embedding) is kept in that user's
``st.session_state`` only, a few entries at most, so reruns do not compute it again.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from tm_core import explain, kinds, media
from tm_core.i18n import _, ngettext
from tm_core.predict import ClipPrediction
from tm_core.project import sample_id
from tm_core.ui import keypoints, state

SHOWN_MISTAKES = 12  # thumbnails before "show all"
COLUMNS = 6
NEIGHBOURS = 5
_MEMO = "explain:memo"  # session_state key: {key: value}, the last few heatmaps and embeddings
_MEMO_SIZE = 6


def _pct(p: float) -> str:
    return f"{p:.0%}".replace("%", "\u00a0%")  # a space that never breaks the line before "%"


def _memo(key: tuple, compute):
    """``compute()`` once per ``key`` in this session (the last few kept)."""
    memo = st.session_state.setdefault(_MEMO, {})
    if key not in memo:
        memo[key] = compute()
        while len(memo) > _MEMO_SIZE:
            memo.pop(next(iter(memo)))
    return memo[key]


def _show_sample(rec, sample, caption: str, width: int) -> None:
    """A sample as the gallery shows it: the picture (with its skeleton for pose and hands), or a
    sound's spectrogram with a player."""
    kind = state.encoder(rec.encoder).kind
    if kind == "audio":
        st.image(media.spectrogram_image(sample.data), caption=caption, width=width)
        st.audio(sample.data, sample_rate=media.SAMPLE_RATE)
    elif kinds.is_keypoint(kind):
        st.image(keypoints.thumbnail(rec.encoder, sample.id, sample), caption=caption, width=width)
    else:
        st.image(sample.png or sample.data, caption=caption, width=width)


def mistakes_panel(rec) -> None:
    """Thumbnails of the held-out samples the model got wrong, most confident first, each with
    "true X · said Y (87 %)" and every class's probability."""
    st.markdown("#### " + _("Mistakes"))
    if rec.features is None:
        st.caption(_("Train again to see this model's mistakes."))
        return
    wrong = explain.mistakes(rec)
    n_test = len(rec.run.split.test)
    if not wrong:
        st.success(ngettext("No mistakes: it got the {n} test sample right.",
                            "No mistakes: it got all {n} test samples right.", n_test))
        return
    st.write(ngettext("It got {wrong} of the {n} test sample wrong. The most confident mistakes come first: "
                      "look for what they have in common (a background, the light, a pose) and add samples like them.",
                      "It got {wrong} of the {n} test samples wrong. The most confident mistakes come first: "
                      "look for what they have in common (a background, the light, a pose) and add samples like them.",
                      n_test, wrong=len(wrong)))
    shown = wrong
    if len(wrong) > SHOWN_MISTAKES and not st.toggle(_("Show all {n}", n=len(wrong)), key=f"mistakes:all:{rec.id}"):
        shown = wrong[:SHOWN_MISTAKES]
    names = rec.run.class_names
    cols = st.columns(COLUMNS)
    for i, m in enumerate(shown):
        with cols[i % COLUMNS]:
            _show_sample(rec, m.sample, _("true {true} · said {said} ({confidence})", true=m.true, said=m.predicted,
                                          confidence=_pct(m.confidence)), width=120)
            st.caption(" · ".join(f"{name} {_pct(p)}" for name, p in zip(names, m.probabilities)))


def _neighbours(rec, query: np.ndarray) -> None:
    st.markdown("**" + _("Most similar training samples") + "**")
    if rec.features is None:
        st.caption(_("Train again to see them."))
        return
    near = explain.nearest_training(rec.run, rec.dataset, rec.features, query, NEIGHBOURS)
    cols = st.columns(max(len(near), 1))
    for col, n in zip(cols, near):
        with col:
            _show_sample(rec, n.sample, f"{n.class_name} · {n.similarity:.2f}", width=110)
    st.caption(_("The training samples the pretrained network finds most alike (similarity 1 = the same). "
                 "If they belong to another class, the model may mix the two up: add samples that tell them apart."))


def test_picture(rec, image: np.ndarray, probs: np.ndarray) -> None:
    """Under a tested picture: where the model looked (image projects) and the most similar training samples."""
    enc = state.model_encoder(rec)  # a fine-tuned run: its own network
    key = (rec.id, sample_id(image))
    names = rec.run.class_names
    left, right = st.columns([1, 2])
    if enc.kind == "image":
        with left:
            st.markdown("**" + _("Where did it look?") + "**")
            top = int(np.argmax(probs))
            target = st.selectbox(_("For the class"), names, index=top, key=f"explain:class:{rec.id}:{key[1]}",
                                  label_visibility="collapsed")
            c = names.index(target)
            with st.spinner(_("Covering each part of the picture in turn…")):
                heat = _memo((*key, "occlusion", c), lambda: explain.occlusion_map(enc, rec.run.head, image, c))
            biggest = float(heat.grid.max())
            if not heat.decides:  # nothing to paint: the picture as it is, not a map that looks sure
                st.image(image, width="stretch")
                st.caption(_("Covering any one part with a grey square hardly changed **{cls}** ({p}): no single "
                             "place decides it.", cls=target, p=_pct(heat.probability)))
            else:
                st.image(explain.overlay(image, heat), width="stretch")
                points = f"{biggest * 100:.0f}"
                st.caption(_("Red to yellow: the places that, covered with a grey square, lowered **{cls}** the most "
                             "(from {p} by up to {points} points).", cls=target, p=_pct(heat.probability), points=points))
    with right:
        query = _memo((*key, "embedding"), lambda: enc.encode(image[None])[0])
        _neighbours(rec, query)


def test_sound(rec, answer: ClipPrediction) -> None:
    """Under a tested sound: the training samples most like its most confident second."""
    top, best = answer.top, answer.best_window
    window = np.asarray(answer.windows[best], np.float32)
    query = _memo((rec.id, sample_id(window), "embedding"), lambda: state.model_encoder(rec).encode(window[None])[0])
    if len(answer.windows) > 1:
        st.caption(_("Compared: second {second}, the one most like {cls}.", second=best + 1,
                     cls=rec.run.class_names[top]))
    _neighbours(rec, query)
