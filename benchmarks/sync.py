"""What keeping tabs in step costs (tm_core.sync, tm_core.ui.sync), on real photos in a real store.

1. The check the sync fragment makes every second per open tab when nothing changed: ``store.revision``.
2. A save when nobody else saved (``store.update`` writing this tab's project) and a save merged
   with another tab's (read the server copy, ``merge``, write), for projects of N real photos.
3. ``merge`` alone and ``snapshot`` alone.

    python benchmarks/sync.py [--quick]
"""

import argparse
import tempfile

import _common  # noqa: F401  (import order: streamlit_webrtc before TensorFlow)
from _common import header, median_seconds, train_dir

from tm_core.errors import InputError
from tm_core.project import Project
from tm_core.project_file import ProjectFile
from tm_core.store import ProjectStore, new_token
from tm_core.sync import merge, snapshot


def project(n: int) -> Project:
    p = Project("image", [])
    root = train_dir("rps_real")
    items = [(c, f.name, f.read_bytes()) for c in ("rock", "paper", "scissors")
             for f in sorted((root / c).iterdir())[: n // 3]]
    assert not [r for r in p.add_files(items) if isinstance(r, InputError)]
    return p


def copy(pf: ProjectFile) -> ProjectFile:
    from tm_core.project import ProjectClass

    p = Project(pf.project.kind, [])
    p.classes = [ProjectClass(c.name, list(c.samples), c.enabled, c.uid, c.background, set(c.test_only))
                 for c in pf.project.classes]
    return ProjectFile(p, dict(pf.settings))


def measure(store: ProjectStore, n: int, extra: Project, repeats: int) -> str:
    token = new_token()
    base = ProjectFile(project(n))
    store.save(token, base)
    b = snapshot(base)
    sec_save, _ = median_seconds(lambda: store.save(token, copy(base)), repeats)  # no read, no merge
    sec_plain, _ = median_seconds(lambda: store.update(token, lambda cur, rev: copy(base)), repeats)

    def own_save():  # what a tab's save costs when nobody else saved: it holds the copy's revision
        store.update(token, lambda cur, rev: copy(base) if cur is None else merge(b, copy(base), cur)[0],
                     known=store.revision(token))

    sec_known, _ = median_seconds(own_save, repeats)
    k = iter(range(10**6))

    def merged_save():
        i = n // 3 + next(k) % 10  # photos past the project's own
        mine, theirs = copy(base), copy(base)
        mine.project.classes[0].samples.append(extra.classes[0].samples[i])
        theirs.project.classes[1].samples.append(extra.classes[1].samples[i])
        store.save(token, theirs)  # the other tab saved first
        store.update(token, lambda cur, rev: merge(b, mine, cur)[0])

    sec_merged, _ = median_seconds(merged_save, repeats)
    mine, theirs = copy(base), copy(base)
    sec_merge, _ = median_seconds(lambda: merge(b, mine, theirs), repeats)
    sec_snap, _ = median_seconds(lambda: snapshot(base), repeats)
    return (f"{n:4d} photos: store.save alone {sec_save:.3f} s · a tab's save, nobody else saved (update "
            f"at the known revision: no read) {sec_known:.3f} s · update reading the copy {sec_plain:.3f} s · "
            f"the other tab saved first, then "
            f"this one merged and saved {sec_merged:.3f} s · merge alone {sec_merge * 1e3:.2f} ms · "
            f"snapshot {sec_snap * 1e3:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    sizes = (30, 150) if args.quick else (30, 150, 420)
    repeats = 5 if args.quick else 9
    header("Keeping tabs in step: costs (median seconds)")
    with tempfile.TemporaryDirectory() as where:
        store = ProjectStore(where)
        token = new_token()
        store.save(token, ProjectFile(project(30)))
        sec, _ = median_seconds(lambda: store.revision(token), 2000)
        print(f"revision check (the fragment's, every second per tab): {sec * 1e6:.0f} µs")
        extra = project(30 + max(sizes))
        for n in sizes:
            print(measure(store, n, extra, repeats))


if __name__ == "__main__":
    main()
