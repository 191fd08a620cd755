"""Memory and time of opening project files, legitimate and crafted (issue 14's targets).

Targets: the peak memory added while opening any project file is at most 4× the size of its decoded
legitimate content, and at most 500 MB for any file that is refused; reopening a 1,000-photo project
file takes at most 3 s. A 40-megapixel 16-bit or float picture decodes with a peak of at most 3× its
8-bit RGB size.

Each file is opened in a fresh child process, which reports the peak resident memory it added
(``ru_maxrss`` after opening minus after its imports) and the tracemalloc peak (Python and NumPy
allocations). The legitimate file: a 1,000-photo image project (the 850 photos of rps_real and
clothing4 plus 150 mirrored copies), three trained runs (heads of 100 hidden units over 1,280
numbers) and the saved embeddings of every photo (made-up numbers: the reader never runs a network).
Its "decoded content" is what the opened project holds: the PNG bytes of its samples, the heads,
the embeddings. The crafted files are those of issue 14, each refused.

    python benchmarks/project_file_memory.py
"""

from _common import CpuShare, header, row, train_dir  # first: import order

import io
import json
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
MB = 1024**2
PROJECT_SIZE = 1000

# Peak resident memory of this process from here on: the high-water mark is reset (Linux clear_refs),
# then read from /proc/self/status (ru_maxrss would include the parent's peak, kept across exec).
PEAK = """
import re
def _status(key):
    return int(re.search(rf"^{key}:\\s+(\\d+) kB", open("/proc/self/status").read(), re.M).group(1)) / 1024
def start_peak():
    open("/proc/self/clear_refs", "w").write("5")
    return _status("VmRSS")
def peak_since(base):
    return _status("VmHWM") - base
"""

CHILD = PEAK + """
import sys, time, tracemalloc
from tm_core import media, project_file
from tm_core.errors import InputError
base = start_peak()
data = open(sys.argv[1], "rb").read()
tracemalloc.start()
start, wall = time.process_time(), time.perf_counter()
outcome, content = "opened", 0
try:
    pf = project_file.open_project(data)
    content = sum(len(s.png) if s.png is not None else s.data.nbytes for c in pf.project.classes for s in c.samples)
    content += sum(r.run.head.w1.nbytes + r.run.head.b1.nbytes + r.run.head.w2.nbytes for r in pf.runs)
    content += sum(x.nbytes for _ids, x in pf.features.values())
except InputError as e:
    outcome = "refused: " + str(e)[:90]
seconds, wall = time.process_time() - start, time.perf_counter() - wall
traced = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
del data
peak = peak_since(base)
print("RESULT", peak, traced / 2**20, content / 2**20, seconds, wall, outcome, sep="\\t")
"""


def child_open(path: Path) -> tuple:
    """(peak RSS added MB, tracemalloc peak MB, decoded content MB, CPU seconds, wall seconds, outcome) of
    opening ``path``."""
    out = subprocess.run([sys.executable, "-c", CHILD, str(path)], cwd=REPO, capture_output=True, text=True,
                         timeout=600, check=True)
    fields = out.stdout.split("RESULT\t")[-1].strip().split("\t")
    return (*(float(f) for f in fields[:5]), fields[5])


