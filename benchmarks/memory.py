"""Memory, saving and opening of a 1,000-image project (issue 7's targets: ≤ 150 MB, ≤ 10 s each).

Runs in a fresh Python process (so nothing measured before it is counted): loads the default
image encoder and warms it, then reads the process's resident memory (VmRSS in /proc/self/status)
before and after building a 1,000-image project the way the app does: the real photos of rps_real
and clothing4 (850 files) plus 150 mirrored copies of rps_real photos (written as PNG files
beforehand, distinct samples), through ``Project.add_files`` (original file → 224-pixel crop, kept
as PNG bytes), embedded into a ``FeatureCache``, and one run trained (``training.train``).
Then the project is saved and reopened 3 times each (``project_file.save`` / ``open_project``;
medians), and the memory a kept reopened copy adds is read the same way. As a baseline, a second
fresh process does the same with the old storage (every picture a raw 224×224×3 array) and times
the old save (which re-encoded every sample).
"""

from _common import IMAGE_SETS, CpuShare, header, row, train_dir  # first: import order

import gc
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TARGET_MB = 150
TARGET_S = 10.0
PROJECT_SIZE = 1000
MIRRORED_FROM = "rps_real"
REPEATS = 3
MB = 1024**2


def rss() -> int:
    """This process's resident memory in bytes (VmRSS), after a full garbage collection."""
    gc.collect()
    text = Path("/proc/self/status").read_text()
    return int(re.search(r"^VmRSS:\s+(\d+) kB", text, re.M).group(1)) * 1024


