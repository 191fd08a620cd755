"""Shared bits of the benchmarks: import order, paths, timing and printing helpers.

Import this module first in every benchmark: it imports ``streamlit_webrtc`` before anything
can import TensorFlow (the other order segfaults), and points ``TM_MODELS_DIR`` at
``../shared/models`` when it is not set.
"""

import streamlit_webrtc  # noqa: F401  (must come before anything that imports TensorFlow)

import os
import statistics
import sys
import time
from functools import cache
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DATASETS = SHARED / "datasets"

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if not os.environ.get("TM_MODELS_DIR") and (SHARED / "models").is_dir():
    os.environ["TM_MODELS_DIR"] = str(SHARED / "models")
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tm_core import media  # noqa: E402
from tm_core.errors import InputError  # noqa: E402
from tm_core.features import FeatureCache  # noqa: E402
from tm_core.project import Project  # noqa: E402

IMAGE_SETS = ("rps_real", "clothing4")


def train_dir(name: str) -> Path:
    return DATASETS / name / "train"


def median_seconds(fn, repeats: int) -> tuple[float, list[float]]:
    """Run ``fn`` ``repeats`` times; the median wall time and every time, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


@cache
def encoder(name: str = "mobilenet_v2_0.35"):
    """Built once per process (loading and tracing is not what is measured)."""
    from tm_core.encoders import get_encoder

    return get_encoder(name)


def decoded_samples(listing: media.TreeListing, project: Project, workers: int = 2, pixels: dict | None = None):
    """``project.add_listing`` without its InputErrors (the benchmark sets have none; fail if they do)."""
    for item in project.add_listing(listing, workers=workers, pixels=pixels):
        if isinstance(item, InputError):
            raise item
        yield item


@cache
def embedded_set(set_name: str, encoder_name: str = "mobilenet_v2_0.35"):
    """(features, labels, class_names) of one train folder, through the real pipeline."""
    listing = media.list_folder(train_dir(set_name))
    project = Project(class_names=[])
    cache_ = FeatureCache()
    enc = encoder(encoder_name)
    pixels: dict = {}
    cache_.embed(enc, decoded_samples(listing, project, pixels=pixels), total=len(listing.files), pixels=pixels)
    ds = project.dataset()
    return cache_.matrix(enc.name, ds.samples), ds.labels, ds.class_names


class CpuShare:
    """Cores used by this process and by everything else on the machine since it was made.

    The machine is shared: other jobs' share, read from ``/proc/stat`` (Linux), tells whether a
    slow figure is ours or contention. Without ``/proc/stat`` only this process's share is given.
    """

    def __init__(self) -> None:
        self.start = self._read()

    @staticmethod
    def _read() -> tuple[float, float, float | None]:
        try:
            fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
            busy = (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")  # all but idle, iowait
        except (OSError, ValueError):
            busy = None
        return time.perf_counter(), time.process_time(), busy

    def report(self) -> str:
        (w0, p0, b0), (w1, p1, b1) = self.start, self._read()
        ours = (p1 - p0) / (w1 - w0)
        text = f"this process {ours:.2f} cores"
        if b0 is not None and b1 is not None:
            text += f", other jobs {max(0.0, (b1 - b0) / (w1 - w0) - ours):.2f} cores"
        return text + f" (of {os.cpu_count()})"


def stratified_folds(labels: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Each sample's fold (0..k-1): every class spread evenly over the folds, at random with ``seed``."""
    rng = np.random.default_rng(seed)
    fold = np.zeros(len(labels), int)
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        fold[idx] = np.arange(len(idx)) % k
    return fold


def header(title: str) -> None:
    print(f"\n== {title} ==", flush=True)


def row(label: str, value: str) -> None:
    print(f"  {label:<46} {value}", flush=True)
