"""Removing samples or classes on Gather: bulk removals ask first, and every removal can be undone
(issue 19, item 9); what an upload added or refused shows on the class card it went to (item 10)."""

import pytest

from conftest import app, click, photos, sess, uploader


def blocks(node, type_: str):
    """Every block of ``type_`` ("popover", "container", …) under ``node``, depth first."""
    for child in getattr(node, "children", {}).values():
        if getattr(child, "type", None) == type_:
            yield child
        yield from blocks(child, type_)


def inside(node, key: str) -> bool:
    """Whether a widget with ``key`` is under ``node``."""
    return any(getattr(c, "key", None) == key or inside(c, key) for c in getattr(node, "children", {}).values())


def texts(node) -> list[str]:
    """The text of every alert, markdown and caption under ``node``."""
    out = []
    for c in getattr(node, "children", {}).values():
        if getattr(c, "type", None) in ("alert", "markdown") or type(c).__name__ in ("Success", "Info", "Warning",
                                                                                      "Error", "Markdown", "Caption"):
            out.append(str(getattr(c, "value", "")))
        out += texts(c)
    return out


def card(at, uid: str):
    """The bordered container of the class card whose name box has key ``name:<uid>:…``."""
    cards = [b for b in blocks(at.main, "flex_container") if b.proto.flex_container.border
             and any(str(getattr(w, "key", "")).startswith(f"name:{uid}:") for w in walk(b))]
    return min(cards, key=lambda b: len(list(walk(b))))  # the innermost: the card itself


def walk(node):
    for c in getattr(node, "children", {}).values():
        yield c
        yield from walk(c)


def filled(rps_train, n=5):
    at = app()
    p = sess(at).project
    p.rename_class("Class 1", "rock")
    list(p.add_files(("rock", f.name, f.read_bytes()) for f in photos(rps_train, "rock", n)))
    at.run()
    return at


def test_clear_asks_first_and_can_be_undone(rps_train):
    at = filled(rps_train)
    cls = sess(at).project.classes[0]
    before = [s.id for s in cls.samples]
    p = sess(at).project
    p.set_test_only("rock", before[1], True)
    at.run()
    # Clear is a popover that asks, like Delete; its confirm button is inside it
    clear = next(b for b in blocks(at.main, "popover") if b.proto.popover.label == "Clear")
    assert inside(clear, f"clear:{cls.uid}")
    assert any("Remove all 5 samples of **rock**?" in t for t in texts(clear))
    at.button(key=f"clear:{cls.uid}").click().run()
    assert not at.exception and len(sess(at).project.classes[0]) == 0
    assert any("Removed all 5 samples of rock." in t for t in texts(card(at, cls.uid)))  # on the card
    at.button(key=f"undo:{cls.uid}").click().run()
    assert not at.exception
    back = sess(at).project.classes[0]
    assert [s.id for s in back.samples] == before and back.test_only == {before[1]}
    assert not [b for b in at.button if str(b.key).startswith("undo:")]  # done: no second Undo


def test_deleting_a_sample_can_be_undone_in_its_place(rps_train):
    at = filled(rps_train)
    cls = sess(at).project.classes[0]
    before = [s.id for s in cls.samples]
    at.button(key=f"rm:{cls.uid}:{before[2]}").click().run()
    assert [s.id for s in sess(at).project.classes[0].samples] == before[:2] + before[3:]
    at.button(key=f"rm:{cls.uid}:{before[0]}").click().run()  # a second removal replaces the first's offer
    assert len(sess(at).project.classes[0]) == 3
    at.button(key=f"undo:{cls.uid}").click().run()
    assert [s.id for s in sess(at).project.classes[0].samples] == [before[0], before[1], before[3], before[4]]


def test_deleting_a_class_can_be_undone_in_its_place(rps_train):
    at = filled(rps_train)
    click(at, "Add a class")
    rock = sess(at).project.classes[0]
    at.button(key=f"del:{rock.uid}").click().run()
    assert [c.name for c in sess(at).project.classes] == ["Class 2", "Class 3"]
    assert any("Deleted the class rock and its 5 samples." in i.value for i in at.info)
    at.button(key="undo:classes").click().run()
    assert not at.exception
    assert [c.name for c in sess(at).project.classes] == ["rock", "Class 2", "Class 3"]
    assert len(sess(at).project.classes[0]) == 5


def test_a_new_upload_ends_the_offer_to_undo(rps_train):
    at = filled(rps_train)
    cls = sess(at).project.classes[0]
    at.button(key=f"rm:{cls.uid}:{cls.samples[0].id}").click().run()
    assert at.button(key=f"undo:{cls.uid}")
    files = [(f.name, f.read_bytes(), "image/jpeg") for f in photos(rps_train, "rock", 2, offset=10)]
    uploader(at, f"up:{cls.uid}").set_value(files).run()
    assert not [b for b in at.button if str(b.key).startswith("undo:")]


def test_upload_report_shows_on_the_class_card_not_at_the_top(rps_train):
    at = app()
    second = sess(at).project.classes[1]
    files = [(f.name, f.read_bytes(), "image/jpeg") for f in photos(rps_train, "paper", 2)]
    files.append(("empty.jpg", b"", "image/jpeg"))
    uploader(at, f"up:{second.uid}").set_value(files).run()
    assert not at.exception
    on_card = texts(card(at, second.uid))
    assert any("Added 2 samples to Class 2." in t for t in on_card)
    assert any("empty.jpg: is empty" in t for t in on_card)
    first = sess(at).project.classes[0]
    assert not any("Added" in t for t in texts(card(at, first.uid)))  # not on the other card
    assert not any("Added 2 samples" in t for t in texts(at.main)[:6])  # not at the top of the page


@pytest.mark.slow
def test_removing_near_copies_in_check_my_data_can_be_undone(rps_train):
    import numpy as np

    at = app()
    p = sess(at).project
    p.rename_class("Class 1", "rock")
    p.rename_class("Class 2", "paper")
    for cls in ("rock", "paper"):
        list(p.add_files((cls, f.name, f.read_bytes()) for f in photos(rps_train, cls, 6)))
    # near copies: the same photo a little brighter, three times
    base = p.get_class("rock").samples[0].data
    for k in (1, 2, 3):
        p.add_sample("rock", np.clip(base.astype(int) + k, 0, 255).astype(np.uint8), f"copy{k}")
    at.run()
    before = [s.id for s in p.get_class("rock").samples]
    click(at, "Check my data")
    near = next(b for b in at.button if str(b.key).startswith("health:near:"))
    near.click().run()
    assert not at.exception and len(sess(at).project.get_class("rock")) < len(before)
    assert any("near cop" in i.value for i in at.info)
    at.button(key="undo:health").click().run()
    assert [s.id for s in sess(at).project.get_class("rock").samples] == before
