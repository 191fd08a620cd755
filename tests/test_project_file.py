"""Project files: every kind round-trips byte for byte with its runs; broken or hostile files are refused
with a clear message and change nothing."""

import io
import json
import zipfile

import numpy as np
import pytest

from tm_core import project_reader
from tm_core.errors import InputError
from tm_core.features import FeatureCache
from tm_core.project import BACKGROUND, Project
from tm_core.project_file import ProjectFile, SavedRun, open_project, save
from tm_core.training import TrainConfig, grouped_split, train


def photo_project(kind, root, n=6):
    p = Project(kind, ["rock", "paper", "scissors"])
    for c in ("rock", "paper", "scissors"):
        files = sorted((root / c).iterdir())[:n]
        list(p.add_files((c, f.name, f.read_bytes()) for f in files))
    p.set_enabled("scissors", False)
    rock = p.get_class("rock")
    p.set_test_only("rock", rock.samples[1].id, True)
    return p


def same_project(a: Project, b: Project) -> None:
    assert a.kind == b.kind
    assert [(c.name, c.uid, c.enabled, c.background, c.test_only) for c in a.classes] == \
           [(c.name, c.uid, c.enabled, c.background, c.test_only) for c in b.classes]
    for ca, cb in zip(a.classes, b.classes):
        assert [(s.id, s.name, s.group) for s in ca.samples] == [(s.id, s.name, s.group) for s in cb.samples]
        for sa, sb in zip(ca.samples, cb.samples):
            assert sa.data.dtype == sb.data.dtype and sa.data.tobytes() == sb.data.tobytes()


@pytest.mark.parametrize("kind", ["image", "pose", "hands"])
def test_picture_projects_round_trip_byte_for_byte(kind, rps_train):
    p = photo_project(kind, rps_train)
    data = save(ProjectFile(p, {"encoder": "x", "augment": True}))
    back = open_project(data)
    same_project(p, back.project)
    assert back.settings == {"encoder": "x", "augment": True} and back.runs == [] and back.current is None
    assert save(ProjectFile(back.project, back.settings)) == data  # saving again gives the same bytes


def test_audio_project_round_trips(datasets_dir):
    p = Project("audio")
    p.rename_class("Class 2", "zero")
    clips = sorted((datasets_dir / "fsdd_digits" / "train").rglob("*.wav"))[:3]
    list(p.add_files(("zero", f.name, f.read_bytes()) for f in clips))
    noise = sorted((datasets_dir / "speech_commands" / "train").rglob("*.wav"))[:2]
    list(p.add_files((BACKGROUND, f.name, f.read_bytes()) for f in noise))
    back = open_project(save(ProjectFile(p))).project
    same_project(p, back)
    assert back.background is not None and back.background.name == BACKGROUND


def test_a_trained_run_comes_back_with_the_same_predictions(rps_train, encoder):
    p = photo_project("image", rps_train, n=10)
    p.set_enabled("scissors", True)
    ds = p.dataset()
    cache = FeatureCache()
    cache.embed(encoder, ds.samples)
    x = cache.matrix(encoder.name, ds.samples)
    split = grouped_split(ds.labels, 0.15, 0, ds.groups, ds.test_only)
    run = train(x, ds.labels, ds.class_names, TrainConfig(epochs=60, learning_rate=0.01, early_stopping=True), split=split)
    assert run.early_stopped_at is not None
    run.info["note"] = "kept"
    saved = SavedRun("Run 1", encoder.name, run, [s.id for s in ds.samples], ds.labels)
    back = open_project(save(ProjectFile(p, {}, [saved], 0)))
    r = back.runs[0]
    assert back.current == 0 and r.label == "Run 1" and r.encoder == encoder.name
    assert r.run.config == run.config and r.run.history == run.history and r.run.info == {"note": "kept"}
    assert list(r.run.split.train) == list(split.train) and list(r.run.split.test) == list(split.test)
    assert r.run.split.how == split.how
    assert (r.run.early_stopped_at, r.run.kept_epoch) == (run.early_stopped_at, run.kept_epoch)
    by_id = {s.id: s for c in back.project.classes for s in c.samples}
    x2 = FeatureCache()
    samples = [by_id[i] for i in r.sample_ids]
    x2.embed(encoder, samples)
    again = r.run.head.predict_proba(x2.matrix(encoder.name, samples))
    assert np.array_equal(again, run.head.predict_proba(x))  # same samples, same head: same predictions


