"""Experiment entries: flattened params, what changed, the name, the DVC process."""

from __future__ import annotations

import pytest

from pneumothorax.experiment_run import _is_dvc, changed_params, flatten, run_name


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
