"""Pretrained files, resolved by name: ``$TM_MODELS_DIR``, then the download cache, then the official URL.

Files found in ``$TM_MODELS_DIR`` are trusted as they are. Downloads are streamed to a temporary
file beside the cache entry, checked against the official sha256 when it is known, and only then
moved into place, so the cache never holds a partial or unverified file under its final name.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from tm_core.errors import AssetError
from tm_core.i18n import N_, _

DOWNLOAD_TIMEOUT = 60.0
CHECK_TIMEOUT = 3.0  # seconds an availability check may wait for the download server
CHECK_TTL = 300.0  # seconds an availability answer about the network is remembered
_CHUNK = 1 << 20
_USER_AGENT = "teachable-studio"


@dataclass(frozen=True)
class Asset:
    """A pretrained file the engine needs, and where it officially comes from."""

    filename: str
    subdir: str  # "image", "pose", "hands" or "audio"
    url: str | None  # None when there is no official download of this exact file
    sha256: str | None  # official sha256, when known
    description: str
    md5: str | None = None  # official md5, when that is the hash the publisher pins (Keras pins md5 for some)
    # sha256 of the project's own reference copy (the one its tests use; its MODELS.md says how it
    # differs from the official file), served by a mirror of those copies (``python -m tm_core download-models
    # --from URL``)
    copy_sha256: str | None = None

    @property
    def known_sha256(self) -> tuple[str, ...]:
        """Every sha256 a good copy of this file has (the official file's, the reference copy's)."""
        return tuple(dict.fromkeys(h for h in (self.sha256, self.copy_sha256) if h))


def _assets(*items: Asset) -> dict[str, Asset]:
    return {a.filename: a for a in items}


ASSETS: dict[str, Asset] = _assets(
    Asset(
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5",
        "image",
        "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/"
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5",
        "df1c3db1d0d9193719c4c70f707c56f7021f999f825bdc57454c275cf6def19f",
        N_("MobileNetV2 α=0.35 ImageNet backbone (Teachable Machine's)"),
        copy_sha256="d43c70f8ea04b1087170401b2f4739f41b94200e30892ea8d050ac65779146c6",
    ),
    Asset(
        "mobilenet_2_5_224_tf_no_top.h5",
        "image",
        "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet/mobilenet_2_5_224_tf_no_top.h5",
        None,
        N_("MobileNet v1 α=0.25 ImageNet backbone (the Teachable Machine library's v1 default)"),
        copy_sha256="dbdb03ee2a22fd895301636cd328b234bb3a9952358f436d82f46b81e0d5b0bf",
    ),
    Asset(
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5",
        "image",
        "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/"
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5",
        None,  # Keras pins no hash for MobileNetV2 weights
        N_("MobileNetV2 α=1.0 ImageNet backbone (larger, 1280-d)"),
    ),
    Asset(
        "efficientnetv2-b0_notop.h5",
        "image",
        "https://storage.googleapis.com/tensorflow/keras-applications/efficientnet_v2/efficientnetv2-b0_notop.h5",
        None,
        N_("EfficientNetV2-B0 ImageNet backbone (larger, 1280-d)"),
        md5="893217f2bb855e2983157299931e43ff",  # keras/src/applications/efficientnet_v2.py WEIGHTS_HASHES["b0"]
    ),
    Asset(
        "movenet_singlepose_lightning_int8_4.tflite",
        "pose",
        "https://tfhub.dev/google/lite-model/movenet/singlepose/lightning/tflite/int8/4?lite-format=tflite",
        "cd7cc22fa946e5d146a7b98d496853e1923e22828d3972d579973f27f91bb105",
        N_("MoveNet SinglePose Lightning v4, int8 (17 body keypoints)"),
        copy_sha256="cd7cc22fa946e5d146a7b98d496853e1923e22828d3972d579973f27f91bb105",
    ),
    Asset(
        "hand_landmarker_full.task",
        "hands",
        "https://storage.googleapis.com/mediapipe-models/hand_landmarker/hand_landmarker/float16/1/"
        "hand_landmarker.task",
        None,
        N_("MediaPipe Hand Landmarker (palm detector + 21 hand landmarks)"),
        copy_sha256="76839f622b2923ac8ee857300422283621490de0122425c2313ab8f040a7d100",
    ),
    Asset(
        "yamnet_with_embedding.tflite",
        "audio",
        None,
        None,
        N_("YAMNet AudioSet classifier with its 1024-d embedding as a second output"),
        copy_sha256="e60f7d1e660da9f453115e5269ef98e88f0782aeabc28f2ce663429dced80ed4",
    ),
    Asset(
        "yamnet_class_map.csv",
        "audio",
        "https://raw.githubusercontent.com/tensorflow/models/master/research/audioset/yamnet/yamnet_class_map.csv",
        None,
        N_("YAMNet's 521 class names"),
        copy_sha256="b03d48f9ebe23f69ea825193de7e736934086a12410f0af47babe897b78bc0d3",
    ),
)


class _DownloadFailed(Exception):
    """Internal: why a download did not produce a file (becomes part of an AssetError)."""


def models_dir() -> Path | None:
    """The folder named by ``$TM_MODELS_DIR``, or None when it is unset or empty."""
    value = os.environ.get("TM_MODELS_DIR")
    return Path(value).expanduser() if value else None


def cache_dir() -> Path:
    """The download cache: ``$TM_CACHE_DIR``, else ``~/.cache/teachable-studio/models``."""
    value = os.environ.get("TM_CACHE_DIR")
    return Path(value).expanduser() if value else Path.home() / ".cache" / "teachable-studio" / "models"


def resolve(filename: str, *, download: bool = True) -> Path:
    """Return a local path to the pretrained file ``filename``, downloading it if needed and allowed.

    Raises AssetError, saying where it looked and what to do, when the file cannot be had.
    """
    asset = ASSETS.get(filename)
    if asset is None:
        raise AssetError(_("Unknown pretrained file {name}. Known files: {known}.", name=repr(filename),
                           known=", ".join(sorted(ASSETS))))
    root = models_dir()
    if root is not None:
        for candidate in (root / asset.subdir / filename, root / filename):
            if candidate.is_file():
                return candidate
    cached = cache_dir() / filename
    if cached.is_file():
        return cached
    if asset.url is None:
        reason = _("there is no official download of this file")
    elif not download:
        reason = _("downloading is turned off")
    else:
        try:
            _download(asset.url, cached, asset.sha256, asset.md5)
            return cached
        except _DownloadFailed as err:
            reason = _("the download failed: {why}", why=err)
    raise AssetError(_missing_message(asset, root, cached, reason))


def _missing_message(asset: Asset, root: Path | None, cached: Path, reason: str) -> str:
    inside = {"sub": f"{asset.subdir}/{asset.filename}", "file": asset.filename}
    if root is None:
        looked = _("TM_MODELS_DIR is not set")
    elif root.is_dir():
        looked = _("TM_MODELS_DIR={root} (as {sub} and {file})", root=root, **inside)
    else:
        looked = _("TM_MODELS_DIR={root} (as {sub} and {file}, a folder that does not exist)", root=root, **inside)
    source = _("Official URL: {url}", url=asset.url) if asset.url else _("There is no official download of this exact file")
    where = _("download it from {url}", url=asset.url) if asset.url else _("get a copy of this exact file")
    return "\n".join((
        _("Pretrained file {file} [{about}] is missing: {reason}.", file=asset.filename, about=_(asset.description),
          reason=reason),
        _("Looked in: {looked}; the download cache {cache}", looked=looked, cache=cached),
        source,
        _("What to do: {where} and put it in a folder (or its {sub}/ subfolder), then set TM_MODELS_DIR to that "
          "folder. Or, on the server, run `{command}` (see docs/deploy.md).", where=where, sub=asset.subdir,
          command=f"python -m tm_core download-models --only {asset.filename}"),
    ))


def _download(url: str, dest: Path, sha256: str | None, md5: str | None = None) -> None:
    """Stream ``url`` to a temp file beside ``dest``, verify it, then move it into place."""
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    except OSError as err:
        raise _DownloadFailed(_("cannot write to the download cache: {why}", why=err)) from err
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            digest, md5_digest, size, expected_size = _fetch(url, out)
        if expected_size is not None and size != expected_size:
            raise _DownloadFailed(_("cut short: got {size} of {expected} bytes", size=size, expected=expected_size))
        if sha256 is not None and digest != sha256:
            raise _DownloadFailed(_("{hash} mismatch: expected {want}, got {got}; the file was not kept", hash="sha256",
                                    want=sha256, got=digest))
        if md5 is not None and md5_digest != md5:
            raise _DownloadFailed(_("{hash} mismatch: expected {want}, got {got}; the file was not kept", hash="md5",
                                    want=md5, got=md5_digest))
        os.replace(tmp, dest)
    except OSError as err:
        raise _DownloadFailed(_("cannot write to the download cache: {why}", why=err)) from err
    finally:
        tmp.unlink(missing_ok=True)


def _fetch(url: str, out: BinaryIO) -> tuple[str, str, int, int | None]:
    """Copy ``url`` into ``out``; return (sha256 hex, md5 hex, bytes read, Content-Length or None)."""
    digest = hashlib.sha256()
    md5 = hashlib.md5(usedforsecurity=False)
    size = 0
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT) as response:
            length = response.headers.get("Content-Length")
            while chunk := response.read(_CHUNK):
                digest.update(chunk)
                md5.update(chunk)
                size += len(chunk)
                try:
                    out.write(chunk)
                except OSError as err:
                    raise _DownloadFailed(_("cannot write to the download cache: {why}", why=err)) from err
    except urllib.error.HTTPError as err:
        raise _DownloadFailed(_("the server answered HTTP {code} {reason}", code=err.code, reason=err.reason)) from err
    except urllib.error.URLError as err:
        raise _DownloadFailed(_("no network: {why}", why=err.reason)) from err
    except (OSError, http.client.HTTPException) as err:
        raise _DownloadFailed(_("no network: {why}", why=err or type(err).__name__)) from err
    return digest.hexdigest(), md5.hexdigest(), size, int(length) if length and length.isdigit() else None


NO_INTERNET = N_("no internet to download it")
# url -> (when, None if reachable else why not: an English message and its values, translated when asked)
_checks: dict[str, tuple[float, tuple[str, dict] | None]] = {}
_checks_lock = threading.Lock()


def local_path(filename: str) -> Path | None:
    """Where ``filename`` already is (``$TM_MODELS_DIR`` or the download cache), or None; never downloads."""
    asset = ASSETS.get(filename)
    if asset is None:
        return None
    root = models_dir()
    candidates = [root / asset.subdir / filename, root / filename] if root is not None else []
    candidates.append(cache_dir() / filename)
    return next((c for c in candidates if c.is_file()), None)


def available(filename: str, *, timeout: float = CHECK_TIMEOUT) -> tuple[bool, str]:
    """Can ``filename`` be had now? ``(True, "")`` when it is on disk or its server answers, else ``(False, why)``.

    Never downloads, and never waits longer than about ``timeout`` seconds: the check of the
    server runs in a daemon thread that is abandoned when it is slow. Answers about the network
    are remembered for ``CHECK_TTL`` seconds, so pickers can ask on every rerun.
    """
    asset = ASSETS.get(filename)
    if asset is None:
        return False, _("unknown pretrained file {name}", name=repr(filename))
    if local_path(filename) is not None:
        return True, ""
    if asset.url is None:
        return False, _("there is no official download of this file; put a copy in TM_MODELS_DIR")
    with _checks_lock:
        known = _checks.get(asset.url)
    if known is not None and time.monotonic() - known[0] < CHECK_TTL:
        return known[1] is None, _said(known[1])
    result: list[tuple[str, dict] | None] = []
    worker = threading.Thread(target=lambda: result.append(_reach(asset.url, timeout)), daemon=True)
    worker.start()
    worker.join(timeout + 0.5)
    why = result[0] if result else (NO_INTERNET, {})
    with _checks_lock:
        _checks[asset.url] = (time.monotonic(), why)
    return why is None, _said(why)


def _said(why: tuple[str, dict] | None) -> str:
    """A remembered reason in the language of the code asking now ("" when there is none)."""
    return _(why[0], **why[1]) if why else ""


def forget_checks() -> None:
    """Drop remembered network answers (after the network came back, and in tests)."""
    with _checks_lock:
        _checks.clear()


def _reach(url: str, timeout: float) -> tuple[str, dict] | None:
    """None when the server has the file (answers a HEAD request), else why it cannot be downloaded (the
    English message and its values: the answer is remembered for pages in any language)."""
    request = urllib.request.Request(url, method="HEAD", headers={"User-Agent": _USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout):
            return None
    except urllib.error.HTTPError as err:
        if err.code in (405, 501):  # the server does not do HEAD, but it is there
            return None
        return N_("the download server answered HTTP {code} {reason}"), {"code": err.code, "reason": err.reason}
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError):
        return NO_INTERNET, {}
