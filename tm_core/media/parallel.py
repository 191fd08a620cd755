"""Decoding many uploads in a thread pool, in order, a bounded number ahead of the consumer."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import numpy as np

from tm_core import i18n
from tm_core.errors import InputError
from tm_core.i18n import _
from tm_core.media.audio import clip_windows, load_audio
from tm_core.media.images import IMAGE_SIZE, image_to_array

T = TypeVar("T")


def _guarded(name: str, decode: Callable[[], T]) -> T | InputError:
    """``decode()``, or the InputError that says why this one file could not be used."""
    try:
        return decode()
    except InputError as err:
        return err
    except Exception as exc:  # noqa: BLE001 - one odd file must never stop the others
        return InputError(name, _("could not be decoded ({error})", error=type(exc).__name__ + ": " + str(exc)))


def _decode_one(name: str, source: bytes | str | os.PathLike, size: int, pad: bool,
                then: Callable[[np.ndarray], object] | None) -> object:
    if then is None:
        return _guarded(name, lambda: image_to_array(source, name, size, pad=pad))
    return _guarded(name, lambda: then(image_to_array(source, name, size, pad=pad)))


def decode_images(
    sources: Iterable[tuple[str, bytes | str | os.PathLike]],
    size: int = IMAGE_SIZE,
    workers: int = 2,
    lookahead: int = 64,
    *,
    pad: bool = False,
    then: Callable[[np.ndarray], object] | None = None,
) -> Iterator[tuple[str, np.ndarray | InputError]]:
    """Decode ``(name, source)`` pairs in a thread pool; yield ``(name, array or InputError)`` in input order
    (``then``: what the same thread makes of each array, yielded instead of it).

    At most ``lookahead`` items are read from ``sources`` ahead of the consumer, and decoding keeps
    going while the consumer works. Closing the generator cancels what has not started and waits
    for the (at most ``workers``) decodes in progress, so no thread is left running.
    """
    return _decode_in_order(sources, lambda name, source: _decode_one(name, source, size, pad, then), workers, lookahead,
                            "tm-decode")


def _decode_in_order(items, decode, workers: int, lookahead: int, prefix: str) -> Iterator[tuple[str, object]]:
    """``(name, decode(name, source))`` for each item, in order, decoded by ``workers`` threads.

    At most ``lookahead`` items are read ahead of the consumer; closing the generator cancels what
    has not started and waits for the decodes in progress, so no thread is left running. Each decode
    runs in the language of the code asking for the next item (``i18n.bound``): its refusals read in it.
    """
    if workers < 1 or lookahead < 1:
        raise ValueError("workers and lookahead must be at least 1")
    items = iter(items)
    pending: deque[tuple[str, Future]] = deque()
    executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=prefix)
    try:
        exhausted = False
        while True:
            while not exhausted and len(pending) < lookahead:
                try:
                    name, source = next(items)
                except StopIteration:
                    exhausted = True
                else:
                    pending.append((name, executor.submit(i18n.bound(decode), name, source)))
            if not pending:
                return
            name, future = pending.popleft()
            yield name, future.result()
    finally:
        executor.shutdown(wait=True, cancel_futures=True)



def _decode_audio_one(
    name: str, source: bytes | str | os.PathLike, hop_seconds: float
) -> tuple[str, list[np.ndarray]] | InputError:
    return _guarded(name, lambda: (name, clip_windows(load_audio(source, name), hop_seconds=hop_seconds)))


def decode_audio_files(
    items: Iterable[tuple[str, bytes | str | os.PathLike]],
    *,
    workers: int = 2,
    lookahead: int = 8,
    hop_seconds: float = 1.0,
) -> Iterator[tuple[str, list[np.ndarray]] | InputError]:
    """Decode ``(name, source)`` uploads in a thread pool; yield ``(name, windows)`` or the InputError, in order.

    ``windows`` is ``clip_windows(load_audio(source, name), hop_seconds=hop_seconds)``.

    A bad file never stops the others. As in ``decode_images``, at most ``lookahead`` files are read
    ahead of the consumer (one 10-minute file is about 38 MB of windows), and closing the generator
    cancels what has not started and waits for the decodes in progress.
    """
    decoded = _decode_in_order(items, lambda name, source: _decode_audio_one(name, source, hop_seconds),
                               workers, lookahead, "tm-decode-audio")
    try:
        for _name, result in decoded:
            yield result
    finally:
        decoded.close()
