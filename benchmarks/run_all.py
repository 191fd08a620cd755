"""Run every benchmark in one process, in turn, then print their summary lines together.

The encoder is built once and the embedded train folders are shared (see ``_common``).
``--with-v1`` also measures accuracy with MobileNet v1 0.25; ``--sessions N`` sets how many
students the concurrency benchmark runs at once (default 8).
"""

from _common import header  # first: import order

import sys
import time
import traceback

import accuracy
import audio
import concurrency
import early_stopping
import embedding_throughput
import frame_latency
import head_training
import keypoint_latency
import memory
import memory_server
import occlusion
import store
import network_sweep
import sweep

BENCHMARKS = [
    ("embedding_throughput", embedding_throughput.main),
    ("head_training", head_training.main),
    ("sweep", sweep.main),
    ("network_sweep", network_sweep.main),
    ("frame_latency", frame_latency.main),
    ("accuracy", lambda: accuracy.main(
        ("mobilenet_v2_0.35", "mobilenet_v1_0.25") if "--with-v1" in sys.argv else ("mobilenet_v2_0.35",))),
    ("early_stopping", early_stopping.main),
    ("audio", audio.main),
    ("keypoint_latency", keypoint_latency.main),
    ("occlusion", occlusion.main),
    ("memory", memory.main),  # its own fresh process: what it measures is not mixed with the others
    ("memory_server", memory_server.main),
    ("store", store.main),  # the server's copy (tm_core.store): save and reopen of a 1,000-photo project  # a real server and Chromium (says so and skips without them)
    ("concurrency", lambda: concurrency.main(_option("--sessions", 8))),
]


def _option(name: str, default: int) -> int:
    """``name N`` from the command line, or ``default``."""
    args = sys.argv[1:]
    return int(args[args.index(name) + 1]) if name in args[:-1] else default


def main() -> None:
    lines = []
    start = time.perf_counter()
    for name, run in BENCHMARKS:
        try:
            lines += run()
        except Exception:  # noqa: BLE001  one broken benchmark must not hide the others' figures
            traceback.print_exc()
            lines.append(f"{name}: FAILED (traceback above)")
    header(f"Summary ({time.perf_counter() - start:.0f} s)")
    for line in lines:
        print(f"  {line}")


if __name__ == "__main__":
    main()
