"""Shared fixtures. Real pretrained files and real photos only.

The first import below is load-bearing: importing TensorFlow before ``pylibsrtp``
(pulled in by streamlit_webrtc) segfaults the whole process (see ../shared/TESTING.md).
"""

import streamlit_webrtc  # noqa: F401  (must come before anything that imports TensorFlow)

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
DATASETS = SHARED / "datasets"

# Tests use the real files in ../shared/models unless told otherwise; the app never does.
if not os.environ.get("TM_MODELS_DIR") and (SHARED / "models").is_dir():
    os.environ["TM_MODELS_DIR"] = str(SHARED / "models")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


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
