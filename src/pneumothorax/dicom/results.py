"""The outcome of one file's work, so one unusable file never stops the others."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FileResult:
    """The outcome for one file: ``value`` on success, ``error`` (the reason) otherwise."""

    id: str
    value: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the file was converted."""
        return self.error is None


def failure(file_id: str, err: BaseException) -> FileResult:
    """A failed result whose reason is the error's first line, prefixed by the id."""
    text = str(err).strip()
    message = text.splitlines()[0] if text else type(err).__name__
    # Dataset errors already start with the file's path ("<raw>/<id>.dcm: reason").
    named = f"/{file_id}" in message.partition(": ")[0] or message.startswith(f"{file_id}:")
    return FileResult(file_id, error=message if named else f"{file_id}: {message}")
