"""Projects kept on the server (tm_core.store): saved as the student works, found again only by
their token, written incrementally, refused when damaged, removed when stale; and in the app
(AppTest): a reload (a new session with the page address) restores the project and its model, a
session without the address gets a new empty project, "Start over" deletes the server copy."""

import dataclasses
import io
import os
import stat
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tm_core.errors import InputError
from tm_core.project import Project
from tm_core.project_file import ProjectFile, SavedRun, save
from tm_core.store import DamagedProject, ProjectStore, new_token
from tm_core.training import TrainConfig, train
from tm_core.ui import state

from conftest import app, sess  # the shared AppTest helpers


def rps_project(rps_train, n=4) -> Project:
    p = Project("image", [])
    items = [(c, f.name, f.read_bytes()) for c in ("rock", "paper") for f in sorted((rps_train / c).iterdir())[:n]]
    errors = [r for r in p.add_files(items) if isinstance(r, InputError)]
    assert not errors
    return p


def files(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root``: relative path → (inode, mtime): a file rewritten gets a new inode."""
    return {f.relative_to(root).as_posix(): (f.stat().st_ino, f.stat().st_mtime_ns) for f in root.rglob("*")
            if f.is_file()}


def trained(p: Project, seed=0, epochs=3) -> ProjectFile:
    x = np.random.default_rng(seed).normal(size=(sum(p.counts().values()), 16)).astype(np.float32)
    ds = p.dataset()
    run = train(x, ds.labels, ds.class_names, TrainConfig(epochs=epochs, seed=seed))
    return ProjectFile(p, {"encoder": "e"}, [SavedRun("Run 1", "e", run, [s.id for s in ds.samples], ds.labels)], 0,
                       {"e": ([s.id for s in ds.samples], x)})


def age(folder: Path, seconds: float) -> None:
    """Make ``folder``'s project look untouched for ``seconds``."""
    then = time.time() - seconds
    for f in (folder, folder / "current"):
        os.utime(f, (then, then))


def test_saved_project_comes_back_the_same_and_only_changes_are_written(tmp_path, rps_train):
    store = ProjectStore(tmp_path)
    token = new_token()
    p = rps_project(rps_train)
    pf = trained(p)
    first = store.save(token, pf)
    folder = store.folder(token)
    assert token not in folder.name and token not in str(folder)  # the folder's name gives nobody the token
    back, revision = store.load_with_revision(token)
    assert revision == first == store.revision(token)
    assert save(back) == save(pf)  # the same project, byte for byte, as a project file
    assert [s.data.tobytes() for s in back.project.classes[0].samples] == \
           [s.data.tobytes() for s in p.classes[0].samples]

    before = files(folder)
    members = {k for k in before if k.startswith(("samples/", "blobs/"))}
    assert sum(k.startswith("samples/") for k in members) == 8 and sum(k.startswith("blobs/") for k in members) == 2
    time.sleep(0.01)
    second = store.save(token, pf)  # nothing changed: only the revision and manifest ("current") are written
    after = files(folder)
    assert second != first and store.revision(token) == second
    assert {k for k in after if after[k] != before[k]} == {"current"} and set(after) == set(before)
    assert (folder / "current").read_text().startswith(second + "\n{")

    p.delete_sample("rock", p.classes[0].samples[0].id)
    more = rps_project(rps_train, n=5)
    p.add_sample("paper", more.classes[1].samples[4].data, "new")
    pf.runs, pf.current, pf.features = [], None, {}
    store.save(token, pf)
    now = files(folder)
    assert sum(k.startswith("samples/") for k in now) == 8  # one removed, one added
    assert not any(k.startswith("blobs/") for k in now)  # what the project no longer holds is gone
    kept = {k for k in now if k in before and k.startswith("samples/")}
    assert len(kept) == 7 and all(now[k] == before[k] for k in kept)  # the samples kept: not rewritten
    assert store.load(token).project.counts() == {"rock": 3, "paper": 5}


def test_a_new_head_is_a_new_file_and_the_old_one_goes_after_the_save(tmp_path, rps_train):
    store = ProjectStore(tmp_path)
    token = new_token()
    p = rps_project(rps_train)
    store.save(token, trained(p, seed=0))
    folder = store.folder(token)
    old = {k for k in files(folder) if k.startswith("blobs/")}
    pf = trained(p, seed=1)
    store.save(token, pf)
    new = {k for k in files(folder) if k.startswith("blobs/")}
    assert len(new) == 2 and new != old and len(new & old) == 0  # new heads and embeddings under new names
    back = store.load(token)
    assert np.array_equal(back.runs[0].run.head.w1, pf.runs[0].run.head.w1)
    assert np.array_equal(back.features["e"][1], pf.features["e"][1])


def test_two_stores_on_one_folder_never_mix_their_copies(tmp_path, rps_train):
    """Regression: each store remembered what it had written last (in memory), and a second process
    writing the same folder made that stale, so a changed head was taken as already written."""
    a, b = ProjectStore(tmp_path), ProjectStore(tmp_path)
    token = new_token()
    p = rps_project(rps_train)
    one, two = trained(p, seed=0), trained(p, seed=1)
    a.save(token, one)
    b.save(token, two)
    a.save(token, one)  # the first store writes its head again: it must not trust what it wrote before
    back = b.load(token)
    assert np.array_equal(back.runs[0].run.head.w1, one.runs[0].run.head.w1)
    assert save(back) == save(one)


def test_revision_and_update(tmp_path, rps_train):
    store = ProjectStore(tmp_path)
    token = new_token()
    assert store.revision(token) is None and not store.exists(token)
    seen = []

    def add_first(current, revision):
        seen.append((current, revision))
        return ProjectFile(rps_project(rps_train, 2))

    pf, first = store.update(token, add_first)
    assert seen == [(None, None)] and first == store.revision(token) and store.exists(token)
    same, revision = store.update(token, lambda current, rev: current)  # unchanged: nothing written
    assert revision == first and store.revision(token) == first and same.project.counts() == pf.project.counts()

    def add_one(current, revision):
        assert revision == first
        current.project.add_sample("rock", rps_project(rps_train, 3).classes[0].samples[2].data, "third")
        return dataclasses.replace(current)  # a new ProjectFile (returning ``current`` itself writes nothing)

    _, second = store.update(token, add_one)
    assert second != first and store.revision(token) == second
    assert store.load(token).project.counts() == {"rock": 3, "paper": 2}

    with pytest.raises(ZeroDivisionError):  # a change that fails writes nothing
        store.update(token, lambda current, rev: 1 / 0)
    assert store.revision(token) == second
    store.delete(token)
    assert store.revision(token) is None and not store.folder(token).exists()


def test_folders_and_files_are_for_the_server_only(tmp_path, rps_train):
    store = ProjectStore(tmp_path / "data")
    token = new_token()
    store.save(token, trained(rps_project(rps_train)))
    assert stat.S_IMODE(os.stat(store.root).st_mode) == 0o700  # created by the store
    folder = store.folder(token)
    paths = [folder, *folder.rglob("*"), folder.with_name(folder.name + ".lock")]
    assert len(paths) > 12
    for path in paths:
        mode = stat.S_IMODE(os.stat(path).st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))


