"""A teacher's read-only copies (tm_core.store.CopyStore): made from a project, opened by any number of
students as new projects of their own, never written by them, withdrawn only by the teacher's project,
removed when stale like projects; crafted tokens and ids are refused."""

import os
import time

import numpy as np
import pytest

from tm_core.errors import InputError
from tm_core.project import Project
from tm_core.project_file import ProjectFile, SavedRun
from tm_core.store import ProjectStore, new_token
from tm_core.training import TrainConfig, train


def project(rps_train, n=3) -> Project:
    p = Project("image", [])
    items = [(c, f.name, f.read_bytes()) for c in ("rock", "paper") for f in sorted((rps_train / c).iterdir())[:n]]
    assert not [r for r in p.add_files(items) if isinstance(r, InputError)]
    return p


def with_run(p: Project) -> ProjectFile:
    ds = p.dataset()
    x = np.random.default_rng(0).normal(size=(len(ds.samples), 8)).astype(np.float32)
    run = train(x, ds.labels, ds.class_names, TrainConfig(epochs=2))
    return ProjectFile(p, {"encoder": "e"}, [SavedRun("Run 1", "e", run, [s.id for s in ds.samples], ds.labels)], 0,
                       {"e": ([s.id for s in ds.samples], x)})


def tree(root) -> dict:
    return {f.relative_to(root).as_posix(): (f.stat().st_ino, f.stat().st_mtime_ns, f.stat().st_size)
            for f in root.rglob("*") if f.is_file()}


def test_students_get_projects_of_their_own_and_the_copy_never_changes(tmp_path, rps_train):
    projects = ProjectStore(tmp_path)
    teacher = new_token()
    pf = with_run(project(rps_train))
    projects.save(teacher, pf)
    copies = projects.copies()
    link = copies.create(pf, teacher)
    assert link != teacher and len(link) == 32
    copy_folder = copies.folder(link)
    before = tree(copy_folder)

    a, got_a, rev_a = copies.start_project(link, projects)
    b, got_b, _ = copies.start_project(link, projects)
    assert len({a, b, teacher}) == 3
    for token, got in ((a, got_a), (b, got_b)):
        mine = projects.load(token)
        assert mine.project.counts() == got.project.counts() == {"rock": 3, "paper": 3}
        assert len(mine.runs) == 1 and np.array_equal(mine.runs[0].run.head.w1, pf.runs[0].run.head.w1)
    assert projects.revision(a) == rev_a

    # a student adds a sample to their own project: the copy and the other student's project stay as they were
    extra = [("rock", f.name, f.read_bytes()) for f in sorted((rps_train / "rock").iterdir())[5:6]]
    changed = projects.load(a).project
    list(changed.add_files(extra))
    projects.save(a, ProjectFile(changed, {}, [], None, {}))
    assert projects.load(a).project.counts()["rock"] == 4
    assert projects.load(b).project.counts()["rock"] == 3
    assert copies.open(link).project.counts()["rock"] == 3
    assert {k: v[:1] + v[2:] for k, v in tree(copy_folder).items()} == {k: v[:1] + v[2:] for k, v in before.items()}
    assert not projects.exists(link)  # a copy's token opens no project, and a project's token no copy
    with pytest.raises(InputError):
        copies.open(teacher)


def test_a_copy_without_trained_models(tmp_path, rps_train):
    projects = ProjectStore(tmp_path)
    teacher = new_token()
    pf = with_run(project(rps_train))
    link = projects.copies().create(ProjectFile(pf.project, pf.settings, [], None, pf.features), teacher)
    _, got, _ = projects.copies().start_project(link, projects)
    assert got.runs == [] and got.project.counts() == {"rock": 3, "paper": 3}


def test_only_the_teachers_project_lists_and_withdraws_its_copies(tmp_path, rps_train):
    projects = ProjectStore(tmp_path)
    teacher, student = new_token(), new_token()
    pf = ProjectFile(project(rps_train, 2), {}, [], None, {})
    copies = projects.copies()
    first = copies.create(pf, teacher)
    time.sleep(0.01)
    second = copies.create(pf, teacher)
    ids = [i for i, _ in copies.owned_by(teacher)]
    assert ids == [copies.copy_id(second), copies.copy_id(first)]
    assert copies.owned_by(student) == []
    for i in ids:  # the ids never open anything, and never hold the teacher's token
        assert first not in i and teacher not in i
    assert not any(teacher in (tmp_path / "copies" / f).read_text(errors="ignore")
                   for f in os.listdir(tmp_path / "copies") if f.endswith(".owner"))

    copies.start_project(first, projects)  # a student's project from the copy
    with pytest.raises(InputError, match="not made from this project"):
        copies.withdraw(copies.copy_id(first), student)
    assert copies.open(first)
    assert copies.withdraw(copies.copy_id(first), teacher)
    with pytest.raises(InputError, match="not on this server any more"):
        copies.open(first)
    with pytest.raises(InputError):
        copies.start_project(first, projects)
    assert not copies.withdraw(copies.copy_id(first), teacher)  # already gone
    assert [i for i, _ in copies.owned_by(teacher)] == [copies.copy_id(second)]
    assert copies.open(second)
    assert sum(1 for t in os.listdir(tmp_path) if len(t) == 32) == 1  # the student's project stays


