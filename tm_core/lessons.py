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
from tm_core.i18n import _, ngettext
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
    rps, clothing = m["rock-paper-scissors"], m["clothing"]
    return _("After the head has learned, the network's last block learns too, gently ({epochs} more passes, with a "
             "mirrored copy of each training picture). Measured on real photos: rock-paper-scissors {rps_before} → "
             "{rps_after}, clothing {clothing_before} → {clothing_after}. It takes about {seconds} seconds more for "
             "{pictures} pictures on a small 2-core computer.", epochs=epochs, rps_before=_pct(rps[0]),
             rps_after=_pct(rps[1]), clothing_before=_pct(clothing[0]), clothing_after=_pct(clothing[1]),
             seconds=m["extra_seconds"], pictures=m["pictures"])


def augment_help(kind: str) -> str:
    if kind == "audio":
        m = MEASURED["augment_audio"]
        return _("Three copies of each training sound, shifted in time, louder or softer, with your Background Noise "
                 "mixed in: more robust in a noisy room. On clean recordings it changed held-out accuracy little "
                 "(words {words}, spoken digits {digits}), so it is off by default.",
                 words=_points(m["words"]), digits=_points(m["spoken digits"]))
    m = MEASURED["augment_image"]
    fast, slow = m["seconds"]
    return _("Four copies of each training picture: every other one mirrored, each zoomed in, turned a little, made "
             "brighter or darker. Measured by cross-validation it changed held-out accuracy by {rps} on "
             "rock-paper-scissors photos (within chance) and {clothing} on clothing photos, and made the first "
             "training {times} times slower ({slow} s instead of {fast} s for {pictures} photos), so it is off by "
             "default.", rps=_points(m["rock-paper-scissors"]), clothing=_points(m["clothing"]),
             times=round(slow / fast), slow=slow, fast=fast, pictures=m["pictures"])


def early_stopping_help() -> str:
    lo, hi = MEASURED["early_stopping"]["stopped"]
    return _("Early stopping: after each epoch, the loss on the held-out samples is checked. When it has not gone "
             "down for *patience* epochs in a row, training stops and keeps the weights of the epoch where it was "
             "lowest. It needs held-out samples (at least 2 per class); without them it does nothing. The held-out "
             "samples then also pick the epoch, so their accuracy flatters the model a little. On our "
             "rock-paper-scissors and clothing photos it stopped after {lo} to {hi} epochs of {of} on average, with "
             "about the same accuracy on new pictures.", lo=lo, hi=hi, of=MEASURED["early_stopping"]["of"])


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
        return _("After its only epoch, train accuracy was {acc}.", acc=_pct(acc[0]))
    if top >= 1 - 1e-9:
        if stayed:
            return _("Train accuracy reached 100 % by epoch {epoch} and stayed there.", epoch=epoch_top)
        return _("Train accuracy reached 100 % by epoch {epoch}.", epoch=epoch_top)
    if first_top == len(acc) - 1:
        return _("Train accuracy kept rising, from {first} at epoch 1 to {last} at epoch {epoch}.",
                 first=_pct(acc[0]), last=_pct(acc[-1]), epoch=epoch_top)
    return _("Train accuracy rose from {first} to {top} (epoch {epoch}) and ended at {last}.",
             first=_pct(acc[0]), top=_pct(top), epoch=epoch_top, last=_pct(acc[-1]))


