"""Sweeps over settings: every combination of a few values of two (or more) settings, over seeds.

A :class:`GridSpec` names the settings swept (``epochs``, ``batch_size``, ``learning_rate``)
with their values, and how many seeds each cell is repeated over. :func:`run_grid` trains one
head per (cell, seed) on cached embeddings, all on one held-out split; the seed changes only
the initial weights and the shuffling, so the spread over seeds shows how much of a difference
is noise. :func:`run_table` (one row per run) and :func:`cell_table` (one per cell: mean and
spread) are DataFrames; :func:`to_csv` and :func:`to_json` write them.

All training goes through :func:`_train_many`: ``training.train_many``, which trains a row's heads side
by side, an epoch at a time (each the run ``training.train`` gives alone). Nothing draws here.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import pandas as pd

from tm_core.diagnose import diagnose
from tm_core.errors import InputError
from tm_core.experiments import number_text
from tm_core.i18n import N_, _
from tm_core.loop import EpochStats
from tm_core.training import Run, Split, TrainConfig, train_many

# A setting's name as a student reads it (translated where shown: ``_(SETTINGS[name][0])``) and its type.
# ``encoder`` (the pretrained network, by encoder name) is not a training setting: each of its values
# has embeddings of its own, so a sweep over it trains each network's runs on that network's features
# (``workflow.grid_sweep``); the other settings are ``TrainConfig``'s.
SETTINGS = {"epochs": (N_("Epochs"), int), "batch_size": (N_("Batch size"), int),
            "learning_rate": (N_("Learning rate"), float), "encoder": (N_("Pretrained network"), str)}
NETWORK = "encoder"
MAX_RUNS = 64  # a sweep on a shared server: at most this many heads
MAX_SEEDS = 5


def value_text(value) -> str:
    """A swept value as a student reads it: a number as :func:`number_text`, a network by its name."""
    return value if isinstance(value, str) else number_text(value)


@dataclass(frozen=True)
class Cell:
    """One run of a sweep: the swept settings' values, the seed and the full config."""

    values: dict
    seed: int
    config: TrainConfig

    @property
    def label(self) -> str:
        """The run's name, in the language of the code asking (a run keeps the name it was given)."""
        parts = [f"{_(SETTINGS[k][0]).lower()} {value_text(v)}" for k, v in self.values.items()]
        return " · ".join(parts + [_("seed {seed}", seed=self.seed)])


@dataclass(frozen=True)
class GridSpec:
    """The settings swept, each with its values (in the order given), and the seeds per cell."""

    axes: dict[str, tuple] = field(default_factory=dict)
    seeds: int = 1

    def validate(self, base: TrainConfig | None = None) -> GridSpec:
        if not self.axes:
            raise InputError(_("sweep"), _("pick at least one setting to sweep"))
        for name, values in self.axes.items():
            if name not in SETTINGS:
                raise InputError(name, _("cannot be swept; choose from {settings}", settings=", ".join(SETTINGS)))
            if not values:
                raise InputError(_(SETTINGS[name][0]), _("needs at least one value"))
            if len(set(values)) != len(values):
                raise InputError(_(SETTINGS[name][0]), _("has a value twice"))
        if not isinstance(self.seeds, int) or not 1 <= self.seeds <= MAX_SEEDS:
            raise InputError(_("seeds"), _("must be a whole number from 1 to {most}", most=MAX_SEEDS))
        if self.runs > MAX_RUNS:
            raise InputError(_("sweep"), _("would train {n} models; at most {most} at once: use fewer values or seeds",
                                           n=self.runs, most=MAX_RUNS))
        for cell in self.cells(base or TrainConfig()):
            cell.config.validate()  # an InputError naming the setting and what it must be
        return self

    @property
    def runs(self) -> int:
        return int(np.prod([len(v) for v in self.axes.values()])) * self.seeds

    def cells(self, base: TrainConfig) -> list[Cell]:
        """Every (combination, seed), the first setting's values outermost, seeds innermost.

        Seeds count from ``base.seed``; early stopping is off, so every run does its epochs."""
        names = list(self.axes)
        out = []
        for combo in itertools.product(*(self.axes[n] for n in names)):
            values = {n: SETTINGS[n][1](v) for n, v in zip(names, combo)}
            for s in range(self.seeds):
                seed = base.seed + s
                settings = {k: v for k, v in values.items() if k != NETWORK}
                out.append(Cell(values, seed, replace(base, **settings, seed=seed, early_stopping=False)))
        return out


