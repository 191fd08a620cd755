"""What switching the sidebar's language picker costs on a trained project (issue 15; target: at most 1 s).

A student opens the app in Korean, gathers 12 real rock and paper photos per class, trains 5 epochs and
stays on the Train page (its charts, lesson sentences and under-the-hood panel are the heaviest page a
trained project shows). The picker is then switched Korean → English → Korean …: each switch is one
script run of the whole app (AppTest, the same code a browser's run goes through, without the network).
Printed: the median, fastest and slowest switch, per direction and overall, and whether the median
meets the target. The first switch to a language also compiles its catalog when its ``.mo`` is
missing or older than the ``.po``: shown apart.

    python benchmarks/language_switch.py [--switches N]
"""

import argparse
import statistics
import time

import _common  # noqa: F401  (import order: streamlit_webrtc before TensorFlow)
from _common import REPO, header, row, train_dir

TARGET = 1.0  # seconds: the picker should feel immediate


def trained_app():
    import streamlit_webrtc
    from streamlit.testing.v1 import AppTest

    # the camera component cannot run under AppTest (as in tests/conftest.py): the Gather page draws nothing there
    streamlit_webrtc.webrtc_streamer = lambda **kw: None

    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=300)
    at.query_params["lang"] = "ko"
    at.run()
    sess = at.session_state["teachable_studio"]
    root = train_dir("rps_real")
    for old, cls, folder in zip(list(sess.project.counts()), ("바위", "보"), ("rock", "paper")):
        sess.project.rename_class(old, cls)
        files = sorted((root / folder).iterdir())[:12]
        list(sess.project.add_files((cls, f.name, f.read_bytes()) for f in files))
    at.switch_page("app_pages/train.py").run()
    at.number_input(key="cfg:epochs").set_value(5).run()
    next(b for b in at.button if b.key == "train:go").click().run()
    assert not at.exception and sess.current is not None, at.exception
    return at


def switch(at, lang: str) -> float:
    picker = next(w for w in at.sidebar.button_group if w.key == "ui:lang_picker")
    start = time.perf_counter()
    picker.set_value(lang).run()
    took = time.perf_counter() - start
    assert not at.exception, at.exception
    assert at.title[0].value == ("학습" if lang == "ko" else "Train"), at.title[0].value
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--switches", type=int, default=10, help="switches each way (default 10)")
    args = ap.parse_args()

    header("Language switch on a trained image project (Train page, AppTest)")
    start = time.perf_counter()
    at = trained_app()
    row("setup: open, gather 24 photos, train 5 epochs", f"{time.perf_counter() - start:.1f} s")
    first = switch(at, "en")
    row("first switch to English", f"{first:.2f} s")
    times = {"en": [], "ko": []}
    for _ in range(args.switches):
        times["ko"].append(switch(at, "ko"))
        times["en"].append(switch(at, "en"))
    for lang, name in (("ko", "English → Korean"), ("en", "Korean → English")):
        t = times[lang]
        row(name, f"median {statistics.median(t):.2f} s  (fastest {min(t):.2f}, slowest {max(t):.2f}, n={len(t)})")
    both = times["ko"] + times["en"]
    median = statistics.median(both)
    row("every switch", f"median {median:.2f} s  (target ≤ {TARGET:g} s: {'met' if median <= TARGET else 'NOT met'})")


if __name__ == "__main__":
    main()