def _test_sentences(run: Run) -> list[str]:
    tested = tested_epochs(run)
    b = best_epoch(run)
    best = stats_at(run, b)
    last = tested[-1]
    n_test = len(run.split.test)
    out = []
    if b == last.epoch:
        out.append(_("Test accuracy was still at its best at the last epoch ({acc} at epoch {epoch}): more epochs "
                     "might still help.", acc=_pct(best.test_accuracy), epoch=b))
    elif _fell(best.test_accuracy, last.test_accuracy, n_test):
        out.append(ngettext(
            "Test accuracy was best at epoch {epoch} ({best}) and ended at {last} ({fewer} fewer of the {n} test "
            "picture right): after epoch {epoch} the model learned details of the training pictures that do not "
            "help with new ones.",
            "Test accuracy was best at epoch {epoch} ({best}) and ended at {last} ({fewer} fewer of the {n} test "
            "pictures right): after epoch {epoch} the model learned details of the training pictures that do not "
            "help with new ones.", n_test, epoch=b, best=_pct(best.test_accuracy), last=_pct(last.test_accuracy),
            fewer=_pictures(best.test_accuracy - last.test_accuracy, n_test)))
    else:
        after = [s.test_accuracy for s in tested if s.epoch >= b]
        lo, hi = min(after), max(after)
        if _pct(lo) == _pct(hi):
            out.append(_("Test accuracy levelled off: it was best at epoch {epoch} ({best}) and stayed around {acc} "
                         "to the end, so the epochs after {epoch} did not make it better on new pictures.",
                         epoch=b, best=_pct(best.test_accuracy), acc=_pct(hi)))
        else:
            out.append(_("Test accuracy levelled off: it was best at epoch {epoch} ({best}) and stayed between {lo} "
                         "and {hi} to the end, so the epochs after {epoch} did not make it better on new pictures.",
                         epoch=b, best=_pct(best.test_accuracy), lo=_pct(lo), hi=_pct(hi)))
    losses = [(s.epoch, s.test_loss) for s in tested if s.test_loss is not None]
    if len(losses) >= 2:
        low_epoch, low = min(losses, key=lambda e: (e[1], e[0]))
        final = losses[-1][1]
        if low_epoch < losses[-1][0] and final > low * 1.1 + 1e-3:
            train_then = stats_at(run, low_epoch).loss
            figures = dict(epoch=low_epoch, low=format(low, ".2f"), final=format(final, ".2f"))
            if run.history[-1].loss < train_then:
                out.append(_("Test loss was lowest at epoch {epoch} ({low}) and rose to {final} by the end while "
                             "train loss kept falling, a classic sign of overfitting.", **figures))
            else:
                out.append(_("Test loss was lowest at epoch {epoch} ({low}) and rose to {final} by the end, a classic "
                             "sign of overfitting.", **figures))
        elif low_epoch < losses[-1][0]:
            out.append(_("Test loss was lowest at epoch {epoch} ({low}) and stayed close to that ({final} at the end).",
                         epoch=low_epoch, low=format(low, ".2f"), final=format(final, ".2f")))
        else:
            out.append(_("Test loss was still falling at the end ({first} at epoch {first_epoch}, {final} at epoch "
                         "{epoch}).", first=format(losses[0][1], ".2f"), first_epoch=losses[0][0], final=format(final, ".2f"),
                         epoch=low_epoch))
    return out


