"""Reporting nodes: distributions counted by hand, a deterministic contact sheet and figure."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pneumothorax.pipelines.reporting.nodes import (
    build_contact_sheet,
    histogram_pixels,
    plot_distributions,
    select_sample_ids,
    summarise_metadata,
)

SEQUENTIAL = {"backend": "sequential"}


def _loader(image: Image.Image):
    return image.copy


@pytest.fixture
def table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": ["a", "b", "c", "d", "e", "f"],
            # SIIM writes bare years; the standard's AS form is nnnY/M/W/D.
            "PatientAge": ["38", "045Y", "9", "006M", None, "93"],
            "PatientSex": ["M", "F", "M", None, "O", "M"],
            "ViewPosition": ["PA", "AP", "PA", "PA", "", "AP"],
            "Rows": [1024, 1024, 2048, 1024, None, 1024],
            "Columns": [1024, 1024, 2500, 1024, 512, 1024],
        }
    )


def test_patient_age_is_counted_by_decade_with_unknowns(table: pd.DataFrame) -> None:
    age, _, _, _ = summarise_metadata(table)
    counts = dict(zip(age["age"], age["count"], strict=True))
    # 38 -> 30-39, 045Y -> 40-49, 9 and 006M (half a year) -> 0-9, None -> unknown, 93 -> 90+
    assert counts == {
        "0-9": 2, "10-19": 0, "20-29": 0, "30-39": 1, "40-49": 1, "50-59": 0, "60-69": 0,
        "70-79": 0, "80-89": 0, "90+": 1, "unknown": 1,
    }  # fmt: skip
    assert list(age["age"])[-2:] == ["90+", "unknown"]


def test_sex_view_and_raw_size_are_counted_with_unknown_last(table: pd.DataFrame) -> None:
    _, sex, view, size = summarise_metadata(table)
    assert sex.to_dict("list") == {"PatientSex": ["F", "M", "O", "unknown"], "count": [1, 3, 1, 1]}
    assert view.to_dict("list") == {"ViewPosition": ["AP", "PA", "unknown"], "count": [2, 3, 1]}
    assert size.to_dict("list") == {
        "size": ["1024x1024", "2500x2048", "unknown"],
        "count": [4, 1, 1],
    }


def test_missing_columns_count_as_unknown() -> None:
    _, sex, _, size = summarise_metadata(pd.DataFrame({"id": ["a", "b"]}))
    assert sex.to_dict("list") == {"PatientSex": ["unknown"], "count": [2]}
    assert size.to_dict("list") == {"size": ["unknown"], "count": [2]}


def test_pixel_histogram_sums_grey_levels_over_all_images() -> None:
    first = Image.fromarray(np.array([[0, 0], [255, 7]], dtype=np.uint8))
    second = Image.fromarray(np.array([[7, 7, 7]], dtype=np.uint8))
    table = histogram_pixels({"x": _loader(first), "y": _loader(second)}, SEQUENTIAL)
    assert list(table.columns) == ["intensity", "pixels"]
    assert len(table) == 256
    assert table["pixels"].sum() == 7
    assert dict(table.loc[table["pixels"] > 0].itertuples(index=False)) == {0: 2, 7: 4, 255: 1}


def test_pixel_histogram_is_the_same_read_on_worker_processes(tmp_path) -> None:
    # The node reads each PNG on the executor: real files, loaded through the catalog's type.
    from kedro_datasets.partitions import PartitionedDataset

    rng = np.random.default_rng(0)
    expected = np.zeros(256, dtype=np.int64)
    for index in range(20):
        pixels = rng.integers(0, 256, size=(8, 9), dtype=np.uint8)
        np.add.at(expected, pixels.ravel(), 1)  # counted here, independently of the node
        Image.fromarray(pixels).save(tmp_path / f"{index:02d}.png")
    folder = PartitionedDataset(
        path=str(tmp_path),
        dataset="pneumothorax.datasets.png_dataset.PngDataset",
        filename_suffix=".png",
    ).load()

    on_processes = histogram_pixels(folder, {"backend": "processes", "workers": 2})

    assert on_processes["pixels"].tolist() == expected.tolist()
    assert on_processes.equals(histogram_pixels(folder, SEQUENTIAL))


@pytest.mark.parametrize("count", [3, 16, 40])
def test_sample_ids_are_the_smallest_md5s_in_id_order(count: int) -> None:
    ids = [f"study/series/{n}" for n in range(count)]
    expected = sorted(sorted(ids, key=lambda i: hashlib.md5(i.encode()).hexdigest())[:16])
    assert select_sample_ids(reversed(ids)) == expected


def test_contact_sheet_is_a_deterministic_grid_of_sixteen() -> None:
    images = {f"id{n:02d}": _loader(Image.new("L", (256, 200), color=n * 10)) for n in range(20)}
    first = build_contact_sheet(images)
    assert first == build_contact_sheet(dict(reversed(images.items())))
    with Image.open(io.BytesIO(first)) as sheet:
        assert sheet.format == "PNG"
        assert sheet.size == (4 * 160, 4 * (160 + 14))


def test_distributions_figure_is_a_deterministic_png(table: pd.DataFrame) -> None:
    pixels = pd.DataFrame({"intensity": range(256), "pixels": [1] * 256})
    figure = plot_distributions(*summarise_metadata(table), pixels)
    assert figure[:8] == b"\x89PNG\r\n\x1a\n"
    assert figure == plot_distributions(*summarise_metadata(table), pixels)
    assert b"Software" not in figure  # no tool/version text in the bytes
