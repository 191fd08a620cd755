"""Early stopping in a real browser: the Train toggle stops early and says what it kept; Overfitting marks it.

Real rock-paper-scissors photos (a zip of ten per class) through the real app.
"""

from __future__ import annotations

import re

from .test_app_flow import APP, main_text, open_page, rps_zip, set_number, upload_zip


def test_train_with_early_stopping_then_see_it_on_the_overfitting_page(server, page, tmp_path):
    srv = server(APP)
    page.goto(srv.url)
    page.get_by_role("heading", name="Gather examples").wait_for(timeout=90_000)
    upload_zip(page, rps_zip(tmp_path), 30)

    open_page(page, "2 · Train", "Train")
    page.get_by_text("Advanced").click()
    set_number(page, "Epochs", "200")
    set_number(page, "Learning rate", "0.01000")
    patience = page.get_by_label("How long to wait")
    assert patience.is_disabled()  # only with early stopping on
    page.get_by_text("Stop when the test loss stops improving").click()
    page.wait_for_function("() => !document.querySelector('input[aria-label=\"How long to wait\"]').disabled",
                           timeout=20_000)
    set_number(page, "How long to wait", "3")
    page.get_by_role("button", name="Train model").click()

    said = page.get_by_text(re.compile(r"Stopped early at epoch \d+; kept epoch \d+'s weights"))
    said.wait_for(timeout=90_000)
    stopped, kept = map(int, re.search(r"epoch (\d+); kept epoch (\d+)", said.inner_text()).groups())
    assert stopped - kept == 3 and stopped < 200
    metrics = page.locator("[data-testid='stMetricValue']")
    assert metrics.nth(2).inner_text() == str(stopped)  # epochs run
    page.get_by_text("Under the hood").wait_for()

    open_page(page, "3 · Experiments", "Experiments")
    page.get_by_text("When to stop").wait_for(timeout=30_000)
    text = main_text(page)
    assert (f"Trained with early stopping (waiting 3 epochs): it stopped at epoch {stopped} and kept epoch {kept}"
            in text), text[-2000:]
    assert "Dotted lines" in text
    assert page.locator("[data-testid='stVegaLiteChart']").count() == 3  # test accuracy, test loss, gap
