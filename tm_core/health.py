"""Data health: what a teacher would point out in the gathered samples, one plain sentence each.

``check(dataset, features, evaluation)`` returns :class:`Finding` s:

- ``duplicate``: the same sample (same content id) in two classes;
- ``near_copies``: samples of one class that are nearly the same but come from different recordings
  or files (the same scene recorded twice, one photo uploaded again), and ``near_copies_across``:
  nearly the same sample in two classes. Frames of *one* recording (a webcam burst, a video's frames,
  a sound file's seconds) look alike on purpose and are kept together by the honest test, so they are
  never counted as near copies of each other;
- ``one_recording``: every sample of a class comes from one recording (a note: record again elsewhere);
- ``imbalance``: one class much larger than another;
- ``confusion``: a class the trained model often takes for another, on held-out samples.

Near copies compare embeddings by cosine similarity, all pairs at once (one matrix product),
with a threshold measured per encoder (``benchmarks/health.py``). No Streamlit here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tm_core import kinds
from tm_core.errors import InputError
from tm_core.i18n import _, ngettext
from tm_core.project import Dataset
from tm_core.training import TrainConfig, held_out_count

# Cosine similarity at or above which two samples are near copies, per encoder; measured with
# benchmarks/health.py on real data (the video's frames, rps_real and clothing4 photos, Speech Commands):
#   mobilenet_v2_0.35: consecutive video frames 0.974-0.998, frames 1 s apart ≥ 0.909 (95 % ≥ 0.927);
#     distinct photos of a class, each one's nearest: rps_real median 0.78, 95th pct 0.88; clothing4
#     max 0.891. At 0.93: every consecutive frame, no clothing photo, 4 of 450 rps photos: two pairs
#     that are frames of one YouTube video (looked at), while a mirrored pair (0.907) is not flagged.
#   mobilenet_v1_0.25 (a higher baseline): consecutive frames ≥ 0.977, frames 1 s apart 95 % ≥ 0.960;
#     distinct photos: clothing4 max 0.944, rps 95th pct 0.936. At 0.96: 0 clothing, 8 of 450 rps.
#   yamnet_speech: a clip at half volume ≥ 0.990; other speakers' clips of one word at most 0.944.
#   yamnet_embedding: half volume 0.757-0.987 (65 % ≥ 0.95); other speakers at most 0.902.
#   A clip shifted by 0.1 s is as far as another speaker (0.58-0.96) for both: sound copies are only
#   caught when recorded again at another volume.
NEAR_COPY = {
    "mobilenet_v2_0.35": 0.93,
    "mobilenet_v1_0.25": 0.96,
    "yamnet_speech": 0.97,
    "yamnet_embedding": 0.95,
}
PICTURE_ENCODER = "mobilenet_v2_0.35"  # pose and hand projects: near copies judged on the picture itself

# A class this many times larger than the smallest one gets a warning. Measured (benchmarks/health.py):
# one class cut to 60/r photos, the others 60, Teachable Machine's head; held-out recall of the small
# class against a balanced project where every class is that small (so only the imbalance differs):
#   rps_real (hard):   r=2 0.61 vs 0.76 · r=3 0.46 vs 0.74 · r=6 0.23 vs 0.69 (3 seeds × 3 classes)
#   clothing4 (easy):  r=2 0.94 vs 0.96 · r=3 0.93 vs 0.94 · r=6 0.78 vs 0.91 (1 seed × 4 classes)
# At 2:1 a hard task already loses 15 points on the small class, while the big ones gain only 6.
IMBALANCE = 2.0

# Confusion: a fifth or more of a class's held-out samples given to one other class, at least 2 of
# them, out of at least 5 held-out samples (with fewer, one unlucky sample would make the rate).
# After default training (benchmarks/health.py, 3 splits each): rps_real (accuracy 0.75-0.87) gets
# "paper for scissors" in 5 and 8 of 23 and "scissors for paper" in 5 of 23 on two splits, nothing
# on the third; clothing4 (0.98-1.00) gets nothing.
CONFUSION_RATE = 0.2
CONFUSION_MIN_COUNT = 2
CONFUSION_MIN_TEST = 5

WARNING, INFO = "warning", "info"


@dataclass(frozen=True)
class Finding:
    kind: str  # duplicate, near_copies, near_copies_across, one_recording, imbalance, confusion, few_tests
    severity: str  # "warning": it will hurt the model; "info": worth knowing
    classes: tuple[str, ...]  # the classes involved, the one to act on first
    problem: str  # what is wrong and why it matters, in plain words
    fix: str  # what to do about it
    samples: tuple[str, ...] = ()  # ids of the samples involved
    groups: tuple[tuple[str, ...], ...] = ()  # near copies: ids that are copies of one another (the first kept)
    redundant: tuple[str, ...] = ()  # near copies within a class: the ids that can go, one of each group stays

    @property
    def sentence(self) -> str:
        return f"{self.problem} {self.fix}"


def _words(dataset: Dataset) -> tuple[str, str]:
    """("picture", "pictures") or ("sound", "sounds"), from the samples themselves."""
    audio = bool(dataset.samples) and np.asarray(dataset.samples[0].data).ndim == 1
    return ("sound", "sounds") if audio else ("picture", "pictures")


def _noun(count: int, words: tuple[str, str]) -> str:
    """The word for ``count`` samples ("picture", "pictures"), in the student's language."""
    one, many = kinds.said(words)
    return one if count == 1 else many