def test_a_folder_of_the_old_layout_opens_and_is_converted_by_the_next_save(tmp_path, rps_train):
    store = ProjectStore(tmp_path)
    token = new_token()
    pf = trained(rps_project(rps_train))
    folder = store.folder(token)
    with zipfile.ZipFile(io.BytesIO(save(pf))) as z:  # what the landed code wrote: the project file, unzipped
        z.extractall(folder)
    assert (folder / "manifest.json").is_file() and (folder / "runs/0/head.npz").is_file()
    revision = store.revision(token)
    assert revision and store.exists(token)
    back, again = store.load_with_revision(token)
    assert again == revision == store.revision(token)  # opening it does not change its revision
    assert save(back) == save(pf)
    store.save(token, back)
    left = files(folder)
    assert "manifest.json" not in left and not any(k.startswith(("runs/", "features/")) for k in left)
    assert save(store.load(token)) == save(pf)
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700


def test_only_a_real_token_reaches_a_project(tmp_path, rps_train):
    store = ProjectStore(tmp_path)
    token = new_token()
    store.save(token, ProjectFile(rps_project(rps_train, 2)))
    assert store.exists(token) and len(token) == 32
    other = new_token()
    assert other != token and not store.exists(other)
    with pytest.raises(InputError, match="does not lead to a project"):
        store.load(other)
    near = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert not store.exists(near)
    for bad in ("../" + token[3:], "", "x" * 31, token + "x", "/etc/passwd", "a" * 16 + "/" + "b" * 15, None, 5):
        assert not store.exists(bad)
        with pytest.raises(InputError, match="not a valid project link"):
            store.load(bad)
    folder = store.folder(token)
    assert sorted(f.name for f in tmp_path.iterdir()) == [folder.name, folder.name + ".lock"]  # bad ones made nothing


