"""Nodes of the reporting pipeline: pictures and distributions of the converted data."""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFont

from pneumothorax.dicom.age import age_in_years
from pneumothorax.raw.pick import select_sample_ids
from pneumothorax.runtime.file_ref import FileRef

logger = logging.getLogger(__name__)

#: Thumbnails on the contact sheet, and their side in pixels.
SHEET_COUNT = 16
SHEET_COLUMNS = 4
THUMBNAIL = 160
LABEL_HEIGHT = 14
#: Characters of the id under each thumbnail (the SOP Instance UID's tail tells them apart).
LABEL_CHARS = 26

#: PatientAge histogram bins: decades, the last open-ended.
AGE_BIN_WIDTH = 10
AGE_LAST_BIN = 90
UNKNOWN = "unknown"

#: PNG without a "Software" chunk: the same data always gives the same bytes.
_PNG_METADATA = {"Software": None}


def build_contact_sheet(img_train: Mapping[str, FileRef]) -> bytes:
    """A grid of :data:`SHEET_COUNT` thumbnails of converted images, each with its id.

    The 16 PNGs are read here, not through the ``file_mapper``: starting workers and a
    progress line would cost more than reading them.

    Args:
        img_train: The converted PNGs, by id.

    Returns:
        The contact sheet as PNG bytes (deterministic).
    """
    chosen = select_sample_ids(img_train, SHEET_COUNT)
    rows = max(1, -(-len(chosen) // SHEET_COLUMNS))
    cell_h = THUMBNAIL + LABEL_HEIGHT
    sheet = Image.new("L", (SHEET_COLUMNS * THUMBNAIL, rows * cell_h), color=0)
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=10)
    for index, file_id in enumerate(chosen):
        with img_train[file_id].load() as image:
            thumb = image.convert("L")
        thumb.thumbnail((THUMBNAIL, THUMBNAIL), Image.Resampling.LANCZOS)
        left, top = (index % SHEET_COLUMNS) * THUMBNAIL, (index // SHEET_COLUMNS) * cell_h
        sheet.paste(
            thumb, (left + (THUMBNAIL - thumb.width) // 2, top + (THUMBNAIL - thumb.height) // 2)
        )
        label = file_id if len(file_id) <= LABEL_CHARS else "…" + file_id[-(LABEL_CHARS - 1) :]
        draw.text((left + 2, top + THUMBNAIL + 1), label, fill=255, font=font)
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG", compress_level=9)
    return buffer.getvalue()


def summarise_metadata(
    train_metadata: pd.DataFrame,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Distributions of the metadata table, each a small table for plots.

    Returns:
        PatientAge histogram (``age``, ``count``: decades, then ``unknown``), PatientSex and
        ViewPosition counts (``<keyword>``, ``count``), and the raw image sizes
        (``size`` as ``<Columns>x<Rows>``, ``count``).
    """
    # Plain lists, not Series.map: pandas would turn the Nones into NaN and ints into floats.
    labels = [_age_bin(age_in_years(v)) for v in _column(train_metadata, "PatientAge")]
    order = [*(f"{lo}-{lo + AGE_BIN_WIDTH - 1}" for lo in range(0, AGE_LAST_BIN, AGE_BIN_WIDTH))]
    order += [f"{AGE_LAST_BIN}+", UNKNOWN]
    age = pd.DataFrame({"age": order, "count": [labels.count(label) for label in order]})
    sex = _counts(train_metadata, "PatientSex")
    view = _counts(train_metadata, "ViewPosition")
    columns = [_integer(v) for v in _column(train_metadata, "Columns")]
    rows = [_integer(v) for v in _column(train_metadata, "Rows")]
    sizes = pd.Series(
        [f"{c}x{r}" if c and r else UNKNOWN for c, r in zip(columns, rows, strict=True)],
        dtype=object,
    )
    size = _tally(sizes, "size")
    return age, sex, view, size


def plot_distributions(
    patient_age: pd.DataFrame,
    patient_sex: pd.DataFrame,
    view_position: pd.DataFrame,
    raw_image_size: pd.DataFrame,
    pixel_intensity: pd.DataFrame,
) -> bytes:
    """One figure with the five distributions, as deterministic PNG bytes."""
    # Imported here: Kedro builds every pipeline at start-up, and matplotlib's import
    # (~0.5 s) would otherwise be paid by the metadata and images stages, which never plot.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(12, 7), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(2, 3)
    bars = [
        (axes[0][0], patient_age, "age", "PatientAge (years)"),
        (axes[0][1], patient_sex, "PatientSex", "PatientSex"),
        (axes[0][2], view_position, "ViewPosition", "ViewPosition"),
        (axes[1][0], raw_image_size, "size", "raw image size (Columns x Rows)"),
    ]
    for ax, table, column, title in bars:
        ax.bar(table[column].astype(str), table["count"], color="#4c72b0")
        ax.set_title(title)
        ax.set_ylabel("files")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(axis="x", labelrotation=45)
    ax = axes[1][1]
    ax.plot(pixel_intensity["intensity"], pixel_intensity["pixels"], color="#4c72b0")
    ax.set_title("pixel intensity (converted PNGs)")
    ax.set_xlabel("grey level")
    ax.set_ylabel("pixels")
    axes[1][2].axis("off")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, metadata=_PNG_METADATA)
    return buffer.getvalue()


def _column(table: pd.DataFrame, keyword: str) -> pd.Series:
    if keyword in table.columns:
        return table[keyword]
    return pd.Series([None] * len(table), dtype=object)


def _counts(table: pd.DataFrame, keyword: str) -> pd.DataFrame:
    values = [
        UNKNOWN if _missing(v) else str(v).strip() or UNKNOWN for v in _column(table, keyword)
    ]
    return _tally(pd.Series(values, dtype=object), keyword)


def _tally(values: pd.Series, column: str) -> pd.DataFrame:
    counted = values.value_counts()
    ordered = sorted(counted.items(), key=lambda item: (item[0] == UNKNOWN, item[0]))
    return pd.DataFrame({column: [k for k, _ in ordered], "count": [int(v) for _, v in ordered]})


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def _age_bin(age: float | None) -> str:
    if age is None:
        return UNKNOWN
    if age >= AGE_LAST_BIN:
        return f"{AGE_LAST_BIN}+"
    low = int(age // AGE_BIN_WIDTH * AGE_BIN_WIDTH)
    return f"{low}-{low + AGE_BIN_WIDTH - 1}"


def _integer(value: Any) -> int | None:
    if _missing(value):
        return None
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None
