"""Errors that name the offending file and the reason it cannot be used, in one line."""

from __future__ import annotations


class DicomFileError(ValueError):
    """A file that cannot be used as a DICOM image.

    The message always reads ``"<path>: <reason>"`` so a user can find the file; ``reason``
    alone is what goes in a report column.
    """

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def first_line(message: BaseException | str) -> str:
    """The first non-blank line of an error's message (or of a tool's output), stripped.

    For one-line reports: YAML and sqlite errors quote the offending text on later lines,
    and a tool's stderr may run on. Empty, it gives the exception's type name (or
    ``"no message"`` for text).
    """
    for line in str(message).splitlines():
        if line.strip():
            return line.strip()
    return type(message).__name__ if isinstance(message, BaseException) else "no message"
