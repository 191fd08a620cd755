"""The server's copy (tm_core.store) under faults, for real: a process saving in a loop is SIGKILLed
at random instants; a save fails at each of its writes as on a full disk; a real full tmpfs and a
real read-only remount; two processes updating one project at once. After each, the project opens
as the last completed save.

Mounting needs root: CI runs as root (and fails here if it cannot mount); elsewhere those tests skip.

Run as a script (``python tests/test_store_faults.py fork|update ...``) this file is the worker the
tests start: a process that forks a saver per round (so a round costs a fork, not an interpreter),
or one that updates a project in a loop.
"""

import dataclasses
import errno
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tm_core import store_folder
from tm_core.errors import InputError
from tm_core.project import Project, ProjectClass
from tm_core.project_file import ProjectFile, SavedRun, save
from tm_core.store import DamagedProject, ProjectStore, new_token
from tm_core.training import TrainConfig, train

REPO = Path(__file__).resolve().parent.parent
KILLS = 200


def fingerprint(pf: ProjectFile) -> str:
    """The project file's bytes hashed: the same project always gives the same bytes."""
    return hashlib.sha256(save(pf)).hexdigest()


def pool_project(files: list[tuple[str, str, str]]) -> Project:
    p = Project("image", [])
    bad = [r for r in p.add_files(files) if isinstance(r, InputError)]
    assert not bad, bad
    return p


def variant(pool: Project, emb: dict[str, np.ndarray], rng, n: int) -> ProjectFile:
    """A project drawn from ``pool`` (a random subset of each class, so samples come and go), with a
    head trained on those samples' embeddings (a new seed: a new head) and the embeddings."""
    classes = []
    for c in pool.classes:
        keep = sorted(rng.choice(len(c.samples), size=int(rng.integers(3, len(c.samples) + 1)), replace=False))
        classes.append(ProjectClass(c.name, [c.samples[i] for i in keep], uid=c.uid))
    p = Project("image", [])
    p.classes = classes
    ds = p.dataset()
    ids = [s.id for s in ds.samples]
    x = np.stack([emb[i] for i in ids])
    run = train(x, ds.labels, ds.class_names, TrainConfig(epochs=int(rng.integers(1, 3)), seed=int(rng.integers(1e6)),
                                                          hidden_units=16))
    return ProjectFile(p, {"encoder": "e"}, [SavedRun(f"Run {n}", "e", run, ids, ds.labels)], 0,
                       {"e": (ids, x)})


def photos(rps_train: Path, per_class: int) -> list[tuple[str, str, str]]:
    return [(c, f.name, str(f)) for c in ("rock", "paper") for f in sorted((rps_train / c).iterdir())[:per_class]]


def worker_env() -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO), "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}


def need_mount(tmp_path: Path) -> Path:
    """A tmpfs mounted inside the test's folder (the caller unmounts it); skip (fail in CI) when impossible."""
    where = tmp_path / "disk"
    where.mkdir()
    why = None
    if os.geteuid() != 0:
        why = "needs root to mount a tmpfs"
    else:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(where)],
                              capture_output=True, text=True, check=False)
        if done.returncode:
            why = f"cannot mount a tmpfs: {done.stderr.strip()}"
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"{why} (CI runs as root)")
        pytest.skip(why)
    return where


def umount(where: Path) -> None:
    if subprocess.run(["umount", str(where)], capture_output=True, check=False).returncode:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, check=False)


