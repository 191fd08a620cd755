"""Single pictures: any file Pillow decodes becomes plain 8-bit RGB, then Teachable Machine's crop or a pad."""

from __future__ import annotations

import io
import math
import os
import re

import numpy as np
from PIL import ExifTags, Image, ImageFile, ImageOps

from tm_core import limits
from tm_core.errors import InputError
from tm_core.i18n import N_, _
from tm_core.media.files import IMAGE_FILE, read_source

IMAGE_SIZE = 224
KEYPOINT_IMAGE_SIZE = 256  # pose and hand samples: the whole picture padded to this square
MAX_IMAGE_PIXELS = limits.IMAGE_PIXELS  # configurable: see tm_core.limits

# Pillow itself then refuses anything over twice our limit in every module, before reading pixels.
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS


def _decodable_formats() -> tuple[str, ...]:
    """Pillow formats that decode pixels here: not stubs, not Ghostscript (EPS), not MPEG headers."""
    Image.init()
    return tuple(
        sorted(
            fmt
            for fmt, (factory, _accept) in Image.OPEN.items()
            if fmt not in {"EPS", "MPEG"}
            and not (isinstance(factory, type) and issubclass(factory, ImageFile.StubImageFile))
        )
    )


_FORMATS = _decodable_formats()

#: Lower-case file extensions, with the dot (as ``Path.suffix``), of the formats ``load_image`` reads.
IMAGE_EXTENSIONS = frozenset(
    ext.lower()
    for ext, fmt in Image.registered_extensions().items()
    # MPO files open through the JPEG plugin.
    if fmt in _FORMATS or (fmt == "MPO" and "JPEG" in _FORMATS)
)

