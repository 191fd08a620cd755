"""Time of one "Where did it look?" heatmap: ``explain.occlusion_map`` on real photos.

MobileNetV2 α=0.35 and a head of the right shape (time does not depend on its weights). Each
map is the whole picture plus 7×7 grey-patch copies (patch 56, stride 28), encoded in one call;
also timed: a finer map (patch 32, stride 16: 13×13 copies), to show what a finer grid costs.
"""

from _common import CpuShare, encoder, header, media, row, train_dir  # first: import order

import time

import numpy as np

from tm_core import explain
from tm_core.training import init_head

PICTURES = 6
TARGET_S = 2.0
SETTINGS = [(56, 28), (32, 16)]


def main() -> list[str]:
    enc = encoder("mobilenet_v2_0.35")
    photos = []
    for name in ("rps_real", "clothing4"):
        listing = media.list_folder(train_dir(name))
        photos += [media.image_to_array(f.source) for f in listing.files[:: max(1, len(listing.files) // 3)][:3]]
    head = init_head(enc.dim, 3, 100, seed=0)
    explain.occlusion_map(enc, head, photos[0])  # warm-up
    share = CpuShare()
    seconds = {}
    for patch, stride in SETTINGS:
        times = []
        for image in photos[:PICTURES]:
            start = time.perf_counter()
            m = explain.occlusion_map(enc, head, image, patch=patch, stride=stride)
            times.append(time.perf_counter() - start)
        seconds[(patch, stride)] = (float(np.median(times)), max(times), m.grid.shape)
    header(f"Occlusion heatmap: {PICTURES} real photos (rps_real, clothing4), MobileNetV2 α=0.35")
    row("CPU during the measurements", share.report())
    for (patch, stride), (med, worst, grid) in seconds.items():
        row(f"patch {patch}, stride {stride}: {grid[0]}×{grid[1]} + 1 pictures", f"median {med:.2f} s, worst {worst:.2f} s")
    med, worst, _ = seconds[SETTINGS[0]]
    summary = [f"occlusion heatmap (app's 7×7): median {med:.2f} s, worst {worst:.2f} s a picture "
               f"({'meets' if worst <= TARGET_S else 'misses'} ≤{TARGET_S:.0f} s)"]
    print("  " + summary[0])
    return summary


if __name__ == "__main__":
    main()
