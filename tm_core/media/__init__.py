"""Reading what students give, safely: pictures, sounds and datasets of them (``tm_core.media``).

``load_image`` turns any file Pillow can decode into a plain RGB picture (EXIF orientation
applied, transparency over white, 16-bit and float pixels scaled to 8 bits) and refuses
everything else with an :class:`~tm_core.errors.InputError` a student can understand.
``fit_image`` is Teachable Machine's centre crop. ``list_folder`` and ``read_zip`` turn a
``<class>/<files>`` tree into labelled files, without trusting paths, links or sizes.
``load_audio`` does the same for sound: any WAV, FLAC, OGG (Vorbis, Opus) or MP3 becomes 16 kHz mono
float32; ``clip_windows`` cuts it into the 1-second samples of an audio project.

The modules, by job: ``files`` (reading one file, zip members), ``images``, ``datasets`` (folders
and zips of class folders), ``audio``, ``spectrogram``, ``parallel`` (decoding many in threads).
The names below are re-exported so ``from tm_core import media; media.load_image(...)`` works.
Limits are read where they are used: change ``media.files.MAX_FILE_BYTES``,
``media.datasets.MAX_ARCHIVE_FILES``... rather than the copies here.
"""

from tm_core.media.audio import (
    AUDIO_EXTENSIONS,
    CLIP_SAMPLES,
    MAX_AUDIO_SECONDS,
    MAX_SAMPLE_RATE,
    MIN_SAMPLE_RATE,
    SAMPLE_RATE,
    clip_windows,
    load_audio,
    wav_bytes,
)
from tm_core.media.datasets import (
    MAX_ARCHIVE_BYTES,
    MAX_ARCHIVE_FILES,
    LabelledFile,
    TreeListing,
    _natural_key,
    list_folder,
    read_zip,
)
from tm_core.media.files import MAX_FILE_BYTES, ZipMember, _size_text
from tm_core.media.images import (
    IMAGE_EXTENSIONS,
    IMAGE_SIZE,
    KEYPOINT_IMAGE_SIZE,
    MAX_IMAGE_PIXELS,
    fit_image,
    image_to_array,
    load_image,
    pad_image,
)
from tm_core.media.parallel import decode_audio_files, decode_images
from tm_core.media.spectrogram import spectrogram_image

__all__ = [
    "AUDIO_EXTENSIONS",
    "CLIP_SAMPLES",
    "IMAGE_EXTENSIONS",
    "IMAGE_SIZE",
    "KEYPOINT_IMAGE_SIZE",
    "MAX_ARCHIVE_BYTES",
    "MAX_ARCHIVE_FILES",
    "MAX_AUDIO_SECONDS",
    "MAX_FILE_BYTES",
    "MAX_IMAGE_PIXELS",
    "MAX_SAMPLE_RATE",
    "MIN_SAMPLE_RATE",
    "SAMPLE_RATE",
    "LabelledFile",
    "TreeListing",
    "ZipMember",
    "_natural_key",
    "_size_text",
    "clip_windows",
    "decode_audio_files",
    "decode_images",
    "fit_image",
    "image_to_array",
    "list_folder",
    "load_audio",
    "load_image",
    "pad_image",
    "read_zip",
    "spectrogram_image",
    "wav_bytes",
]