def parse_values(setting: str, text: str) -> tuple:
    """``"0.001, 0.01"`` → ``(0.001, 0.01)`` for ``setting``; an ``InputError`` saying what is wrong."""
    if setting not in SETTINGS:
        raise InputError(setting, _("cannot be swept; choose from {settings}", settings=", ".join(SETTINGS)))
    name, kind = _(SETTINGS[setting][0]), SETTINGS[setting][1]
    values = []
    for part in str(text).replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        if kind is str:  # a network's name: checked when it is loaded (``encoders.get_encoder``)
            values.append(part)
            continue
        try:
            number = float(part)
        except ValueError:
            raise InputError(name, _("'{value}' is not a number", value=part)) from None
        if kind is int and number != int(number):
            raise InputError(name, _("'{value}' is not a whole number", value=part))
        values.append(kind(number))
    if not values:
        raise InputError(name, _("needs at least one value, separated by commas"))
    return tuple(values)


def _train_many(features, labels, class_names, configs: Sequence[TrainConfig], *, split: Split, extra=None,
                on_epoch: Callable[[int, EpochStats], None] | None = None,
                should_stop: Callable[[], bool] | None = None) -> list[Run]:
    """One run per config, each exactly what ``training.train(..., config, split=split, extra=extra)`` gives,
    trained side by side (``training.train_many``).

    ``on_epoch(config index, stats)`` after every epoch; ``should_stop()`` is asked between epochs
    and, once it says yes, every run not finished stops."""
    return train_many(features, labels, class_names, configs, split=split, extra=extra, on_epoch=on_epoch,
                      should_stop=should_stop)


