"""Memory of a real Streamlit server while one browser session gathers 1,000 photos and trains.

``streamlit run streamlit_app.py`` on 127.0.0.1 (the browser tests' ``Server``), driven by a headless
Debian Chromium (Playwright) as a student would: a first, small session (36 photos, one training)
loads TensorFlow and the encoder and is closed; then the server's resident memory (VmRSS of its
process) is read before a second session imports a zip of the same 1,000 photos as
``memory.py`` (850 real photos of rps_real and clothing4, 150 mirrored copies), after the import,
and after one training with the default settings; and again after that session is closed.
For the deploy notes (docs/deploy.md) it also reads the server's RSS when it is idle (started, no
browser yet), after the warm-up (the baseline once anyone has used it: TensorFlow and the network
loaded), and while a class-sized student (36 photos, trained) is still open: the per-student growth.
Needs /usr/bin/chromium and Playwright; without them it says so and measures nothing.
"""

from _common import IMAGE_SETS, REPO, header, row, train_dir  # first: import order

import re
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from memory import MB, PROJECT_SIZE, TARGET_MB, mirrored_files

sys.path.insert(0, str(REPO / "tests"))
from e2e.conftest import CHROMIUM, Server, launch

WARM_PER_CLASS = 12  # 36 photos: more than one batch of the encoder (32), so its one-time growth is warm-up
IMPORT_TIMEOUT_S = 600
TRAIN_TIMEOUT_S = 900


def server_rss(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM: the peak so far) of process ``pid``, in bytes."""
    text = Path(f"/proc/{pid}/status").read_text()
    return tuple(int(re.search(rf"^{key}:\s+(\d+) kB", text, re.M).group(1)) * 1024 for key in ("VmRSS", "VmHWM"))


def photos_zip(path: Path, items) -> Path:
    """A zip of class folders (``photos/<class>/<file>``) of ``(class, name, path)`` items."""
    with zipfile.ZipFile(path, "w") as z:
        for cls, name, source in items:
            z.write(source, f"photos/{cls}/{name}")
    return path


def session(browser, url: str, zip_path: Path, total: int, on_stage=lambda stage: None) -> None:
    """One student: open the app, import the zip, train with the defaults; ``on_stage`` after each step."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    try:
        page.goto(url)
        page.get_by_role("heading", name="Gather examples").wait_for(timeout=120_000)
        expander = page.locator("[data-testid='stExpander']").filter(has_text="Import a zip of class folders")
        expander.wait_for(timeout=60_000)
        dropzone = expander.locator("[data-testid='stFileUploaderDropzone']")
        if not dropzone.is_visible():
            expander.get_by_text("Import a zip of class folders").click()
        button = dropzone.get_by_role("button", name="Upload", exact=True)
        button.wait_for(timeout=30_000)
        with page.expect_file_chooser() as chooser:
            button.click()
        chooser.value.set_files(str(zip_path))
        sidebar = page.locator("[data-testid='stSidebar']")
        deadline = time.monotonic() + IMPORT_TIMEOUT_S
        while f"· {total} samples" not in sidebar.inner_text():
            if time.monotonic() > deadline:
                raise TimeoutError(f"the zip was not imported; the page says: {sidebar.inner_text()!r} "
                                   f"{page.locator('[data-testid=stMain]').inner_text()[:1500]!r}")
            time.sleep(1)
        on_stage("imported")
        for _ in range(3):  # a click during a rerun can be lost
            page.get_by_role("link", name="2 · Train").click()
            try:
                page.get_by_role("heading", name="Train", exact=True).wait_for(timeout=20_000)
                break
            except Exception:  # noqa: BLE001 - Playwright's TimeoutError: click again
                continue
        page.get_by_role("button", name="Train model").click()
        page.get_by_role("heading", name="Results").wait_for(timeout=TRAIN_TIMEOUT_S * 1000)
        on_stage("trained")
    finally:
        context.close()


