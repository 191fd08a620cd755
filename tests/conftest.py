"""Shared fixtures and AppTest helpers. Real pretrained files and real photos only.

The first import below is load-bearing: importing TensorFlow before ``pylibsrtp``
(pulled in by streamlit_webrtc) segfaults the whole process (see docs/testing.md).

Test files import the plain helpers with ``from conftest import app, click, sess, uploader, photos``.
"""

import streamlit_webrtc  # first: it must be imported before anything that imports TensorFlow

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
APP = str(REPO / "streamlit_app.py")
SHARED = REPO.parent / "shared"
DATASETS = SHARED / "datasets"
SMALL_DATA = Path(__file__).resolve().parent / "data"  # a few real files in the repo (tests/data/README.md)

# Tests use the real files in ../shared/models unless told otherwise; the app never does.
if not os.environ.get("TM_MODELS_DIR") and (SHARED / "models").is_dir():
    os.environ["TM_MODELS_DIR"] = str(SHARED / "models")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Projects the app keeps across reloads (tm_core.store) go to a fresh folder, not the user's cache.
if not os.environ.get("TM_DATA_DIR"):
    import tempfile

    os.environ["TM_DATA_DIR"] = tempfile.mkdtemp(prefix="tm-data-")


def _need(path: Path) -> Path:
    """``path``, which lives outside the repo (../shared): a test that needs it fails under CI, skips elsewhere."""
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing: CI must have ../shared beside the repo")
        pytest.skip(f"{path} is not here (needs ../shared beside the repo)")
    return path


@pytest.fixture(scope="session")
def small_data() -> Path:
    """tests/data: a few real photos, clips and a video frame that ship with the repo (never skipped)."""
    assert SMALL_DATA.is_dir(), f"{SMALL_DATA} is part of the repo"
    return SMALL_DATA


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    return _need(DATASETS)


@pytest.fixture(scope="session")
def rps_train() -> Path:
    return _need(DATASETS / "rps_real" / "train")


@pytest.fixture(scope="session")
def clothing_train() -> Path:
    return _need(DATASETS / "clothing4" / "train")


@pytest.fixture(scope="session")
def models_dir() -> Path:
    return _need(Path(os.environ["TM_MODELS_DIR"]) if os.environ.get("TM_MODELS_DIR") else SHARED / "models")


@pytest.fixture(scope="session")
def encoder(models_dir):
    """Teachable Machine's backbone, MobileNetV2 α=0.35, from the real pretrained file."""
    from tm_core.encoders import get_encoder

    return get_encoder("mobilenet_v2_0.35")


def split_photos(root: Path, n_train: int, n_test: int):
    """Real photos of root/<class>/: n_train per class to train on, n_test others per class to test on.

    Drawn at random (fixed seed): the folders are sorted by source, and the sources differ.
    Returns (class names, (train images, labels, files), (test images, labels, files)).
    """
    from tm_core import media

    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    rng = np.random.default_rng(0)
    train, test = [], []
    for label, cls in enumerate(classes):
        files = sorted((root / cls).iterdir())
        files = [files[i] for i in rng.permutation(len(files))]
        train += [(f, label) for f in files[:n_train]]
        test += [(f, label) for f in files[n_train:n_train + n_test]]

    def load(items):
        return np.stack([media.image_to_array(f) for f, _ in items]), np.array([y for _, y in items]), [f for f, _ in items]

    return classes, load(train), load(test)


@pytest.fixture(scope="session")
def rps_split(rps_train):
    return split_photos(rps_train, 50, 30)


def train_on(encoder, split):
    """A head trained the app's way on real embeddings: (run, predictor, train images, test images, test labels, test files)."""
    from tm_core.predict import Predictor
    from tm_core.training import TrainConfig, train

    classes, (x_train, y_train, _), (x_test, y_test, test_files) = split
    run = train(encoder.encode(x_train), y_train, classes, TrainConfig(test_fraction=0.0))
    return run, Predictor(encoder, run.head, classes), x_train, x_test, y_test, test_files


@pytest.fixture(scope="session")
def rps_trained(encoder, rps_split):
    return train_on(encoder, rps_split)


@pytest.fixture(scope="session")
def clothing_trained(encoder, clothing_train):
    return train_on(encoder, split_photos(clothing_train, 60, 25))


@pytest.fixture(scope="session")
def rps_export(rps_trained, encoder, tmp_path_factory):
    """Every export of that model, written once for the session (the int8 file checked on the test photos)."""
    from tm_core import export

    run, _, _, x_test, *_ = rps_trained
    out = tmp_path_factory.mktemp("export")
    export.export_all(out, encoder, run.head, run.class_names, x_test)
    return out


# --- AppTest: the app's pages driven headlessly (docs/testing.md says what AppTest can and cannot do) ---

@pytest.fixture(autouse=True)
def no_webrtc_component(monkeypatch):
    """streamlit-webrtc's component cannot run under AppTest: the browser tests (tests/e2e) cover it.

    Every ``webrtc_streamer(**kw)`` call is recorded instead: the list of ``kw`` dicts, in order."""
    drawn = []
    monkeypatch.setattr(streamlit_webrtc, "webrtc_streamer", lambda **kw: drawn.append(kw))
    return drawn


def app(timeout: float = 120, token: str | None = None, lang: str | None = None):
    """The app as a new visitor first sees it, run once (TensorFlow needs more than AppTest's default 3 s);
    with ``token``, a tab opened on that project's address (``?project=<token>``: a reload, another tab);
    with ``lang``, opened in that language (``?lang=ko``)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=timeout)
    if token is not None:
        at.query_params["project"] = token
    if lang is not None:
        at.query_params["lang"] = lang
    at.run()
    assert not at.exception, at.exception
    return at


def sess(at):
    """The session's state object (``tm_core.ui.state``)."""
    return at.session_state["teachable_studio"]


def click(at, label: str) -> None:
    """Click the button labelled ``label`` and rerun; the run must raise nothing."""
    next(b for b in at.button if b.label == label).click().run()
    assert not at.exception, at.exception


def uploader(at, prefix: str):
    """The file uploader whose key starts with ``prefix`` (e.g. ``up:<class uid>``)."""
    return next(u for u in at.file_uploader if u.key.startswith(prefix))


def photos(root: Path, cls: str, n: int, offset: int = 0) -> list[Path]:
    """``n`` real files of ``root/cls``, sorted by name, from ``offset``."""
    return sorted((root / cls).iterdir())[offset:offset + n]


def frame_targets(kw) -> list:
    """What a stubbed webrtc_streamer call's video callback feeds (BurstRecorder, LivePrediction)."""
    cells = kw["video_frame_callback"].__closure__ or ()
    return [t for c in cells if isinstance(c.cell_contents, tuple) for t in c.cell_contents]