def damage_and_load(store, token, damage, match):
    """Save a fresh project, damage it, and check the load refuses it, says why, and keeps it aside."""
    store.save(token, trained(rps_project(store.rps, 3)))
    folder = store.folder(token)
    damage(folder)
    with pytest.raises(DamagedProject, match=match) as e:
        store.load(token)
    aside = e.value.aside
    assert "kept aside on the server" in str(e.value) and aside.name in str(e.value) and "left" not in str(e.value)
    assert aside.is_dir() and aside.name.startswith(folder.name + ".damaged-") and not folder.exists()
    assert stat.S_IMODE(os.stat(aside).st_mode) == 0o700
    assert not store.exists(token)
    with pytest.raises(InputError, match="does not lead to a project"):
        store.load(token)
    return aside


def test_a_damaged_saved_project_is_refused_with_the_reason_and_kept_aside(tmp_path, rps_train):
    store = ProjectStore(tmp_path)
    store.rps = rps_train
    token = new_token()
    def sample(folder):
        return next(folder.rglob("*.png"))
    damage_and_load(store, token, lambda f: sample(f).write_bytes(b"not a picture"), "png cannot be decoded")
    damage_and_load(store, token, lambda f: sample(f).unlink(), "is missing")
    def cut(f):
        return (f / "current").write_text((f / "current").read_text()[:200])
    damage_and_load(store, token, cut, "not valid JSON")
    damage_and_load(store, token, lambda f: (f / "current").write_text("garbage"), "revision file is damaged")
    def blobs(f):
        return [p.write_bytes(b"PK") for p in (f / "blobs").iterdir()]
    damage_and_load(store, token, blobs, "head of run 1 cannot be read")
    asides = [f for f in tmp_path.iterdir() if ".damaged-" in f.name]
    assert len(asides) == 5  # none overwritten
    store.save(token, ProjectFile(rps_project(rps_train, 1)))  # the link works again for a new project
    assert store.load(token).project.counts() == {"rock": 1, "paper": 1}
    assert store.remove_stale(now=time.time() + 15 * 86400) == 6  # damaged copies go when stale, like projects
    assert [f.name for f in tmp_path.iterdir()] == []


def test_a_copy_that_cannot_be_read_right_now_is_left_alone(tmp_path, rps_train):
    """A disk error (here: ``current`` cannot be read as a file) is an InputError, not a traceback,
    and the copy is not taken for damaged: nothing is moved."""
    store = ProjectStore(tmp_path)
    token = new_token()
    store.save(token, ProjectFile(rps_project(rps_train, 1)))
    current = store.folder(token) / "current"
    text = current.read_bytes()
    current.unlink()
    current.mkdir()
    with pytest.raises(InputError, match="cannot be read right now") as e:
        store.load(token)
    assert not isinstance(e.value, DamagedProject) and not [f for f in tmp_path.iterdir() if "damaged" in f.name]
    current.rmdir()
    current.write_bytes(text)
    assert store.load(token).project.counts() == {"rock": 1, "paper": 1}


def test_a_link_to_outside_the_folder_is_not_followed(tmp_path, rps_train):
    store = ProjectStore(tmp_path / "data")
    store.rps = rps_train
    secret = tmp_path / "secret.png"

    def link(folder):
        sample = next(folder.rglob("*.png"))
        secret.write_bytes(sample.read_bytes())
        sample.unlink()
        sample.symlink_to(secret)

    damage_and_load(store, new_token(), link, "is missing")


def test_stale_projects_are_removed_and_fresh_ones_kept(tmp_path, rps_train):
    store = ProjectStore(tmp_path, max_age_days=2)
    old, fresh = new_token(), new_token()
    for t in (old, fresh):
        store.save(t, ProjectFile(rps_project(rps_train, 1)))
    age(store.folder(old), 3 * 86400)
    assert store.remove_stale() == 1
    assert not store.exists(old) and store.exists(fresh)
    assert store.sweep() == 0  # the first sweep runs now: nothing stale is left
    store.remove_stale(now=time.time() + 3 * 86400)  # three days on, the fresh one would go too
    assert not store.exists(fresh)
    store.save(fresh, ProjectFile(rps_project(rps_train, 1)))
    store.delete(fresh)
    assert not store.exists(fresh) and not any(tmp_path.iterdir())


def test_opening_a_saved_project_keeps_it_from_going_stale(tmp_path, rps_train):
    store = ProjectStore(tmp_path, max_age_days=1)
    token = new_token()
    store.save(token, ProjectFile(rps_project(rps_train, 1)))
    age(store.folder(token), 2 * 86400)
    revision = store.revision(token)
    store.load(token)
    assert store.remove_stale() == 0 and store.exists(token)
    assert store.revision(token) == revision  # opening is not a save