def main() -> list[str]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return ["memory_server: not measured (Playwright is not installed)"]
    if not CHROMIUM.exists():
        return [f"memory_server: not measured ({CHROMIUM} is not installed)"]
    header(f"Memory of a Streamlit server: one browser session imports {PROJECT_SIZE:,} photos and trains")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        originals = [(f.parent.name, f.name, f) for name in IMAGE_SETS for f in sorted(train_dir(name).glob("*/*"))
                     if f.is_file()]
        mirrored = mirrored_files(tmp, PROJECT_SIZE - len(originals))
        big = photos_zip(tmp / "photos.zip", originals + mirrored)
        warm = photos_zip(tmp / "warm.zip", [x for c in ("rock", "paper", "scissors")
                                             for x in [y for y in originals if y[0] == c][:WARM_PER_CLASS]])
        row("zip of the photos", f"{big.stat().st_size / MB:.0f} MB, {PROJECT_SIZE} files")
        srv = Server(REPO / "streamlit_app.py")
        figures: dict[str, tuple[int, int]] = {}
        try:
            srv.wait_healthy()
            time.sleep(3)
            figures["idle"] = server_rss(srv.proc.pid)
            with sync_playwright() as p:
                browser = launch(p, fake_video=False)
                try:
                    start = time.perf_counter()
                    session(browser, srv.url, warm, 3 * WARM_PER_CLASS)
                    row(f"warm-up session ({3 * WARM_PER_CLASS} photos, trained; closed)", f"{time.perf_counter() - start:.0f} s")
                    time.sleep(5)
                    figures["warm"] = server_rss(srv.proc.pid)
                    session(browser, srv.url, warm, 3 * WARM_PER_CLASS,
                            lambda stage: figures.__setitem__(f"class {stage}", server_rss(srv.proc.pid)))
                    time.sleep(5)
                    figures["before"] = server_rss(srv.proc.pid)
                    start = time.perf_counter()
                    stamps = {}

                    def stage(name: str) -> None:
                        figures[name] = server_rss(srv.proc.pid)
                        stamps[name] = time.perf_counter() - start

                    session(browser, srv.url, big, PROJECT_SIZE, stage)
                    time.sleep(5)
                    figures["closed"] = server_rss(srv.proc.pid)
                finally:
                    browser.close()
        except Exception:
            print(srv.log()[-5000:])
            raise
        finally:
            srv.stop()
    before, warm = figures["before"][0], figures["warm"][0]
    row("server RSS when idle (started, no browser yet)", f"{figures['idle'][0] / MB:.0f} MB")
    row("after a first student (TensorFlow and the network loaded; closed)", f"{warm / MB:.0f} MB")
    row(f"a class-sized student ({3 * WARM_PER_CLASS} photos) while open, imported",
        f"+{(figures['class imported'][0] - warm) / MB:.0f} MB")
    row("the same student while open, trained", f"+{(figures['class trained'][0] - warm) / MB:.0f} MB")
    row("5 s after that student closed", f"+{(before - warm) / MB:.0f} MB")
    row("server RSS before the session", f"{before / MB:.0f} MB (after the warm-up session)")
    row(f"after importing the zip ({stamps['imported']:.0f} s)",
        f"{figures['imported'][0] / MB:.0f} MB (+{(figures['imported'][0] - before) / MB:.0f} MB)")
    row(f"after training ({stamps['trained']:.0f} s from the start)",
        f"{figures['trained'][0] / MB:.0f} MB (+{(figures['trained'][0] - before) / MB:.0f} MB; "
        f"target ≤ {TARGET_MB} MB)")
    row("peak RSS of the server (VmHWM)", f"{figures['trained'][1] / MB:.0f} MB")
    row("5 s after the browser closed the session", f"{figures['closed'][0] / MB:.0f} MB")
    return [f"memory_server: idle {figures['idle'][0] / MB:.0f} MB, baseline after a first student "
            f"{warm / MB:.0f} MB, a class-sized student (36 photos, trained, open) "
            f"+{(figures['class trained'][0] - warm) / MB:.0f} MB",
            f"memory_server: one browser session with {PROJECT_SIZE} photos, trained, adds "
            f"{(figures['trained'][0] - before) / MB:.0f} MB to the server's RSS (target ≤ {TARGET_MB} MB; "
            f"+{(figures['imported'][0] - before) / MB:.0f} MB after the import; peak "
            f"{figures['trained'][1] / MB:.0f} MB)"]


if __name__ == "__main__":
    for line in main():
        print(line)