# --- broken files ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def good(rps_train):
    return save(ProjectFile(photo_project("image", rps_train, n=3)))


def rewrite(data: bytes, change) -> bytes:
    """The project file with ``change(members: dict) -> None`` applied to its members."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        members = {i.filename: z.read(i) for i in z.infolist()}
    change(members)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for k, v in members.items():
            z.writestr(k, v)
    return out.getvalue()


def manifest_edit(edit):
    def change(members):
        m = json.loads(members["manifest.json"])
        edit(m)
        members["manifest.json"] = json.dumps(m).encode()
    return change


def first_sample(m):
    return m["classes"][0]["samples"][0]


def tamper_pixel(members):
    from PIL import Image

    path = next(k for k in members if k.endswith(".png"))
    img = np.array(Image.open(io.BytesIO(members[path])))
    img[0, 0, 0] ^= 1
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    members[path] = buf.getvalue()


CASES = {
    "empty": (lambda d: b"", "is empty"),
    "not a zip": (lambda d: b"hello, not a zip", "not a zip file"),
    "truncated": (lambda d: d[: len(d) // 2], "damaged"),
    "no manifest": (lambda d: rewrite(d, lambda m: m.pop("manifest.json")), "no manifest.json"),
    "manifest not json": (lambda d: rewrite(d, lambda m: m.update({"manifest.json": b"{oops"})), "not valid JSON"),
    "other format": (lambda d: rewrite(d, manifest_edit(lambda m: m.update(format="tm"))), "not a Teachable Studio"),
    "newer version": (lambda d: rewrite(d, manifest_edit(lambda m: m.update(version=99))),
                      "newer Teachable Studio (project format 99)"),
    "unknown kind": (lambda d: rewrite(d, manifest_edit(lambda m: m.update(kind="video"))), "'video' is not one of"),
    "wrong type": (lambda d: rewrite(d, manifest_edit(lambda m: m["classes"][0].update(enabled="yes"))),
                   "\"enabled\" in class 1 has the wrong type (str)"),
    "classes not a list": (lambda d: rewrite(d, manifest_edit(lambda m: m.update(classes={}))), "wrong type"),
    "missing member": (lambda d: rewrite(d, lambda m: m.pop(next(k for k in m if k.endswith(".png")))), "is missing"),
    "tampered sample": (lambda d: rewrite(d, tamper_pixel), "does not match its id"),
    "not a picture": (lambda d: rewrite(d, lambda m: m.update({next(k for k in m if k.endswith(".png")): b"GIF89a"})),
                      "cannot be decoded"),
    "hostile path": (lambda d: rewrite(d, lambda m: m.update({"../../evil.sh": b"rm -rf /"})), "unsafe path"),
    "absolute path": (lambda d: rewrite(d, lambda m: m.update({"/etc/passwd": b"x"})), "unsafe path"),
    "path in manifest": (lambda d: rewrite(d, manifest_edit(lambda m: first_sample(m).update(file="../x.png"))),
                         "is missing"),
    "bad id": (lambda d: rewrite(d, manifest_edit(lambda m: first_sample(m).update(id="../../x"))), "malformed id"),
    "duplicate class": (lambda d: rewrite(d, manifest_edit(lambda m: m["classes"].append(m["classes"][0]))),
                        "repeats the uid"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_broken_files_are_refused_with_the_reason(case, good):
    make, reason = CASES[case]
    with pytest.raises(InputError) as e:
        open_project(make(good), "class.tmproject.zip")
    assert "class.tmproject.zip" in str(e.value) and reason in str(e.value), str(e.value)


def test_oversized_members_and_files_are_refused(good, monkeypatch):
    monkeypatch.setattr(project_reader, "MAX_SAMPLE_BYTES", 1000)
    with pytest.raises(InputError, match="too large"):
        open_project(good)
    monkeypatch.setattr(project_reader, "MAX_FILE_BYTES", len(good) - 1)
    with pytest.raises(InputError, match="larger than"):
        open_project(good)


def test_a_zip_bomb_member_is_refused(good):
    bomb = rewrite(good, lambda m: m.update({"padding.bin": b"\0" * (60 * 1024**2)}))
    bomb = rewrite(bomb, manifest_edit(lambda m: first_sample(m).update(file="padding.bin")))
    assert len(bomb) < 1024**2  # tiny on disk, 60 MB unpacked
    with pytest.raises(InputError, match="too large"):
        open_project(bomb)


def test_a_broken_run_is_refused(rps_train, encoder):
    p = photo_project("image", rps_train, n=4)
    ds = p.dataset()
    x = np.random.default_rng(0).normal(size=(len(ds.samples), 8)).astype(np.float32)  # any features: the file is tested
    run = train(x, ds.labels, ds.class_names, TrainConfig(epochs=2))
    data = save(ProjectFile(p, {}, [SavedRun("r", "e", run, [s.id for s in ds.samples], ds.labels)], 0))
    bad_head = rewrite(data, lambda m: m.update({"runs/0/head.npz": b"not numpy"}))
    with pytest.raises(InputError, match="head of run 1 cannot be read"):
        open_project(bad_head)
    outside = rewrite(data, manifest_edit(lambda m: m["runs"][0].update(test=[999])))
    with pytest.raises(InputError, match="points outside its samples"):
        open_project(outside)
    stranger = rewrite(data, manifest_edit(lambda m: m["runs"][0]["samples"].__setitem__(0, "0123456789abcdef")))
    with pytest.raises(InputError, match="not in the project"):
        open_project(stranger)
    bad_config = rewrite(data, manifest_edit(lambda m: m["runs"][0]["config"].update(epochs=-3)))
    with pytest.raises(InputError, match="settings of run 1 are not valid"):
        open_project(bad_config)
    assert open_project(data).runs[0].run.config.epochs == 2  # the good file still opens


def test_a_fine_tuned_run_round_trips_and_its_broken_parts_are_refused(rps_train, encoder):
    from tm_core.finetune import FineTuneConfig, FineTuned

    p = photo_project("image", rps_train, n=4)
    ds = p.dataset()
    x = np.random.default_rng(0).normal(size=(len(ds.samples), 8)).astype(np.float32)
    run = train(x, ds.labels, ds.class_names, TrainConfig(epochs=2))
    rng = np.random.default_rng(1)
    weights = {"block_16_project": [rng.normal(size=(1, 1, 4, 2)).astype(np.float32)],
               "Conv_1_bn": [rng.normal(size=3).astype(np.float32) for _ in range(4)]}
    ft = FineTuned("mobilenet_v2_0.35", "block_15_add", weights, run.head, FineTuneConfig(epochs=3), run.history[:1])
    saved = SavedRun("r", "mobilenet_v2_0.35", run, [s.id for s in ds.samples], ds.labels, ft, x)
    data = save(ProjectFile(p, {}, [saved], 0))
    back = open_project(data).runs[0]
    assert back.finetuned.start_layer == "block_15_add" and back.finetuned.config == ft.config
    assert back.finetuned.history == ft.history and np.array_equal(back.features, x)
    assert all(np.array_equal(a, b) for k in weights for a, b in zip(back.finetuned.weights[k], weights[k]))
    assert [len(v) for v in back.finetuned.weights.values()] == [1, 4]  # each layer's weights, in order
    assert save(ProjectFile(open_project(data).project, {}, [back], 0)) == data

    def npz(**arrays):
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        return buf.getvalue()

    cases = {
        "do not fit its samples": lambda m: m.update({"runs/0/features.npz": npz(x=x[:3])}),
        "malformed weight name": lambda m: m.update({"runs/0/finetuned.npz": npz(**{"../evil::0": x})}),
        "misses some of a layer's weights": lambda m: m.update({"runs/0/finetuned.npz": npz(**{"Conv_1_bn::1": x})}),
        "invalid numbers": lambda m: m.update({"runs/0/finetuned.npz": npz(**{"Conv_1_bn::0": x * np.nan})}),
        "fine-tuned block of run 1 cannot be read": lambda m: m.update({"runs/0/finetuned.npz": b"PK not numpy"}),
    }
    for why, change in cases.items():
        with pytest.raises(InputError, match=why):
            open_project(rewrite(data, change))
    with pytest.raises(InputError, match="settings of the fine-tuned block of run 1 are not valid"):
        open_project(rewrite(data, manifest_edit(lambda m: m["runs"][0]["finetuned"]["config"].update(epochs=0))))
