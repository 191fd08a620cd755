"""Two tabs (two AppTest sessions) on one project link, on real photos: each adds samples, trains,
renames; nothing either added is lost, on the server or in either tab, and a conflict follows the
stated rule (tm_core.sync) and says so. Saving that fails (a read-only or full data folder, a real
tmpfs mounted in the test's folder) keeps the page working and says so; a reload still restores."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tm_core.ui import state

from conftest import app, sess  # the shared AppTest helpers


@pytest.fixture(scope="module")
def photos(rps_train):
    return {c: sorted((rps_train / c).iterdir())[:8] for c in ("rock", "paper", "scissors")}


def tab(token: str | None = None) -> AppTest:
    return app(180, token)


def upload(at, files: list[tuple[str, Path]]) -> None:
    """A zip of class folders through the Gather page's zip uploader (classes made as needed)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for cls, f in files:
            z.writestr(f"{cls}/{f.name}", f.read_bytes())
    next(u for u in at.file_uploader if u.key.startswith("zip:")).set_value(("up.zip", buf.getvalue(),
                                                                             "application/zip")).run()
    assert not at.exception


def ids(owner) -> dict[str, set[str]]:
    project = owner.project
    return {c.name: {s.id for s in c.samples} for c in project.classes}


def two_tabs(photos):
    first = tab()
    upload(first, [("rock", f) for f in photos["rock"][:3]] + [("paper", f) for f in photos["paper"][:3]])
    token = sess(first).token
    second = tab(token)
    assert ids(sess(second)) == ids(sess(first))
    return first, second, token


def test_two_tabs_on_one_link_lose_no_sample(photos):
    first, second, token = two_tabs(photos)
    # Each adds a different photo into the same class and another into a new class, one after the other,
    # neither seeing the other's first.
    upload(first, [("rock", photos["rock"][3]), ("scissors", photos["scissors"][0])])
    upload(second, [("rock", photos["rock"][4]), ("scissors", photos["scissors"][1])])
    first.run()  # any next run of the first tab (the sync fragment does it within seconds in a browser)
    assert not first.exception
    server = state.project_store().load(token)
    expected = {"rock": 5, "paper": 3, "scissors": 2}
    assert server.project.counts() == expected
    for at in (first, second, tab(token)):  # both tabs, and a reload
        assert {k: len(v) for k, v in ids(sess(at)).items()} == expected
        assert ids(sess(at)) == ids(server)
    lost = sum(len(v) for v in ids(server).values()) - 10
    assert lost == 0
    assert any("**scissors**: 2 samples" in m.value for m in first.sidebar.markdown)  # the page shows them


@pytest.mark.slow
def test_both_tabs_train_and_both_runs_are_kept(photos):
    first, second, token = two_tabs(photos)
    second.switch_page("app_pages/train.py").run()  # open before the first tab trains: it has not seen that run
    for at, epochs in ((first, 8), (second, 10)):  # settings are shared: each sets its own before training
        at.switch_page("app_pages/train.py").run()
        at.number_input(key="cfg:epochs").set_value(epochs).run()
        next(b for b in at.button if b.label == "Train model").click().run()
        assert not at.exception and sess(at).current is not None
    first.run()
    server = state.project_store().load(token)
    assert len(server.runs) == 2
    labels = sorted(r.label for r in server.runs)
    assert labels[0].startswith("Run 1 ·") and labels[1].startswith("Run 2 ·")
    for at in (first, second, tab(token)):
        assert sorted(r.label for r in sess(at).runs) == labels
    # Each tab keeps the model it trained as its current one.
    assert sess(first).current.label != sess(second).current.label
    assert sess(first).next_run_id == sess(second).next_run_id == 3


def test_a_conflicting_rename_keeps_the_name_saved_first_and_says_so(photos):
    first, second, token = two_tabs(photos)
    uid = sess(first).project.get_class("paper").uid
    # The second tab renames the class in the same moment as the first: its rename is made in its
    # session (as its page does) but not saved yet when the first tab's rename reaches the server.
    sess(second).project.rename_class("paper", "Boulder")
    first.text_input(key=f"name:{uid}:paper").set_value("Stone").run()
    assert sorted(c.name for c in state.project_store().load(token).project.classes) == ["Stone", "rock"]
    second.run()  # its next run saves, merged with the first tab's
    assert not second.exception
    note = ("Another tab renamed the class 'paper' to 'Stone' while this tab named it 'Boulder': kept 'Stone' "
            "(the name saved first).")
    assert any(note in i.value for i in second.sidebar.info)
    assert sorted(c.name for c in sess(second).project.classes) == ["Stone", "rock"]
    assert sorted(c.name for c in state.project_store().load(token).project.classes) == ["Stone", "rock"]
    first.run()
    assert sorted(c.name for c in sess(first).project.classes) == ["Stone", "rock"]
    assert not any("renamed" in i.value for i in first.sidebar.info)  # nothing of it was lost in the first tab