def mirrored_files(folder: Path, n: int) -> list[tuple[str, str, Path]]:
    """``n`` real photos of ``MIRRORED_FROM`` flipped left to right, written as PNG files in ``folder``
    (spread evenly over its classes): ``(class, name, path)`` items for ``add_files``."""
    from PIL import Image, ImageOps

    root = train_dir(MIRRORED_FROM)
    classes = sorted(p for p in root.iterdir() if p.is_dir())
    items = []
    for i in range(n):
        cls = classes[i % len(classes)]
        src = sorted(cls.iterdir())[i // len(classes)]
        dest = folder / f"mirrored-{cls.name}-{src.stem}.png"
        with Image.open(src) as img:
            ImageOps.mirror(img.convert("RGB")).save(dest)
        items.append((cls.name, dest.name, dest))
    return items


def child(storage: str) -> None:
    """The measurement itself (in its own process); prints rows, then a ``SUMMARY`` line for the parent.

    ``storage``: "png" (how samples are kept) or "raw" (the old way, every picture a raw array: the
    baseline, made by having ``Sample.of_picture`` keep the array; its save re-encodes every sample
    as the old save did)."""
    from _common import encoder

    from tm_core import media
    from tm_core.errors import InputError
    from tm_core.features import FeatureCache
    from tm_core.project import Project, Sample, sample_id
    from tm_core.project_file import ProjectFile, SavedRun, open_project, save
    from tm_core.training import TrainConfig, train

    if storage == "raw":
        def raw_picture(cls, picture, name="", group="", sid=None):
            data = np.array(picture)
            data.setflags(write=False)
            return cls(sample_id(data) if sid is None else sid, data, name, group)

        Sample.of_picture = classmethod(raw_picture)

    enc = encoder()
    enc.encode(np.zeros((getattr(enc, "batch_size", 32), 224, 224, 3), np.uint8))  # warm: graphs traced, arena grown
    share = CpuShare()
    with tempfile.TemporaryDirectory() as tmp:
        listings = [media.list_folder(train_dir(name)) for name in IMAGE_SETS]
        originals = [(f.class_name, f.name, f.source) for listing in listings for f in listing.files]
        mirrored = mirrored_files(Path(tmp), PROJECT_SIZE - len(originals))
        header(f"Memory of a {PROJECT_SIZE:,}-image project, samples kept as {storage.upper()} "
               f"(default encoder {enc.name}, loaded and warmed; fresh process)")
        before = rss()

        start = time.perf_counter()
        project = Project("image", [])
        errors = [x for x in project.add_files(originals + mirrored) if isinstance(x, InputError)]
        add_s = time.perf_counter() - start
        if errors:
            raise errors[0]
        ds = project.dataset()
        if len(ds.samples) != PROJECT_SIZE:
            raise RuntimeError(f"the project has {len(ds.samples)} samples, not {PROJECT_SIZE}")
        after_add = rss()

        cache = FeatureCache()
        start = time.perf_counter()
        cache.embed(enc, ds.samples)
        embed_s = time.perf_counter() - start
        features = cache.matrix(enc.name, ds.samples)
        run = train(features, ds.labels, ds.class_names, TrainConfig())
        del features
        after = rss()

    project_bytes = sum(s.nbytes for s in ds.samples)
    raw_bytes = PROJECT_SIZE * 224 * 224 * 3
    embedding_bytes = sum(x.nbytes for _ids, x in cache.export().values())
    added = after - before
    row(f"{PROJECT_SIZE} photos added (files → 224 crops)", f"{add_s:.1f} s, RSS +{(after_add - before) / MB:.0f} MB")
    row("embedded (FeatureCache) and one run trained", f"embedding {embed_s:.1f} s, held-out accuracy "
        f"{run.history[-1].test_accuracy:.2f}")
    row("samples as held (sum of their storage)", f"{project_bytes / MB:.1f} MB ({project_bytes / raw_bytes:.0%} of the "
        f"raw pixels, {raw_bytes / MB:.0f} MB)")
    row("embeddings", f"{embedding_bytes / MB:.1f} MB ({features_dim(cache)}-d float32)")
    row("RSS added by the project, embeddings and run", f"{added / MB:.0f} MB (target ≤ {TARGET_MB} MB)")

    pf = ProjectFile(project, {"encoder": enc.name}, [SavedRun("Run 1", enc.name, run,
                                                               [s.id for s in ds.samples], ds.labels)],
                     0, cache.export())
    save_times, data = [], b""
    for _ in range(REPEATS):
        start = time.perf_counter()
        data = save(pf)
        save_times.append(time.perf_counter() - start)
    save_s, file_mb = statistics.median(save_times), len(data) / MB
    row(f"save (median of {REPEATS})", f"{save_s:.2f} s ({', '.join(f'{t:.2f}' for t in save_times)}), "
        f"file {file_mb:.1f} MB (target ≤ {TARGET_S:.0f} s)")
    if storage == "raw":  # opening is the same work either way (decode, check each id); measured once, below
        row("CPU during the run", share.report())
        print(f"SUMMARY memory (baseline, raw arrays as before): {PROJECT_SIZE} photos add {added / MB:.0f} MB RSS; "
              f"save {save_s:.1f} s", flush=True)
        return
    open_times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        opened = open_project(data)
        open_times.append(time.perf_counter() - start)
        del opened
    open_s = statistics.median(open_times)
    row(f"open (median of {REPEATS})", f"{open_s:.2f} s ({', '.join(f'{t:.2f}' for t in open_times)}) "
        f"(target ≤ {TARGET_S:.0f} s)")
    before_open = rss()
    reopened = open_project(data)
    reopened_added = rss() - before_open
    same = [s.png for c in reopened.project.classes for s in c.samples] == \
           [s.png for c in project.classes for s in c.samples]
    held = sum(s.nbytes for c in reopened.project.classes for s in c.samples)
    row("RSS added by a reopened copy (kept)", f"{reopened_added / MB:.0f} MB, holding {held / MB:.0f} MB of PNG bytes "
        f"(identical: {same}; RSS can grow less than that: memory freed by the saves is reused)")
    # The server's copy (tm_core.store, what a reload restores): written as the student works.
    from tm_core.store import ProjectStore, new_token

    with tempfile.TemporaryDirectory() as where:
        store, token = ProjectStore(where), new_token()
        start = time.perf_counter()
        store.save(token, pf)
        first_s = time.perf_counter() - start
        pf.runs, pf.current = pf.runs * 2, 1  # one more run: the new head and the manifest are written
        again = []
        for _ in range(REPEATS):
            start = time.perf_counter()
            store.save(token, pf)
            again.append(time.perf_counter() - start)
        start = time.perf_counter()
        restored = store.load(token)
        restore_s = time.perf_counter() - start
        del restored
    again_s = statistics.median(again)
    row("server copy: first save (every sample written)", f"{first_s:.2f} s")
    row(f"server copy: save after a change (median of {REPEATS})", f"{again_s:.2f} s (only what changed is written)")
    row("server copy: restore on a reload", f"{restore_s:.2f} s")
    row("CPU during the run", share.report())
    print(f"SUMMARY memory: {PROJECT_SIZE} photos add {added / MB:.0f} MB RSS (target ≤ {TARGET_MB}; samples "
          f"{project_bytes / MB:.0f} MB as PNG); save {save_s:.1f} s, open {open_s:.1f} s (target ≤ {TARGET_S:.0f} s "
          f"each), file {file_mb:.0f} MB; a reopened copy adds {reopened_added / MB:.0f} MB; server copy: first save "
          f"{first_s:.1f} s, after a change {again_s:.2f} s, restore {restore_s:.1f} s", flush=True)


def features_dim(cache) -> int:
    return next(iter(cache.export().values()))[1].shape[1]


def main() -> list[str]:
    """Runs ``child`` in a fresh process for each storage, one after the other; returns their summary lines."""
    lines = []
    for storage in ("png", "raw"):
        proc = subprocess.run([sys.executable, __file__, "--child", storage], cwd=Path(__file__).parent, text=True,
                              stdout=subprocess.PIPE)
        for line in proc.stdout.splitlines():
            if line.startswith("SUMMARY "):
                lines.append(line.removeprefix("SUMMARY "))
            else:
                print(line, flush=True)
        if proc.returncode:
            raise RuntimeError(f"the memory benchmark's {storage} process failed (exit {proc.returncode}; "
                               "its error is above)")
    return lines


if __name__ == "__main__":
    if "--child" in sys.argv:
        child(sys.argv[sys.argv.index("--child") + 1])
    else:
        for summary in main():
            print(summary)
