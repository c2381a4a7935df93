"""Report unusable files: a warning each, a summary and a table, or stop at the first (strict)."""

from __future__ import annotations

import logging

import pandas as pd

from pneumothorax.dicom.results import FileResult

logger = logging.getLogger(__name__)

#: Columns of ``rejected.csv`` (and of the rejected rows of the images stage's log).
REJECTED_COLUMNS = ("id", "path", "reason")


class BadInputError(RuntimeError):
    """``strict: true`` and a file is unusable; the message names the file and the reason."""


def reject(
    result: FileResult, path: str, strict: bool, stage: str, *, announce: bool = True
) -> dict[str, str]:
    """Log one unusable file and return its report row; raise instead in strict mode.

    Args:
        result: The file's outcome (its id and why it is unusable).
        path: The file's path below the raw folder (:attr:`FileRef.path`), which names it.
        strict: Raise instead of listing the file.
        stage: The stage's name, first in the message.
        announce: Log the warning line; ``False`` for a verdict an earlier stage of the
            same ``dvc repro`` has already announced (one line per file per reproduction).

    Raises:
        BadInputError: ``strict`` is set.
    """
    reason = result.reason or result.error or "unusable"
    if strict:
        raise BadInputError(f"{stage}: {path}: {reason} (strict: true stops at the first bad file)")
    logger.log(
        logging.WARNING if announce else logging.DEBUG, "%s: rejected %s: %s", stage, path, reason
    )
    return {"id": result.id, "path": path, "reason": reason}


def rejected_table(rows: list[dict[str, str]]) -> pd.DataFrame:
    """Rejected files as a table sorted by id (same bytes whatever the listing order)."""
    table = pd.DataFrame.from_records(rows, columns=list(REJECTED_COLUMNS))
    return table.sort_values("id", kind="stable", ignore_index=True)


def log_summary(stage: str, converted: int, rejected: int) -> None:
    """Count the stage's files: a warning line if any was rejected, else only at debug level.

    Where the rejected files are listed is logged by the hook that saves the list
    (:class:`pneumothorax.hooks.ProjectHooks`), which knows its path. A stage that
    rejected every file says so: its outputs are empty, not missing.
    """
    if rejected and not converted:
        logger.warning(
            "%s: all %d file(s) rejected, none converted: the outputs are empty",
            stage,
            rejected,
        )
    elif rejected:
        logger.warning("%s: %d file(s) rejected, %d converted", stage, rejected, converted)
    else:
        logger.debug("%s: %d file(s) converted, none rejected", stage, converted)
