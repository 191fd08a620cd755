"""A sweep over the pretrained network, as the Experiments page runs it: what the second network costs.

rps_real/train (450 photos, imported as the app holds them: PNG samples) embedded by MobileNetV2
0.35 first, as Train would have; then the sweep learning rate 0.00001, 0.001, 0.01, 0.5 × network
(MobileNetV2 0.35, MobileNet v1 0.25), 50 epochs: MobileNet v1 0.25 is loaded (its LiteRT copy
converted first, in an empty download cache, as on a fresh server; then from the cache) and
embeds the 450 photos; the 8 heads train on one split. Parts timed apart; held-out accuracy per
cell printed (one seed, so differences of a few points are chance).
"""

from _common import CpuShare, Project, decoded_samples, header, media, row, train_dir  # first: import order

import os
import tempfile
import time

from tm_core import grid, workflow
from tm_core.encoders import get_encoder
from tm_core.session import Session
from tm_core.training import TrainConfig

NETWORKS = ("mobilenet_v2_0.35", "mobilenet_v1_0.25")
RATES = (0.00001, 0.001, 0.01, 0.5)
EPOCHS = 50


def main() -> list[str]:
    share = CpuShare()
    project = Project(class_names=[])
    list(decoded_samples(media.list_folder(train_dir("rps_real")), project))
    config = TrainConfig(epochs=EPOCHS)
    first = get_encoder(NETWORKS[0])
    session = Session(project=project, config=config, encoder_name=first.name)
    start = time.perf_counter()
    prepared = workflow.prepare(project, session.cache, first, config)
    first_embed = time.perf_counter() - start

    timings = {}
    cache_dir = os.environ.get("TM_CACHE_DIR")
    with tempfile.TemporaryDirectory() as empty:
        os.environ["TM_CACHE_DIR"] = empty  # a fresh server's cache: the LiteRT copy is converted
        start = time.perf_counter()
        get_encoder(NETWORKS[1])
        timings["load, converting"] = time.perf_counter() - start
        start = time.perf_counter()
        other = get_encoder(NETWORKS[1])  # the converted file now in the cache
        timings["load, converted file cached"] = time.perf_counter() - start
    if cache_dir is None:
        os.environ.pop("TM_CACHE_DIR")
    else:
        os.environ["TM_CACHE_DIR"] = cache_dir

    def prepare_network(name: str):
        start = time.perf_counter()
        ready = workflow.prepare(project, session.cache, other, config)
        timings["embedding 450 photos"] = time.perf_counter() - start
        return ready

    spec = grid.GridSpec({"learning_rate": RATES, "encoder": NETWORKS}).validate(config)
    start = time.perf_counter()
    number = workflow.grid_sweep(session, prepared, spec, prepare_network=prepare_network)
    whole = time.perf_counter() - start
    training = whole - timings["embedding 450 photos"]
    pairs, labels = workflow.grid_results(session, number)
    cells = grid.cell_table(grid.run_table(pairs, labels), list(spec.axes))

    header(f"Network sweep: {len(project.dataset().samples)} photos (rps_real), {spec.runs} runs of {EPOCHS} epochs, "
           f"{os.cpu_count()} cores")
    row("CPU during the measurements", share.report())
    row(f"{NETWORKS[0]}: embedding first (as Train)", f"{first_embed:6.2f} s")
    for name, seconds in timings.items():
        row(f"{NETWORKS[1]}: {name}", f"{seconds:6.2f} s")
    row("sweep: embedding + training, training alone", f"{whole:6.2f} s, {training:6.2f} s")
    for _, c in cells.iterrows():
        row(f"  {c['encoder']} · learning rate {grid.value_text(c['learning_rate'])}", c["accuracy_text"])
    summary = [f"network sweep ({spec.runs} runs, 450 photos, {EPOCHS} epochs): {whole:.1f} s with the second "
               f"network's embedding ({timings['embedding 450 photos']:.1f} s), after loading it "
               f"({timings['load, converted file cached']:.1f} s; {timings['load, converting']:.1f} s the first time "
               f"on a server, converting)"]
    print("  " + summary[0])
    return summary


if __name__ == "__main__":
    main()
