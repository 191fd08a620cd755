"""A mutation fuzzer over real project files (issue 14): an image project (real photos, two runs, one
with a fine-tuned block, saved embeddings), a pose project and an audio project (real clips) are
mutated thousands of times (seeded) at every level: bytes of the file, members (dropped, duplicated,
repointed, corrupted, replaced by arrays of the wrong dtype or shape) and manifest fields (wrong
types, huge numbers, NaN, deep nesting, inflated lists). Every case must open or be refused with an
InputError, never another exception; whatever opens must save and open again; Python/NumPy memory
(tracemalloc) stays bounded."""

from __future__ import annotations

import copy
import io
import json
import random
import time
import traceback
import tracemalloc
import zipfile

import numpy as np
import pytest
from project_files import audio_project, image_project, members, npz, pack

from tm_core.errors import InputError
from tm_core.project_file import open_project, save

SEED = 20261204
CASES = 3000
MB = 1024**2

# JSON values a tampered manifest may hold instead of the right one.
ODD_VALUES = [None, True, False, 0, -1, 1, 2**31, 10**30, -(10**30), 1e308, 0.5, -0.0, "", "x", "0", "NaN",
              "../../etc/passwd", "samples/x.png", "runs/0/head.npz", [], [1], [None], {}, {"a": 1}, "é" * 300,
              "a" * 5000, [[[]]], {"epoch": 1}]


def _paths(obj, here=()):
    """Every (path, value) in a JSON tree."""
    yield here, obj
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, (*here, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, (*here, i))


def _set(obj, path, value):
    for k in path[:-1]:
        obj = obj[k]
    obj[path[-1]] = value


def _mutate_manifest(rng: random.Random, manifest: dict, files: dict[str, bytes]):
    m = copy.deepcopy(manifest)
    paths = [p for p, _ in _paths(m) if p]
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        path = rng.choice(paths)
        op = rng.randrange(10)
        try:
            parent = m
            for k in path[:-1]:
                parent = parent[k]
            value = parent[path[-1]]
        except (KeyError, IndexError, TypeError):
            continue
        if not isinstance(parent, (dict, list)):  # an earlier mutation made a container a string: no path inside
            continue
        if op <= 2:
            _set(m, path, rng.choice(ODD_VALUES))
        elif op == 3 and isinstance(parent, dict):
            del parent[path[-1]]
        elif op == 3 and isinstance(parent, list):
            parent.pop(path[-1])
        elif op == 4 and isinstance(value, list) and value:  # an inflated list
            parent[path[-1]] = value * rng.choice([2, 10, 1000])
        elif op == 4 and isinstance(parent, list):  # an element twice
            parent.append(copy.deepcopy(value))
        elif op == 5 and isinstance(value, str):  # repoint to another member
            _set(m, path, rng.choice(sorted(files)))
        elif op == 6:  # deep nesting
            _set(m, path, f"DEEP{rng.choice([33, 200, 5000])}")  # written as text below (json.dumps would recurse)
        elif op == 7 and isinstance(value, (int, float)) and not isinstance(value, bool):
            _set(m, path, rng.choice([value + 1, -value, value * 1000, float(value) + 0.5, 2**63, 10**400]))
        elif op == 8 and isinstance(value, dict):
            value[rng.choice(["extra", "x", "__proto__", "w1"])] = rng.choice(ODD_VALUES)
        else:
            _set(m, path, {"__class__": "str"} if rng.random() < 0.5 else json.dumps(value)[:50])
    text = json.dumps(m).encode()
    for depth in (33, 200, 5000):
        text = text.replace(f'"DEEP{depth}"'.encode(), b"[" * depth + b"0" + b"]" * depth)
    if rng.random() < 0.05:  # numbers JSON does not allow, as Python's json writes them
        text = text.replace(b'"loss": ', b'"loss": ' + rng.choice([b"NaN", b"Infinity", b"-Infinity"]) + b", \"y\": ",
                            1)
    return text


