"""Check SIIM's label table against the converted images: usable labels in, bad rows listed."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from pneumothorax.labels.rle import NEGATIVE, RleError, spans, union_area

logger = logging.getLogger(__name__)

#: train-rle.csv's columns once stripped: SIIM writes the second as " EncodedPixels".
RLE_COLUMNS = ("ImageId", "EncodedPixels")
#: Columns of the per-image label table.
LABEL_COLUMNS = ("id", "pneumothorax", "regions", "area", "rows", "columns")
#: Columns of the valid label rows (SIIM's, one per region or one -1 per negative image).
RUN_COLUMNS = ("id", "encoded_pixels")


class LabelFileError(ValueError):
    """The label file as a whole is unusable (wrong header)."""


@dataclass
class CheckedLabels:
    """The outcome of :func:`check_labels`.

    Attributes:
        labels: One row per usable image (:data:`LABEL_COLUMNS`), sorted by id.
        runs: The usable images' rows (:data:`RUN_COLUMNS`), in file order.
        rejected: ``id, path, reason`` rows for every problem, sorted by id.
    """

    labels: pd.DataFrame
    runs: pd.DataFrame
    rejected: list[dict[str, str]] = field(default_factory=list)


def normalise_columns(table: pd.DataFrame, source: str) -> pd.DataFrame:
    """Strip the column names (SIIM's ``" EncodedPixels"``) and check them.

    Raises:
        LabelFileError: The columns are not ``ImageId`` and ``EncodedPixels``.
    """
    names = tuple(str(name).strip() for name in table.columns)
    if names != RLE_COLUMNS:
        raise LabelFileError(
            f"{source}: expected the columns 'ImageId, EncodedPixels' "
            f"(SIIM-ACR train-rle.csv), got {', '.join(map(repr, table.columns))}"
        )
    return table.set_axis(list(RLE_COLUMNS), axis=1)


def check_labels(
    table: pd.DataFrame, shapes: Mapping[str, tuple[int, int]], source: str
) -> CheckedLabels:
    """Match each label row to an image and decode it; list what does not fit.

    An image is usable when it has at least one row and all its rows decode within its
    shape. Problems, each a rejected row naming the file's line: a row without an
    ImageId, an ImageId with no image, a malformed value (odd count, not integers, a run
    past the image), ``-1`` next to regions; and an image with no label row at all.

    Args:
        table: The label file with :data:`RLE_COLUMNS` (see :func:`normalise_columns`),
            every cell a string.
        shapes: ``{id: (rows, columns)}`` of the original images.
        source: The label file's name, for the rejected list.

    Returns:
        The usable labels, their rows, and the rejected list.
    """
    rejected: list[dict[str, str]] = []
    rows_of: dict[str, list[tuple[int, str]]] = {}
    for line, (raw_id, value) in enumerate(
        zip(table["ImageId"], table["EncodedPixels"], strict=True), start=2
    ):
        image_id = str(raw_id).strip()
        where = f"{source}:{line}"
        if not image_id:
            rejected.append(_row("", where, "a label row without an ImageId"))
        elif image_id not in shapes:
            rejected.append(_row(image_id, where, "no converted image has this ImageId"))
        else:
            rows_of.setdefault(image_id, []).append((line, str(value).strip()))

    labels, runs = [], []
    for image_id in sorted(rows_of):
        problem, area, regions = _check_image(rows_of[image_id], shapes[image_id])
        if problem:
            line, reason = problem
            rejected.append(_row(image_id, f"{source}:{line}", reason))
            continue
        rows, columns = shapes[image_id]
        labels.append((image_id, int(regions > 0), regions, area, rows, columns))
        runs += [(image_id, value) for _, value in rows_of[image_id]]
    for image_id in sorted(set(shapes) - set(rows_of)):
        rejected.append(_row(image_id, source, "the image has no label row"))

    for entry in rejected:
        logger.warning("labels: rejected %s (%s): %s", entry["id"], entry["path"], entry["reason"])
    return CheckedLabels(
        labels=pd.DataFrame(labels, columns=list(LABEL_COLUMNS)),
        runs=pd.DataFrame(runs, columns=list(RUN_COLUMNS)),
        rejected=sorted(rejected, key=lambda entry: (entry["id"], entry["path"])),
    )


def _check_image(
    rows: list[tuple[int, str]], shape: tuple[int, int]
) -> tuple[tuple[int, str] | None, int, int]:
    """``(problem or None, area in pixels, regions)`` of one image's rows."""
    covered: list[tuple[int, int]] = []
    regions = 0
    negative_line = None
    for line, value in rows:
        if value == NEGATIVE:
            negative_line = line
            continue
        try:
            covered += spans(value, shape)
        except RleError as err:
            return (line, str(err)), 0, 0
        regions += 1
    if regions and negative_line is not None:
        return (negative_line, "-1 (no pneumothorax) next to rows with regions"), 0, 0
    return None, union_area(covered), regions


def _row(image_id: str, path: str, reason: str) -> dict[str, str]:
    return {"id": image_id, "path": path, "reason": reason}