def legit_project(tmp: Path) -> bytes:
    from PIL import Image, ImageOps

    from tm_core import media
    from tm_core.errors import InputError
    from tm_core.project import Project
    from tm_core.project_file import ProjectFile, SavedRun, save
    from tm_core.training import TrainConfig, train

    listings = [media.list_folder(train_dir(name)) for name in ("rps_real", "clothing4")]
    items = [(f.class_name, f.name, f.source) for listing in listings for f in listing.files]
    root = train_dir("rps_real")
    classes = sorted(p for p in root.iterdir() if p.is_dir())
    for i in range(PROJECT_SIZE - len(items)):
        cls = classes[i % len(classes)]
        src = sorted(cls.iterdir())[i // len(classes)]
        dest = tmp / f"mirrored-{cls.name}-{src.stem}.png"
        with Image.open(src) as img:
            ImageOps.mirror(img.convert("RGB")).save(dest)
        items.append((cls.name, dest.name, dest))
    project = Project("image", [])
    errors = [x for x in project.add_files(items) if isinstance(x, InputError)]
    assert not errors, errors[0]
    ds = project.dataset()
    x = np.random.default_rng(0).normal(size=(len(ds.samples), 1280)).astype(np.float32)
    ids = [s.id for s in ds.samples]
    runs = [SavedRun(f"Run {i + 1}", "mobilenet_v2_0.35", train(x, ds.labels, ds.class_names, TrainConfig(epochs=3, seed=i)),
                     ids, ds.labels) for i in range(3)]
    return save(ProjectFile(project, {"encoder": "mobilenet_v2_0.35"}, runs, 2, {"mobilenet_v2_0.35": (ids, x)}))


def crafted_files(legit: bytes) -> dict[str, bytes]:
    import soundfile as sf

    def files_of(data):
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return {i.filename: z.read(i) for i in z.infolist()}

    def pack(files):
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
            for k, v in files.items():
                z.writestr(k, v)
        return out.getvalue()

    small = files_of(legit)
    manifest = json.loads(small["manifest.json"])
    keep = {s["file"] for c in manifest["classes"] for s in c["samples"][:2]}
    for c in manifest["classes"]:
        c["samples"] = c["samples"][:2]
    manifest["runs"], manifest["features"], manifest["current"] = [], [], None
    base = {k: v for k, v in small.items() if k in keep}

    out = {}
    head = io.BytesIO()
    np.savez(head, w1=np.zeros((1280, 4096), np.float32), b1=np.zeros(4096, np.float32),
             w2=np.zeros((4096, len(manifest["classes"])), np.float32))
    run = json.loads(small["manifest.json"])["runs"][0]
    run.update(samples=[], labels=[], train=[], test=[], head="runs/0/head.npz")
    out["60 runs sharing one 21 MB head of zeros"] = pack({**base, "runs/0/head.npz": head.getvalue(),
        "manifest.json": json.dumps(dict(manifest, runs=[dict(run, label=f"R{i}") for i in range(60)])).encode()})
    out["40,000 classes"] = pack({"manifest.json": json.dumps(dict(manifest, classes=[
        {"name": f"c{i}", "uid": f"u{i}", "enabled": True, "background": False, "samples": []}
        for i in range(40_000)])).encode()})
    out["3 million empty JSON objects"] = pack({"manifest.json": b'{"format": "teachable-studio-project", '
                                               b'"version": 1, "kind": "image", "classes": [' + b"{}," * 3_000_000 + b"{}]}"})
    out["settings nested 1 million deep"] = pack({**base, "manifest.json": json.dumps(manifest).encode()[:-1]
                                                  + b', "settings": ' + b"[" * 10**6 + b"]" * 10**6 + b"}"})
    header = (b"PK\x01\x02" + bytes(24) + (1).to_bytes(2, "little") + bytes(16) + b"a")
    directory = header * 300_000
    out["a zip directory of 300,000 entries"] = directory + b"PK\x05\x06" + bytes(4) + (1).to_bytes(2, "little") * 2 \
        + len(directory).to_bytes(4, "little") + bytes(6)
    buf = io.BytesIO()
    with sf.SoundFile(buf, "w", 16_000, 1, format="FLAC") as f:
        for _ in range(60):
            f.write(np.zeros(16_000 * 60, np.float32))
    audio_manifest = {"format": "teachable-studio-project", "version": 1, "kind": "audio", "runs": [], "classes": [
        {"name": "Background Noise", "uid": "bg", "enabled": True, "background": True, "samples": [
            {"id": "0123456789abcdef", "file": "samples/bg/0123456789abcdef.wav", "name": "x", "group": "g",
             "test_only": False}]}]}
    out["a sound sample of one hour (FLAC)"] = pack({"manifest.json": json.dumps(audio_manifest).encode(),
                                                     "samples/bg/0123456789abcdef.wav": buf.getvalue()})
    return out


PICTURE = """
import sys
import numpy as np
from PIL import Image
from tm_core import media
h, w = 5000, 8000
ramp = np.floor(np.linspace(0, 1, w, dtype=np.float32) * 64) / 64
ramp = np.ascontiguousarray(np.broadcast_to(ramp[None, :], (h, w)))
if sys.argv[2] == "F":
    Image.fromarray(ramp).save(sys.argv[1], compression="tiff_adobe_deflate")
else:
    Image.fromarray((ramp * 65535).astype(np.uint16)).save(sys.argv[1])
"""

DECODE = PEAK + """
import sys
from tm_core import media
base = start_peak()
media.image_to_array(sys.argv[1])
print("RESULT", peak_since(base))
"""


def main() -> None:
    share = CpuShare()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        header(f"Opening a {PROJECT_SIZE:,}-photo project file (3 runs, saved embeddings; fresh process each)")
        legit = legit_project(tmp)
        path = tmp / "legit.tmproject.zip"
        path.write_bytes(legit)
        results = [child_open(path) for _ in range(3)]
        peak, traced, content, _s, _w, outcome = results[1]
        seconds, wall = statistics.median(r[3] for r in results), statistics.median(r[4] for r in results)
        row("file size", f"{len(legit) / MB:.1f} MB ({outcome})")
        row("decoded content held (PNG bytes, heads, embeddings)", f"{content:.1f} MB")
        row("peak RSS added while opening", f"{peak:.0f} MB ({peak / content:.1f}× the content; target ≤ 4×)")
        row("tracemalloc peak while opening", f"{traced:.0f} MB ({traced / content:.1f}× the content)")
        row("time to open (median of 3)", f"{seconds:.2f} s CPU, {wall:.2f} s wall (target ≤ 3 s) "
                                          f"[CPU {', '.join(f'{r[3]:.2f}' for r in results)}]")

        header("Crafted files of issue 14 (each in a fresh process; target: refused, ≤ 500 MB)")
        for name, data in crafted_files(legit).items():
            path = tmp / "crafted.tmproject.zip"
            path.write_bytes(data)
            peak, traced, _content, seconds, _wall, outcome = child_open(path)
            row(name, f"{len(data) / MB:.2f} MB file: +{peak:.0f} MB RSS, {traced:.0f} MB traced, {seconds:.2f} s")
            row("", outcome)

        header("A 40-megapixel high-bit picture through image_to_array (target ≤ 3× its 8-bit RGB size, 114 MB)")
        rgb = 40e6 * 3 / MB
        for mode in ("I;16", "F"):
            path = tmp / f"big-{mode.replace(';', '')}.{'png' if mode == 'I;16' else 'tif'}"
            subprocess.run([sys.executable, "-c", PICTURE, str(path), mode], cwd=REPO, check=True, timeout=600)
            out = subprocess.run([sys.executable, "-c", DECODE, str(path)], cwd=REPO, capture_output=True, text=True,
                                 check=True, timeout=600)
            peak = float(out.stdout.split("RESULT")[-1])
            row(f"{mode} ({path.stat().st_size / MB:.1f} MB file)", f"+{peak:.0f} MB RSS ({peak / rgb:.1f}× the RGB size)")
    row("CPU", share.report())


if __name__ == "__main__":
    main()
