"""Many students at once against one real server: the concurrency test and benchmark share this.

Each student is a browser context (its own Streamlit session) that uploads a zip of real photos
whose class names carry the student's name (``ada_rock``), opens Train, trains with the default
settings and waits for the results. An extra "prober" context switches between two pages again
and again and times each switch: on an idle server, then while the students train.

Everything runs in one thread with Playwright's sync API: each student is a small state machine
that is stepped in turn and never waits long, so all of them progress at once and the server sees
them all together. The server's memory (VmRSS of its whole process group) is sampled in a
background thread.

No Streamlit or TensorFlow is imported here; :func:`expected_result` imports ``tm_core`` (and so
TensorFlow) only when called, after ``streamlit_webrtc`` (the import-order trap in docs/testing.md).
"""

from __future__ import annotations

import io
import os
import re
import statistics
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Error as PlaywrightError

SHARED = Path(__file__).resolve().parents[3] / "shared"
DATASETS = SHARED / "datasets"
STUDENTS = ("ada", "bo", "cy", "dee", "eli", "fay", "gus", "hal", "ivy", "jo", "kai", "lu", "max", "ned", "oz", "pia")
# Which classes of which set each student takes, in turn: rock-paper-scissors, then clothing with 2, 3, 4 classes.
RPS = ("rps_real", ("rock", "paper", "scissors"))
CLOTHING = [("clothing4", ("hat", "shoes")), ("clothing4", ("pants", "t-shirt", "hat")),
            ("clothing4", ("hat", "pants", "shoes", "t-shirt")), ("clothing4", ("shoes", "pants"))]

SIDEBAR = "[data-testid='stSidebar']"
MAIN = "[data-testid='stMain']"
ERRORS = "[data-testid='stException'], [data-testid='stAlertContentError']"


@dataclass
class Plan:
    """One student's upload: class folder name -> photo files (distinct from every other student's)."""

    student: str
    dataset: str
    classes: dict[str, list[Path]]

    @property
    def total(self) -> int:
        return sum(len(f) for f in self.classes.values())

    def zip_bytes(self) -> bytes:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            for name, files in self.classes.items():
                for f in files:
                    z.writestr(f"{self.student}/{name}/{f.name}", f.read_bytes())
        return buf.getvalue()


def plans(n: int, photos: int = 50, first: int = 0) -> list[Plan]:
    """``n`` students' uploads of ``photos`` photos each, alternating rps and clothing subsets.

    No photo is used twice (each class folder is consumed in order); ``first`` skips that many
    students' names (e.g. the warm-up session is another student)."""
    taken: dict[tuple[str, str], int] = {}
    out = []
    clothing = 0
    for i in range(first, first + n):
        if i >= len(STUDENTS):
            raise ValueError(f"at most {len(STUDENTS)} students")
        if i % 2 == 0:
            dataset, classes = RPS
        else:
            dataset, classes = CLOTHING[clothing % len(CLOTHING)]
            clothing += 1
        per, extra = divmod(photos, len(classes))
        chosen = {}
        for j, cls in enumerate(classes):
            k = per + (j < extra)
            files = sorted((DATASETS / dataset / "train" / cls).iterdir())
            start = taken.get((dataset, cls), 0)
            if start + k > len(files):
                raise ValueError(f"not enough {dataset}/{cls} photos for {n} students of {photos} photos")
            taken[(dataset, cls)] = start + k
            chosen[f"{STUDENTS[i]}_{cls}"] = files[start:start + k]
        out.append(Plan(STUDENTS[i], dataset, chosen))
    return out


# --- the server's memory -----------------------------------------------------------------------------


def group_rss_mb(pgid: int) -> float:
    """VmRSS of every process in process group ``pgid`` (the server and any children), in MB."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[2]) != pgid:  # fields after the name: state ppid pgrp
                continue
            for line in Path(entry.path, "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except (OSError, ValueError, IndexError):
            continue  # a process that ended meanwhile
    return total / 1024


def _procs() -> dict[int, tuple[int, int, float]]:
    """pid -> (parent pid, process group, CPU seconds used so far) of every process now."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                f = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
                out[int(entry.name)] = (int(f[1]), int(f[2]), (int(f[11]) + int(f[12])) / tick)
            except (OSError, ValueError, IndexError):
                continue
    return out


