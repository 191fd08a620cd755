"""The project-file reader's bounds (issue 14): each crafted file that made the server hold gigabytes,
answer slowly or show a traceback is refused with its reason, fast and with little memory; whatever
opens is clean. Memory is measured with tracemalloc (Python and NumPy allocations) and, for the
heaviest cases, as the peak resident size of a child process that opens the file."""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from project_files import (
    audio_project,
    image_project,
    members,
    npz,
    pack,
    with_manifest,
)

from tm_core import media, project_reader
from tm_core.errors import InputError
from tm_core.project_file import open_project, save

REPO = Path(__file__).resolve().parents[1]
MB = 1024**2


@pytest.fixture(scope="module")
def photos(rps_train) -> bytes:
    return image_project(rps_train)


@pytest.fixture(scope="module")
def clips(datasets_dir) -> bytes:
    return audio_project(datasets_dir)


def refused(data: bytes, reason: str) -> tuple[float, float]:
    """Opens ``data``, expecting an InputError containing ``reason``; (seconds, tracemalloc peak MB)."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(InputError) as info:
            open_project(data, "crafted.tmproject.zip")
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1] / MB
    finally:
        tracemalloc.stop()
    assert reason in str(info.value), str(info.value)
    print(f"refused in {seconds:.2f} s, peak {peak:.1f} MB: {info.value}")
    return seconds, peak


def child_peak_mb(code: str, env: dict | None = None) -> tuple[float, str]:
    """Peak resident memory (MB) a child process adds while running ``code`` after its imports, and its output.

    The child resets its high-water mark (Linux ``clear_refs``) and reads ``VmHWM``: ``ru_maxrss``
    would include the parent's peak, which a child keeps across exec."""
    script = ("import re\nfrom tm_core import media, project_file\n"
              "def status(key):\n"
              "    return int(re.search(key + r':\\s+(\\d+) kB', open('/proc/self/status').read()).group(1)) / 1024\n"
              "open('/proc/self/clear_refs', 'w').write('5')\n"
              "base = status('VmRSS')\n" + code + "\nprint('PEAK', status('VmHWM') - base)\n")
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300,
                         env={**os.environ, **(env or {})}, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    peak = float(out.stdout.split("PEAK")[-1])
    return peak, out.stdout


# --- the shared head: a small file that held 1.6 GB -------------------------------------------------

def shared_head_file(photos: bytes, runs: int = 60) -> bytes:
    """Every run points at one large head of zeros (deflates to almost nothing)."""
    files = members(photos)
    files["runs/0/head.npz"] = npz(w1=np.zeros((1280, 4096), np.float32), b1=np.zeros(4096, np.float32),
                                   w2=np.zeros((4096, 3), np.float32))
    manifest = json.loads(files["manifest.json"])
    first = manifest["runs"][0]
    manifest["runs"] = [dict(first, label=f"Run {i}") for i in range(runs)]
    manifest["current"], manifest["features"] = 0, []
    files["manifest.json"] = json.dumps(manifest).encode()
    return pack(files)


def test_runs_sharing_one_large_head_are_refused_from_the_headers(photos, tmp_path):
    crafted = shared_head_file(photos)
    assert len(crafted) < 2 * MB
    _seconds, peak = refused(crafted, "unpacks to")  # 21 MB from a few KB: not what the app saves
    assert peak < 20
    stored = shared_head_file(photos)  # the same, stored without compression: each member once
    files = members(stored)
    stored = pack(files, zipfile.ZIP_STORED)
    _seconds, peak = refused(stored, "runs/0/head.npz is named twice")
    assert peak < 100  # one head (21 MB) read, never 60
    path = tmp_path / "shared.tmproject.zip"
    path.write_bytes(crafted)
    child, out = child_peak_mb(f"""
try:
    project_file.open_project(open({str(path)!r}, 'rb').read())
except Exception as e:
    print(type(e).__name__, e)
""")
    print(f"child peak added: {child:.0f} MB")
    assert "InputError" in out and child < 500


