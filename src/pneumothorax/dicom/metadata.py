"""Flatten a DICOM header into one CSV-ready row: one column per attribute keyword."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from pydicom.datadict import keyword_for_tag, tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.valuerep import DA, DT, IS, TM, DSfloat, PersonName

from pneumothorax.dicom.age import age_in_years
from pneumothorax.dicom.deid import Deidentifier
from pneumothorax.dicom.results import FileResult, failure, quiet_pydicom

#: Value representations that hold binary data: kept (as hex) only up to :data:`MAX_BINARY_BYTES`.
BINARY_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})
#: Binary values longer than this are bulk data (icons, LUT data, private blobs), not metadata.
MAX_BINARY_BYTES = 1024
#: Bulk data left out whatever their size: pixels, overlays (60xx,3000), waveforms, curves.
BULK_KEYWORDS = frozenset(
    {"PixelData", "FloatPixelData", "DoubleFloatPixelData", "OverlayData", "WaveformData"}
)

ID_COLUMN = "id"
#: Derived column placed right after (0010,1010) Patient Age: the age in years, as a number.
AGE_YEARS_COLUMN = "PatientAgeYears"
#: Always present, so users can filter images with text burnt into the pixels.
BURNED_IN_COLUMN = "BurnedInAnnotation"
_DERIVED_AFTER = {AGE_YEARS_COLUMN: "PatientAge"}


def flatten_header(ds: Dataset, private_tags: bool = False) -> dict[str, Any]:
    """Return one row for ``ds``: ``{column: value}`` for every top-level element kept.

    File Meta Information (group 0002, e.g. TransferSyntaxUID) is included. Left out: bulk
    data (:data:`BULK_KEYWORDS`, and binary values over :data:`MAX_BINARY_BYTES`; shorter
    ones become hex), elements without a keyword and, unless ``private_tags``, private
    elements (kept as ``gggg_eeee`` columns when asked). Numbers stay numbers, multi-valued
    elements become JSON lists, sequences become JSON (the DICOM JSON model, PS3.18 F.2),
    dates and times become ISO 8601 (``2019-01-31``, ``13:45:00``). Two columns are
    added: ``PatientAgeYears`` (:func:`pneumothorax.dicom.age.age_in_years`) and
    ``BurnedInAnnotation`` (empty when the file does not say).

    Args:
        ds: A data set (its Pixel Data, if read, is never copied).
        private_tags: Keep private elements as ``gggg_eeee`` columns.

    Returns:
        The row, in tag order.
    """
    row: dict[str, Any] = {}
    meta = getattr(ds, "file_meta", None)
    elements: Iterable[DataElement] = list(meta or []) + list(ds)
    for elem in elements:
        if elem.tag.is_private:
            if not private_tags or elem.tag.element == 0:
                continue
            name = f"{elem.tag.group:04x}_{elem.tag.element:04x}"
        elif not elem.keyword or elem.keyword in BULK_KEYWORDS:
            continue
        else:
            name = elem.keyword
        if elem.VR in BINARY_VRS and len(elem.value or b"") > MAX_BINARY_BYTES:
            continue
        row[name] = _cell(elem)
    row[AGE_YEARS_COLUMN] = age_in_years(row.get("PatientAge"))
    row.setdefault(BURNED_IN_COLUMN, None)
    return row


def column_order(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """Return the union of the rows' keywords in DICOM tag order (stable for any row order)."""
    keys: set[str] = set()
    for row in rows:
        keys.update(row)
    keys.discard(ID_COLUMN)
    return sorted(keys, key=_column_key)


def _column_key(name: str) -> tuple[int, int, str]:
    if name in _DERIVED_AFTER:
        return (*_column_key(_DERIVED_AFTER[name])[:2], name)
    tag = tag_for_keyword(name)
    if tag is None and len(name) == 9 and name[4] == "_":
        try:
            tag = int(name[:4] + name[5:], 16)
        except ValueError:
            tag = None
    # Keyword columns first by tag, then derived/other columns (e.g. render_*) by name.
    return (tag if tag is not None else 0xFFFFFFFF, 0, name)


def _cell(elem: DataElement) -> Any:
    if elem.VR == "SQ":
        return json.dumps([item.to_json_dict(1024, _drop_bulk) for item in elem.value])
    value = elem.value
    if value is None or value in ("", b""):
        return None
    if elem.VR in BINARY_VRS and isinstance(value, bytes):
        return value.hex()
    if elem.VR in _ISO_FORMATS:
        return _iso(elem.VR, value)
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


_ISO_FORMATS: dict[str, type[DA] | type[DT] | type[TM]] = {"DA": DA, "DT": DT, "TM": TM}


def _iso(vr: str, value: Any) -> Any:
    """DA/DT/TM values as ISO 8601 text; a value that does not parse is kept as written."""
    values = list(value) if isinstance(value, MultiValue | list | tuple) else [value]
    out = []
    for item in values:
        try:
            parsed = _ISO_FORMATS[vr](str(item).strip())
            out.append(parsed.isoformat() if parsed is not None else None)
        except (TypeError, ValueError):
            out.append(str(item))
    return json.dumps(out) if len(out) > 1 else out[0]


def _drop_bulk(_elem: DataElement) -> str:
    # Bulk data inside sequences (e.g. icon images) is not metadata; keep the key, drop bytes.
    return ""


#: Columns the metadata table adds about how the images stage rendered the file.
RENDER_COLUMNS = ("render_window", "render_decoder")


@dataclass(frozen=True)
class MetadataOptions:
    """What :func:`read_metadata_row` keeps.

    Attributes:
        private_tags: Keep private elements as ``gggg_eeee`` columns.
        deidentifier: De-identify each header first (``None`` keeps every value).
    """

    private_tags: bool = False
    deidentifier: Deidentifier | None = None


def read_metadata_row(
    item: tuple[str, Callable[[], Dataset]], options: MetadataOptions
) -> FileResult:
    """Per-file work of the metadata pipeline: load the header, de-identify, flatten.

    Whether the file is usable is not decided here: the images stage decides it once, by
    converting the file (its log lists each verdict), and the metadata pipeline reads only
    the files it converted. So ``load`` may stop before the pixels
    (``stop_before_pixels``): nothing here needs them.

    Args:
        item: ``(id, load)`` where ``load`` returns the data set (the header suffices).
        options: Private tags and de-identification.

    Returns:
        The row as ``value``, or the reason the header is unusable as ``error``/``reason``.
    """
    file_id, load = item
    try:
        # With de-identification on, pydicom's warnings must not quote the values it reads.
        with quiet_pydicom() if options.deidentifier is not None else nullcontext():
            ds = load()
            # Never copied, and the de-identifier need not walk them. Deleted by tag: a
            # repeating group's keyword ((60xx,3000) Overlay Data) is no attribute name.
            bulk = [e.tag for e in ds.elements() if keyword_for_tag(e.tag) in BULK_KEYWORDS]
            for tag in bulk:
                del ds[tag]
            if options.deidentifier is not None:
                options.deidentifier.apply(ds)
            return FileResult(file_id, flatten_header(ds, private_tags=options.private_tags))
    except Exception as err:  # one bad file must not stop the others
        return failure(file_id, err)
