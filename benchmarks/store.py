"""The server's copy of a 1,000-photo project (tm_core.store, issue 14): save and reopen times.

Builds the project the memory benchmark builds (the real photos of rps_real and clothing4 plus
mirrored copies of rps_real photos, through ``Project.add_files``), embeds it with the default
encoder and trains one run, then, in a fresh temporary data folder (fsync on every member, as in
production):

- first save (every sample written);
- save after a one-sample change (a photo added; then a photo added with its embedding, so the
  embeddings member is rewritten too): median of REPEATS, target ≤ 0.1 s, with the time spent
  waiting for the disk in fsync (counted by wrapping ``os.fsync``; on a busy shared machine the
  disk's share varies most);
- an unchanged save (a new manifest and revision only);
- reopen (``load``: every member read and checked): median of REPEATS, target ≤ 3 s;
- ``revision`` (what a tab polls to see another tab's save).
"""

from _common import IMAGE_SETS, CpuShare, encoder, header, row, train_dir  # first: import order

import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from memory import PROJECT_SIZE, mirrored_files

REPEATS = 9
OPEN_REPEATS = 3
SAVE_TARGET_S = 0.1
OPEN_TARGET_S = 3.0


_fsync = os.fsync
FSYNC = []  # seconds spent in each fsync (the disk's share of a save: on a busy shared machine, most of it)


def timed_fsync(fd: int) -> None:
    start = time.perf_counter()
    _fsync(fd)
    FSYNC.append(time.perf_counter() - start)


def timed(fn, disk: list | None = None) -> float:
    FSYNC.clear()
    start = time.perf_counter()
    fn()
    took = time.perf_counter() - start
    if disk is not None:
        disk.append(sum(FSYNC))
    return took


def main() -> list[str]:
    from tm_core import media
    from tm_core.errors import InputError
    from tm_core.features import FeatureCache
    from tm_core.project import Project
    from tm_core.project_file import ProjectFile, SavedRun
    from tm_core.store import ProjectStore, new_token
    from tm_core.training import TrainConfig, train

    enc = encoder()
    share = CpuShare()
    with tempfile.TemporaryDirectory() as tmp:
        listings = [media.list_folder(train_dir(name)) for name in IMAGE_SETS]
        originals = [(f.class_name, f.name, f.source) for listing in listings for f in listing.files]
        extra = mirrored_files(Path(tmp), PROJECT_SIZE - len(originals) + 2 * REPEATS)
        project = Project("image", [])
        errors = [x for x in project.add_files(originals + extra[:PROJECT_SIZE - len(originals)])
                  if isinstance(x, InputError)]
        if errors:
            raise errors[0]
        spare = Project("image", [])  # photos to add one by one, as a student does
        errors = [x for x in spare.add_files(extra[PROJECT_SIZE - len(originals):]) if isinstance(x, InputError)]
        if errors:
            raise errors[0]
        spare_samples = [(c.name, s) for c in spare.classes for s in c.samples]
        ds = project.dataset()
        cache = FeatureCache()
        cache.embed(enc, ds.samples)
        run = train(cache.matrix(enc.name, ds.samples), ds.labels, ds.class_names, TrainConfig())
        pf = ProjectFile(project, {"encoder": enc.name},
                         [SavedRun("Run 1", enc.name, run, [s.id for s in ds.samples], ds.labels)], 0, cache.export())
        header(f"The server's copy of a {PROJECT_SIZE:,}-photo project ({sum(s.nbytes for s in ds.samples) / 1024**2:.0f} "
               f"MB of PNG, {enc.name} embeddings, one run); fsync on every member")

        store, token = ProjectStore(Path(tmp) / "data"), new_token()
        os.fsync = timed_fsync  # counted, not changed
        first = timed(lambda: store.save(token, pf))
        unchanged = [timed(lambda: store.save(token, pf)) for _ in range(REPEATS)]
        one, one_embedded, one_disk, embedded_disk = [], [], [], []
        for i in range(REPEATS):
            cls, sample = spare_samples[2 * i]
            project.add_sample(cls, sample.data, sample.name)
            one.append(timed(lambda: store.save(token, pf), one_disk))
            cls, sample = spare_samples[2 * i + 1]
            added = project.add_sample(cls, sample.data, sample.name)
            cache.embed(enc, [added])
            pf.features = cache.export()
            one_embedded.append(timed(lambda: store.save(token, pf), embedded_disk))
        os.fsync = _fsync
        reopen = [timed(lambda: store.load(token)) for _ in range(OPEN_REPEATS)]
        revision = [timed(lambda: store.revision(token)) for _ in range(100)]
        count = len(store.load(token).project.dataset().samples)

    def med(times):
        return statistics.median(times)

    def listing(times):
        return ", ".join(f"{t:.3f}" for t in times)

    row("first save (every sample written)", f"{first:.2f} s")
    row(f"unchanged save (median of {REPEATS})", f"{med(unchanged):.3f} s ({listing(unchanged)})")
    row(f"save after adding one photo (median of {REPEATS})",
        f"{med(one):.3f} s ({listing(one)}) (target ≤ {SAVE_TARGET_S} s)")
    row("... of which in fsync (median)", f"{med(one_disk):.3f} s ({listing(one_disk)})")
    row(f"... and its embedding (median of {REPEATS})",
        f"{med(one_embedded):.3f} s ({listing(one_embedded)}) (target ≤ {SAVE_TARGET_S} s)")
    row("... of which in fsync (median)", f"{med(embedded_disk):.3f} s ({listing(embedded_disk)})")
    row(f"reopen (median of {OPEN_REPEATS}, {count} samples)", f"{med(reopen):.2f} s ({listing(reopen)}) "
        f"(target ≤ {OPEN_TARGET_S:.0f} s)")
    row("revision (median of 100)", f"{med(revision) * 1e6:.0f} µs")
    row("CPU during the run", share.report())
    return [(f"store: {PROJECT_SIZE} photos, first save {first:.2f} s, save after one photo {med(one):.3f} s "
            f"({med(one_disk):.3f} s of it in fsync) "
            f"(with its embedding {med(one_embedded):.3f} s; target ≤ {SAVE_TARGET_S} s), unchanged {med(unchanged):.3f} s, "
            f"reopen {med(reopen):.2f} s (target ≤ {OPEN_TARGET_S:.0f} s), revision {med(revision) * 1e6:.0f} µs")]


if __name__ == "__main__":
    np.seterr(all="ignore")
    print(*main(), sep="\n")