def test_a_head_that_does_not_fit_the_class_count_or_the_embeddings_is_refused_before_loading(photos):
    files = members(photos)
    files["runs/0/head.npz"] = npz(w1=np.zeros((48, 16), np.float32), b1=np.zeros(16, np.float32),
                                   w2=np.zeros((16, 7), np.float32))
    refused(pack(files), "not of shape (-1, 3)")
    files["runs/0/head.npz"] = npz(w1=np.ones((50, 16), np.float32), b1=np.ones(16, np.float32),
                                   w2=np.ones((16, 3), np.float32))
    files["runs/1/head.npz"] = npz(w1=np.ones((48, 8), np.float32), b1=np.ones(8, np.float32),
                                   w2=np.ones((8, 3), np.float32))
    refused(pack(files), "not of shape (50, -1)")  # run 2 and run 1 use one network: one embedding size
    files = members(photos)
    files["runs/0/head.npz"] = npz(w1=np.array([[object()]]), b1=np.zeros(1), w2=np.zeros((1, 3)))
    refused(pack(files), "cannot be read")
    header = io.BytesIO()  # an .npy header declaring 10^12 numbers over a few bytes of data
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (10**6, 10**6)})
    files["runs/0/head.npz"] = pack({"w1.npy": header.getvalue() + b"\0" * 64, "b1.npy": b"", "w2.npy": b""})
    refused(pack(files), "does not hold the data its header declares")


# --- sound ----------------------------------------------------------------------------------------

@pytest.mark.slow
def test_an_hour_long_sound_sample_is_refused_from_its_header(clips):
    buf = io.BytesIO()
    with sf.SoundFile(buf, "w", 16_000, 1, format="FLAC") as f:
        silence = np.zeros(16_000 * 60, np.float32)
        for _ in range(60):
            f.write(silence)
    assert len(buf.getvalue()) < project_reader.MAX_SOUND_BYTES  # an hour of silence is small
    files = members(clips)
    files[next(k for k in files if k.endswith(".wav"))] = buf.getvalue()
    _seconds, peak = refused(pack(files), "is not a 1-second 16 kHz WAV sample")
    assert peak < 10  # 230 MB of float32 if it were decoded


def test_a_long_wav_sample_is_refused_by_its_size(clips):
    files = members(clips)
    buf = io.BytesIO()
    sf.write(buf, np.zeros(16_000 * 60, np.float32), 16_000, format="WAV", subtype="FLOAT")
    files[next(k for k in files if k.endswith(".wav"))] = buf.getvalue()
    refused(pack(files), "too large")


# --- counts and JSON --------------------------------------------------------------------------------

def test_forty_thousand_classes_are_refused_fast(photos):
    def many(m):
        m["classes"] = [{"name": f"c{i}", "uid": f"u{i}", "enabled": True, "background": False, "samples": []}
                        for i in range(40_000)]
        m["runs"], m["current"], m["features"] = [], None, []
    _seconds, peak = refused(with_manifest(photos, many), "40,000 classes, more than the 1,000")
    assert peak < 100  # the parsed manifest; no class is built (the time is printed, and benchmarked)


def test_millions_of_empty_json_objects_are_refused_before_parsing(photos):
    head = b'{"format": "teachable-studio-project", "version": 1, "kind": "image", "runs": [], "classes": ['
    crafted = with_manifest(photos, lambda m: head + b"{}," * 3_000_000 + b"{}]}")
    assert len(crafted) < MB
    _seconds, peak = refused(crafted, "objects and lists, more than")
    assert peak < 60  # 3 million dicts are about 200 MB


@pytest.mark.parametrize("depth", [40, 5_000, 200_000])
def test_deeply_nested_json_gives_a_reason(photos, depth):
    crafted = with_manifest(photos, lambda m: json.dumps(m).encode()[:-1] + b', "settings": '
                            + b"[" * depth + b"]" * depth + b"}")
    refused(crafted, f"nested more than {project_reader.MAX_JSON_DEPTH} levels deep")


def test_nan_and_infinity_in_the_manifest_are_refused(photos):
    refused(with_manifest(photos, lambda m: json.dumps(m).replace('"loss": ', '"loss": NaN, "x": ', 1).encode()),
            "not a number JSON allows")


