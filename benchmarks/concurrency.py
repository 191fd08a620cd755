"""Many students at once (issue 7): N browser sessions upload 50 photos each and train on one real server.

One ``streamlit run`` server on 127.0.0.1 (a temporary TM_DATA_DIR) and one headless Chromium
(Playwright; see docs/testing.md). A first student uploads and trains alone, so the shared
encoder is loaded and the baseline memory includes it. Then an idle student times page switches
(Gather <-> Train, click to the new page's heading) on the idle server; then N students start at
once, each in its own browser context: a zip of 50 real photos (rock-paper-scissors or clothing,
different photos and class names per student), Train with the default settings, results. The
idle student keeps switching pages meanwhile.

Checked per student: its own class names and no other student's, a held-out accuracy equal to the
same training done in this process (nothing mixed between sessions), no error on the page.
Printed: the server's memory (VmRSS of its process group, sampled every 0.5 s): baseline, peak,
with all sessions done, per session; seconds from upload to results per student; page-switch
latency idle vs while they train (medians). ``--sessions N`` (default 8), ``--photos P`` (50).
"""

from _common import REPO, CpuShare, encoder, header, row  # first: import order

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(REPO / "tests"))

from e2e.conftest import Server, launch
from e2e.many_sessions import (
    Prober, RssSampler, cpu_seconds, expected_result, median, plans, run_students)

APP = REPO / "streamlit_app.py"
LIMIT_MB = 2.5 * 1024  # Streamlit Community Cloud's largest allowance (2.5 GB)
IDLE_SWITCHES = 10


def settle(sampler: RssSampler, seconds: float = 3.0) -> float:
    """Median RSS over the next ``seconds`` (the server is left alone meanwhile)."""
    t0 = time.monotonic()
    time.sleep(seconds)
    return statistics.median(sampler.between(t0, time.monotonic()) or [sampler.now()])


def main(sessions: int = 8, photos: int = 50) -> list[str]:
    from playwright.sync_api import sync_playwright

    header(f"Many students at once: {sessions} sessions × {photos} photos, train with default settings")
    tmp = Path(tempfile.mkdtemp(prefix="tm_concurrency_"))
    os.environ["TM_DATA_DIR"] = str(tmp / "data")
    everyone = plans(sessions + 1, photos)
    students_plans, warm_plan = everyone[:sessions], everyone[-1]
    cpu = CpuShare()
    srv = Server(APP)
    sampler = None
    try:
        srv.wait_healthy()
        sampler = RssSampler(srv.proc.pid)
        sampler.start()
        with sync_playwright() as p:
            browser = launch(p)
            # Warm-up: one student loads the encoder and trains alone.
            t0 = time.monotonic()
            (warm,) = run_students(browser, srv.url, [warm_plan], tmp, timeout=300)
            warm.close()
            if not warm.outcome.ok:
                raise RuntimeError(f"the warm-up session failed: {warm.outcome.problems}")
            row("warm-up session (loads the encoder, trains)", f"{time.monotonic() - t0:.1f} s")
            prober = Prober(browser, srv.url)
            idle = prober.run_idle(IDLE_SWITCHES)
            baseline = settle(sampler)
            t_start, cpu_start = time.monotonic(), cpu_seconds(srv.proc.pid)
            students = run_students(browser, srv.url, students_plans, tmp, prober=prober, timeout=900)
            t_done, cpu_done = time.monotonic(), cpu_seconds(srv.proc.pid)
            peak = max(sampler.between(t_start, t_done) or [0.0])
            while prober.clicked is not None:  # let the last switch finish before the server is left alone
                prober.step(0)
                time.sleep(0.05)
            done_rss = settle(sampler)
            for s in students:
                s.close()
            prober.close()
            closed_rss = settle(sampler, 10.0)
            browser.close()
    finally:
        if sampler is not None:
            sampler.stop()
        log = srv.log()
        srv.stop()
    wall = t_done - t_start
    load = cpu.report()

    header("Per student")
    ok = 0
    for s in students:
        out = s.outcome
        expected = expected_result(s.plan, encoder()) if out.accuracy is not None else None
        same = expected is not None and (out.accuracy, out.held_out) == expected
        problems = list(out.problems) + ([] if same or expected is None else
                                         [f"expected held-out accuracy {expected[0]} of {expected[1]}, page shows "
                                          f"{out.accuracy} of {out.held_out}"])
        ok += not problems
        seconds = f"{out.seconds:5.1f} s" if out.seconds is not None else "  –  "
        row(f"{out.student} ({s.plan.dataset}, {len(out.classes)} classes)",
            f"upload to results {seconds}, held-out accuracy {out.accuracy} of {out.held_out}"
            + (" (= trained alone)" if same else "") + (f"; retries {out.retries}" if out.retries else "")
            + (f"; PROBLEMS: {problems}" if problems else ""))
    if ok < len(students) or "Traceback" in log:
        print("--- server log (tail) ---\n" + log[-3000:])

    times = [s.outcome.seconds for s in students if s.outcome.seconds is not None]
    busy = [sec for sec, n in prober.switches[IDLE_SWITCHES:] if n]
    header("Summary")
    row("sessions finished with their own results", f"{ok} of {sessions} (none errored: {ok == sessions})")
    row("server RSS: baseline (encoder loaded, idle)", f"{baseline:.0f} MB")
    row("server RSS: peak while they worked", f"{peak:.0f} MB (limit {LIMIT_MB:.0f} MB: "
        f"{'within' if peak <= LIMIT_MB else 'OVER'})")
    row("server RSS: all sessions done (still open)", f"{done_rss:.0f} MB")
    row("per session: (done - baseline) / N", f"{(done_rss - baseline) / sessions:.0f} MB")
    row("per session: (peak - baseline) / N", f"{(peak - baseline) / sessions:.0f} MB")
    row("server RSS 10 s after every session closed", f"{closed_rss:.0f} MB")
    row("upload to results: median, min, max", f"{median(times):.1f} s, {min(times):.1f}, {max(times):.1f} s"
        if times else "–")
    row("all sessions, first upload to last result", f"{wall:.1f} s")
    row("page switch, idle server: median (n)", f"{median(idle):.2f} s ({len(idle)})")
    row("page switch while they train: median, max (n)",
        f"{median(busy):.2f} s, {max(busy):.2f} s ({len(busy)}); lost clicks {prober.lost}" if busy else "none measured")
    row("cores used while they worked: server, browser", f"{(cpu_done[0] - cpu_start[0]) / wall:.2f}, "
        f"{(cpu_done[1] - cpu_start[1]) / wall:.2f} (of {os.cpu_count()})")
    row("CPU during the whole benchmark", load)
    return [
        f"concurrency: {ok}/{sessions} sessions × {photos} photos OK; RSS baseline {baseline:.0f} MB, "
        f"peak {peak:.0f} MB, done {done_rss:.0f} MB ({(done_rss - baseline) / sessions:.0f} MB/session, "
        f"peak {(peak - baseline) / sessions:.0f} MB/session)",
        f"concurrency: upload to results median {median(times) or 0:.1f} s (max {max(times or [0]):.1f} s); page switch "
        f"idle {median(idle):.2f} s, while training {median(busy) or 0:.2f} s (max {max(busy or [0]):.2f} s)",
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--photos", type=int, default=50)
    args = parser.parse_args()
    for line in main(args.sessions, args.photos):
        print(f"  {line}")