def cpu_seconds(server_pgid: int) -> tuple[float, float]:
    """CPU seconds used so far by (the server's process group, this process's other descendants: the
    browser and Playwright's driver). Processes that ended are not counted."""
    procs = _procs()
    server = sum(cpu for pgid, cpu in ((g, c) for _p, g, c in procs.values()) if pgid == server_pgid)
    children: dict[int, list[int]] = {}
    for pid, (ppid, _g, _c) in procs.items():
        children.setdefault(ppid, []).append(pid)
    todo, browser = list(children.get(os.getpid(), [])), 0.0
    while todo:
        pid = todo.pop()
        if procs[pid][1] != server_pgid:
            browser += procs[pid][2]
            todo += children.get(pid, [])
    return server, browser


class RssSampler(threading.Thread):
    """Samples :func:`group_rss_mb` every ``every`` seconds until :meth:`stop`."""

    def __init__(self, pgid: int, every: float = 0.5):
        super().__init__(daemon=True)
        self.pgid, self.every = pgid, every
        self.samples: list[tuple[float, float]] = []
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.samples.append((time.monotonic(), group_rss_mb(self.pgid)))
            self._stop_event.wait(self.every)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(5)

    def between(self, t0: float, t1: float) -> list[float]:
        return [mb for t, mb in self.samples if t0 <= t <= t1]

    def now(self) -> float:
        return group_rss_mb(self.pgid)


# --- one student ----------------------------------------------------------------------------------------


@dataclass
class Outcome:
    student: str
    classes: list[str]
    seconds: float | None = None  # from the zip upload to the results
    accuracy: str | None = None  # "Test accuracy" as the page shows it
    held_out: int | None = None  # how many samples "Under the hood" says were held out
    problems: list[str] = field(default_factory=list)
    retries: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.accuracy is not None and not self.problems