# --- the data folder fails under a running app ---------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path, monkeypatch):
    """A real 8 MB tmpfs in the test's folder as TM_DATA_DIR (needs root, as in CI), unmounted after."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        if os.environ.get("CI"):
            pytest.fail("the fault tests need root and mount in CI")
        pytest.skip("needs root to mount a tmpfs")
    where = tmp_path / "data"
    where.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(where)], check=True)
    monkeypatch.setenv("TM_DATA_DIR", str(where))
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)
        state._stores.pop(str(where), None)


def unsaved_warning(at) -> str:
    return next((w.value for w in at.sidebar.warning if "not being saved on the server" in w.value), "")


def test_a_data_folder_turned_read_only_keeps_the_page_working_and_a_reload_restores(small_disk, photos):
    first = tab()
    upload(first, [("rock", f) for f in photos["rock"][:2]] + [("paper", f) for f in photos["paper"][:2]])
    token = sess(first).token
    assert not unsaved_warning(first)
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    try:
        upload(first, [("rock", photos["rock"][2])])
        assert sess(first).project.counts() == {"rock": 3, "paper": 2}  # still working, in memory
        assert "read-only" in unsaved_warning(first)
        reload = tab(token)  # a reload while the folder is read-only still opens what was saved
        assert sess(reload).project.counts() == {"rock": 2, "paper": 2}
        assert any("Welcome back" in t.value for t in reload.toast)
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    first.run()  # the disk works again: the next run saves
    assert not first.exception and not unsaved_warning(first)
    assert state.project_store().load(token).project.counts() == {"rock": 3, "paper": 2}


def test_a_full_disk_keeps_the_page_working_and_saving_resumes(small_disk, photos):
    first = tab()
    upload(first, [("rock", f) for f in photos["rock"][:2]] + [("paper", f) for f in photos["paper"][:2]])
    token = sess(first).token
    filler = small_disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    for chunk in (65536, 512, 1):  # fill the disk to the last byte
        try:
            while True:
                os.write(fd, b"\0" * chunk)
        except OSError:
            pass
    os.close(fd)
    upload(first, [("rock", f) for f in photos["rock"][2:5]])
    assert sess(first).project.counts() == {"rock": 5, "paper": 2}
    assert "no space left" in unsaved_warning(first)
    assert sess(tab(token)).project.counts() == {"rock": 2, "paper": 2}  # the last complete save opens
    filler.unlink()
    first.run()
    assert not unsaved_warning(first)
    assert state.project_store().load(token).project.counts() == {"rock": 5, "paper": 2}


# --- a damaged copy on the server ----------------------------------------------------------------------

def damage(token: str) -> None:
    folder = state.project_store().folder(token)
    sample = next(folder.rglob("*.png"))
    sample.write_bytes(sample.read_bytes()[:100])  # a cut picture: its content no longer matches its id


def test_a_damaged_copy_is_said_in_the_page_and_kept_aside_never_silently_emptied(photos):
    first = tab()
    upload(first, [("rock", f) for f in photos["rock"][:2]] + [("paper", f) for f in photos["paper"][:2]])
    token = sess(first).token
    damage(token)
    reload = tab(token)
    said = [e.value for e in reload.main.error] + [e.value for e in reload.sidebar.error]
    assert len([m for m in said if "Your saved project could not be opened" in m and "kept aside" in m]) == 2
    assert sum(sess(reload).project.counts().values()) == 0
    folder = state.project_store().folder(token)
    assert list(folder.parent.glob(folder.name + ".damaged-*"))  # kept for the teacher, not deleted
    # The tab that still holds the project saves it again at its next change: nothing of it is lost.
    upload(first, [("rock", photos["rock"][2])])
    assert state.project_store().load(token).project.counts() == {"rock": 3, "paper": 2}
    assert not unsaved_warning(first)


def test_a_copy_cut_under_an_open_tab_is_repaired_by_the_tab_s_next_save(photos):
    """A save does not read back the copy it last wrote (that is most of its cost), but a member whose
    size no longer matches is written again: the tab that holds the project repairs it. Damage that
    keeps a file's size is found by the next load (the test above)."""
    first = tab()
    upload(first, [("rock", f) for f in photos["rock"][:2]] + [("paper", f) for f in photos["paper"][:2]])
    token = sess(first).token
    damage(token)
    upload(first, [("paper", photos["paper"][2])])
    assert state.project_store().load(token).project.counts() == {"rock": 2, "paper": 3}
    assert not unsaved_warning(first) and not first.sidebar.error