WRONG = {
    "seconds is text": (lambda m: m["runs"][0].update(seconds="abc"), "\"seconds\" in run 1 is not a number"),
    "seconds is a list": (lambda m: m["runs"][0].update(seconds=[1]), "\"seconds\" in run 1 is not a number"),
    "seconds is huge": (lambda m: m["runs"][0].update(seconds=10**400), "\"seconds\" in run 1 is not a number"),
    "stopped is text": (lambda m: m["runs"][0].update(stopped="no"), "\"stopped\" in run 1 is not true or false"),
    "info is a list": (lambda m: m["runs"][0].update(info=[1]), "\"info\" in run 1 is not a JSON object"),
    "features is text": (lambda m: m.update(features="x"), "embeddings are not a list"),
    "features entry is a number": (lambda m: m["features"].append(3), "embeddings 2 is not a JSON object"),
    "features repeat an encoder": (lambda m: m["features"].append(dict(m["features"][0])), "repeats the embeddings"),
    "config rate is true": (lambda m: m["runs"][0]["config"].update(learning_rate=True), "is not a number"),
    "history loss text": (lambda m: m["runs"][0]["history"][0].update(loss="0.5"), "figures are not numbers"),
    "history loss null": (lambda m: m["runs"][0]["history"][0].update(loss=None), "figures are not numbers"),
    "history test loss bool": (lambda m: m["runs"][0]["history"][0].update(test_loss=True), "figures are not numbers"),
    "history epoch text": (lambda m: m["runs"][0]["history"][0].update(epoch="1"), "epochs out of order"),
    "history not objects": (lambda m: m["runs"][0].update(history=[1, 2]), "malformed epoch"),
    "label a number": (lambda m: m["runs"][0].update(label=5), "\"label\" in run 1 has the wrong type"),
    "encoder a list": (lambda m: m["runs"][0].update(encoder=["x"]), "\"encoder\" in run 1 has the wrong type"),
    "current is true": (lambda m: m.update(current=True), "current model points at no run"),
    "run is a list": (lambda m: m["runs"].append([]), "run 3 is not a JSON object"),
    "labels are bools": (lambda m: m["runs"][0].update(labels=[True] * len(m["runs"][0]["labels"])), "bad labels"),
    "train repeats": (lambda m: m["runs"][0].update(train=[0, 0]), "train part points outside"),
    "how not text": (lambda m: m["runs"][0].update(how={"0": [1]}), "split is malformed"),
    "finetuned stopped text": (lambda m: m["runs"][1]["finetuned"].update(stopped=1), "is not true or false"),
    "two samples one file": (lambda m: m["classes"][1]["samples"][0].update(file=m["classes"][0]["samples"][0]["file"]),
                             "is named twice"),
    "features repointed at a head": (lambda m: m["features"][0].update(file="runs/1/head.npz"), "is named twice"),
    "finetuned weights at features": (lambda m: m["runs"][1]["finetuned"].update(weights="runs/0/head.npz"),
                                      "is named twice"),
}


UNUSABLE_CONFIG = {  # the project's training settings: left out with a note, the project opens
    "config is a list": (lambda m: m["settings"].update(config=[1, 2]), "settings of the project are not a JSON object"),
    "config is text": (lambda m: m["settings"].update(config="fast"), "settings of the project are not a JSON object"),
    "config epochs text": (lambda m: m["settings"]["config"].update(epochs="50"), "'epochs' of the project is not a number"),
    "config out of range": (lambda m: m["settings"]["config"].update(epochs=0), "settings of the project are not valid"),
}


@pytest.mark.parametrize("case", list(UNUSABLE_CONFIG))
def test_unusable_training_settings_are_left_out_with_a_note(photos, case):
    edit, reason = UNUSABLE_CONFIG[case]
    pf = open_project(with_manifest(photos, edit))
    assert "config" not in pf.settings and len(pf.runs) == 2 and sum(pf.project.counts().values())
    assert len(pf.notes) == 1 and reason in pf.notes[0] and "defaults are used" in pf.notes[0]
    assert "config" not in open_project(save(pf)).settings  # what was left out is never saved back


