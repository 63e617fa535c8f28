"""The one error type of the file formats: bad input, named by its field path."""

from __future__ import annotations


class FormatError(ValueError):
    """Input that cannot be read; ``path`` names the field (e.g. ``jobs[3].service``).

    The CLI prints ``str(error)`` as one line and exits 2, so the message must be a
    single line that says both where and what.
    """

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = " ".join(str(message).split())  # keep it on one line
        super().__init__(f"{path}: {self.message}" if path else self.message)