def test_copies_expire_like_projects_and_opening_one_keeps_it(tmp_path, rps_train):
    projects = ProjectStore(tmp_path, max_age_days=1)
    teacher = new_token()
    pf = ProjectFile(project(rps_train, 2), {}, [], None, {})
    copies = projects.copies()
    old, used = copies.create(pf, teacher), copies.create(pf, teacher)
    then = time.time() - 2 * 86400
    for token in (old, used):
        folder = copies.folder(token)
        for f in (folder, folder / "current"):
            os.utime(f, (then, then))
    copies.open(used)  # opened by a student today
    assert copies.remove_stale() == 1
    with pytest.raises(InputError):
        copies.open(old)
    assert copies.open(used)
    assert [i for i, _ in copies.owned_by(teacher)] == [copies.copy_id(used)]
    assert not (copies.root / (copies.copy_id(old) + ".owner")).exists()
    projects._swept = 0.0
    assert projects.sweep() == 0  # the project store's sweep also sweeps its copies (none stale now)


@pytest.mark.parametrize("bad", ["../../etc/passwd", "", "a" * 31, "a" * 33, "..%2F..%2Fetc%2Fpasswd" + "a" * 11,
                                 "/" * 32, "a/b" + "c" * 29, None, 42])
def test_crafted_links_and_ids_are_refused(tmp_path, bad):
    projects = ProjectStore(tmp_path)
    copies = projects.copies()
    with pytest.raises(InputError):
        copies.open(bad)
    with pytest.raises(InputError):
        copies.start_project(bad, projects)
    with pytest.raises(InputError):
        copies.withdraw(bad, new_token())
    with pytest.raises(InputError):
        copies.create(ProjectFile(Project("image", ["a"]), {}, [], None, {}), bad)
    assert not any(p.name == "passwd" for p in tmp_path.rglob("*"))


# --- links and QR codes (tm_core.share) ----------------------------------------------------------------

@pytest.mark.parametrize(("url", "want"), [
    ("http://127.0.0.1:8501/", "http://127.0.0.1:8501/"),
    ("http://127.0.0.1:8501", "http://127.0.0.1:8501/"),
    ("https://class.example.org/studio/train", "https://class.example.org/studio/"),
    ("https://class.example.org/studio/gather/", "https://class.example.org/studio/"),
    ("https://x.streamlit.app/overfitting", "https://x.streamlit.app/"),
    (None, None), ("", None), ("javascript:alert(1)", None), ("file:///etc/passwd", None),
])
def test_the_apps_address_comes_from_the_browsers_without_the_page(monkeypatch, url, want):
    from tm_core.share import app_address

    monkeypatch.delenv("TM_PUBLIC_URL", raising=False)
    assert app_address(url) == want


def test_a_public_address_wins_and_links_carry_only_their_token(monkeypatch):
    from tm_core.share import COPY, app_address, link

    monkeypatch.setenv("TM_PUBLIC_URL", "https://school.example/tm")
    assert app_address("http://10.0.0.5:8501/train") == "https://school.example/tm/"
    token = new_token()
    assert link("https://school.example/tm/", COPY, token) == f"https://school.example/tm/?copy={token}"
    assert link(None, COPY, token) == f"?copy={token}"


def test_the_qr_code_reads_back_as_the_link():
    import cv2

    from tm_core.share import qr_png, qr_svg

    reader = cv2.QRCodeDetectorAruco()  # OpenCV's plain detector misses about 1 code in 70 of these
    for _ in range(20):
        url = f"https://class.example.org/studio/?copy={new_token()}"
        png = qr_png(url)
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        text, _, _ = reader.detectAndDecode(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE))
        assert text == url
    assert qr_svg(url).startswith("<svg")
