"""Errors that name the offending file and the reason it cannot be used."""

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
