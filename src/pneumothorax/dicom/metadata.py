"""Flatten a DICOM header into one CSV-ready row: one column per attribute keyword."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.valuerep import IS, DSfloat, PersonName

from pneumothorax.dicom.results import FileResult, failure

#: Value representations that hold bulk binary data rather than a readable attribute
#: (Pixel Data, overlays, waveforms, curve data and the like).
BULK_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})

ID_COLUMN = "id"


def flatten_header(ds: Dataset) -> dict[str, Any]:
    """Return one row for ``ds``: ``{keyword: value}`` for every top-level public element.

    File Meta Information (group 0002, e.g. TransferSyntaxUID) is included; private tags,
    elements without a keyword and bulk data (:data:`BULK_VRS`, (7FE0,0010) Pixel Data)
    are left out. Numbers stay numbers, multi-valued elements become JSON lists and
    sequences become JSON (the DICOM JSON model, PS3.18 F.2).

    Args:
        ds: A header, typically read with ``stop_before_pixels=True``.

    Returns:
        The row, in tag order.
    """
    row: dict[str, Any] = {}
    meta = getattr(ds, "file_meta", None)
    elements: Iterable[DataElement] = list(meta or []) + list(ds)
    for elem in elements:
        if elem.tag.is_private or not elem.keyword or elem.VR in BULK_VRS:
            continue
        row[elem.keyword] = _cell(elem)
    return row


def read_header_row(item: tuple[str, Callable[[], Dataset]]) -> FileResult:
    """Per-file work of the metadata pipeline: load one header and flatten it.

    Args:
        item: ``(id, load)``; ``load`` should stop before (7FE0,0010) Pixel Data.

    Returns:
        The row as ``value``, or the reason the file was unusable as ``error``.
    """
    file_id, load = item
    try:
        return FileResult(file_id, flatten_header(load()))
    except Exception as err:  # one bad file must not stop the others
        return failure(file_id, err)


def column_order(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """Return the union of the rows' keywords in DICOM tag order (stable for any row order)."""
    keys: set[str] = set()
    for row in rows:
        keys.update(row)
    keys.discard(ID_COLUMN)
    return sorted(keys, key=lambda k: (tag_for_keyword(k) or 0xFFFFFFFF, k))


def _cell(elem: DataElement) -> Any:
    if elem.VR == "SQ":
        return json.dumps([item.to_json_dict(1024, _drop_bulk) for item in elem.value])
    value = elem.value
    if value is None or value == "":
        return None
    if isinstance(value, MultiValue | list | tuple):
        return json.dumps([_scalar(v) for v in value])
    return _scalar(value)


def _scalar(value: Any) -> Any:
    if isinstance(value, DSfloat | float):
        return float(value)
    if isinstance(value, IS | int):
        return int(value)
    if isinstance(value, PersonName):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("latin-1", errors="replace")
    return value if isinstance(value, str) else str(value)


def _drop_bulk(_elem: DataElement) -> str:
    # Bulk data inside sequences (e.g. icon images) is not metadata; keep the key, drop bytes.
    return ""
