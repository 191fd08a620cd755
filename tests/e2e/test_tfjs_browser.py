"""Teachable Machine's own JavaScript library, npm ``@teachablemachine/image``, loads the TensorFlow.js export
in Chromium and classifies real photos as the app does.

The page is the snippet the Test page shows (``export.tfjs_snippet``) as written, except that its two
``<script>`` tags point at tests/js/node_modules (installed from the npm registry by ``npm ci``) instead of
the CDN: a local ``http.server`` on 127.0.0.1 serves it with the unzipped export, and the page may reach
nothing else. The photos are the app's own 224×224 preprocessing of real files, saved as PNG, so the
library's crop and resize (a canvas at the same size) leaves them as they are and both sides see the
same pixels.
"""

from __future__ import annotations

import functools
import http.server
import io
import os
import re
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
JS = REPO / "tests" / "js"
KOREAN = {"paper": "보", "rock": "바위", "scissors": "가위"}
CDN = re.compile(r"https://cdn\.jsdelivr\.net/npm/((?:@[^/@]+/)?[^/@]+)@[0-9.]+/")


def need_npm_clients() -> Path:
    """tests/js/node_modules with both libraries: fails under CI when missing, skips elsewhere."""
    wanted = [JS / "node_modules" / "@tensorflow" / "tfjs" / "dist" / "tf.min.js",
              JS / "node_modules" / "@teachablemachine" / "image" / "dist" / "teachablemachine-image.min.js"]
    if not all(p.is_file() for p in wanted):
        message = "tests/js/node_modules is missing: run `npm ci` in tests/js (.ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return JS / "node_modules"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def site(tmp_path):
    """(folder, url): a static web server on 127.0.0.1 for the folder, stopped after the test."""
    root = tmp_path / "site"
    root.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(10)


def _png(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def test_teachable_machines_library_classifies_real_photos_as_the_app(encoder, rps_train, site, page):
    from tm_core import export, media
    from tm_core.export import tfjs
    from tm_core.predict import Predictor
    from tm_core.training import TrainConfig, train

    node_modules = need_npm_clients()
    root, url = site
    classes = sorted(KOREAN)
    names = [KOREAN[c] for c in classes]  # Hangul class names, through metadata.json to the page
    train_files = [(f, y) for y, c in enumerate(classes) for f in sorted((rps_train / c).iterdir())[:10]]
    test_files = [f for c in classes for f in sorted((rps_train / c).iterdir())[100:104]]
    x_train = np.stack([media.image_to_array(f) for f, _ in train_files])
    run = train(encoder.encode(x_train), np.array([y for _, y in train_files]), names, TrainConfig(test_fraction=0.0))
    x_test = np.stack([media.image_to_array(f) for f in test_files])  # the app's preprocessing of each photo
    app = Predictor(encoder, run.head, names).predict(x_test)

    # the site: the Test page's zip unzipped into my_model/, the snippet page, the photos, the npm packages
    with zipfile.ZipFile(io.BytesIO(export.zip_files(tfjs.model_files(encoder, run.head, names), tfjs.FILES))) as z:
        z.extractall(root / "my_model")
    snippet = export.snippet_for(encoder, "tfjs", names)
    assert len(CDN.findall(snippet)) == 2
    (root / "index.html").write_text(CDN.sub(r"/node_modules/\1/", snippet), encoding="utf-8")
    (root / "photo.jpg").write_bytes(_png(x_test[0]))  # the snippet's photo.jpg (PNG inside: exact pixels)
    for i, pixels in enumerate(x_test):
        (root / f"photo_{i}.png").write_bytes(_png(pixels))
    (root / "node_modules").symlink_to(node_modules, target_is_directory=True)

    outside: list[str] = []

    def local_only(route):
        if route.request.url.startswith(url + "/"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", local_only)
    page.goto(f"{url}/index.html")
    page.wait_for_function("!document.getElementById('result').textContent.startsWith('Loading')", timeout=180_000)
    label, probability = page.text_content("#result").rsplit(" ", 1)
    assert label == names[int(app[0].argmax())] and abs(float(probability) - app[0].max()) <= 0.006

    result = page.evaluate("""async (urls) => {
        const model = await tmImage.load("./my_model/model.json", "./my_model/metadata.json");
        const out = [];
        for (const src of urls) {
            const img = new Image();
            img.src = src;
            await img.decode();
            out.push(await model.predict(img));
        }
        return {out, labels: model.getClassLabels(), total: model.getTotalClasses(), backend: tf.getBackend()};
    }""", [f"photo_{i}.png" for i in range(len(x_test))])
    assert result["labels"] == names and result["total"] == 3
    assert all([p["className"] for p in r] == names for r in result["out"])
    probs = np.array([[p["probability"] for p in r] for r in result["out"]])
    diff = float(np.abs(probs - app).max())
    print(f"\n@teachablemachine/image in Chromium ({result['backend']} backend): max |browser - app| {diff:.2e} "
          f"on {len(x_test)} photos")
    assert (probs.argmax(1) == app.argmax(1)).all()
    assert diff <= 1e-3
    assert outside == []  # no CDN, nothing but the local server
