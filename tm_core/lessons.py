"""The lesson in words: plain sentences for a student, computed from the runs' own numbers.

Used by the Experiments page and the Train page's results; the figures come from
:mod:`tm_core.experiments` (best epoch, where early stopping would stop) and
:mod:`tm_core.diagnose` (what the curves say about the settings). Nothing draws here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from tm_core import diagnose as dx
from tm_core.experiments import best_epoch, early_stop_epoch, number_text, stats_at, tested_epochs
from tm_core.training import Run

# Figures measured by the benchmarks and quoted in the Train page's help: the one place they are
# written, beside the script that measures them (run it again, then change the figure here).
MEASURED = {
    "finetune": {  # benchmarks/finetune.py: held-out accuracy, frozen → last block fine-tuned
        "rock-paper-scissors": (0.81, 0.86), "clothing": (0.98, 0.97), "extra_seconds": 20, "pictures": 450},
    "augment_image": {  # benchmarks/augment.py: change of held-out accuracy (cross-validation), first training time
        "rock-paper-scissors": 0.01, "clothing": -0.01, "seconds": (3, 16), "pictures": 450},
    "augment_audio": {"words": 0.01, "spoken digits": -0.07},  # benchmarks/audio.py
    "early_stopping": {"stopped": (11, 16), "of": 50},  # benchmarks/early_stopping.py: mean epoch where it stopped
}


def _points(x: float) -> str:
    return f"{x * 100:+.0f} %".replace("-", "−")


def finetune_help(epochs: int) -> str:
    m = MEASURED["finetune"]
    return (f"After the head has learned, the network's last block learns too, gently ({epochs} more passes, "
            "with a mirrored copy of each training picture). Measured on real photos: " + ", ".join(
                f"{k} {_pct(m[k][0])} → {_pct(m[k][1])}" for k in ("rock-paper-scissors", "clothing"))
            + f". It takes about {m['extra_seconds']} seconds more for {m['pictures']} pictures on a small "
            "2-core computer.")


def augment_help(kind: str) -> str:
    if kind == "audio":
        m = MEASURED["augment_audio"]
        return ("Three copies of each training sound, shifted in time, louder or softer, with your Background "
                "Noise mixed in: more robust in a noisy room. On clean recordings it changed held-out accuracy little ("
                + ", ".join(f"{k} {_points(v)}" for k, v in m.items()) + "), so it is off by default.")
    m = MEASURED["augment_image"]
    fast, slow = m["seconds"]
    return ("Four copies of each training picture: every other one mirrored, each zoomed in, turned a little, made "
            "brighter or darker. Measured by cross-validation it changed held-out accuracy by "
            f"{_points(m['rock-paper-scissors'])} on rock-paper-scissors photos (within chance) and "
            f"{_points(m['clothing'])} on clothing photos, and made the first training {round(slow / fast)} times "
            f"slower ({slow} s instead of {fast} s for {m['pictures']} photos), so it is off by default.")


def early_stopping_help() -> str:
    lo, hi = MEASURED["early_stopping"]["stopped"]
    return ("Early stopping: after each epoch, the loss on the held-out samples is checked. When it has not gone "
            "down for *patience* epochs in a row, training stops and keeps the weights of the epoch where it was "
            "lowest. It needs held-out samples (at least 2 per class); without them it does nothing. The held-out "
            "samples then also pick the epoch, so their accuracy flatters the model a little. On our "
            f"rock-paper-scissors and clothing photos it stopped after {lo} to {hi} epochs of "
            f"{MEASURED['early_stopping']['of']} on average, with about the same accuracy on new pictures.")


def _loss(x: float) -> str:
    """A loss as a student reads it: 1,120 (not 1.12e+03), 2.96, 0.0012."""
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def _pct(x: float) -> str:
    return f"{x * 100:.0f} %"


def _pictures(accuracy_difference: float, n_test: int) -> int:
    """An accuracy difference on ``n_test`` held-out samples as a whole number of samples."""
    return int(round(accuracy_difference * n_test))


def _fell(best: float, final: float, n_test: int) -> bool:
    """Did test accuracy fall from its best by more than noise: two more pictures wrong, or 5 points."""
    drop = best - final
    return drop > 1e-9 and (round(drop * n_test) >= 2 or drop >= 0.05)


def _train_sentence(run: Run) -> str:
    acc = [s.accuracy for s in run.history]
    top = max(acc)
    first_top = acc.index(top)
    epoch_top = run.history[first_top].epoch
    stayed = all(a >= top - 1e-9 for a in acc[first_top:])
    if len(acc) == 1:
        return f"After its only epoch, train accuracy was {_pct(acc[0])}."
    if top >= 1 - 1e-9:
        tail = " and stayed there" if stayed else ""
        return f"Train accuracy reached 100 % by epoch {epoch_top}{tail}."
    if first_top == len(acc) - 1:
        return f"Train accuracy kept rising, from {_pct(acc[0])} at epoch 1 to {_pct(acc[-1])} at epoch {epoch_top}."
    return f"Train accuracy rose from {_pct(acc[0])} to {_pct(top)} (epoch {epoch_top}) and ended at {_pct(acc[-1])}."


def _test_sentences(run: Run) -> list[str]:
    tested = tested_epochs(run)
    b = best_epoch(run)
    best = stats_at(run, b)
    last = tested[-1]
    n_test = len(run.split.test)
    out = []
    if b == last.epoch:
        out.append(
            f"Test accuracy was still at its best at the last epoch ({_pct(best.test_accuracy)} at epoch {b}): "
            "more epochs might still help."
        )
    elif _fell(best.test_accuracy, last.test_accuracy, n_test):
        out.append(
            f"Test accuracy was best at epoch {b} ({_pct(best.test_accuracy)}) and ended at {_pct(last.test_accuracy)} "
            f"({_pictures(best.test_accuracy - last.test_accuracy, n_test)} fewer of the {n_test} test pictures right): "
            f"after epoch {b} the model learned details of the training pictures that do not help with new ones."
        )
    else:
        after = [s.test_accuracy for s in tested if s.epoch >= b]
        lo, hi = min(after), max(after)
        spread = f"around {_pct(hi)}" if _pct(lo) == _pct(hi) else f"between {_pct(lo)} and {_pct(hi)}"
        out.append(
            f"Test accuracy levelled off: it was best at epoch {b} ({_pct(best.test_accuracy)}) and stayed {spread} "
            f"to the end, so the epochs after {b} did not make it better on new pictures."
        )
    losses = [(s.epoch, s.test_loss) for s in tested if s.test_loss is not None]
    if len(losses) >= 2:
        low_epoch, low = min(losses, key=lambda e: (e[1], e[0]))
        final = losses[-1][1]
        if low_epoch < losses[-1][0] and final > low * 1.1 + 1e-3:
            train_then = stats_at(run, low_epoch).loss
            falling = " while train loss kept falling" if run.history[-1].loss < train_then else ""
            out.append(
                f"Test loss was lowest at epoch {low_epoch} ({low:.2f}) and rose to {final:.2f} by the end{falling}, "
                "a classic sign of overfitting."
            )
        elif low_epoch < losses[-1][0]:
            out.append(f"Test loss was lowest at epoch {low_epoch} ({low:.2f}) and stayed close to that ({final:.2f} at the end).")
        else:
            out.append(f"Test loss was still falling at the end ({losses[0][1]:.2f} at epoch {losses[0][0]}, {final:.2f} at epoch {low_epoch}).")
    return out


def diagnosis_sentences(run: Run, confusion=None, diagnosis: dx.Diagnosis | None = None) -> list[str]:
    """What the run's curves say about its settings, in one or two sentences; [] when nothing stands out.

    A too-large learning rate (``diverged``, ``unstable``), a too-small one (``slow``), too few epochs and
    overfitting, each with the measured figures that show it (:func:`tm_core.diagnose.diagnose`)."""
    d = diagnosis or dx.diagnose(run, confusion)
    f = d.figures
    if d.kind == dx.DIVERGED:
        out = [f"The learning rate is too large: the training loss shot up to {_loss(f['highest_loss'])} at epoch "
               f"{f['highest_epoch']} (guessing gives {f['guessing_loss']:.2f}), and after {f['epochs']} epochs the model "
               "was no better than guessing."]
        if "one_class" in f:
            out.append(f"It answers {f['one_class']} for every test sample.")
        out.append("Try a smaller learning rate (such as 0.001) before changing your samples.")
        return out
    if d.kind == dx.UNSTABLE:
        if f["jumps"] >= dx.JUMPS:
            said = (f"The learning rate looks too large: the training loss jumped back up {f['jumps']} times "
                    f"(to {_loss(f['highest_loss'])} at its highest) instead of going down steadily.")
        else:
            said = (f"The learning rate looks too large: the training loss jumped to {_loss(f['highest_loss'])} at epoch "
                    f"{f['highest_epoch']}, far above the {f['guessing_loss']:.2f} of guessing, instead of going down steadily.")
        return [said, "A smaller learning rate learns more steadily."]
    if d.kind == dx.SLOW:
        return [f"Learning was slow: after {f['epochs']} epochs the training loss ({f['final_loss']:.2f}) was still "
                f"{f['left'] * 100:.0f} % of the first epoch's, and still falling.",
                "A larger learning rate or more epochs would help."]
    if d.kind == dx.TOO_FEW_EPOCHS:
        return [f"The model was still improving when training ended: the training loss fell from {f['loss_before']:.2f} "
                f"to {f['final_loss']:.2f} over the last {f['last_epochs']} epochs.", "More epochs would help."]
    if d.kind == dx.OVERFITTING:
        return [f"The test loss was lowest at epoch {f['lowest_epoch']} ({f['lowest_test_loss']:.2f}) and rose to "
                f"{f['final_test_loss']:.2f} while the training loss kept falling: the model is memorising its training "
                "samples (overfitting).", "Fewer epochs, or early stopping, would help."]
    return []


def _epochs_lesson(label: str, run: Run) -> str:
    d = dx.diagnose(run)
    if d.settings_at_fault:  # the settings first: no talk of overfitting or of the data
        sentences = diagnosis_sentences(run, diagnosis=d)[:2] + [_train_sentence(run)]
        if tested_epochs(run):
            b = best_epoch(run)
            sentences.append(f"Test accuracy was best at epoch {b} ({_pct(stats_at(run, b).test_accuracy)}).")
        return " ".join(sentences[:4])
    sentences = [_train_sentence(run)]
    if not tested_epochs(run):
        sentences.append("There were no test pictures, so this run cannot show how well the model does on new ones.")
    else:
        sentences += _test_sentences(run)
    if len(sentences) < 4 and run.stopped:
        sentences.append(f"The run was stopped after {len(run.history)} of {run.config.epochs} epochs.")
    return " ".join(sentences[:4])


def _samples_lesson(runs: Sequence[tuple[str, Run]]) -> str:
    tested = [(label, run) for label, run in runs if tested_epochs(run)]
    if len(tested) < 2:
        return _epochs_lesson(*runs[-1])
    (small_label, small), (big_label, big) = tested[0], tested[-1]
    small_last, big_last = small.history[-1], big.history[-1]
    sentences = [
        f"Trained on {small_label}, the model ended at {_pct(small_last.accuracy)} train and "
        f"{_pct(small_last.test_accuracy)} test accuracy; on {big_label}, at {_pct(big_last.accuracy)} train and "
        f"{_pct(big_last.test_accuracy)} test, on the same test pictures."
    ]
    gap_small = small_last.accuracy - small_last.test_accuracy
    gap_big = big_last.accuracy - big_last.test_accuracy
    n_test = len(big.split.test)
    more = _pictures(big_last.test_accuracy - small_last.test_accuracy, n_test)
    gap = f"the gap between train and test accuracy went from {gap_small * 100:.0f} to {gap_big * 100:.0f} points"
    if more >= 2:
        sentences.append(
            f"With more training pictures the model got {more} more of the {n_test} test pictures right, and {gap}."
        )
    elif more <= -2:
        sentences.append(f"Here the larger training set got {-more} fewer of the {n_test} test pictures right, and {gap}.")
    else:
        sentences.append(
            f"Here more training pictures hardly changed test accuracy ({more:+d} of {n_test} test pictures): "
            "these classes may already be easy to tell apart."
        )
    if all(run.history[-1].accuracy >= 1 - 1e-9 for _, run in tested):
        sentences.append("Train accuracy was 100 % in every run, so train accuracy alone does not tell how well a model works on new pictures.")
    b = best_epoch(big)
    sentences.append(f"Trained on {big_label}, the model had its best test accuracy at epoch {b} ({_pct(stats_at(big, b).test_accuracy)}).")
    return " ".join(sentences[:4])


def lesson_text(runs: Sequence[tuple[str, Run]]) -> str:
    """Two to four plain sentences for a student, computed from the runs' numbers.

    For runs that differ in training-set size (a samples sweep) it compares the smallest and
    the largest; for runs that differ in learning rate or batch size, :func:`rate_lesson` or
    :func:`batch_lesson`; otherwise it tells the story of the longest run: when train accuracy topped
    out, when test accuracy was best and whether it fell afterwards, and what test loss did.
    """
    runs = [(label, run) for label, run in runs if run.history]
    if not runs:
        return "No run has finished an epoch yet, so there is nothing to compare."
    sizes = {len(run.split.train) for _, run in runs}
    if len(sizes) > 1:
        return _samples_lesson(runs)
    if len({run.config.learning_rate for _, run in runs}) > 1:
        return rate_lesson(runs)
    if len({run.config.batch_size for _, run in runs}) > 1:
        return batch_lesson(runs)
    label, run = max(runs, key=lambda r: len(r[1].history))
    return _epochs_lesson(label, run)


def early_stop_text(run: Run, patience: int) -> str | None:
    """One sentence: where early stopping (``patience``) would have stopped ``run`` and what it would have kept.

    A run trained with early stopping says what it did instead. None without held-out values.
    """
    if run.kept_epoch is not None:  # trained with early stopping: its head is the kept epoch's
        kept = stats_at(run, run.kept_epoch)
        last = run.history[-1]
        did = (f"stopped at epoch {run.early_stopped_at}" if run.early_stopped_at is not None
               else f"ran all {len(run.history)} epochs")
        tail = "" if kept.epoch == last.epoch else f" ({_pct(last.test_accuracy)} at epoch {last.epoch})"
        return (f"Trained with early stopping (waiting {run.config.patience} epochs): it {did} and kept epoch "
                f"{kept.epoch}, test accuracy {_pct(kept.test_accuracy)}{tail}.")
    stop = early_stop_epoch(run, patience)
    if stop is None:
        return None
    kept, last = stats_at(run, stop.kept), run.history[-1]
    if stop.stopped_at is None:
        if kept.epoch == last.epoch:
            return (f"With early stopping (waiting {patience} epochs) training would have run all {len(run.history)} epochs "
                    f"and kept the last one: the test loss was still at its lowest.")
        did = f"run all {len(run.history)} epochs"
    else:
        did = f"stopped at epoch {stop.stopped_at}"
    if _pct(kept.test_accuracy) == _pct(last.test_accuracy):
        than = ", the same as at the end"
    else:
        than = f" instead of {_pct(last.test_accuracy)} at the end"
    return (f"With early stopping (waiting {patience} epochs) training would have {did} and kept epoch {kept.epoch}: "
            f"test accuracy {_pct(kept.test_accuracy)}{than}.")


# ---------------------------------------------------------------------------------------------
# Learning rate and batch size: runs that differ in one setting, each judged by its own curves

REACHED = 0.9  # "learned fastest": the first epoch with this train accuracy


def _reached(run: Run, level: float = REACHED) -> int | None:
    return next((int(s.epoch) for s in run.history if s.accuracy >= level), None)


def _best_sentence(runs: Sequence[tuple[str, Run]], name) -> str | None:
    tested = [(label, run) for label, run in runs if tested_epochs(run)]
    if not tested:
        return None
    _label, run = max(tested, key=lambda r: max(s.test_accuracy for s in tested_epochs(r[1])))
    b = best_epoch(run)
    return (f"The best test accuracy came with {name(run)}: {_pct(stats_at(run, b).test_accuracy)} "
            f"at epoch {b}.")


def rate_lesson(runs: Sequence[tuple[str, Run]]) -> str:
    """Runs that differ in learning rate: which learned fastest, which crawled, which never settled or diverged.

    Each run is judged by its own measured curves (:func:`tm_core.diagnose.diagnose`), never by its rate."""
    runs = sorted(runs, key=lambda r: r[1].config.learning_rate)
    judged = [(label, run, dx.diagnose(run)) for label, run in runs]
    name = lambda run: f"learning rate {number_text(run.config.learning_rate)}"  # noqa: E731
    out = []
    steady = [(run, _reached(run)) for _, run, d in judged if not d.settings_at_fault or d.kind == dx.SLOW]
    fast = [(run, e) for run, e in steady if e is not None]
    if fast:
        run, e = min(fast, key=lambda r: (r[1], r[0].history[r[1] - 1].loss))
        out.append(f"With {name(run)} the model learned fastest: train accuracy reached {_pct(REACHED)} by epoch {e}.")
    for _label, run, d in judged:
        f = d.figures
        if d.kind == dx.SLOW:
            out.append(f"With {name(run)} it crawled: after {f['epochs']} epochs the training loss was still "
                       f"{f['left'] * 100:.0f} % of the first epoch's ({f['final_loss']:.2f}), and still falling.")
        elif d.kind == dx.UNSTABLE:
            out.append(f"With {name(run)} it never settled: the training loss jumped to {_loss(f['highest_loss'])} "
                       f"(guessing gives {f['guessing_loss']:.2f}) instead of going down steadily.")
        elif d.kind == dx.DIVERGED:
            out.append(f"With {name(run)} it diverged: the training loss shot up to {_loss(f['highest_loss'])} and the "
                       "model ended no better than guessing.")
    best = _best_sentence(runs, name)
    if best:
        out.append(best)
    return " ".join(out[:5]) if out else _epochs_lesson(*runs[-1])


def updates_per_epoch(run: Run) -> int:
    """How many weight updates (batches) one epoch of ``run`` made."""
    n = len(run.split.train) + int(run.info.get("augmented_views", 0))
    return max(1, math.ceil(n / run.config.batch_size))


def seconds_per_epoch(run: Run) -> float:
    return run.seconds / len(run.history) if run.history else 0.0


def batch_lesson(runs: Sequence[tuple[str, Run]]) -> str:
    """Runs that differ in batch size: updates per epoch, what one epoch reached, time per epoch, best accuracy."""
    runs = sorted(runs, key=lambda r: r[1].config.batch_size)
    (_, small), (_, big) = runs[0], runs[-1]
    name = lambda run: f"batch size {run.config.batch_size}"  # noqa: E731
    out = [f"With {name(small)} the model made {updates_per_epoch(small)} weight updates per epoch; with "
           f"{name(big)}, only {updates_per_epoch(big)}.",
           f"So after the first epoch, train accuracy was {_pct(small.history[0].accuracy)} with {name(small)} and "
           f"{_pct(big.history[0].accuracy)} with {name(big)}.",
           f"One epoch took {seconds_per_epoch(small) * 1000:.0f} ms with {name(small)} and "
           f"{seconds_per_epoch(big) * 1000:.0f} ms with {name(big)}."]
    shaky = [run for _, run in runs if dx.diagnose(run).kind in (dx.UNSTABLE, dx.DIVERGED)]
    if shaky:
        out.append(f"With {name(shaky[0])} the training loss jumped around: small batches make noisy steps.")
    best = _best_sentence(runs, name)
    if best:
        out.append(best)
    return " ".join(out[:5])