def _background(name: str, words: tuple[str, str]) -> bool:
    """An audio project's Background Noise (any language's name): alike and large on purpose."""
    return words[0] == "sound" and kinds.is_background_name(name)


def check(dataset: Dataset, features: np.ndarray | None = None, evaluation=None, *,
          encoder: str | None = None, threshold: float | None = None) -> list[Finding]:
    """Everything worth pointing out, the most harmful first.

    ``features``: one embedding per sample of ``dataset`` (same order), for near copies; their
    threshold is ``threshold`` or the one measured for ``encoder`` (``NEAR_COPY``); without either
    the picture encoder's or, for sounds, YAMNet speech's. ``evaluation``: a run's held-out
    :class:`~tm_core.evaluation.Evaluation`, for confusions.
    """
    words = _words(dataset)
    findings = duplicates(dataset)
    unequal = imbalance(_counts(dataset), words)
    if unequal is not None:
        findings.append(unequal)
    if features is not None:
        if threshold is None:
            default = "yamnet_speech" if words[0] == "sound" else PICTURE_ENCODER
            name = encoder or default
            if name not in NEAR_COPY:
                raise InputError(name, _("no near-copy threshold was measured for this encoder"))
            threshold = NEAR_COPY[name]
        findings += near_copies(dataset, features, threshold)
    findings += one_recording(dataset)
    if evaluation is not None:
        findings += confusions(evaluation, words)
    order = {WARNING: 0, INFO: 1}
    return sorted(findings, key=lambda f: order[f.severity])  # stable: kinds keep their order


def _counts(dataset: Dataset) -> dict[str, int]:
    counts = np.bincount(dataset.labels, minlength=len(dataset.class_names)) if len(dataset.labels) else \
        np.zeros(len(dataset.class_names), np.int64)
    return dict(zip(dataset.class_names, counts.tolist()))


def duplicates(dataset: Dataset) -> list[Finding]:
    """The same sample (by content id) in two classes: one finding per pair of classes."""
    where: dict[str, set[int]] = {}
    for s, y in zip(dataset.samples, dataset.labels.tolist()):
        where.setdefault(s.id, set()).add(y)
    shared: dict[tuple[int, int], list[str]] = {}
    for sid, labels in where.items():
        labels = sorted(labels)
        for i, a in enumerate(labels):
            for b in labels[i + 1:]:
                shared.setdefault((a, b), []).append(sid)
    words = _words(dataset)
    out = []
    for (a, b), ids in sorted(shared.items(), key=lambda kv: -len(kv[1])):
        an, bn = dataset.class_names[a], dataset.class_names[b]
        n = len(ids)
        out.append(Finding(
            "duplicate", WARNING, (an, bn),
            ngettext("{n} {things} is in both **{a}** and **{b}**: the model cannot learn two answers for one {thing}.",
                     "{n} {things} are in both **{a}** and **{b}**: the model cannot learn two answers for one {thing}.",
                     n, things=_noun(n, words), thing=_noun(1, words), a=an, b=bn),
            ngettext("Keep it in one class.", "Keep each in one class.", n), tuple(ids)))
    return out


def imbalance(counts: dict[str, int], words: tuple[str, str] = ("sample", "samples")) -> Finding | None:
    """The largest class against the smallest, when it is ``IMBALANCE`` times larger or more.

    Empty classes and an audio project's Background Noise (meant to be large) are left out."""
    filled = {k: v for k, v in counts.items() if v and not _background(k, words)}
    if len(filled) < 2:
        return None
    big, small = max(filled, key=filled.get), min(filled, key=filled.get)
    if filled[big] < IMBALANCE * filled[small]:
        return None
    return Finding(
        "imbalance", WARNING, (small, big),
        _("**{big}** has {n} {things} and **{small}** {m}: the model will lean towards {big}.", big=big, small=small,
          n=filled[big], m=filled[small], things=_noun(filled[big], words)),
        _("Add {small} {things} or remove some {big} ones.", small=small, big=big, things=_noun(2, words)))


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float32)
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norm, out=np.zeros_like(x), where=norm > 0)  # an all-zero embedding is nobody's copy