def run_grid(features: np.ndarray, labels: np.ndarray, class_names: list[str], spec: GridSpec,
             base: TrainConfig | None = None, *, split: Split, extra=None,
             on_progress: Callable[[int, int], None] | None = None,
             should_stop: Callable[[], bool] | None = None,
             on_runs: Callable[[list[tuple[Cell, Run]]], None] | None = None) -> list[tuple[Cell, Run]]:
    """Train every cell of ``spec`` (over its seeds) on ``split``; returns the finished (cell, run) pairs.

    Runs are trained a row at a time (all cells sharing the first setting's value): ``on_runs``
    gets each row's finished runs as soon as it is done, so an interruption from outside keeps
    the rows before. ``on_progress(epochs done, epochs planned)`` over the whole sweep;
    ``should_stop()`` ends it after the current epoch, keeping only the runs that finished.
    """
    base = (base or TrainConfig()).validate()
    spec = spec.validate(base)
    cells = spec.cells(base)
    total = sum(c.config.epochs for c in cells)
    done_before = 0
    row = max(1, spec.runs // len(next(iter(spec.axes.values()))))
    finished: list[tuple[Cell, Run]] = []
    for start in range(0, len(cells), row):
        chunk = cells[start:start + row]
        if should_stop is not None and should_stop():
            break
        progress = [0] * len(chunk)

        def on_epoch(i: int, stats: EpochStats, progress=progress, offset=done_before) -> None:
            progress[i] = stats.epoch
            if on_progress is not None:
                on_progress(offset + sum(progress), total)

        runs = _train_many(features, labels, class_names, [c.config for c in chunk], split=split, extra=extra,
                           on_epoch=on_epoch, should_stop=should_stop)
        done_before += sum(c.config.epochs for c in chunk)
        kept = [(c, r) for c, r in zip(chunk, runs) if not r.stopped and len(r.history) == c.config.epochs]
        for c, r in kept:
            r.info.update(sweep="grid", values=dict(c.values), seed=c.seed)
        finished += kept
        if on_runs is not None and kept:
            on_runs(kept)
        if len(kept) < len(chunk):
            break
    return finished


TABLE_COLUMNS = ["run", "seed", "epochs_done", "train_accuracy", "test_accuracy", "best_test_accuracy",
                 "test_loss", "seconds", "diagnosis"]


def run_table(results: Sequence[tuple[Cell, Run]], labels: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per run: its label, the swept settings' values, seed and the measured figures.

    ``test_accuracy`` is the last epoch's held-out accuracy (the model kept), ``best_test_accuracy``
    the highest of any epoch; ``seconds`` the training time; ``diagnosis`` what the curves show
    (:func:`tm_core.diagnose.diagnose`: fine, overfitting, too_few_epochs, slow, unstable, diverged)."""
    names = list(results[0][0].values) if results else []
    rows = []
    for i, (cell, run) in enumerate(results):
        last = run.history[-1]
        tested = [s.test_accuracy for s in run.history if s.test_accuracy is not None]
        rows.append({"run": labels[i] if labels else cell.label, **cell.values, "seed": cell.seed,
                     "epochs_done": len(run.history), "train_accuracy": last.accuracy,
                     "test_accuracy": last.test_accuracy, "best_test_accuracy": max(tested) if tested else None,
                     "test_loss": last.test_loss, "seconds": round(run.seconds, 4), "diagnosis": diagnose(run).kind})
    table = pd.DataFrame(rows, columns=["run", *names, *TABLE_COLUMNS[1:]])
    numbers = ["train_accuracy", "test_accuracy", "best_test_accuracy", "test_loss", "seconds"]
    return table.astype(dict.fromkeys(numbers, "float64"))  # None (nothing held out) becomes NaN


def cell_table(runs: pd.DataFrame, settings: Sequence[str]) -> pd.DataFrame:
    """One row per cell of :func:`run_table`'s runs: ``runs`` (seeds done), the mean and spread (standard
    deviation over seeds, 0 for one) of held-out accuracy, the mean seconds, and "82 % ± 3" texts."""
    settings = list(settings)
    if runs.empty:
        return pd.DataFrame(columns=[*settings, "runs", "test_accuracy_mean", "test_accuracy_std", "seconds_mean",
                                     "accuracy_text", "seconds_text"])
    g = runs.groupby(settings, sort=False)
    out = g.agg(runs=("seed", "count"), test_accuracy_mean=("test_accuracy", "mean"),
                test_accuracy_std=("test_accuracy", lambda a: float(np.std(a.astype(float), ddof=1)) if len(a) > 1 else 0.0),
                seconds_mean=("seconds", "mean")).reset_index()

    def acc_text(r) -> str:
        if pd.isna(r.test_accuracy_mean):
            return _("no test")
        mean = f"{r.test_accuracy_mean * 100:.0f} %"
        return mean if r.runs < 2 else f"{mean} ± {r.test_accuracy_std * 100:.0f}"

    return out.assign(accuracy_text=out.apply(acc_text, axis=1),
                      seconds_text=out["seconds_mean"].map(lambda s: f"{s:.2f} s"))


def to_csv(runs: pd.DataFrame) -> str:
    return runs.to_csv(index=False)


def to_json(runs: pd.DataFrame, spec: GridSpec, base: TrainConfig, cells: pd.DataFrame | None = None) -> str:
    """The sweep as JSON: the settings swept and their values, the other settings, every run and every cell."""
    cells = cell_table(runs, list(spec.axes)) if cells is None else cells
    doc = {"axes": {k: list(v) for k, v in spec.axes.items()}, "seeds": spec.seeds, "base": asdict(base),
           "runs": json.loads(runs.to_json(orient="records")), "cells": json.loads(cells.to_json(orient="records"))}
    return json.dumps(doc, indent=1)


__all__ = ["MAX_RUNS", "NETWORK", "SETTINGS", "Cell", "GridSpec", "cell_table", "parse_values", "run_grid",
           "run_table", "to_csv", "to_json", "value_text"]
