"""How long each one-click lesson and a 16-run sweep take, and what the curves are called, on the real image sets.

Each lesson as the Experiments page runs it (``workflow.sweep`` on embeddings already cached,
Teachable Machine's settings otherwise), and a 4×4 sweep of learning rate × batch size
(``workflow.grid_sweep``, 50 epochs): the median wall time of 3 repeats, then what
``tm_core.diagnose`` calls each run of the learning-rate lesson.
"""

from _common import IMAGE_SETS, CpuShare, embedded_set, header, median_seconds, row  # first: import order

import numpy as np

from tm_core import grid, workflow
from tm_core.diagnose import diagnose
from tm_core.experiments import number_text
from tm_core.project import Dataset, Sample
from tm_core.session import Session
from tm_core.training import TrainConfig, split_per_class

REPEATS = 3


def prepared_of(features, labels, class_names) -> workflow.Prepared:
    samples = [Sample(f"{i:016x}", np.zeros(1, np.float32)) for i in range(len(labels))]
    ds = Dataset(samples, np.asarray(labels), list(class_names))
    return workflow.Prepared(ds, features, split_per_class(np.asarray(labels), 0.15, 0))


def measure(name: str) -> None:
    x, y, classes = embedded_set(name)
    prepared = prepared_of(x, y, classes)
    header(f"{name}: {len(y)} photos, {len(prepared.split.train)} trained on")
    share = CpuShare()
    for lesson in workflow.LESSONS:
        seconds, _ = median_seconds(lambda lesson=lesson: workflow.sweep(Session(config=TrainConfig()), prepared, lesson),
                                    REPEATS)
        steps = ", ".join("all" if s is None else number_text(s) for s in workflow.sweep_steps(lesson, prepared))
        row(f"lesson {lesson} ({steps})", f"{seconds:.2f} s")
    spec = grid.GridSpec({"learning_rate": (0.0001, 0.001, 0.01, 0.1), "batch_size": (8, 16, 64, 256)})
    seconds, _ = median_seconds(lambda: workflow.grid_sweep(Session(config=TrainConfig()), prepared, spec), REPEATS)
    row("sweep 4 learning rates × 4 batch sizes, 50 epochs (16 runs)", f"{seconds:.2f} s")
    print(f"  ({share.report()})")
    sess = Session(config=TrainConfig())
    for rec in workflow.sweep(sess, prepared, "learning_rate"):
        d = diagnose(rec.run, rec.evaluation.confusion)
        row(f"{rec.label}: called", f"{d.kind} (highest train loss {d.figures['highest_loss']:.3g})")


def main() -> None:
    for name in IMAGE_SETS:
        measure(name)


if __name__ == "__main__":
    main()