def _mutate_npz(rng: random.Random, blob: bytes) -> bytes:
    op = rng.randrange(7)
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception:  # noqa: BLE001 - already broken: flip it some more
        op = 6
    if op == 0:
        name = rng.choice(sorted(arrays))
        dtype = rng.choice([np.float64, np.int8, np.complex64, np.bool_, "<U3"])
        try:
            arrays[name] = arrays[name].astype(dtype)
        except ValueError:  # text that is not a number
            arrays[name] = np.zeros(arrays[name].shape, dtype)
    elif op == 1:
        name = rng.choice(sorted(arrays))
        a = arrays[name]
        arrays[name] = np.zeros(tuple(max(1, d + rng.choice([-1, 1, 7])) for d in a.shape) or (3,), np.float32)
    elif op == 2:
        name = rng.choice(sorted(arrays))
        a = arrays[name].astype(np.float32) if arrays[name].dtype.kind == "f" else arrays[name]
        if a.dtype.kind == "f" and a.size:
            a = a.copy()
            a.flat[rng.randrange(a.size)] = rng.choice([np.nan, np.inf, -np.inf])
        arrays[name] = a
    elif op == 3:
        arrays.pop(rng.choice(sorted(arrays)))
    elif op == 4:
        arrays[rng.choice(["extra", "w3", "x::0", "../evil::0"])] = np.ones((2, 2), np.float32)
    elif op == 5:  # a header declaring far more than the data
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False,
                                                      "shape": (rng.choice([10**5, 10**9]), 1280)})
        return pack({f"{rng.choice(sorted(arrays) or ['w1'])}.npy": header.getvalue() + b"\0" * 100})
    else:
        return _flip(rng, blob)
    return npz(**arrays)


def _flip(rng: random.Random, blob: bytes) -> bytes:
    if not blob:
        return b"\0"
    b = bytearray(blob)
    for _ in range(rng.choice([1, 2, 8, 64])):
        b[rng.randrange(len(b))] = rng.randrange(256)
    return bytes(b)


def mutate(rng: random.Random, data: bytes) -> bytes:
    files = members(data)
    level = rng.random()
    if level < 0.12:  # bytes of the whole file
        if rng.random() < 0.3:
            return data[: rng.randrange(len(data))]
        return _flip(rng, data)
    if level < 0.55:  # the manifest
        files["manifest.json"] = _mutate_manifest(rng, json.loads(files["manifest.json"]), files)
    else:  # members
        name = rng.choice(sorted(n for n in files if n != "manifest.json"))
        op = rng.randrange(6)
        if op == 0:
            del files[name]
        elif op == 1:
            other = rng.choice(sorted(files))
            files[name] = files[other]
        elif op == 2 and name.endswith(".npz"):
            files[name] = _mutate_npz(rng, files[name])
        elif op == 3:
            files[name.replace(".", "_copy.", 1)] = files[name]
            files["x/../" + name if rng.random() < 0.1 else name + "2"] = files[name]
        elif op == 4 and name.endswith(".npz"):  # an array of zeros that deflates to nothing
            files[name] = npz(w1=np.zeros((4096, 4096), np.float32))
        else:
            files[name] = _flip(rng, files[name])
    return pack(files, rng.choice([zipfile.ZIP_DEFLATED, zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED]))


@pytest.mark.slow
def test_mutated_project_files_open_or_are_refused_with_a_reason(rps_train, datasets_dir):
    originals = {"image": image_project(rps_train), "pose": image_project(rps_train, "pose"),
                 "audio": audio_project(datasets_dir)}
    for data in originals.values():
        open_project(data)
    rng = random.Random(SEED)
    counts = {"cases": 0, "opened": 0, "refused": 0, "tracebacks": 0}
    failures: list[str] = []
    worst = (0.0, "")
    start = time.perf_counter()
    for case in range(CASES):
        kind = rng.choice(sorted(originals))
        crafted = mutate(rng, originals[kind])
        traced = case % 10 == 0  # tracemalloc slows allocation: every tenth case, and every heavy one
        traced = traced or len(crafted) > 2 * len(originals[kind])
        if traced:
            tracemalloc.start()
        try:
            pf = open_project(crafted, "fuzz.tmproject.zip")
            open_project(save(pf))  # what opens is clean: it saves, and opens again
            counts["opened"] += 1
        except InputError:
            counts["refused"] += 1
        except Exception:  # noqa: BLE001 - the point of the test: no other exception escapes
            counts["tracebacks"] += 1
            if len(failures) < 10:
                failures.append(f"case {case} ({kind}):\n{traceback.format_exc()}")
        finally:
            if traced:
                peak = tracemalloc.get_traced_memory()[1] / MB
                tracemalloc.stop()
                if peak > worst[0]:
                    worst = (peak, f"case {case} ({kind})")
        counts["cases"] += 1
    seconds = time.perf_counter() - start
    print(f"\nfuzz: {counts}, {seconds:.0f} s, traced peak {worst[0]:.1f} MB ({worst[1]})")
    assert not failures, "\n".join(failures)
    assert counts["opened"] > 50 and counts["refused"] > 1000  # the mutations reach both outcomes
    assert worst[0] < 150  # the largest legitimate member here is 5 MB; a 4096×4096 head is 64 MB