def diagnosis_sentences(run: Run, confusion=None, diagnosis: dx.Diagnosis | None = None) -> list[str]:
    """What the run's curves say about its settings, in one or two sentences; [] when nothing stands out.

    A too-large learning rate (``diverged``, ``unstable``), a too-small one (``slow``), too few epochs and
    overfitting, each with the measured figures that show it (:func:`tm_core.diagnose.diagnose`)."""
    d = diagnosis or dx.diagnose(run, confusion)
    f = d.figures
    if d.kind == dx.DIVERGED:
        out = [_("The learning rate is too large: the training loss shot up to {highest} at epoch {epoch} (guessing "
                 "gives {guessing}), and after {epochs} epochs the model was no better than guessing.",
                 highest=_loss(f["highest_loss"]), epoch=f["highest_epoch"], guessing=format(f['guessing_loss'], ".2f"),
                 epochs=f["epochs"])]
        if "one_class" in f:
            out.append(_("It answers {cls} for every test sample.", cls=f["one_class"]))
        out.append(_("Try a smaller learning rate (such as 0.001) before changing your samples."))
        return out
    if d.kind == dx.UNSTABLE:
        if f["jumps"] >= dx.JUMPS:
            said = _("The learning rate looks too large: the training loss jumped back up {jumps} times (to {highest} "
                     "at its highest) instead of going down steadily.", jumps=f["jumps"],
                     highest=_loss(f["highest_loss"]))
        else:
            said = _("The learning rate looks too large: the training loss jumped to {highest} at epoch {epoch}, far "
                     "above the {guessing} of guessing, instead of going down steadily.",
                     highest=_loss(f["highest_loss"]), epoch=f["highest_epoch"], guessing=format(f['guessing_loss'], ".2f"))
        return [said, _("A smaller learning rate learns more steadily.")]
    if d.kind == dx.SLOW:
        return [_("Learning was slow: after {epochs} epochs the training loss ({final}) was still {left} % of the "
                  "first epoch's, and still falling.", epochs=f["epochs"], final=format(f['final_loss'], ".2f"),
                  left=format(f['left'] * 100, ".0f")),
                _("A larger learning rate or more epochs would help.")]
    if d.kind == dx.TOO_FEW_EPOCHS:
        return [_("The model was still improving when training ended: the training loss fell from {before} to "
                  "{final} over the last {epochs} epochs.", before=format(f['loss_before'], ".2f"),
                  final=format(f['final_loss'], ".2f"), epochs=f["last_epochs"]),
                _("More epochs would help.")]
    if d.kind == dx.OVERFITTING:
        return [_("The test loss was lowest at epoch {epoch} ({lowest}) and rose to {final} while the training loss "
                  "kept falling: the model is memorising its training samples (overfitting).",
                  epoch=f["lowest_epoch"], lowest=format(f['lowest_test_loss'], ".2f"), final=format(f['final_test_loss'], ".2f")),
                _("Fewer epochs, or early stopping, would help.")]
    return []


def _epochs_lesson(label: str, run: Run) -> str:
    d = dx.diagnose(run)
    if d.settings_at_fault:  # the settings first: no talk of overfitting or of the data
        sentences = diagnosis_sentences(run, diagnosis=d)[:2] + [_train_sentence(run)]
        if tested_epochs(run):
            b = best_epoch(run)
            sentences.append(_("Test accuracy was best at epoch {epoch} ({acc}).", epoch=b,
                               acc=_pct(stats_at(run, b).test_accuracy)))
        return " ".join(sentences[:4])
    sentences = [_train_sentence(run)]
    if not tested_epochs(run):
        sentences.append(_("There were no test pictures, so this run cannot show how well the model does on new ones."))
    else:
        sentences += _test_sentences(run)
    if len(sentences) < 4 and run.stopped:
        sentences.append(_("The run was stopped after {done} of {epochs} epochs.", done=len(run.history),
                           epochs=run.config.epochs))
    return " ".join(sentences[:4])