_HIGH_BIT_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I", "F"})
_WHITE = (255, 255, 255)
_BLOCK_PIXELS = 1 << 18
_ORIENTATIONS = {  # EXIF orientation → the transpose that shows the picture upright (as ImageOps.exif_transpose)
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _megapixels(n: float) -> str:
    return f"{n / 1e6:.1f}".removesuffix(".0")



def _blocks(img: Image.Image):
    """``(first row, pixels as float64)`` for bands of about 262,000 pixels: a whole 40-megapixel
    picture is never in float64 at once (that alone would be 320 MB)."""
    width, height = img.size
    step = max(1, _BLOCK_PIXELS // max(width, 1))
    for y in range(0, height, step):
        band = np.asarray(img.crop((0, y, width, min(height, y + step))), dtype=np.float64)
        yield y, np.nan_to_num(band, nan=0.0, posinf=0.0, neginf=0.0)


def _scaled_to_uint8(img: Image.Image) -> np.ndarray:
    """8-bit grey levels for 16-bit, 32-bit integer and float pixels, scaled rather than clipped.

    16-bit data (and 32-bit integers within 0..65535) use 65535 as white, floats within 0..1
    use 1.0; anything else is stretched from its minimum to its maximum. Done band by band:
    memory is the 8-bit result plus one band.
    """
    low, high = math.inf, -math.inf
    for _y, values in _blocks(img):
        if values.size:
            low, high = min(low, float(values.min())), max(high, float(values.max()))
    if low > high:
        low = high = 0.0
    if img.mode.startswith("I;16") or (img.mode == "I" and low >= 0 and high <= 65535):
        scale, offset = 1 / 257.0, 0.0
    elif img.mode == "F" and low >= 0 and high <= 1:
        scale, offset = 255.0, 0.0
    elif high > low:
        scale, offset = 255.0 / (high - low), low
    else:
        scale, offset = 0.0, 0.0
    out = np.empty((img.height, img.width), np.uint8)
    for y, values in _blocks(img):
        if scale == 1 / 257.0:  # as the whole-picture formula divided, to the same last bit
            values = values / 257.0
        else:
            values = (values - offset) * scale if offset else values * scale
        out[y : y + len(values)] = np.rint(np.clip(values, 0, 255))
    return out


def _to_rgb(img: Image.Image) -> Image.Image:
    """Plain 8-bit RGB: transparency composited over white, high bit depths scaled down."""
    if img.mode == "RGB":
        return img
    if img.mode in _HIGH_BIT_MODES:
        return Image.fromarray(_scaled_to_uint8(img)).convert("RGB")
    if img.has_transparency_data:
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, _WHITE)
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return img.convert("RGB")


def _bomb_reason(exc: Image.DecompressionBombError) -> str:
    """Reason for Pillow's own refusal (over twice the limit), which gives the pixel count only."""
    match = re.search(r"\((\d+) pixels\)", str(exc))
    limit = _megapixels(MAX_IMAGE_PIXELS)
    if match:
        return _("declares {size} megapixels, more than the {limit}-megapixel limit (possible decompression bomb)",
                 size=_megapixels(int(match.group(1))), limit=limit)
    return _("is too large, more than the {limit}-megapixel limit (possible decompression bomb)", limit=limit)


def load_image(source: bytes | str | os.PathLike, name: str | None = None) -> Image.Image:
    """Decode an image file (bytes or a path) into a fully loaded RGB image, or raise InputError.

    Only the first frame of animations and multi-page files is used; the EXIF orientation is applied.
    """
    label, data = read_source(source, name, IMAGE_FILE, N_("image"))
    try:
        with Image.open(io.BytesIO(data), formats=_FORMATS) as img:
            width, height = img.size
            if width * height > MAX_IMAGE_PIXELS:
                raise InputError(label, _("is {width}×{height} pixels, more than the {limit}-megapixel limit "
                                          "(possible decompression bomb)", width=width, height=height,
                                          limit=_megapixels(MAX_IMAGE_PIXELS)))
            img.load()
            method = _ORIENTATIONS.get(img.getexif().get(ExifTags.Base.Orientation, 1))
            # 8 bits first: a high-bit or CMYK picture is never copied at full depth, and its pixels
            # are freed (closed) before the RGB copy or the upright copy is made.
            if img.mode in _HIGH_BIT_MODES:
                grey = Image.fromarray(_scaled_to_uint8(img))
                img.close()
                rgb = grey.convert("RGB")
                del grey
            else:
                rgb = _to_rgb(img)
                if rgb is not img:
                    img.close()
                elif method is None:
                    rgb = img.copy()  # not the file's own image (some Pillow versions close it when the with block ends)
            if method is not None:  # as ImageOps.exif_transpose, on the 8-bit picture
                rgb = rgb.transpose(method)
    except InputError:
        raise
    except Image.UnidentifiedImageError:
        raise InputError(label, _("is not an image this app can open")) from None
    except Image.DecompressionBombError as exc:
        raise InputError(label, _bomb_reason(exc)) from None
    except MemoryError:
        raise InputError(label, _("needs more memory to decode than is available")) from None
    except Exception as exc:  # Pillow's decoders raise many types (OSError, SyntaxError, struct.error...)
        raise InputError(label, _("is damaged or truncated")) from exc
    return rgb


def fit_image(img: Image.Image, size: int = IMAGE_SIZE) -> np.ndarray:
    """Teachable Machine's cover-fit centre crop: ``ImageOps.fit`` with LANCZOS, as uint8 (size, size, 3)."""
    fitted = ImageOps.fit(_to_rgb(img), (size, size), Image.Resampling.LANCZOS)
    return np.array(fitted, dtype=np.uint8)


def pad_image(img: Image.Image, size: int = KEYPOINT_IMAGE_SIZE) -> np.ndarray:
    """The whole picture, scaled to fit a black ``size`` square (centred): nothing cut off, for pose
    and hand projects, whose keypoint models look for the body or hand anywhere in the frame."""
    padded = ImageOps.pad(_to_rgb(img), (size, size), Image.Resampling.LANCZOS, color=(0, 0, 0))
    return np.array(padded, dtype=np.uint8)


def image_to_array(
    source: bytes | str | os.PathLike, name: str | None = None, size: int = IMAGE_SIZE, *, pad: bool = False
) -> np.ndarray:
    """The one preprocessing for image samples: ``fit_image(load_image(source, name), size)``
    (``pad``: ``pad_image`` instead, for pose and hand projects)."""
    img = load_image(source, name)
    return pad_image(img, size) if pad else fit_image(img, size)
