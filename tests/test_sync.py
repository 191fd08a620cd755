"""The three-way merge of one project changed in two tabs (tm_core.sync), on real project files of real
photos: both tabs' additions are kept, deletions apply when the other side did not touch the thing,
conflicts follow the stated rules and say so, and the result always reopens as a project file."""

from __future__ import annotations

import numpy as np
import pytest

from tm_core.errors import InputError
from tm_core.project import Project
from tm_core.project_file import ProjectFile, SavedRun, open_project, save
from tm_core.sync import merge, run_key, snapshot
from tm_core.training import TrainConfig, train


@pytest.fixture(scope="module")
def photos(rps_train):
    """(class, file name, bytes) of real photos: 6 rock, 6 paper, 6 scissors."""
    return {c: [(c, f.name, f.read_bytes()) for f in sorted((rps_train / c).iterdir())[:6]]
            for c in ("rock", "paper", "scissors")}


@pytest.fixture
def base(photos) -> ProjectFile:
    p = Project("image", [])
    added = list(p.add_files(photos["rock"][:3] + photos["paper"][:3]))
    assert not [a for a in added if isinstance(a, InputError)]
    return ProjectFile(p, {"config": {"epochs": 50, "learning_rate": 0.001}, "encoder": "mobilenet_v2_0.35",
                           "augment": False})


def tab(pf: ProjectFile) -> ProjectFile:
    """Another tab's copy: what it loaded from the server (saved and reopened, as the store does)."""
    return open_project(save(pf))


def ids(pf: ProjectFile, name: str) -> set[str]:
    return {s.id for s in pf.project.get_class(name).samples}


def add(pf: ProjectFile, items) -> None:
    assert all(not isinstance(r, InputError) for r in pf.project.add_files(items))


def with_run(pf: ProjectFile, seed: int) -> ProjectFile:
    ds = pf.project.dataset()
    x = np.random.default_rng(seed).normal(size=(len(ds.samples), 8)).astype(np.float32)
    run = train(x, ds.labels, ds.class_names, TrainConfig(epochs=3, seed=seed))
    n = len(pf.runs) + 1
    pf.runs.append(SavedRun(f"Run {n} · 3 epochs", "mobilenet_v2_0.35", run, [s.id for s in ds.samples], ds.labels))
    pf.current = len(pf.runs) - 1
    return pf


def reopens(pf: ProjectFile) -> ProjectFile:
    back = open_project(save(pf))
    assert snapshot(back) == snapshot(pf)
    return back


def test_samples_added_in_both_tabs_are_all_kept(base, photos):
    mine, theirs = tab(base), tab(base)
    add(mine, [photos["rock"][3], photos["scissors"][0]])  # one into a class both have, one into a new class
    add(theirs, [photos["rock"][4], photos["scissors"][1]])
    merged, notes = merge(snapshot(base), mine, theirs)
    assert notes == []
    assert ids(merged, "rock") == ids(mine, "rock") | ids(theirs, "rock") and len(ids(merged, "rock")) == 5
    # Both tabs made a class "scissors" (different uids): one class holding both photos.
    assert [c.name for c in merged.project.classes] == ["rock", "paper", "scissors"]
    assert ids(merged, "scissors") == ids(mine, "scissors") | ids(theirs, "scissors") and len(ids(merged, "scissors")) == 2
    back = reopens(merged)
    assert back.project.counts() == {"rock": 5, "paper": 3, "scissors": 2}
    # The merge is the same whichever tab saves second (up to order).
    other, _ = merge(snapshot(base), theirs, mine)
    assert {c.name: ids(other, c.name) for c in other.project.classes} == \
           {c.name: ids(merged, c.name) for c in merged.project.classes}


def test_a_deletion_applies_when_the_other_tab_did_not_touch_it(base, photos):
    mine, theirs = tab(base), tab(base)
    gone = mine.project.get_class("rock").samples[0].id
    mine.project.delete_sample("rock", gone)
    mine.project.set_test_only("paper", mine.project.get_class("paper").samples[0].id, True)
    add(theirs, [photos["paper"][4]])
    merged, notes = merge(snapshot(base), mine, theirs)
    assert notes == []
    assert gone not in ids(merged, "rock") and len(ids(merged, "rock")) == 2
    assert len(ids(merged, "paper")) == 4
    assert merged.project.get_class("paper").test_only == mine.project.get_class("paper").test_only
    reopens(merged)


def test_class_changes_rename_disable_delete(base, photos):
    mine, theirs = tab(base), tab(base)
    mine.project.rename_class("rock", "Rock!")
    theirs.project.set_enabled("paper", False)
    theirs.project.add_class("empty one")
    merged, notes = merge(snapshot(base), mine, theirs)
    assert notes == []
    assert [(c.name, c.enabled) for c in merged.project.classes] == [("Rock!", True), ("paper", False), ("empty one", True)]
    # A class deleted in one tab and untouched in the other is gone.
    mine2, theirs2 = tab(merged), tab(merged)
    mine2.project.delete_class("empty one")
    again, notes = merge(snapshot(merged), mine2, theirs2)
    assert [c.name for c in again.project.classes] == ["Rock!", "paper"] and notes == []


