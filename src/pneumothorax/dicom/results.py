"""The outcome of one file's work, so one unusable file never stops the others."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pneumothorax.dicom.errors import DicomFileError

#: The path render, fast_decode and validate give for a data set without a file name.
_UNNAMED = "<dataset>"


@dataclass(frozen=True)
class FileResult:
    """The outcome for one file: ``value`` on success, ``error`` (the reason) otherwise.

    Attributes:
        id: The file's id (its path below the raw folder, without ``.dcm``).
        value: What the work produced, on success.
        error: ``"<path or id>: <reason>"``, on failure.
        reason: The reason alone (no path), on failure: what a report column shows.
    """

    id: str
    value: Any = None
    error: str | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the file was converted."""
        return self.error is None


def failure(file_id: str, err: BaseException) -> FileResult:
    """A failed result whose reason is the error's first line, prefixed by the file's path or id.

    A :class:`DicomFileError` anywhere in the exception's cause chain supplies the reason
    without its path; otherwise the first line of the message is the reason.
    """
    cause: BaseException | None = err
    while cause is not None and not isinstance(cause, DicomFileError):
        cause = cause.__cause__
    if isinstance(cause, DicomFileError):
        # A data set read from a stream has no file name: the id is the only name left.
        error = f"{file_id}: {cause.reason}" if cause.path == _UNNAMED else str(cause)
        return FileResult(file_id, error=error, reason=cause.reason)
    text = str(err).strip()
    message = text.splitlines()[0] if text else type(err).__name__
    # Dataset errors already start with the file's path ("<raw>/<id>.dcm: reason").
    named = f"/{file_id}" in message.partition(": ")[0] or message.startswith(f"{file_id}:")
    return FileResult(
        file_id,
        error=message if named else f"{file_id}: {message}",
        reason=message,
    )
