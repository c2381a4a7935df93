"""The outcome of one file's work, so one unusable file never stops the others.

A failure's reason never quotes a header value (reasons reach ``rejected.csv``, the logs and
MLflow, and a header value may be a patient's): reasons of this project's own checks name
the attribute and the problem; any other exception is named by its type and, when pydicom
says where it happened, the attribute, never by its message, which may echo a value.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
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
    """A failed result whose reason names the problem, prefixed by the file's path or id.

    A :class:`DicomFileError` anywhere in the exception's cause chain supplies the reason
    (and its path); any other exception becomes ``"<Type> while reading <attribute>"`` or
    ``"unexpected <Type>"``: its message is never used, since it may quote a header value.
    """
    cause: BaseException | None = err
    while cause is not None and not isinstance(cause, DicomFileError):
        cause = cause.__cause__
    if isinstance(cause, DicomFileError):
        # A data set read from a stream has no file name: the id is the only name left.
        error = f"{file_id}: {cause.reason}" if cause.path == _UNNAMED else str(cause)
        return FileResult(file_id, error=error, reason=cause.reason)
    reason = describe_exception(err)
    return FileResult(file_id, error=f"{file_id}: {reason}", reason=reason)


#: pydicom's wrapper of an error met at one element ("With tag (0010,0010) got exception: ...").
_AT_TAG = re.compile(r"With tag \(([0-9A-Fa-f]{4}),\s*([0-9A-Fa-f]{4})\)")


def describe_exception(err: BaseException) -> str:
    """Say what went wrong without the exception's message (it may quote a header value).

    An OS error keeps its description ("Permission denied"); an error pydicom met at one
    element names that element, e.g. ``"ValueError while reading (0028,0008) Number of
    Frames (the value is not shown)"``; anything else gives its type alone.
    """
    kind = type(err).__name__
    if isinstance(err, MemoryError):
        return "out of memory (MemoryError)"
    if isinstance(err, OSError) and err.strerror:
        return f"{err.strerror} ({kind})"
    match = _AT_TAG.search(str(err))
    if match is None:
        return f"unexpected {kind} (its message is not shown: it may quote a header value)"
    # Imported here: this module is on every stage's import path, most never read DICOM.
    from pydicom.datadict import dictionary_description
    from pydicom.tag import Tag

    tag = Tag(int(match.group(1), 16), int(match.group(2), 16))
    try:
        name = f"{tag} {dictionary_description(tag)}" if not tag.is_private else f"{tag}"
    except KeyError:
        name = str(tag)
    return f"{kind} while reading {name} (the value is not shown)"


@contextmanager
def quiet_pydicom() -> Iterator[None]:
    """Hide pydicom's warnings and log records for the duration: they quote header values.

    (e.g. "Invalid value for VR DA: '<value>'"). Per-file work runs one file at a time per
    process (the executor's workers have one thread each), so switching them off is safe.
    """
    loggers = [logging.getLogger(name) for name in _PYDICOM_LOGGERS]
    previous = [each.disabled for each in loggers]
    for each in loggers:
        each.disabled = True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for each, state in zip(loggers, previous, strict=True):
            each.disabled = state


_PYDICOM_LOGGERS = ("pydicom", "pydicom.pixels.decoders.base")