# --- crashes ---------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_save_killed_at_any_instant_leaves_the_last_completed_save(tmp_path, rps_train, encoder):
    files = photos(rps_train, 10)
    pool = pool_project(files)
    samples = [s for c in pool.classes for s in c.samples]
    emb = dict(zip([s.id for s in samples], encoder.encode(np.stack([s.data for s in samples]))))
    np.savez(tmp_path / "emb.npz", ids=np.array(list(emb)), x=np.stack(list(emb.values())))
    (tmp_path / "files.json").write_text(json.dumps(files))
    data, token, log = tmp_path / "data", new_token(), tmp_path / "log"
    worker = subprocess.Popen([sys.executable, __file__, "fork", str(tmp_path), str(data), token, str(log)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO,
                              env=worker_env())
    store = ProjectStore(data)
    rng = np.random.default_rng(0)
    done: tuple[str, str] | None = None  # (revision, fingerprint) of the last save known to be complete
    seen_revisions, kills, mid_save, unopenable, started = set(), 0, 0, 0, time.monotonic()
    try:
        assert worker.stdout.readline().strip() == "ready"
        for round_ in range(KILLS):
            worker.stdin.write(f"{round_}\n")
            worker.stdin.flush()
            pid = int(worker.stdout.readline())
            time.sleep(rng.uniform(0, 0.25))  # a save here takes 20-100 ms (a few fsyncs)
            os.kill(pid, 9)
            kills += 1
            assert worker.stdout.readline().strip() == f"reaped {pid} -9"  # killed, not finished on its own
            pending = None
            for line in log.read_text().splitlines(keepends=True):
                if not line.endswith("\n"):
                    continue  # a line cut short by the kill (never seen: one small write)
                what, *rest = line.split()
                if what == "pending":
                    pending = rest[0]
                elif what == "done":
                    done, pending = (rest[0], rest[1]), None
                    seen_revisions.add(rest[0])
            mid_save += pending is not None
            log.write_text("")
            try:
                pf, revision = store.load_with_revision(token)
            except InputError as e:
                if done is None and store.revision(token) is None:  # killed before its first save completed
                    continue
                unopenable += 1
                pytest.fail(f"round {round_}: the copy does not open after a kill: {e}")
            if done is not None and revision == done[0]:
                assert fingerprint(pf) == done[1], f"round {round_}: revision {revision} holds another project"
            else:  # the save the kill interrupted had completed (after its rename, before it said so)
                assert pending is not None and fingerprint(pf) == pending, \
                    f"round {round_}: neither the last completed save nor the one in flight"
                assert revision not in seen_revisions, f"round {round_}: an older save came back"
                done = (revision, pending)
                seen_revisions.add(revision)
    finally:
        worker.kill()
        worker.wait()
    elapsed = time.monotonic() - started
    print(f"{kills} kills in {elapsed:.0f} s, {mid_save} during a save, {len(seen_revisions)} saves completed, "
          f"{unopenable} unopenable")
    assert kills >= 200 and unopenable == 0
    assert mid_save >= 20 and len(seen_revisions) >= 50  # the kills did land inside saves, and saves did complete
    store.save(token, pf)  # what the kills left behind (unfinished files, unnamed members) goes at the next save
    folder = store.folder(token)
    _revision, blobs, manifest = (folder / "current").read_text().split("\n", 2)
    manifest, blobs = json.loads(manifest), json.loads(blobs)
    named = {s["file"] for c in manifest["classes"] for s in c["samples"]} | \
            {blobs[r["head"]] for r in manifest["runs"]} | {blobs[f["file"]] for f in manifest["features"]}
    on_disk = {f.relative_to(folder).as_posix() for f in folder.rglob("*") if f.is_file()}
    assert on_disk - named == {"current"}


def fork_worker(tmp: Path, data: Path, token: str, log: Path) -> None:
    """For each round number read on stdin: fork a child that saves variants in a loop (saying
    "pending <fingerprint>" before each save and "done <revision> <fingerprint>" after it, in ``log``),
    print its pid, wait for it, print how it ended."""
    pool = pool_project([tuple(f) for f in json.loads((tmp / "files.json").read_text())])
    with np.load(tmp / "emb.npz") as z:
        emb = dict(zip([str(i) for i in z["ids"]], z["x"]))
    print("ready", flush=True)
    for line in sys.stdin:
        round_ = int(line)
        pid = os.fork()
        if pid == 0:
            try:
                store, rng = ProjectStore(data), np.random.default_rng(round_)
                fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                for n in range(10**6):
                    pf = variant(pool, emb, rng, n)
                    fp = fingerprint(pf)
                    os.write(fd, f"pending {fp}\n".encode())
                    revision = store.save(token, pf)
                    os.write(fd, f"done {revision} {fp}\n".encode())
            finally:
                os._exit(1)
        print(pid, flush=True)
        _, status = os.waitpid(pid, 0)
        print(f"reaped {pid} {-os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)}", flush=True)


# --- full and read-only disks ----------------------------------------------------------------------------

def test_a_save_failing_at_any_write_leaves_the_last_completed_save(tmp_path, rps_train, monkeypatch):
    """ENOSPC at the 1st, 2nd, ... write of a save (half the bytes written first, as a full disk does)."""
    pool = pool_project(photos(rps_train, 5))
    emb = {s.id: np.random.default_rng(i).normal(size=8).astype(np.float32)
           for i, s in enumerate(s for c in pool.classes for s in c.samples)}
    store, token = ProjectStore(tmp_path), new_token()
    rng = np.random.default_rng(1)
    before = variant(pool, emb, rng, 0)
    store.save(token, before)
    revision, expected = store.revision(token), fingerprint(before)
    real_write, calls, failed = store_folder._write, [], []

    def failing(target: Path, data: bytes) -> None:
        calls.append(target.name)
        if len(calls) == fail_at:
            failed.append(target.name)
            target.with_name(f"{target.name}.cut{store_folder.PARTIAL}").write_bytes(data[:len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(target, data)

    monkeypatch.setattr(store_folder, "_write", failing)
    after = variant(pool, emb, rng, 1)  # other samples, a new head and new embeddings
    folder, snapshot = store.folder(token), tmp_path / "snapshot"
    shutil.copytree(folder, snapshot)
    fail_at = 0
    while True:  # the same save from the same state each time, failing one write later
        fail_at += 1
        shutil.rmtree(folder)
        shutil.copytree(snapshot, folder)
        calls.clear()
        try:
            new_revision = store.save(token, after)
        except OSError as e:
            assert e.errno == errno.ENOSPC
            pf, now = store.load_with_revision(token)
            assert now == revision and fingerprint(pf) == expected, f"write {fail_at} ({failed[-1]}) failed: the copy changed"
            continue
        break
    assert len(failed) == len(calls) == fail_at - 1  # every write of the save failed once
    kinds = [name.rpartition(".")[2] for name in failed]
    assert kinds[-1] == "current" and "npz" in kinds and "png" in kinds, failed  # "current" (the manifest) last
    assert new_revision == store.revision(token) and fingerprint(store.load(token)) == fingerprint(after)
    assert not any(f.name.endswith(store_folder.PARTIAL) for f in store.folder(token).rglob("*"))


def test_a_real_full_disk_leaves_the_copy_as_it_was(tmp_path, rps_train):
    disk = need_mount(tmp_path)
    try:
        pool = pool_project(photos(rps_train, 4))
        emb = {s.id: np.full(8, i, np.float32) for i, s in enumerate(s for c in pool.classes for s in c.samples)}
        store, token, rng = ProjectStore(disk / "data"), new_token(), np.random.default_rng(2)
        before = variant(pool, emb, rng, 0)
        revision = store.save(token, before)
        fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)  # fill the disk to the last byte
        for chunk in (1024**2, 4096, 1):
            try:
                while True:
                    os.write(fd, b"\0" * chunk)
            except OSError as e:
                assert e.errno == errno.ENOSPC
        os.close(fd)
        after = variant(pool, emb, rng, 1)
        for _ in range(3):
            with pytest.raises(OSError) as e:
                store.save(token, after)
            assert e.value.errno == errno.ENOSPC
            with pytest.raises(OSError):
                store.update(token, lambda current, rev: dataclasses.replace(current, settings={"x": 1}))
            pf, now = store.load_with_revision(token)
            assert now == revision and fingerprint(pf) == fingerprint(before)
        (disk / "filler").unlink()  # room again: the next save works and leaves nothing of the failed ones
        store.save(token, after)
        assert fingerprint(store.load(token)) == fingerprint(after)
        assert not any(f.name.endswith(store_folder.PARTIAL) for f in store.folder(token).rglob("*"))
    finally:
        umount(disk)


def test_a_data_folder_turned_read_only_still_opens_and_refuses_saves(tmp_path, rps_train):
    """Regression: every reload raised once the folder was read-only (the load touched a file)."""
    disk = need_mount(tmp_path)
    try:
        pool = pool_project(photos(rps_train, 4))
        emb = {s.id: np.full(8, i, np.float32) for i, s in enumerate(s for c in pool.classes for s in c.samples)}
        store, token, rng = ProjectStore(disk / "data"), new_token(), np.random.default_rng(3)
        before = variant(pool, emb, rng, 0)
        revision = store.save(token, before)
        broken = new_token()
        store.save(broken, before)
        next(store.folder(broken).rglob("*.png")).write_bytes(b"not a picture")
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        fresh = ProjectStore(disk / "data")  # a server process started after the folder turned read-only
        for s in (store, fresh):
            assert s.exists(token) and s.revision(token) == revision
            pf, now = s.load_with_revision(token)
            assert now == revision and fingerprint(pf) == fingerprint(before)
            with pytest.raises(OSError) as e:
                s.save(token, variant(pool, emb, rng, 1))
            assert e.value.errno == errno.EROFS
            with pytest.raises(OSError):
                s.update(token, lambda current, rev: dataclasses.replace(current, settings={"x": 1}))
            with pytest.raises(InputError, match="does not lead to a project"):
                s.load(new_token())
            with pytest.raises(DamagedProject, match="left where it is") as e:  # cannot be moved aside: stays
                s.load(broken)
            assert e.value.aside is None and s.exists(broken)
            assert s.remove_stale(now=time.time() + 365 * 86400) == 0  # cannot remove anything: logged, no raise
            with pytest.raises(OSError):
                s.delete(token)
            assert s.revision(token) == revision
        subprocess.run(["mount", "-o", "remount,rw", str(disk)], check=True)
        assert fingerprint(store.load(token)) == fingerprint(before)  # nothing lost
        store.save(token, variant(pool, emb, rng, 2))
    finally:
        umount(disk)


# --- several processes -----------------------------------------------------------------------------------

@pytest.mark.slow
def test_two_processes_updating_at_once_lose_no_update(tmp_path, rps_train):
    rounds = 12
    data, token = tmp_path / "data", new_token()
    (tmp_path / "files.json").write_text(json.dumps(photos(rps_train, 1)))
    workers = [subprocess.Popen([sys.executable, __file__, "update", str(tmp_path), str(data), token, str(w),
                                 str(rounds)], cwd=REPO, stdout=subprocess.PIPE, text=True, env=worker_env()) for w in range(2)]
    store, opened = ProjectStore(data), 0
    try:
        while any(w.poll() is None for w in workers):  # meanwhile, the copy always opens
            if store.exists(token):
                store.load(token)
                opened += 1
            time.sleep(0.02)
        outputs = [w.communicate()[0] for w in workers]
        assert [w.returncode for w in workers] == [0, 0], outputs
    finally:
        for w in workers:
            w.kill()
            w.wait()
    pf = store.load(token)
    names = sorted(s.name for c in pf.project.classes for s in c.samples)
    assert names == sorted(f"w{w}-{r}" for w in range(2) for r in range(rounds))  # every update is there
    revisions = [line.split()[1] for out in outputs for line in out.splitlines()]
    assert len(set(revisions)) == 2 * rounds  # each update made its own revision
    assert opened > 0


def update_worker(tmp: Path, data: Path, token: str, who: int, rounds: int) -> None:
    """Add ``rounds`` distinct samples (a real photo with one pixel changed per round) through ``update``."""
    photo = pool_project([tuple(f) for f in json.loads((tmp / "files.json").read_text())]).classes[0].samples[0]
    store = ProjectStore(data)
    for r in range(rounds):
        pixels = np.array(photo.data)
        pixels[who, r] = (pixels[who, r].astype(int) + 1) % 256

        def change(current, revision, pixels=pixels, r=r):
            pf = current if current is not None else ProjectFile(Project("image", ["rock"]))
            project = Project("image", [])
            project.classes = [dataclasses.replace(c, samples=list(c.samples)) for c in pf.project.classes]
            time.sleep(0.01)  # a slow change: the other process's update must wait for it, not overwrite it
            assert project.add_sample("rock", pixels, f"w{who}-{r}") is not None
            return dataclasses.replace(pf, project=project)

        _, revision = store.update(token, change)
        print("updated", revision, flush=True)


if __name__ == "__main__":
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "fork":
        fork_worker(Path(args[0]), Path(args[1]), args[2], Path(args[3]))
    else:
        update_worker(Path(args[0]), Path(args[1]), args[2], int(args[3]), int(args[4]))