def _samples_lesson(runs: Sequence[tuple[str, Run]]) -> str:
    tested = [(label, run) for label, run in runs if tested_epochs(run)]
    if len(tested) < 2:
        return _epochs_lesson(*runs[-1])
    (small_label, small), (big_label, big) = tested[0], tested[-1]
    small_last, big_last = small.history[-1], big.history[-1]
    sentences = [_(
        "Trained on {small}, the model ended at {small_train} train and {small_test} test accuracy; on {big}, at "
        "{big_train} train and {big_test} test, on the same test pictures.", small=small_label,
        small_train=_pct(small_last.accuracy), small_test=_pct(small_last.test_accuracy), big=big_label,
        big_train=_pct(big_last.accuracy), big_test=_pct(big_last.test_accuracy))]
    gaps = dict(gap_small=format((small_last.accuracy - small_last.test_accuracy) * 100, ".0f"),
                gap_big=format((big_last.accuracy - big_last.test_accuracy) * 100, ".0f"))
    n_test = len(big.split.test)
    more = _pictures(big_last.test_accuracy - small_last.test_accuracy, n_test)
    if more >= 2:
        sentences.append(_("With more training pictures the model got {more} more of the {n} test pictures right, and "
                           "the gap between train and test accuracy went from {gap_small} to {gap_big} points.",
                           more=more, n=n_test, **gaps))
    elif more <= -2:
        sentences.append(_("Here the larger training set got {fewer} fewer of the {n} test pictures right, and the gap "
                           "between train and test accuracy went from {gap_small} to {gap_big} points.",
                           fewer=-more, n=n_test, **gaps))
    else:
        sentences.append(_("Here more training pictures hardly changed test accuracy ({more} of {n} test pictures): "
                           "these classes may already be easy to tell apart.", more=format(more, "+d"), n=n_test))
    if all(run.history[-1].accuracy >= 1 - 1e-9 for _label, run in tested):
        sentences.append(_("Train accuracy was 100 % in every run, so train accuracy alone does not tell how well a "
                           "model works on new pictures."))
    b = best_epoch(big)
    sentences.append(_("Trained on {big}, the model had its best test accuracy at epoch {epoch} ({acc}).",
                       big=big_label, epoch=b, acc=_pct(stats_at(big, b).test_accuracy)))
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
        return _("No run has finished an epoch yet, so there is nothing to compare.")
    sizes = {len(run.split.train) for _label, run in runs}
    if len(sizes) > 1:
        return _samples_lesson(runs)
    if len({run.config.learning_rate for _label, run in runs}) > 1:
        return rate_lesson(runs)
    if len({run.config.batch_size for _label, run in runs}) > 1:
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
        figures = dict(patience=run.config.patience, kept=kept.epoch, acc=_pct(kept.test_accuracy),
                       last=_pct(last.test_accuracy), last_epoch=last.epoch, stopped=run.early_stopped_at,
                       epochs=len(run.history))
        if run.early_stopped_at is not None:
            if kept.epoch == last.epoch:
                return _("Trained with early stopping (waiting {patience} epochs): it stopped at epoch {stopped} and "
                         "kept epoch {kept}, test accuracy {acc}.", **figures)
            return _("Trained with early stopping (waiting {patience} epochs): it stopped at epoch {stopped} and kept "
                     "epoch {kept}, test accuracy {acc} ({last} at epoch {last_epoch}).", **figures)
        if kept.epoch == last.epoch:
            return _("Trained with early stopping (waiting {patience} epochs): it ran all {epochs} epochs and kept "
                     "epoch {kept}, test accuracy {acc}.", **figures)
        return _("Trained with early stopping (waiting {patience} epochs): it ran all {epochs} epochs and kept epoch "
                 "{kept}, test accuracy {acc} ({last} at epoch {last_epoch}).", **figures)
    stop = early_stop_epoch(run, patience)
    if stop is None:
        return None
    kept, last = stats_at(run, stop.kept), run.history[-1]
    figures = dict(patience=patience, epochs=len(run.history), stopped=stop.stopped_at, kept=kept.epoch,
                   acc=_pct(kept.test_accuracy), last=_pct(last.test_accuracy))
    same = _pct(kept.test_accuracy) == _pct(last.test_accuracy)
    if stop.stopped_at is None:
        if kept.epoch == last.epoch:
            return _("With early stopping (waiting {patience} epochs) training would have run all {epochs} epochs and "
                     "kept the last one: the test loss was still at its lowest.", **figures)
        if same:
            return _("With early stopping (waiting {patience} epochs) training would have run all {epochs} epochs and "
                     "kept epoch {kept}: test accuracy {acc}, the same as at the end.", **figures)
        return _("With early stopping (waiting {patience} epochs) training would have run all {epochs} epochs and kept "
                 "epoch {kept}: test accuracy {acc} instead of {last} at the end.", **figures)
    if same:
        return _("With early stopping (waiting {patience} epochs) training would have stopped at epoch {stopped} and "
                 "kept epoch {kept}: test accuracy {acc}, the same as at the end.", **figures)
    return _("With early stopping (waiting {patience} epochs) training would have stopped at epoch {stopped} and kept "
             "epoch {kept}: test accuracy {acc} instead of {last} at the end.", **figures)


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
    return _("The best test accuracy came with {setting}: {acc} at epoch {epoch}.", setting=name(run),
             acc=_pct(stats_at(run, b).test_accuracy), epoch=b)


