"""Shared fixtures. Real pretrained files and real photos only.

The first import below is load-bearing: importing TensorFlow before ``pylibsrtp``
(pulled in by streamlit_webrtc) segfaults the whole process (see ../shared/TESTING.md).
"""

import streamlit_webrtc  # noqa: F401  (must come before anything that imports TensorFlow)

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
DATASETS = SHARED / "datasets"

# Tests use the real files in ../shared/models unless told otherwise; the app never does.
if not os.environ.get("TM_MODELS_DIR") and (SHARED / "models").is_dir():
    os.environ["TM_MODELS_DIR"] = str(SHARED / "models")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Projects the app keeps across reloads (tm_core.store) go to a fresh folder, not the user's cache.
if not os.environ.get("TM_DATA_DIR"):
    import tempfile

    os.environ["TM_DATA_DIR"] = tempfile.mkdtemp(prefix="tm-data-")


def _need(path: Path) -> Path:
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing: CI must have ../shared beside the repo")
        pytest.skip(f"{path} is not here (needs ../shared beside the repo)")
    return path


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
    """Every export of that model, written once for the session."""
    from tm_core import export

    run, _, x_train, *_ = rps_trained
    out = tmp_path_factory.mktemp("export")
    export.export_all(out, encoder, run.head, run.class_names, export.calibration_images(list(x_train)))
    return out


@pytest.fixture(autouse=True)
def apptest_runs_the_entry_script(monkeypatch):
    """Make AppTest run ``streamlit_app.py`` on every run, as the real server does.

    AppTest resets ``PagesManager.uses_pages_directory`` before each run, and because this repo has
    a ``pages/`` folder, Streamlit's old multipage mode then runs the page file *alone* on every
    run after the first: the entry script (its sidebar, the save at the end of a run) would never
    run again. On the server, ``st.navigation`` turns that mode off for good."""
    from streamlit.runtime import pages_manager

    original = pages_manager.PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        pages_manager.PagesManager.uses_pages_directory = False

    monkeypatch.setattr(pages_manager.PagesManager, "__init__", init)
