"""Experiment entries: flattened params, what changed, the name, the DVC process."""

from __future__ import annotations

import pytest

from pneumothorax.tracking.experiment_run import (
    _is_dvc,
    changed_params,
    flatten,
    given_exp_name,
    run_name,
)


def test_flatten_joins_nested_keys_with_dots_and_keeps_lists_whole() -> None:
    params = {"image": {"size": [160, 128], "png_compress_level": 6}, "executor": {}}
    assert flatten(params) == {
        "image.size": [160, 128],
        "image.png_compress_level": 6,
        "executor": {},
    }


@pytest.mark.parametrize(
    ("current", "baseline", "name"),
    [
        ({"image": {"size": 128}}, {"image": {"size": 256}}, "image.size=128"),
        ({"image": {"size": [160, 128]}}, {"image": {"size": 256}}, "image.size=[160, 128]"),
        (
            {"image": {"size": 64, "png_compress_level": 9}},
            {"image": {"size": 256, "png_compress_level": 6}},
            "image.png_compress_level=9, image.size=64",
        ),
        ({"image": {"size": 256}, "tracking": {"required": True}}, {"image": {"size": 256}},
         "tracking.required=true"),
        ({"image": {"size": 256}}, {"image": {"size": 256}}, "baseline"),
        ({"image": {"size": 256}}, {}, "image.size=256"),
    ],
)  # fmt: skip
def test_an_experiment_is_named_after_what_changed(current, baseline, name) -> None:
    assert run_name(changed_params(current, baseline)) == name


@pytest.mark.parametrize(
    ("cmdline", "expected"),
    [
        (["dvc", "repro"], True),
        (["/venv/bin/python3", "/venv/bin/dvc", "exp", "run"], True),
        (["python", "-m", "dvc", "repro"], True),
        (["/venv/bin/python3", "/venv/bin/kedro", "run"], False),
        (["bash", "-c", "dvc repro"], False),
        ([], False),
    ],
)
def test_the_dvc_process_is_recognised_by_its_command_line(cmdline, expected) -> None:
    assert _is_dvc(cmdline) is expected


def test_two_dataset_versions_never_share_a_name() -> None:
    # The same params on two versions of the raw data: DVC's md5 tells them apart.
    first = run_name({}, "a869c7447ac83d8b72a79ac7aae0c0f8.dir")
    second = run_name({}, "0123456789abcdef0123456789abcdef.dir")
    assert first == "baseline (data a869c744)"
    assert second == "baseline (data 01234567)"
    assert run_name({"image.size": 64}, "0123456789abcdef.dir") == "image.size=64 (data 01234567)"


@pytest.mark.parametrize(
    ("cmdline", "name"),
    [
        (["/venv/bin/python3", "/venv/bin/dvc", "exp", "run", "-n", "size-64"], "size-64"),
        (["dvc", "exp", "run", "-S", "image.size=64", "--name", "small"], "small"),
        (["dvc", "exp", "run", "--name=small"], "small"),
        (["python", "-m", "dvc", "exp", "run", "-nsmall"], "small"),
        (["dvc", "exp", "run", "-S", "image.size=64"], None),  # DVC makes a name up
        (["dvc", "exp", "run", "--no-run-cache"], None),
        (["dvc", "repro"], None),
        ([], None),
    ],
)
def test_the_name_given_to_dvc_exp_run_is_read_from_its_command_line(cmdline, name) -> None:
    assert given_exp_name(cmdline) == name