def _rate_name(run: Run) -> str:
    return _("learning rate {value}", value=number_text(run.config.learning_rate))


def _batch_name(run: Run) -> str:
    return _("batch size {value}", value=run.config.batch_size)


def rate_lesson(runs: Sequence[tuple[str, Run]]) -> str:
    """Runs that differ in learning rate: which learned fastest, which crawled, which never settled or diverged.

    Each run is judged by its own measured curves (:func:`tm_core.diagnose.diagnose`), never by its rate."""
    runs = sorted(runs, key=lambda r: r[1].config.learning_rate)
    judged = [(label, run, dx.diagnose(run)) for label, run in runs]
    name = _rate_name
    out = []
    steady = [(run, _reached(run)) for _label, run, d in judged if not d.settings_at_fault or d.kind == dx.SLOW]
    fast = [(run, e) for run, e in steady if e is not None]
    if fast:
        run, e = min(fast, key=lambda r: (r[1], r[0].history[r[1] - 1].loss))
        out.append(_("With {setting} the model learned fastest: train accuracy reached {acc} by epoch {epoch}.",
                     setting=name(run), acc=_pct(REACHED), epoch=e))
    for _label, run, d in judged:
        f = d.figures
        if d.kind == dx.SLOW:
            out.append(_("With {setting} it crawled: after {epochs} epochs the training loss was still {left} % of the "
                         "first epoch's ({final}), and still falling.", setting=name(run), epochs=f["epochs"],
                         left=format(f['left'] * 100, ".0f"), final=format(f['final_loss'], ".2f")))
        elif d.kind == dx.UNSTABLE:
            out.append(_("With {setting} it never settled: the training loss jumped to {highest} (guessing gives "
                         "{guessing}) instead of going down steadily.", setting=name(run),
                         highest=_loss(f["highest_loss"]), guessing=format(f['guessing_loss'], ".2f")))
        elif d.kind == dx.DIVERGED:
            out.append(_("With {setting} it diverged: the training loss shot up to {highest} and the model ended no "
                         "better than guessing.", setting=name(run), highest=_loss(f["highest_loss"])))
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
    (_l1, small), (_l2, big) = runs[0], runs[-1]
    name = _batch_name
    out = [_("With {small} the model made {small_updates} weight updates per epoch; with {big}, only {big_updates}.",
             small=name(small), small_updates=updates_per_epoch(small), big=name(big),
             big_updates=updates_per_epoch(big)),
           _("So after the first epoch, train accuracy was {small_acc} with {small} and {big_acc} with {big}.",
             small_acc=_pct(small.history[0].accuracy), small=name(small), big_acc=_pct(big.history[0].accuracy),
             big=name(big)),
           _("One epoch took {small_ms} ms with {small} and {big_ms} ms with {big}.",
             small_ms=format(seconds_per_epoch(small) * 1000, ".0f"), small=name(small),
             big_ms=format(seconds_per_epoch(big) * 1000, ".0f"), big=name(big))]
    shaky = [run for _label, run in runs if dx.diagnose(run).kind in (dx.UNSTABLE, dx.DIVERGED)]
    if shaky:
        out.append(_("With {setting} the training loss jumped around: small batches make noisy steps.",
                     setting=name(shaky[0])))
    best = _best_sentence(runs, name)
    if best:
        out.append(best)
    return " ".join(out[:5])
