"""``python -m tm_core``: train, evaluate, predict on real photos; bad input is one clear line."""

import json
import os
import re
import subprocess
import sys
import zipfile

import pytest

from tm_core.__main__ import main

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cli(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "tm_core", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "PYTHONPATH": REPO})


def subset(src, dst, n, offset=0):
    """dst/<class>/<files>: n real photos per class from src, starting at offset."""
    for cls in sorted(p.name for p in src.iterdir()):
        (dst / cls).mkdir(parents=True)
        for f in sorted((src / cls).iterdir())[offset:offset + n]:
            (dst / cls / f.name).write_bytes(f.read_bytes())
    return dst


@pytest.fixture(scope="module")
def trained_dir(clothing_train, tmp_path_factory):
    """The CLI end to end: train on 15 clothing photos per class with every export."""
    root = tmp_path_factory.mktemp("cli")
    data = subset(clothing_train, root / "data", 15)
    (data / "hat" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    out = root / "out"
    r = cli("train", data, "--out", out, "--epochs", 12, "--seed", 1)
    assert r.returncode == 0, r.stderr
    return root, out, r


@pytest.mark.slow
def test_train_prints_one_line_per_epoch_and_writes_every_export(trained_dir):
    _, out, r = trained_dir
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 12
    assert all(re.fullmatch(r"epoch +\d+/12  loss [\d.]+  acc [\d.]+  test_loss [\d.]+  test_acc [\d.]+", ln) for ln in lines)
    assert "embedding 61/61" in r.stderr and "60 samples in 4 classes" in r.stderr
    assert "skipped hat/broken.jpg" in r.stderr and "Traceback" not in r.stderr
    names = {p.name for p in out.iterdir()}
    assert {"model.keras", "keras_model.h5", "labels.txt", "model_float32.tflite", "model_int8.tflite", "run.json"} <= names
    assert (out / "labels.txt").read_text() == "0 hat\n1 pants\n2 shoes\n3 t-shirt\n"
    run = json.loads((out / "run.json").read_text())
    assert run["config"]["epochs"] == 12 and run["config"]["seed"] == 1 and run["encoder"] == "mobilenet_v2_0.35"
    assert len(run["history"]) == 12 and run["n_test"] == 8 and run["held_out"]["n"] == 8


@pytest.mark.slow
def test_evaluate_prints_only_json(trained_dir, clothing_train):
    root, out, _ = trained_dir
    test = subset(clothing_train, root / "test", 10, offset=50)  # photos the model never saw
    r = cli("evaluate", out, test)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)  # nothing but the JSON object on stdout
    assert set(result) >= {"accuracy", "per_class", "confusion"}
    assert result["class_names"] == ["hat", "pants", "shoes", "t-shirt"] and result["n"] == 40
    assert len(result["confusion"]) == 4 and sum(map(sum, result["confusion"])) == 40
    assert result["accuracy"] >= 0.75  # clothing is easy: Teachable Machine's pipeline reaches 0.98 with 85 per class
    assert set(result["per_class"]) == {"hat", "pants", "shoes", "t-shirt"}


@pytest.mark.slow
def test_predict_each_file(trained_dir, clothing_train):
    _, out, _ = trained_dir
    shoe = sorted((clothing_train / "shoes").iterdir())[70]
    hat = sorted((clothing_train / "hat").iterdir())[70]
    r = cli("predict", out, shoe, hat, "--json")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [row["top"] for row in rows] == ["shoes", "hat"]
    assert abs(sum(rows[0]["probabilities"].values()) - 1) < 1e-4
    plain = cli("predict", out, shoe)
    assert plain.stdout.startswith(f"{shoe}: shoes ")


@pytest.mark.slow
def test_predict_bad_file_among_good_ones(trained_dir, clothing_train, capsys):
    root, out, _ = trained_dir
    good = sorted((clothing_train / "pants").iterdir())[80]
    bad = root / "notes.txt"
    bad.write_text("hello")
    code = main(["predict", str(out), str(bad), str(good)])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out.startswith(f"{good}: ") and len(captured.out.splitlines()) == 1
    assert f"error: {bad}: is not an image" in captured.err


def one_line_error(capsys, argv, *fragments):
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert code == 2 and len(errors) == 1 and "Traceback" not in err, err
    for f in fragments:
        assert f in errors[0], errors[0]
    return errors[0]


def test_train_bad_input(tmp_path, clothing_train, capsys):
    out = tmp_path / "out"
    one_line_error(capsys, ["train", tmp_path / "nope", "--out", out], "nope")
    one_line_error(capsys, ["train", clothing_train, "--out", out, "--epochs", "0"], "epochs")
    one_line_error(capsys, ["train", clothing_train, "--out", out, "--learning-rate", "-1"], "learning rate")
    one_line_error(capsys, ["train", clothing_train, "--out", out, "--encoder", "resnet"], "resnet", "mobilenet_v2_0.35")
    one_line_error(capsys, ["train", subset(clothing_train, tmp_path / "pics", 2), "--out", out, "--kind", "audio"],
                   "at least two")  # photos are not sounds: each is skipped with its reason
    single = subset(clothing_train, tmp_path / "one", 3)
    for cls in ("pants", "shoes", "t-shirt"):
        for f in (single / cls).iterdir():
            f.write_text("not an image")
    one_line_error(capsys, ["train", single, "--out", out], "at least two")
    (tmp_path / "bad.zip").write_bytes(b"PK\x03\x04 truncated")
    one_line_error(capsys, ["train", tmp_path / "bad.zip", "--out", out], "bad.zip")
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("../escape/a.jpg", b"x")
    one_line_error(capsys, ["train", evil, "--out", out], "evil.zip")
    assert not out.exists() and not (tmp_path.parent / "escape").exists()


@pytest.mark.slow
def test_evaluate_and_predict_bad_input(trained_dir, tmp_path, clothing_train, capsys):
    _, out, _ = trained_dir
    one_line_error(capsys, ["evaluate", tmp_path, clothing_train], "model.keras is missing")
    one_line_error(capsys, ["evaluate", tmp_path / "nope", clothing_train], "not a folder")
    other = subset(clothing_train, tmp_path / "other", 1)
    (other / "socks").mkdir()
    (other / "socks" / "a.jpg").write_bytes((other / "hat").joinpath(next((other / "hat").iterdir()).name).read_bytes())
    one_line_error(capsys, ["evaluate", out, other], "socks", "hat, pants, shoes, t-shirt")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.keras").write_bytes(b"garbage")
    (broken / "labels.txt").write_text("0 a\n1 b\n")
    one_line_error(capsys, ["evaluate", broken, clothing_train], "model.keras", "cannot be loaded")
    one_line_error(capsys, ["predict", out, tmp_path / "missing.jpg"], "missing.jpg")
