"""Errors the engine raises on purpose, with messages a student can act on."""


class TMError(Exception):
    """Base class: something the user can fix; the message says what and how."""


class InputError(TMError, ValueError):
    """A file or value given by the user cannot be used.

    ``name`` is what the user would recognise (a file name, a path inside a zip),
    ``reason`` says why in plain words. ``str(err)`` is ``"<name>: <reason>"``.
    """

    def __init__(self, name: str, reason: str):
        self.name = str(name)
        self.reason = reason
        super().__init__(f"{self.name}: {reason}" if name else reason)


class AssetError(TMError):
    """A pretrained file is missing and could not be downloaded."""