def _leaders(adjacent: np.ndarray) -> np.ndarray:
    """Greedy grouping in sample order: a sample that is no near copy of an earlier kept one is kept
    (it leads a group); any other joins the first kept sample it is a near copy of. Returns each
    sample's leader. Unlike chaining pairs, a slow burst (each frame close to the next) still keeps
    one sample per stretch that looks different, so removing the others loses no variety."""
    n = len(adjacent)
    leader = np.arange(n)
    kept = np.zeros(n, bool)
    for i in range(n):  # one step per sample, each a vector operation over the kept ones
        hits = np.flatnonzero(adjacent[i] & kept)
        if len(hits):
            leader[i] = hits[0]
        else:
            kept[i] = True
    return leader


def near_copies(dataset: Dataset, features: np.ndarray, threshold: float) -> list[Finding]:
    """Samples of one class that are near copies of each other (one finding per class), and near copies
    in two classes (one per pair of classes). Exact duplicates are left to :func:`duplicates`."""
    features = np.asarray(features)
    if features.ndim != 2 or len(features) != len(dataset.samples):
        raise InputError("features", _("expected one embedding per sample ({n}), got an array of shape {shape}",
                                       n=len(dataset.samples), shape=features.shape))
    if not len(features):
        return []
    words = _words(dataset)
    ids = np.array([s.id for s in dataset.samples])
    labels = np.asarray(dataset.labels)
    u = _unit(features)
    close = (u @ u.T) >= threshold
    close &= ids[:, None] != ids[None, :]  # not a sample with itself, nor its exact duplicate
    groups = np.array(dataset.groups, dtype=object)
    close &= ~((groups[:, None] == groups[None, :]) & (groups[:, None] != ""))  # frames of one recording: alike on purpose
    same = labels[:, None] == labels[None, :]
    out = []
    for c, name in enumerate(dataset.class_names):
        if _background(name, words):  # silence and room noise: alike on purpose
            continue
        idx = np.flatnonzero(labels == c)
        adj = close[np.ix_(idx, idx)]
        if not adj.any():
            continue
        leader = _leaders(adj)
        keep = np.flatnonzero(leader == np.arange(len(idx)))
        groups = [tuple(ids[idx[np.flatnonzero(leader == k)]]) for k in keep]
        groups = sorted((g for g in groups if len(g) > 1), key=len, reverse=True)
        redundant = tuple(s for g in groups for s in g[1:])  # the first of each group stays
        k, n = len(redundant), len(idx)
        if words[0] == "picture":
            problem = ngettext("{n} of the {total} pictures of **{name}** is a near copy of another there (e.g. the "
                               "same scene recorded twice): they teach little new and can make the test accuracy "
                               "look better than it is.",
                               "{n} of the {total} pictures of **{name}** are near copies of others there (e.g. the "
                               "same scene recorded twice): they teach little new and can make the test accuracy "
                               "look better than it is.", k, total=n, name=name)
            fix = ngettext("Remove it and take new ones that vary the angle, the light and the background.",
                           "Remove them and take new ones that vary the angle, the light and the background.", k)
        else:
            problem = ngettext("{n} of the {total} sounds of **{name}** is a near copy of another there: they teach "
                               "little new and can make the test accuracy look better than it is.",
                               "{n} of the {total} sounds of **{name}** are near copies of others there: they teach "
                               "little new and can make the test accuracy look better than it is.", k, total=n,
                               name=name)
            fix = ngettext("Remove it and record new ones in other ways: other voices, distances and rooms.",
                           "Remove them and record new ones in other ways: other voices, distances and rooms.", k)
        out.append(Finding(
            "near_copies", WARNING if k >= 0.25 * n else INFO, (name,), problem, fix,
            tuple(s for g in groups for s in g), tuple(groups), redundant))
    across = close & ~same
    for a, an in enumerate(dataset.class_names):
        for b in range(a + 1, len(dataset.class_names)):
            block = across[np.ix_(labels == a, labels == b)]
            if not block.any():
                continue
            ia, ib = np.flatnonzero(labels == a), np.flatnonzero(labels == b)
            ra, rb = np.nonzero(block)
            pairs = tuple((ids[ia[i]], ids[ib[j]]) for i, j in zip(ra, rb))
            bn = dataset.class_names[b]
            na, nb = len(np.unique(ra)), len(np.unique(rb))
            out.append(Finding(
                "near_copies_across", WARNING, (an, bn),
                ngettext("{n} {things} of **{a}** is a near copy of {m} {others} of **{b}**: the model cannot learn "
                         "two answers for nearly the same {thing}.",
                         "{n} {things} of **{a}** are near copies of {m} {others} of **{b}**: the model cannot learn "
                         "two answers for nearly the same {thing}.", na, things=_noun(na, words), a=an, m=nb,
                         others=_noun(nb, words), b=bn, thing=_noun(1, words)),
                _("Check each is in the right class, and keep it in that class only."),
                tuple(dict.fromkeys(s for p in pairs for s in p)), pairs))
    return out


