"""The typed models of ``params.yaml`` (``pneumothorax.config.params``)."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest
import yaml
from kedro.validation import ParameterValidator, TypeExtractor

from pneumothorax.config.params import (
    FRAME_POLICIES,
    MAX_IMAGE_SIZE,
    PADDING_POLICIES,
    ExecutorParams,
    ImageParams,
    IncrementalParams,
    LabelsParams,
    MetadataParams,
    ModelParams,
    ParamsError,
    ProjectParams,
    RawParams,
    SplitParams,
    TrackingParams,
    load_params,
    read_group,
    strict_flag,
    validate_params,
    with_defaults,
)
from pneumothorax.dicom import padding, render
from pneumothorax.dicom.render import RenderSpec
from pneumothorax.pipelines.labels.pipeline import create_pipeline as labels_pipeline
from pneumothorax.pipelines.masks.pipeline import create_pipeline as masks_pipeline
from pneumothorax.pipelines.model.pipeline import create_pipeline as model_pipeline
from pneumothorax.pipelines.split.pipeline import create_pipeline as split_pipeline

PARAMS_YAML = Path(__file__).resolve().parents[2] / "params.yaml"


def _shipped() -> dict:
    return yaml.safe_load(PARAMS_YAML.read_text(encoding="utf-8"))


# ---- params.yaml and the models: one set of keys, one set of defaults ------------------------


def test_params_yaml_has_every_model_field_and_no_other_key() -> None:
    shipped = _shipped()
    assert set(shipped) == set(ProjectParams.model_fields)
    for group, field in ProjectParams.model_fields.items():
        if field.annotation is bool:  # the top-level switch `strict`
            assert isinstance(shipped[group], bool)
            continue
        assert set(shipped[group]) == set(field.annotation.model_fields), group


def test_params_yaml_holds_no_null() -> None:
    # `dvc exp run -S` rewrites the file and would write a null as an empty value.
    for key, value in _shipped().items():
        assert value is not None, key
        if isinstance(value, dict):
            assert None not in value.values(), key


def test_params_yaml_states_the_model_defaults() -> None:
    # The defaults live in the models; params.yaml writes them out for users to tune (DVC
    # needs every tracked key in the file). A different value here is a second default.
    assert validate_params(_shipped()) == ProjectParams()


def test_the_shipped_values_read_as_written() -> None:
    # Independent of the models: what the file says, in the types the nodes use.
    params = validate_params(_shipped())
    assert params.image.size == (256, 256)  # `size: 256` is a square
    assert params.image.png_compress_level == 1
    assert params.executor.workers is None  # `workers: auto`
    assert params.executor.scheduler_address is None  # `''`
    assert params.incremental.cache_dir is None  # `''`
    assert params.strict is False


# ---- image ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "size", "level"),
    [
        ({"size": 128}, (128, 128), 1),
        ({"size": [320, 200]}, (320, 200), 1),
        ({"size": (64, 32), "png_compress_level": 0}, (64, 32), 0),
        ({"size": 1, "png_compress_level": 9}, (1, 1), 9),
    ],
)
def test_image_params_valid(raw: dict, size: tuple[int, int], level: int) -> None:
    params = ImageParams.from_mapping(raw)
    assert params.size == size
    assert params.png_compress_level == level
    # The model's fields are exactly what the renderer takes (the images node builds it so).
    assert RenderSpec(**params.model_dump()) == RenderSpec(
        size=size,
        png_compress_level=level,
        bit_depth=8,
        keep_aspect=False,
        frames="first",
        padding="black",
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"size": 0}, r"image\.size must be greater than 0, got 0$"),
        ({"size": -5}, r"image\.size .*got -5$"),
        ({"size": "256"}, r"image\.size must be a valid tuple, got '256'$"),
        ({"size": 256.0}, r"image\.size .*got 256\.0$"),
        ({"size": True}, r"image\.size .*got True$"),
        (
            {"size": [256]},
            r"image\.size must be a positive integer or \[width, height\], got \[256\]$",
        ),
        ({"size": [1, 2, 3]}, r"image\.size must be .*\[width, height\], got \[1, 2, 3\]$"),
        ({"size": [0, 200]}, r"image\.size must be greater than 0, got \[0, 200\]$"),
        ({"size": [320, "200"]}, r"image\.size must be a valid integer, got \[320, '200'\]$"),
        ({"size": None}, r"image\.size .*got None$"),
        ({"png_compress_level": 10}, r"png_compress_level must be less than or equal to 9, got 10"),
        ({"png_compress_level": -1}, r"image\.png_compress_level .*got -1$"),
        ({"png_compress_level": "6"}, r"image\.png_compress_level .*got '6'$"),
        ({"png_compress_level": True}, r"image\.png_compress_level .*got True$"),
        ({"bit_depth": 12}, r"^params\.yaml: image\.bit_depth must be 8 or 16, got 12$"),
        ({"frames": "some"}, r"image\.frames must be 'first' or 'all', got 'some'$"),
        ({"keep_aspect": "yes"}, r"image\.keep_aspect must be a valid boolean, got 'yes'$"),
        (
            {"sise": 256},
            r"^params\.yaml: unknown key\(s\) image\.sise; "
            r"known: bit_depth, frames, keep_aspect, padding, png_compress_level, size$",
        ),
        ({"size": 64, "zz": 1, "aa": 2}, r"unknown key\(s\) image\.aa, image\.zz;"),
        ({"padding": "white"}, r"image\.padding must be 'black' or 'keep', got 'white'$"),
        ({"padding": True}, r"image\.padding .*got True$"),
    ],
)
def test_image_params_invalid(raw: dict, message: str) -> None:
    with pytest.raises(ParamsError, match=message) as caught:
        ImageParams.from_mapping(raw)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(("raw", "policy"), [({}, "black"), ({"padding": "keep"}, "keep")])
def test_image_padding_reaches_the_render_spec(raw: dict, policy: str) -> None:
    assert RenderSpec(**ImageParams.from_mapping(raw).model_dump()).padding == policy


def test_policies_are_those_the_renderer_implements() -> None:
    assert PADDING_POLICIES == padding.PADDING_POLICIES
    assert FRAME_POLICIES == render.FRAME_POLICIES


@pytest.mark.parametrize("raw", [256, [256, 256], "size: 256"])
def test_image_group_must_be_a_mapping(raw: object) -> None:
    with pytest.raises(ParamsError, match=r"'image' must be a mapping"):
        ImageParams.from_mapping(raw)


@pytest.mark.parametrize(
    ("size", "ok"), [(8192, True), ([8192, 16], True), (8193, False), ([16, 100000], False)]
)
def test_image_size_has_a_documented_maximum(size: object, ok: bool) -> None:
    assert MAX_IMAGE_SIZE == 8192  # the number docs/troubleshooting.md gives
    if ok:
        ImageParams.from_mapping({"size": size})
    else:
        with pytest.raises(ParamsError, match=r"image\.size must be at most 8192 pixels a side"):
            ImageParams.from_mapping({"size": size})


def test_a_group_model_given_to_from_mapping_is_returned_as_is() -> None:
    # Kedro hands nodes the model it built; from_mapping takes either.
    params = ImageParams(size=(8, 4))
    assert ImageParams.from_mapping(params) is params


# ---- executor and incremental -----------------------------------------------------------------


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


def test_dask_backend_with_a_scheduler_address_is_accepted() -> None:
    params = ExecutorParams.from_mapping(
        {"backend": "dask", "workers": 2, "scheduler_address": "tcp://127.0.0.1:8786"}
    )
    assert (params.backend, params.worker_count, params.scheduler_address) == (
        "dask",
        2,
        "tcp://127.0.0.1:8786",
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"backend": "threads"},
         r"executor\.backend must be 'sequential', 'processes' or 'dask', got 'threads'$"),
        ({"backend": "Dask"}, r"executor\.backend .*got 'Dask'$"),
        ({"backend": None}, r"executor\.backend .*got None$"),
        ({"workers": 0}, r"executor\.workers must be greater than 0, got 0$"),
        ({"workers": -2}, r"executor\.workers .*got -2$"),
        ({"workers": 2.5}, r"executor\.workers .*got 2\.5$"),
        ({"workers": "4"}, r"executor\.workers .*got '4'$"),
        ({"workers": True}, r"executor\.workers .*got True$"),
        ({"wrokers": 2}, r"unknown key\(s\) executor\.wrokers; known: backend, sched"),
        ({"scheduler_address": 8786}, r"executor\.scheduler_address .*got 8786$"),
    ],
)  # fmt: skip
def test_executor_params_invalid(raw: dict, message: str) -> None:
    with pytest.raises(ParamsError, match=message):
        ExecutorParams.from_mapping(raw)


def test_incremental_defaults_to_on_with_the_repository_cache() -> None:
    assert IncrementalParams.from_mapping(None) == IncrementalParams(enabled=True, cache_dir=None)
    assert IncrementalParams.from_mapping({"cache_dir": ""}).cache_dir is None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"cache_dir": 3}, r"incremental\.cache_dir must be a valid string, got 3$"),
        ({"cahce_dir": None}, r"unknown key\(s\) incremental\.cahce_dir"),
    ],
)
def test_incremental_params_invalid(raw: dict, message: str) -> None:
    with pytest.raises(ParamsError, match=message):
        IncrementalParams.from_mapping(raw)


def test_cache_dir_must_be_a_folder(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    bad = tmp_path / "afile"
    with pytest.raises(ParamsError, match=r"cache_dir must be a folder, but it is a file, got '"):
        IncrementalParams.from_mapping({"cache_dir": str(bad)})
    with pytest.raises(ParamsError, match=r"cache_dir must be a folder, but it is below a file"):
        IncrementalParams.from_mapping({"cache_dir": str(bad / "below")})
    # A folder, or one that can be made: fine.
    assert IncrementalParams.from_mapping({"cache_dir": str(tmp_path / "new" / "c")}).enabled
    assert IncrementalParams.from_mapping({"cache_dir": str(tmp_path)}).cache_dir == str(tmp_path)


# ---- switches, metadata, labels, split and model ----------------------------------------------


@pytest.mark.parametrize(
    ("cls", "key", "value"),
    [
        (IncrementalParams, "enabled", "yes"),
        (IncrementalParams, "enabled", 1),
        (TrackingParams, "required", 0),
        (MetadataParams, "deid", "false"),
    ],
)
def test_switches_must_be_booleans(cls: type, key: str, value: object) -> None:
    with pytest.raises(
        ParamsError, match=rf"{cls.group}\.{key} must be a valid boolean, got {value!r}$"
    ):
        cls.from_mapping({key: value})
    assert getattr(cls.from_mapping({key: True}), key) is True
    assert getattr(cls.from_mapping({key: False}), key) is False


def test_private_tags_need_deid_off() -> None:
    with pytest.raises(
        ParamsError, match=r"^params\.yaml: metadata: private_tags: true needs deid: false"
    ):
        MetadataParams.from_mapping({"private_tags": True})
    assert MetadataParams.from_mapping({"private_tags": True, "deid": False}).private_tags


@pytest.mark.parametrize(("value", "stop"), [(None, False), (False, False), (True, True)])
def test_strict_flag(value: object, stop: bool) -> None:
    assert strict_flag(value) is stop


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"labels": {"path": ""}}, r"labels\.path must have at least 1 character"),
        ({"labels": {"file": "x.csv"}}, r"unknown key\(s\) labels\.file"),
        ({"split": {"valid_fraction": 0.8}}, r"split\.valid_fraction must be less than or equal"),
        ({"split": {"valid_fraction": True}}, r"split\.valid_fraction must be a valid number"),
        ({"split": {"seed": -1}}, r"split\.seed must be greater than or equal to 0, got -1$"),
        ({"split": {"seed": 2**32}}, r"split\.seed must be less than 4294967296, got 4294967296$"),
        ({"model": {"cells": 0}}, r"model\.cells must be greater than 0"),
        ({"model": {"c": 0}}, r"model\.c must be greater than 0, got 0$"),
        # Infinite C is no penalty: a constant feature then leaves the fit's Hessian singular.
        ({"model": {"c": float("inf")}}, r"model\.c must be a finite number, got inf$"),
        ({"model": {"threshold": 1}}, r"model\.threshold must be less than 1, got 1$"),
        ({"model": {"kind": "cnn"}}, r"unknown key\(s\) model\.kind"),
        ({"strict": "yes"}, r"^params\.yaml: strict must be a valid boolean, got 'yes'$"),
    ],
)
def test_labels_split_model_and_strict_invalid(params: dict, message: str) -> None:
    with pytest.raises(ParamsError, match=message):
        validate_params({"image": {}, **params})


def test_split_folds_follow_the_validation_fraction() -> None:
    assert SplitParams.from_mapping({"valid_fraction": 0.3}).folds == 3
    assert SplitParams.from_mapping({"valid_fraction": 0.2}).folds == 5
    assert SplitParams.from_mapping({"valid_fraction": 0.5}).folds == 2


def test_model_numbers_may_be_written_as_integers() -> None:
    assert ModelParams.from_mapping({"c": 2}).c == 2.0


# ---- the whole file ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"image": {"sise": 1}}, r"unknown key\(s\) image\.sise;"),
        ({"image": {}, "executor": {"backend": "gpu"}}, r"executor\.backend"),
        ({"image": {}, "executor": {"workers": 0}}, r"executor\.workers"),
        (
            {"image": {}, "raw": {"folder": "data/x"}},
            r"raw\.folder must be a folder directly under",
        ),
    ],
)
def test_validate_params_invalid(params: dict, message: str) -> None:
    with pytest.raises(ParamsError, match=message):
        validate_params(params)


def test_absent_groups_take_the_model_defaults() -> None:
    params = validate_params({"image": {"size": [320, 200]}})
    assert params.executor == ExecutorParams()
    assert params.raw == RawParams()
    assert validate_params({}) == ProjectParams()


def test_with_defaults_adds_the_groups_left_out_as_yaml_holds_them() -> None:
    filled = with_defaults({"image": {"size": 64}})
    assert filled["image"] == {"size": 64}  # as written
    assert filled["split"] == {"valid_fraction": 0.3, "seed": 0}
    assert filled["executor"] == {
        "backend": "processes",
        "workers": None,
        "scheduler_address": None,
    }
    assert validate_params(filled) == validate_params({"image": {"size": 64}})


def test_unknown_top_level_keys_fail_naming_them() -> None:
    with pytest.raises(
        ParamsError, match=r"unknown top-level key\(s\) imgae, zz; known: image, raw, metadata"
    ):
        validate_params({**_shipped(), "imgae": {"size": 64}, "zz": 1})


def test_load_params_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    with pytest.raises(ParamsError, match=r"params\.yaml: no such file"):
        load_params(path)
    path.write_text("image: [\n")
    with pytest.raises(ParamsError, match=r"params\.yaml: not valid YAML at line 2"):
        load_params(path)
    path.write_text("- a list\n")
    with pytest.raises(ParamsError, match="expected a mapping of parameters"):
        load_params(path)


def test_read_group_reads_one_group(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("labels:\n  path: data/01_raw/x.csv\n")
    assert read_group(LabelsParams, path).path == "data/01_raw/x.csv"
    assert read_group(SplitParams, path) == SplitParams()  # absent: the defaults


# ---- Kedro's typed parameters build these models for the nodes --------------------------------


def test_kedro_finds_the_models_in_the_node_signatures() -> None:
    pipelines = {
        "labels": labels_pipeline(),
        "masks": masks_pipeline(),
        "split": split_pipeline(),
        "model": model_pipeline(),
    }
    found = TypeExtractor(pipelines).extract_types_from_pipelines()
    assert found == {
        "labels": LabelsParams,
        "image": ImageParams,
        "split": SplitParams,
        "model": ModelParams,
    }
    built = ParameterValidator(pipelines).validate_raw_params(_shipped())
    expected = validate_params(_shipped())
    for group, model in found.items():
        assert built[group] == getattr(expected, group)
        assert type(built[group]) is model
    assert built["executor"] == _shipped()["executor"]  # not asked for as a model: as written


def test_group_models_are_those_the_whole_file_uses() -> None:
    # ProjectParams' fields are the group models themselves, not copies that could drift.
    fields = ProjectParams.model_fields
    for model in (ImageParams, RawParams, MetadataParams, ExecutorParams, IncrementalParams):
        assert fields[model.group].annotation is model
    for model in (TrackingParams, LabelsParams, SplitParams, ModelParams):
        assert fields[model.group].annotation is model
    assert get_args(ImageParams.model_fields["padding"].annotation) == PADDING_POLICIES