def test_conflicting_renames_keep_the_name_saved_first_and_say_so(base):
    mine, theirs = tab(base), tab(base)
    mine.project.rename_class("rock", "Stone")
    theirs.project.rename_class("rock", "Boulder")
    merged, notes = merge(snapshot(base), mine, theirs)
    assert [c.name for c in merged.project.classes] == ["Boulder", "paper"]
    assert notes == [("Another tab renamed the class 'rock' to 'Boulder' while this tab named it 'Stone': "
                     "kept 'Boulder' (the name saved first).")]
    # Two different classes given one name: this tab's gets a number.
    mine, theirs = tab(base), tab(base)
    mine.project.rename_class("rock", "hand")
    theirs.project.rename_class("paper", "hand")
    merged, notes = merge(snapshot(base), mine, theirs)
    assert [c.name for c in merged.project.classes] == ["hand (2)", "hand"]
    assert "this tab's is now 'hand (2)'" in notes[0]
    reopens(merged)


def test_a_class_deleted_while_the_other_tab_added_samples_to_it_is_kept(base, photos):
    mine, theirs = tab(base), tab(base)
    mine.project.delete_class("paper")
    add(theirs, [photos["paper"][5]])
    merged, notes = merge(snapshot(base), mine, theirs)
    assert [c.name for c in merged.project.classes] == ["rock", "paper"] and len(ids(merged, "paper")) == 4
    assert notes == [("This tab deleted the class 'paper' while another tab added samples to it: 'paper' was kept "
                     "with its samples.")]
    merged, notes = merge(snapshot(base), theirs, mine)  # the other way round
    assert len(ids(merged, "paper")) == 4 and "Another tab deleted the class 'paper'" in notes[0]


def test_runs_of_both_tabs_are_kept_with_distinct_labels(base, photos):
    mine, theirs = with_run(tab(base), 1), with_run(tab(base), 2)
    assert mine.runs[0].label == theirs.runs[0].label == "Run 1 · 3 epochs"
    merged, notes = merge(snapshot(base), mine, theirs)
    assert notes == []
    assert [r.label for r in merged.runs] == ["Run 1 · 3 epochs", "Run 2 · 3 epochs"]
    assert [run_key(r) for r in merged.runs] == [run_key(theirs.runs[0]), run_key(mine.runs[0])]
    assert merged.current == 1  # this tab's model stays the current one here
    back = reopens(merged)
    assert run_key(back.runs[1]) == run_key(mine.runs[0])  # the identity survives a save and a load
    # Synced once more with nothing new: nothing doubles.
    again, _ = merge(snapshot(merged), tab(merged), tab(merged))
    assert len(again.runs) == 2


def test_settings_last_writer_per_field(base):
    loaded = tab(base)  # what both tabs loaded
    mine, theirs = tab(loaded), tab(loaded)
    mine.settings["config"]["epochs"] = 20
    theirs.settings["config"]["learning_rate"] = 0.01
    theirs.settings["augment"] = True
    merged, _ = merge(snapshot(loaded), mine, theirs)
    assert merged.settings["config"] == {**loaded.settings["config"], "epochs": 20, "learning_rate": 0.01}
    assert merged.settings["augment"] is True
    mine.settings["config"]["learning_rate"] = 0.05  # both changed it: this save is the last writer
    merged, _ = merge(snapshot(loaded), mine, theirs)
    assert merged.settings["config"]["learning_rate"] == 0.05


def test_no_common_base_keeps_everything_and_another_kind_is_said(base, photos):
    mine, theirs = tab(base), tab(base)
    add(mine, [photos["scissors"][2]])
    merged, _ = merge(None, mine, theirs)
    assert merged.project.counts() == {"rock": 3, "paper": 3, "scissors": 1}
    audio = ProjectFile(Project("audio"))
    result, notes = merge(snapshot(base), mine, audio)
    assert result is audio and "opened an audio project" in notes[0]
    result, notes = merge(snapshot(base), audio, mine)  # this tab opened another kind: it wins
    assert result is audio and notes == []


def test_a_run_whose_samples_were_deleted_is_left_out_and_the_limit_holds(base, photos):
    mine, theirs = with_run(tab(base), 3), tab(base)
    for s in list(theirs.project.get_class("rock").samples):
        theirs.project.delete_sample("rock", s.id)
    merged, _ = merge(snapshot(base), mine, theirs)
    assert merged.runs == [] and merged.current is None
    reopens(merged)
    mine, theirs = tab(base), tab(base)
    add(mine, photos["scissors"][:3])
    add(theirs, photos["rock"][3:6])
    mine.project.max_samples = 10
    merged, notes = merge(snapshot(base), mine, theirs)
    assert sum(merged.project.counts().values()) == 10 and ids(merged, "rock") >= ids(theirs, "rock")
    assert "2 samples added in this tab were left out" in notes[0]