def one_recording(dataset: Dataset) -> list[Finding]:
    """A note per class whose samples (two or more) all come from one recording: its frames are expected to
    look alike, but the model then knows one place and one light only, and the test can use only the end of
    that recording. An audio project's Background Noise (one long recording of the room is fine) is left out."""
    words = _words(dataset)
    out = []
    for c, name in enumerate(dataset.class_names):
        if _background(name, words):
            continue
        groups = {s.group for s, y in zip(dataset.samples, dataset.labels.tolist()) if y == c}
        n = int((dataset.labels == c).sum())
        if n < 2 or len(groups) != 1 or "" in groups:
            continue
        if words[0] == "picture":
            problem = _("All {n} pictures of **{name}** come from one recording. They look alike, which is normal "
                        "for one recording, but the model only sees that one scene.", n=n, name=name)
            fix = _("Record it again a few times with another angle, light or background: each recording stays "
                    "together when the model is tested, so the test then uses pictures from a recording it did "
                    "not learn from.")
        else:
            problem = _("All {n} sounds of **{name}** come from one recording. They sound alike, which is normal "
                        "for one recording, but the model only hears that one way of saying it.", n=n, name=name)
            fix = _("Record it again a few times in other ways (other voices, distances or rooms): each recording "
                    "stays together when the model is tested, so the test then uses sounds from a recording it did "
                    "not learn from.")
        out.append(Finding("one_recording", INFO, (name,), problem, fix))
    return out


def confusions(evaluation, words: tuple[str, str] = ("sample", "samples"),
               sample_ids: list[str] | None = None) -> list[Finding]:
    """Pairs (true class, class it was taken for) above ``CONFUSION_RATE`` of the held-out samples,
    the worst first; when no class had enough held-out samples to tell, one ``few_tests`` note.

    ``sample_ids``: the id of each evaluated sample (in the evaluation's order), to name the
    mistaken ones in each finding."""
    m = np.asarray(evaluation.confusion)
    names = list(evaluation.class_names)
    support = m.sum(1)
    out = []
    for i, j in zip(*np.nonzero(~np.eye(len(names), dtype=bool) & (m >= CONFUSION_MIN_COUNT))):
        n, k = int(support[i]), int(m[i, j])
        if n >= CONFUSION_MIN_TEST and k / n >= CONFUSION_RATE:
            a, b = names[i], names[j]
            out.append((k / n, Finding(
                "confusion", WARNING, (a, b),
                _("The model mistakes **{a}** for **{b}** in {k} of {n} test {things}.", a=a, b=b, k=k, n=n,
                  things=_noun(n, words)),
                _("Add {a} {things} that show clearly how it differs from {b}.", a=a, b=b, things=_noun(2, words)),
                tuple(sample_ids[x.index] for x in evaluation.mistakes if x.true == a and x.predicted == b)
                if sample_ids is not None else ())))
    out.sort(key=lambda rf: -rf[0])
    findings = [f for _, f in out]
    wrong = m.sum(1) - np.diag(m)  # per true class, held-out samples taken for another class
    few = [names[i] for i in np.flatnonzero((wrong > 0) & (support < CONFUSION_MIN_TEST))]
    if not findings and few:
        fraction = TrainConfig().test_fraction
        enough = next(n for n in range(2, 10_000) if held_out_count(n, fraction) >= CONFUSION_MIN_TEST)
        findings.append(Finding(
            "few_tests", INFO, tuple(few),
            _("The model got some test {things} of {classes} wrong, but under {least} were tested per class: too "
              "few to say which classes it mixes up.", things=_noun(2, words),
              classes=", ".join(f"**{c}**" for c in few), least=CONFUSION_MIN_TEST),
            _("Add {things}: {share:.0%} of each class is kept for testing, so a class of {enough} gives {least} to "
              "test on.", things=_noun(2, words), share=fraction, enough=enough, least=CONFUSION_MIN_TEST)))
    return findings