class Student:
    """Gather (zip upload) → Train page → Train model → results, one short step at a time."""

    def __init__(self, browser, url: str, plan: Plan, zip_path: Path, timeout: float = 600):
        self.plan, self.zip_path, self.url = plan, zip_path, url
        self.context = browser.new_context(viewport={"width": 1280, "height": 1000})
        self.page = self.context.new_page()
        self.outcome = Outcome(plan.student, list(plan.classes))
        self.state, self.since, self.t_upload = "open", time.monotonic(), None
        self.deadline = time.monotonic() + timeout
        self.uploads = self.train_clicks = 0
        self.expander_clicked = 0.0

    @property
    def done(self) -> bool:
        return self.state in ("done", "failed")

    @property
    def busy(self) -> bool:
        """Uploading or training (what loads the server)."""
        return self.state in ("uploading", "to_train", "training")

    def _fail(self, why: str) -> None:
        self.outcome.problems.append(why)
        self.state = "failed"

    def _go(self, state: str) -> None:
        self.state, self.since = state, time.monotonic()

    def _waited(self) -> float:
        return time.monotonic() - self.since

    def step(self) -> None:
        """Advance by at most one short action; never waits more than a few seconds."""
        if self.done:
            return
        page = self.page
        if time.monotonic() > self.deadline:
            self._fail(f"not finished in time (stuck in {self.state!r}); page says: {main_text(page)[-400:]!r}")
            return
        if page.locator(ERRORS).count():
            self._fail(f"error on the page: {page.locator(ERRORS).first.inner_text()[:400]!r}")
            return
        if self.state == "open":
            page.goto(self.url, wait_until="commit", timeout=60_000)
            self._go("gather")
        elif self.state == "gather":
            if page.get_by_role("heading", name="Gather examples").is_visible() and self._dropzone_open():
                self._upload()
            elif self._waited() > 120:
                self._fail(f"the Gather page did not show its zip upload; page says: {main_text(page)[-400:]!r}")
        elif self.state == "uploading":
            if page.locator(SIDEBAR).get_by_text(re.compile(rf"· {self.plan.total} samples")).is_visible():
                page.get_by_role("link", name="2 · Train").click(timeout=10_000)
                self._go("to_train")
            elif self._waited() > 90:  # not taken (seen rarely on a loaded machine): upload again, as a student would
                if self.uploads >= 2:
                    self._fail("the zip was not taken in two uploads")
                else:
                    self.outcome.retries.append("upload")
                    self._go("gather")
        elif self.state == "to_train":
            train = page.get_by_role("button", name="Train model")
            if page.get_by_role("heading", name="Train", exact=True).is_visible() and train.is_enabled():
                train.click(timeout=10_000)
                self.train_clicks += 1
                self._go("training")
            elif self._waited() > 30:  # a click during a rerun can be lost
                self.outcome.retries.append("open Train")
                page.get_by_role("link", name="2 · Train").click(timeout=10_000)
                self._go("to_train")
        elif self.state == "training":
            if page.get_by_text("Test accuracy", exact=True).is_visible():
                self._results()
            elif self._waited() > 60 and not page.locator("[data-testid='stProgress']").count():
                if self.train_clicks >= 3:
                    self._fail("training did not start after three clicks on Train model")
                else:  # the click was lost: nothing is training
                    self.outcome.retries.append("Train model")
                    self._go("to_train")

    def _expander(self):
        return self.page.locator("[data-testid='stExpander']").filter(has_text="Import a zip of class folders")

    def _dropzone_open(self) -> bool:
        """Whether the zip uploader shows; if not, open its expander (at most every 3 s: a rerun may redraw it)."""
        expander = self._expander()
        if expander.locator("[data-testid='stFileUploaderDropzone']").is_visible():
            return True
        if expander.count() == 1 and time.monotonic() - self.expander_clicked > 3:
            expander.get_by_text("Import a zip of class folders").click(timeout=10_000)
            self.expander_clicked = time.monotonic()
        return False

    def _upload(self) -> None:
        page = self.page
        button = self._expander().locator("[data-testid='stFileUploaderDropzone']").get_by_role(
            "button", name="Upload", exact=True)
        try:
            with page.expect_file_chooser(timeout=10_000) as chooser:
                button.click(timeout=5_000)
            chooser.value.set_files(str(self.zip_path))
        except PlaywrightError:  # a rerun redrew the expander closed meanwhile: open it again, then retry
            self.outcome.retries.append("upload button")
            return
        self.uploads += 1
        if self.t_upload is None:
            self.t_upload = time.monotonic()
        self._go("uploading")

    def _results(self) -> None:
        out, page = self.outcome, self.page
        out.seconds = time.monotonic() - self.t_upload
        metric = page.locator("[data-testid='stMetric']").filter(has_text="Test accuracy")
        out.accuracy = metric.locator("[data-testid='stMetricValue']").inner_text().strip()
        page.get_by_text("Under the hood").wait_for(timeout=30_000)
        text = main_text(page)
        sidebar = page.locator(SIDEBAR).inner_text()
        held = re.search(r"(\d+) samples were held out", text)
        out.held_out = int(held[1]) if held else None
        if held is None:
            out.problems.append("the results do not say how many samples were held out")
        for name, files in self.plan.classes.items():
            if not re.search(rf"{re.escape(name)}: {len(files)} samples", sidebar):
                out.problems.append(f"the sidebar does not show {name}: {len(files)} samples: {sidebar!r}")
            if name not in text:
                out.problems.append(f"the results do not name {name}")
        others = [s for s in STUDENTS if s != self.plan.student and re.search(rf"\b{s}_", text + sidebar)]
        if others:
            out.problems.append(f"another student's classes show here: {others}")
        self._go("done")

    def close(self) -> None:
        self.context.close()


# --- the prober: a small interaction, timed ---------------------------------------------------------------


