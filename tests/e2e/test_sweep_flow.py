"""A sweep in a real browser: two settings, a few values each, the heatmaps drawn, the table and its CSV.

Real rock-paper-scissors photos (a zip of ten per class) through the real app and server.
"""

from __future__ import annotations

import re
from pathlib import Path

from .test_app_flow import APP, main_text, open_page, rps_zip, upload_zip


def fill(page, label: str, value: str) -> None:
    box = page.get_by_label(label)
    box.fill(value)
    box.press("Enter")
    page.wait_for_timeout(800)


def test_sweep_two_settings_and_see_the_heatmaps(server, page, tmp_path):
    srv = server(APP)
    page.goto(srv.url)
    page.get_by_role("heading", name="Gather examples").wait_for(timeout=90_000)
    upload_zip(page, rps_zip(tmp_path), 30)

    open_page(page, "3 · Experiments", "Experiments")
    page.get_by_text("Sweep two settings").click()
    page.get_by_label("Learning rate values").wait_for(timeout=20_000)
    fill(page, "Learning rate values", "0.001, 0.5")
    fill(page, "Batch size values", "8, 32")
    page.get_by_text("4 models to train").wait_for(timeout=20_000)
    page.get_by_role("button", name="Run the sweep").click()

    page.get_by_text(re.compile(r"^Best cell: learning rate")).wait_for(timeout=120_000)
    sweep = page.locator("[data-testid='stExpander']").filter(has_text="Sweep two settings")
    charts = sweep.locator("[data-testid='stVegaLiteChart']")
    charts.nth(1).wait_for(timeout=30_000)  # held-out accuracy and time
    assert charts.count() == 2
    text = main_text(page)
    heat = charts.nth(0)  # the accuracy heatmap, drawn: a canvas or svg of real size with its cells
    heat.scroll_into_view_if_needed()
    drawn = heat.locator("canvas, svg").first
    drawn.wait_for(timeout=30_000)
    box = drawn.bounding_box()
    assert box is not None and box["width"] > 200 and box["height"] > 80, box
    assert "Download the table (CSV)" in text
    table = page.locator("[data-testid='stDataFrame']")
    assert table.count() >= 1
    with page.expect_download(timeout=30_000) as download:
        page.get_by_role("button", name=re.compile("Download the table")).click()
    csv = Path(download.value.path()).read_text(encoding="utf-8").strip().splitlines()
    assert csv[0].startswith("run,learning_rate,batch_size,seed") and len(csv) == 5  # a header, 4 runs
    assert "Sweep 1 · learning rate 0.001 · batch size 8 · seed 0" in csv[1]
