"""Tests for validating ``params.yaml`` (``pneumothorax.config.params``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pneumothorax.config.params import (
    PADDING_POLICIES,
    ExecutorParams,
    ImageParams,
    ParamsError,
    validate_params,
)
from pneumothorax.dicom import padding
from pneumothorax.dicom.render import RenderSpec

PARAMS_YAML = Path(__file__).resolve().parents[2] / "params.yaml"


@pytest.mark.parametrize(
    ("raw", "size", "level"),
    [
        ({}, (256, 256), 6),
        ({"size": 128}, (128, 128), 6),
        ({"size": [320, 200]}, (320, 200), 6),
        ({"size": (64, 32), "png_compress_level": 0}, (64, 32), 0),
        ({"size": 1, "png_compress_level": 9}, (1, 1), 9),
    ],
)
def test_image_params_valid(raw: dict, size: tuple[int, int], level: int) -> None:
    params = ImageParams.from_mapping(raw)
    assert params.size == size
    assert params.png_compress_level == level
    assert params.render_spec() == RenderSpec(size=size, png_compress_level=level)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"size": 0}, r"image\.size must be a positive integer or \[width, height\], got 0"),
        ({"size": -5}, r"image\.size .*got -5"),
        ({"size": "256"}, r"image\.size .*got '256'"),
        ({"size": 256.0}, r"image\.size .*got 256\.0"),
        ({"size": True}, r"image\.size .*got True"),
        ({"size": [256]}, r"image\.size .*got \[256\]"),
        ({"size": [1, 2, 3]}, r"image\.size .*got \[1, 2, 3\]"),
        ({"size": [0, 200]}, r"image\.size .*got \[0, 200\]"),
        ({"size": [320, "200"]}, r"image\.size .*got \[320, '200'\]"),
        ({"size": None}, r"image\.size .*got None"),
        ({"png_compress_level": 10}, r"image\.png_compress_level must be 0\.\.9, got 10"),
        ({"png_compress_level": -1}, r"image\.png_compress_level .*got -1"),
        ({"png_compress_level": "6"}, r"image\.png_compress_level .*got '6'"),
        ({"png_compress_level": True}, r"image\.png_compress_level .*got True"),
        (
            {"sise": 256},
            r"unknown key\(s\) image\.sise; "
            r"known: bit_depth, frames, keep_aspect, padding, png_compress_level, size",
        ),
        ({"size": 64, "zz": 1, "aa": 2}, r"unknown key\(s\) image\.aa, image\.zz"),
        ({"padding": "white"}, r"image\.padding must be one of black, keep, got 'white'"),
        ({"padding": True}, r"image\.padding .*got True"),
    ],
)
def test_image_params_invalid(raw: dict, message: str) -> None:
    with pytest.raises(ParamsError, match=message):
        ImageParams.from_mapping(raw)


@pytest.mark.parametrize(("raw", "padding"), [({}, "black"), ({"padding": "keep"}, "keep")])
def test_image_padding_reaches_the_render_spec(raw: dict, padding: str) -> None:
    assert ImageParams.from_mapping(raw).render_spec().padding == padding


def test_padding_policies_are_those_the_renderer_implements() -> None:
    assert PADDING_POLICIES == padding.PADDING_POLICIES


@pytest.mark.parametrize("raw", [256, [256, 256], "size: 256"])
def test_image_group_must_be_a_mapping(raw: object) -> None:
    with pytest.raises(ParamsError, match=r"'image' must be a mapping"):
        ImageParams.from_mapping(raw)


@pytest.mark.parametrize(
    ("raw", "backend", "workers", "count"),
    [
        (None, "processes", None, None),
        ({}, "processes", None, None),
        ({"backend": "sequential"}, "sequential", None, 1),
        ({"backend": "sequential", "workers": 8}, "sequential", 8, 1),
        ({"backend": "processes", "workers": 3}, "processes", 3, 3),
        ({"backend": "processes", "workers": None}, "processes", None, None),
        ({"backend": "processes", "workers": "auto"}, "processes", None, None),
        ({"backend": "dask", "workers": 2}, "dask", 2, 2),
    ],
)
def test_executor_params_valid(
    raw: dict | None, backend: str, workers: int | None, count: int | None
) -> None:
    params = ExecutorParams.from_mapping(raw)
    assert (params.backend, params.workers) == (backend, workers)
    if count is not None:
        assert params.worker_count == count
    else:
        assert params.worker_count >= 1


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"backend": "threads"},
         r"executor\.backend must be one of sequential, processes, dask, got 'threads'"),
        ({"backend": "Dask"}, r"executor\.backend .*got 'Dask'"),
        ({"backend": None}, r"executor\.backend .*got None"),
        ({"workers": 0}, r"executor\.workers must be a positive integer or .auto., got 0"),
        ({"workers": -2}, r"executor\.workers .*got -2"),
        ({"workers": 2.5}, r"executor\.workers .*got 2\.5"),
        ({"workers": "4"}, r"executor\.workers .*got '4'"),
        ({"workers": True}, r"executor\.workers .*got True"),
        ({"wrokers": 2}, r"unknown key\(s\) executor\.wrokers"),
        ({"scheduler_address": 8786}, r"executor\.scheduler_address .*got 8786"),
    ],
)  # fmt: skip
def test_executor_params_invalid(raw: dict, message: str) -> None:
    with pytest.raises(ParamsError, match=message):
        ExecutorParams.from_mapping(raw)


def test_real_params_yaml_is_valid() -> None:
    params = yaml.safe_load(PARAMS_YAML.read_text(encoding="utf-8"))
    validate_params(params)  # raises on any problem
    assert ImageParams.from_mapping(params["image"]).size[0] > 0


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, r"missing the 'image' group"),
        ({"executor": {}}, r"missing the 'image' group"),
        ({"image": {"sise": 1}}, r"image\.sise"),
        ({"image": {}, "executor": {"backend": "gpu"}}, r"executor\.backend"),
        ({"image": {}, "executor": {"workers": 0}}, r"executor\.workers"),
    ],
)
def test_validate_params_invalid(params: dict, message: str) -> None:
    with pytest.raises(ParamsError, match=message):
        validate_params(params)


def test_validate_params_without_executor_group() -> None:
    validate_params({"image": {"size": [320, 200]}})


@pytest.mark.parametrize(
    ("group", "key", "value"),
    [("incremental", "enabled", "yes"), ("incremental", "enabled", 1), ("tracking", "required", 0)],
)
def test_switches_must_be_booleans(group: str, key: str, value: object) -> None:
    from pneumothorax.config.params import IncrementalParams, TrackingParams

    cls = {"incremental": IncrementalParams, "tracking": TrackingParams}[group]
    with pytest.raises(ParamsError, match=rf"{group}\.{key} must be true or false, got {value!r}"):
        cls.from_mapping({key: value})
    assert getattr(cls.from_mapping({key: True}), key) is True
    assert getattr(cls.from_mapping({key: False}), key) is False


def test_unknown_top_level_keys_fail_naming_them() -> None:
    params = yaml.safe_load(PARAMS_YAML.read_text())
    with pytest.raises(ParamsError, match=r"unknown top-level key\(s\) imgae, zz; known: image"):
        validate_params({**params, "imgae": {"size": 64}, "zz": 1})


@pytest.mark.parametrize(
    ("size", "ok"), [(8192, True), ([8192, 16], True), (8193, False), ([16, 100000], False)]
)
def test_image_size_has_a_documented_maximum(size: object, ok: bool) -> None:
    from pneumothorax.config.params import MAX_IMAGE_SIZE

    assert MAX_IMAGE_SIZE == 8192  # the number docs/troubleshooting.md gives
    if ok:
        ImageParams.from_mapping({"size": size})
    else:
        with pytest.raises(ParamsError, match=r"image\.size must be at most 8192 pixels a side"):
            ImageParams.from_mapping({"size": size})


def test_cache_dir_must_be_a_folder(tmp_path: Path) -> None:
    from pneumothorax.config.params import IncrementalParams

    (tmp_path / "afile").write_text("x")
    for bad in (tmp_path / "afile", tmp_path / "afile" / "below"):
        with pytest.raises(ParamsError, match=r"incremental\.cache_dir must be a folder"):
            IncrementalParams.from_mapping({"cache_dir": str(bad)})
    # A folder, or one that can be made: fine.
    assert IncrementalParams.from_mapping({"cache_dir": str(tmp_path / "new" / "c")}).enabled
    assert IncrementalParams.from_mapping({"cache_dir": str(tmp_path)}).cache_dir == str(tmp_path)


# ---- labels, split and model groups ----------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"labels": {"path": ""}}, r"labels\.path must be a file path"),
        ({"labels": {"file": "x.csv"}}, r"unknown key\(s\) labels\.file"),
        ({"split": {"valid_fraction": 0.8}}, r"split\.valid_fraction must be in \(0, 0\.5\]"),
        ({"split": {"valid_fraction": True}}, r"split\.valid_fraction"),
        ({"split": {"seed": -1}}, r"split\.seed must be an integer >= 0"),
        ({"model": {"cells": 0}}, r"model\.cells must be a positive integer"),
        ({"model": {"c": 0}}, r"model\.c must be a number > 0"),
        ({"model": {"threshold": 1}}, r"model\.threshold must be in \(0, 1\)"),
        ({"model": {"kind": "cnn"}}, r"unknown key\(s\) model\.kind"),
    ],
)
def test_labels_split_and_model_params_invalid(params: dict, message: str) -> None:
    with pytest.raises(ParamsError, match=message):
        validate_params({"image": {}, **params})


def test_split_folds_follow_the_validation_fraction() -> None:
    from pneumothorax.config.params import SplitParams

    assert SplitParams.from_mapping({"valid_fraction": 0.3}).folds == 3
    assert SplitParams.from_mapping({"valid_fraction": 0.2}).folds == 5
    assert SplitParams.from_mapping({"valid_fraction": 0.5}).folds == 2