@pytest.mark.parametrize("case", list(WRONG))
def test_wrong_types_give_a_reason(photos, case):
    edit, reason = WRONG[case]
    refused(with_manifest(photos, edit), reason)


def test_unknown_or_mistyped_settings_are_dropped_and_what_opens_saves_cleanly(photos):
    def edit(m):
        m["settings"].update(evil={"a": [1, 2]}, augment="yes", keep_missing=True, encoder="x" * 5000)
    pf = open_project(with_manifest(photos, edit))
    assert set(pf.settings) == {"config", "keep_missing"} and pf.settings["keep_missing"] is True
    assert pf.settings["config"]["epochs"] == 4 and pf.settings["config"]["batch_size"] == 16
    again = open_project(save(pf))
    assert again.settings == pf.settings and len(again.runs) == 2


# --- zips with huge entry counts -----------------------------------------------------------------------

def zip64_claiming(entries: int) -> bytes:
    """An empty zip whose (zip64) end record claims ``entries`` entries: a few dozen bytes."""
    end64 = struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, entries, entries, 46 * entries, 0)
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, 0, 1)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    return end64 + locator + end


def directory_of(entries: int) -> bytes:
    """A zip whose central directory really lists ``entries`` one-letter files, its end record claiming 1."""
    header = struct.pack("<4s4B4HL2L5H2L", b"PK\x01\x02", 20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0)
    directory = (header + b"a") * entries
    return directory + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, len(directory), 0, 0)


@pytest.mark.parametrize("crafted", ["claimed", "real"])
def test_a_zip_with_a_huge_entry_count_is_refused_before_its_directory_is_parsed(crafted, tmp_path):
    data = zip64_claiming(5_000_000) if crafted == "claimed" else directory_of(300_000)
    tracemalloc.start()
    try:
        start = time.perf_counter()
        with pytest.raises(InputError) as dataset:
            media.read_zip(data, "many.zip")
        path = tmp_path / "many.zip"
        path.write_bytes(data)
        with pytest.raises(InputError) as on_disk:
            media.read_zip(path)
        seconds, peak = time.perf_counter() - start, tracemalloc.get_traced_memory()[1] / MB
    finally:
        tracemalloc.stop()
    assert "more than 50,000 files and folders" in str(dataset.value) and "more than" in str(on_disk.value)
    print(f"{crafted}: {seconds:.2f} s, peak {peak:.1f} MB")
    assert peak < 40  # the bytes themselves (14 MB for 300,000 real entries), never a ZipInfo each
    _seconds, peak = refused(data, "files inside")
    assert peak < 40


# --- pictures of any mode ---------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("mode", ["I;16", "F"])
def test_a_forty_megapixel_high_bit_picture_is_decoded_with_bounded_memory(mode, tmp_path):
    path = tmp_path / ("big.png" if mode == "I;16" else "big.tif")
    subprocess.run([sys.executable, "-c", f"""
import numpy as np
from PIL import Image
h, w = 5000, 8000  # a ramp in 64 steps: 40 megapixels that compress to about 1 MB
ramp = np.floor(np.linspace(0, 1, w, dtype=np.float32) * 64) / 64
ramp = np.ascontiguousarray(np.broadcast_to(ramp[None, :], (h, w)))
if {mode!r} == "F":
    Image.fromarray(ramp).save({str(path)!r}, compression="tiff_adobe_deflate")
else:
    Image.fromarray((ramp * 65535).astype(np.uint16)).save({str(path)!r})
"""], check=True, timeout=300)
    assert path.stat().st_size < media.MAX_FILE_BYTES
    peak, out = child_peak_mb(f"""
x = media.image_to_array({str(path)!r})
print(x.shape, x.dtype, int(x[100, 200, 0]))
""")
    rgb = 40e6 * 3 / MB
    print(f"{mode}: decoding a 40-megapixel picture added {peak:.0f} MB ({peak / rgb:.1f}× its 8-bit RGB size)")
    assert "(224, 224, 3) uint8" in out
    assert peak < 3 * rgb  # float64 of the whole picture alone was 320 MB, and 1.1 GB in all