class Prober:
    """An idle student who switches between the Gather and Train pages and times each switch
    (click to the new page's heading), noting how many students were busy at the click."""

    PAGES = (("2 · Train", "Train"), ("1 · Gather", "Gather examples"))

    def __init__(self, browser, url: str):
        self.context = browser.new_context(viewport={"width": 1280, "height": 1000})
        self.page = self.context.new_page()
        self.page.goto(url, wait_until="commit", timeout=60_000)
        self.page.get_by_role("heading", name="Gather examples").wait_for(timeout=120_000)
        self.next = 0
        self.clicked: float | None = None
        self.busy_at_click = 0
        self.switches: list[tuple[float, int]] = []  # (seconds, students busy when clicked)
        self.lost = 0
        self.errors: list[str] = []

    def step(self, busy: int = 0) -> float | None:
        """Click the next link, or see whether the page it opens shows; returns a finished switch's seconds."""
        link, heading = self.PAGES[self.next]
        page = self.page
        if page.locator(ERRORS).count():
            self.errors.append(page.locator(ERRORS).first.inner_text()[:400])
        if self.clicked is None:
            page.get_by_role("link", name=link).click(timeout=10_000)
            self.clicked, self.busy_at_click = time.monotonic(), busy
            return None
        if page.get_by_role("heading", name=heading, exact=True).is_visible():
            seconds = time.monotonic() - self.clicked
            self.switches.append((seconds, self.busy_at_click))
            self.clicked, self.next = None, 1 - self.next
            return seconds
        if time.monotonic() - self.clicked > 120:  # lost click: count it, click again (its time is not kept)
            self.lost += 1
            self.clicked = None
        return None

    def run_idle(self, switches: int, pause: float = 0.3) -> list[float]:
        """``switches`` page switches on an otherwise idle server (blocking); their seconds."""
        got = []
        while len(got) < switches:
            seconds = self.step(0)
            if seconds is not None:
                got.append(seconds)
                time.sleep(pause)
            else:
                time.sleep(0.02)
        return got

    def close(self) -> None:
        self.context.close()


# --- the whole run ---------------------------------------------------------------------------------------


def run_students(browser, url: str, plans_: list[Plan], tmp: Path, prober: Prober | None = None,
                 timeout: float = 600, pause: float = 0.05) -> list[Student]:
    """Start every student at once and step them (and the prober, while any is busy) until all are done."""
    students = []
    for plan in plans_:
        path = tmp / f"{plan.student}.zip"
        path.write_bytes(plan.zip_bytes())
        students.append(Student(browser, url, plan, path, timeout))
    while not all(s.done for s in students):
        for s in students:
            s.step()
        busy = sum(s.busy for s in students)
        if prober is not None and (busy or prober.clicked is not None):
            prober.step(busy)
        time.sleep(pause)
    return students


def main_text(page) -> str:
    try:
        return page.locator(MAIN).inner_text(timeout=5_000)
    except Exception:  # noqa: BLE001 - Playwright's TimeoutError: only for messages
        return ""


def median(xs) -> float | None:
    xs = list(xs)
    return statistics.median(xs) if xs else None


# --- what the app should show: the same training in this process ------------------------------------------


def expected_result(plan: Plan, encoder) -> tuple[str, int]:
    """(held-out accuracy as the page prints it, held-out count) of training ``plan``'s zip exactly as the
    app does with default settings: same decoding, sample order, split, seed and head training."""
    from tm_core import media
    from tm_core.errors import InputError
    from tm_core.evaluation import evaluate_run
    from tm_core.features import FeatureCache
    from tm_core.project import Project
    from tm_core.training import TrainConfig, grouped_split, train

    project = Project(class_names=[])
    for item in project.add_listing(media.read_zip(plan.zip_bytes(), f"{plan.student}.zip")):
        if isinstance(item, InputError):
            raise item
    ds = project.dataset()
    cache = FeatureCache()
    cache.embed(encoder, ds.samples)
    features = cache.matrix(encoder.name, ds.samples)
    config = TrainConfig()
    split = grouped_split(ds.labels, config.test_fraction, config.seed, ds.groups, ds.test_only)
    run = train(features, ds.labels, ds.class_names, config, split=split)
    shown = run.kept_stats()
    evaluate_run(run, features, ds.labels)  # as the app does (must not fail)
    return f"{shown.test_accuracy:.0%}", len(split.test)
