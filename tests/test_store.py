"""Projects kept on the server (tm_core.store): saved as the student works, found again only by
their token, written incrementally, refused when damaged, removed when stale; and in the app
(AppTest): a reload (a new session with the page address) restores the project and its model, a
session without the address gets a new empty project, "Start over" deletes the server copy."""

import io
import os
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tm_core.errors import InputError
from tm_core.project import Project
from tm_core.project_file import ProjectFile, SavedRun, save
from tm_core.store import ProjectStore, new_token
from tm_core.training import TrainConfig, train
from tm_core.ui import state

from conftest import sess

APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")


def rps_project(rps_train, n=4) -> Project:
    p = Project("image", [])
    items = [(c, f.name, f.read_bytes()) for c in ("rock", "paper") for f in sorted((rps_train / c).iterdir())[:n]]
    errors = [r for r in p.add_files(items) if isinstance(r, InputError)]
    assert not errors
    return p


def files(root: Path) -> dict[str, float]:
    return {str(f.relative_to(root)): f.stat().st_mtime_ns for f in root.rglob("*") if f.is_file()}


def test_saved_project_comes_back_the_same_and_only_changes_are_written(tmp_path, rps_train):
    store = ProjectStore(tmp_path)
    token = new_token()
    p = rps_project(rps_train)
    x = np.random.default_rng(0).normal(size=(8, 16)).astype(np.float32)
    ds = p.dataset()
    run = train(x, ds.labels, ds.class_names, TrainConfig(epochs=3))
    pf = ProjectFile(p, {"encoder": "e"}, [SavedRun("Run 1", "e", run, [s.id for s in ds.samples], ds.labels)], 0,
                     {"e": ([s.id for s in ds.samples], x)})
    store.save(token, pf)
    folder = store.folder(token)
    assert token not in folder.name and token not in str(folder)  # the folder's name gives nobody the token
    back = store.load(token)
    assert save(back) == save(pf)  # the same project, byte for byte, as a project file
    assert [s.data.tobytes() for s in back.project.classes[0].samples] == \
           [s.data.tobytes() for s in p.classes[0].samples]

    before = files(folder)
    time.sleep(0.01)
    store.save(token, pf)  # nothing changed: only the manifest is written again
    after = files(folder)
    assert {k for k in after if after[k] != before[k]} == {"manifest.json"}

    p.delete_sample("rock", p.classes[0].samples[0].id)
    more = rps_project(rps_train, n=5)
    p.add_sample("paper", more.classes[1].samples[4].data, "new")
    pf.runs, pf.current, pf.features = [], None, {}
    store.save(token, pf)
    now = files(folder)
    assert sum(k.startswith("samples/") for k in now) == 8  # one removed, one added
    assert not any(k.startswith(("runs/", "features/")) for k in now)  # what the project no longer holds is gone
    assert store.load(token).project.counts() == {"rock": 3, "paper": 5}


def test_only_a_real_token_reaches_a_project(tmp_path, rps_train):
    store = ProjectStore(tmp_path)
    token = new_token()
    store.save(token, ProjectFile(rps_project(rps_train, 2)))
    assert store.exists(token) and len(token) == 32
    other = new_token()
    assert other != token and not store.exists(other)
    with pytest.raises(InputError, match="names no project"):
        store.load(other)
    near = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert not store.exists(near)
    for bad in ("../" + token[3:], "", "x" * 31, token + "x", "/etc/passwd", "a" * 16 + "/" + "b" * 15, None, 5):
        assert not store.exists(bad)
        with pytest.raises(InputError, match="not a valid project link"):
            store.load(bad)
    assert [f.name for f in tmp_path.iterdir()] == [store.folder(token).name]  # the bad ones created nothing


def test_a_damaged_saved_project_is_refused_with_the_reason(tmp_path, rps_train):
    store = ProjectStore(tmp_path)
    token = new_token()
    store.save(token, ProjectFile(rps_project(rps_train, 2)))
    sample = next(store.folder(token).rglob("*.png"))
    sample.write_bytes(b"not a picture")
    with pytest.raises(InputError, match=r"cannot be opened: .*png cannot be decoded"):
        store.load(token)
    sample.unlink()
    with pytest.raises(InputError, match="is missing"):
        store.load(token)
    (store.folder(token) / "manifest.json").write_text("{")
    with pytest.raises(InputError, match="not valid JSON"):
        store.load(token)


def test_a_link_to_outside_the_folder_is_not_followed(tmp_path, rps_train):
    store = ProjectStore(tmp_path / "data")
    token = new_token()
    store.save(token, ProjectFile(rps_project(rps_train, 2)))
    sample = next(store.folder(token).rglob("*.png"))
    secret = tmp_path / "secret.png"
    secret.write_bytes(sample.read_bytes())
    sample.unlink()
    sample.symlink_to(secret)
    with pytest.raises(InputError, match="is missing"):
        store.load(token)


def test_stale_projects_are_removed_and_fresh_ones_kept(tmp_path, rps_train):
    store = ProjectStore(tmp_path, max_age_days=2)
    old, fresh = new_token(), new_token()
    for t in (old, fresh):
        store.save(t, ProjectFile(rps_project(rps_train, 1)))
    three_days_ago = time.time() - 3 * 86400
    os.utime(store.folder(old) / "manifest.json", (three_days_ago, three_days_ago))
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
    two_days_ago = time.time() - 2 * 86400
    os.utime(store.folder(token) / "manifest.json", (two_days_ago, two_days_ago))
    store.load(token)
    assert store.remove_stale() == 0 and store.exists(token)


# --- in the app ----------------------------------------------------------------------------------------

def new_tab(token: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    if token is not None:
        at.query_params[state.PARAM] = token
    at.run()
    assert not at.exception
    return at


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
    assert not store.exists(token)  # an untouched empty project is not written
    upload(at, rps_train)
    assert store.exists(token)  # saved as soon as samples came in
    assert any("**rock**: 8 samples" in m.value for m in at.sidebar.markdown)  # the entry script ran again
    at.switch_page("pages/train.py").run()
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
    assert any("names no project on this server" in w.value for w in at.warning)
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
