"""Many students at once (issue 7): three sessions upload and train together on one real server.

Each student's zip holds different real photos under class names carrying the student's name;
each must end with its own classes and the very held-out accuracy that the same training gives
in this process (so nothing was mixed between sessions), and no error. A fourth, idle student
keeps switching pages while they train: each switch must complete (no timing threshold).
The bigger run, with figures, is benchmarks/concurrency.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .many_sessions import Prober, expected_result, plans, run_students

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "streamlit_app.py"
SESSIONS, PHOTOS = 3, 30


@pytest.fixture(scope="module")
def image_encoder():
    from tm_core.encoders import get_encoder

    return get_encoder("mobilenet_v2_0.35")


def test_three_students_train_at_once(server, browser, tmp_path, monkeypatch, image_encoder):
    monkeypatch.setenv("TM_DATA_DIR", str(tmp_path / "data"))
    srv = server(APP)
    prober = Prober(browser, srv.url)  # also the first session: the server has imported TensorFlow after it
    idle = prober.run_idle(2)
    chosen = plans(SESSIONS, PHOTOS)
    students = run_students(browser, srv.url, chosen, tmp_path, prober=prober, timeout=240)
    try:
        for s in students:
            out = s.outcome
            assert out.ok, f"{out.student}: {out.problems}"
            accuracy, held_out = expected_result(s.plan, image_encoder)
            assert (out.accuracy, out.held_out) == (accuracy, held_out), out.student
            print(f"{out.student}: {out.classes} accuracy {out.accuracy} in {out.seconds:.1f} s, retries {out.retries}")
        # The idle student's page switches all completed while the others trained.
        busy = [sec for sec, n in prober.switches[len(idle):] if n]
        assert busy, "no page switch happened while the students were busy"
        assert not prober.errors, prober.errors
        print(f"page switches: idle {idle}, while busy {busy}, lost clicks {prober.lost}")
    finally:
        for s in students:
            s.close()
        prober.close()