def test_an_interrupted_delete_leaves_nothing_half_there(tmp_path, rps_train):
    store = ProjectStore(tmp_path)
    token = new_token()
    store.save(token, ProjectFile(rps_project(rps_train, 1)))
    folder = store.folder(token)
    folder.rename(folder.with_name(folder.name + ".deleting-abcd"))  # where a crash mid-delete leaves it
    assert not store.exists(token)
    store.remove_stale()
    assert sorted(f.name for f in tmp_path.iterdir()) == []


# --- in the app ----------------------------------------------------------------------------------------

def new_tab(token: str | None = None) -> AppTest:
    return app(180, token)


def upload(at, rps_train, n=8):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for c in ("rock", "paper"):
            for f in sorted((rps_train / c).iterdir())[:n]:
                z.writestr(f"{c}/{f.name}", f.read_bytes())
    next(u for u in at.file_uploader if u.key.startswith("zip:")).set_value(("rps.zip", buf.getvalue(),
                                                                             "application/zip")).run()
    assert not at.exception


def test_a_reload_brings_back_the_project_and_its_model(rps_train):
    at = new_tab()
    token = sess(at).token
    assert at.query_params[state.PARAM] == token
    store = state.project_store()
    assert store.exists(token)  # an untouched empty project is written too: its address keeps naming it (issue 19)
    upload(at, rps_train)
    assert store.exists(token)  # saved as soon as samples came in
    assert any("**rock**: 8 samples" in m.value for m in at.sidebar.markdown)  # the entry script ran again
    at.switch_page("app_pages/train.py").run()
    at.number_input(key="cfg:epochs").set_value(15).run()
    next(b for b in at.button if b.label == "Train model").click().run()
    assert not at.exception and sess(at).current is not None
    assert at.query_params[state.PARAM] == token  # still in the address on another page

    again = new_tab(token)  # what a reload does: a new session with the same address
    back, old = sess(again), sess(at)
    assert back.token == token and back is not old
    assert back.project.counts() == old.project.counts() == {"rock": 8, "paper": 8}
    assert [s.data.tobytes() for s in back.project.classes[0].samples] == \
           [s.data.tobytes() for s in old.project.classes[0].samples]
    assert back.config.epochs == 15
    assert back.current is not None and back.current.run.history == old.current.run.history
    assert np.array_equal(back.current.run.head.w1, old.current.run.head.w1)
    assert any("Welcome back" in t.value for t in again.toast)

    other = new_tab()  # another student, without the address: a new empty project of their own
    assert sess(other).token != token and sess(other).project.counts() == {"Class 1": 0, "Class 2": 0}
    assert token not in repr(sess(other).__dict__)  # nothing of the first student's reaches the second


def test_a_link_to_no_project_gives_a_new_one_and_says_so():
    at = new_tab(new_token())
    assert sess(at).project.counts() == {"Class 1": 0, "Class 2": 0}
    assert at.query_params[state.PARAM] == sess(at).token
    assert any("does not lead to a project on this server" in w.value for w in at.warning)
    bad = new_tab("../../etc")
    assert any("not a valid project link" in w.value for w in bad.warning)
    assert sess(bad).token != "../../etc" and len(sess(bad).token) == 32


def test_start_over_deletes_the_server_copy(rps_train):
    at = new_tab()
    upload(at, rps_train, n=3)
    token = sess(at).token
    store = state.project_store()
    assert store.exists(token)
    at.checkbox(key="startover:confirm").check().run()
    at.button(key="startover:go").click().run()
    assert not at.exception
    assert not store.exists(token) and not store.folder(token).exists()
    assert sess(at).token != token and at.query_params[state.PARAM] == sess(at).token
    assert sum(sess(at).project.counts().values()) == 0
    assert sum(sess(new_tab(token)).project.counts().values()) == 0  # the old address opens nothing now


def test_two_runs_with_the_same_head_share_one_file_and_open_as_two_runs(tmp_path, rps_train):
    """Training twice with the same samples and settings gives byte-identical heads (training is
    deterministic): on disk they are one blob, and the copy still opens with both runs. (The reader
    refuses a project file naming one member twice, so the folder must present each run its own.)"""
    store, token = ProjectStore(tmp_path), new_token()
    pf = trained(rps_project(rps_train, 3))
    twice = dataclasses.replace(pf, runs=[pf.runs[0], dataclasses.replace(pf.runs[0], label="Run 2")], current=1)
    store.save(token, twice)
    assert len(list((store.folder(token) / "blobs").iterdir())) == 2  # one head, one set of embeddings
    back = store.load(token)
    assert [r.label for r in back.runs] == ["Run 1", "Run 2"] and back.current == 1
    assert np.array_equal(back.runs[0].run.head.w1, back.runs[1].run.head.w1)
    assert save(back) == save(twice)
