"""ProjectConfigLoader: params.yaml is the parameters, and `kedro run --params` still wins."""

from __future__ import annotations

from pathlib import Path

import pytest

from pneumothorax.config.errors import ParamsError
from pneumothorax.config.loader import ProjectConfigLoader


def _project(tmp_path: Path) -> Path:
    (tmp_path / "conf" / "base").mkdir(parents=True)
    (tmp_path / "conf" / "local").mkdir()
    (tmp_path / "params.yaml").write_text(
        "image:\n  size: 256\n  png_compress_level: 6\ntracking:\n  required: false\n"
    )
    return tmp_path / "conf"


def _written(params: dict) -> dict:
    return {group: params[group] for group in ("image", "tracking")}


def test_parameters_are_read_from_params_yaml(tmp_path: Path) -> None:
    loader = ProjectConfigLoader(conf_source=str(_project(tmp_path)))
    assert _written(loader["parameters"]) == {
        "image": {"size": 256, "png_compress_level": 6},  # as written: Kedro fills the rest
        "tracking": {"required": False},
    }


def test_a_group_left_out_is_there_at_its_defaults(tmp_path: Path) -> None:
    params = ProjectConfigLoader(conf_source=str(_project(tmp_path)))["parameters"]
    # The values params.yaml ships (and docs/labels-and-model.md gives).
    assert params["split"] == {"valid_fraction": 0.3, "seed": 0}
    assert params["model"] == {"cells": 8, "c": 1.0, "threshold": 0.5}
    assert params["labels"] == {"path": "data/01_raw/train-rle.csv"}
    assert params["strict"] is False


def test_runtime_params_override_params_yaml_key_by_key(tmp_path: Path) -> None:
    loader = ProjectConfigLoader(
        conf_source=str(_project(tmp_path)),
        runtime_params={"tracking": {"required": True}, "image": {"size": 128}},
    )
    assert _written(loader["parameters"]) == {
        "image": {"size": 128, "png_compress_level": 6},
        "tracking": {"required": True},
    }


def test_a_params_file_that_is_not_yaml_is_one_params_error(tmp_path: Path) -> None:
    conf = _project(tmp_path)
    (tmp_path / "params.yaml").write_text("image: [\n")
    with pytest.raises(ParamsError, match=r"params\.yaml: not valid YAML at line 2"):
        ProjectConfigLoader(conf_source=str(conf))["parameters"]
    (tmp_path / "params.yaml").write_text("- a list\n")
    with pytest.raises(ParamsError, match="expected a mapping of parameters"):
        ProjectConfigLoader(conf_source=str(conf))["parameters"]


def test_parameters_are_validated_after_the_runtime_params(tmp_path: Path) -> None:
    conf = _project(tmp_path)
    loader = ProjectConfigLoader(conf_source=str(conf), runtime_params={"image": {"size": 0}})
    with pytest.raises(ParamsError, match=r"^params\.yaml: image\.size must be greater than 0"):
        loader["parameters"]
    (tmp_path / "params.yaml").write_text("image:\n  sise: 256\n")
    with pytest.raises(ParamsError, match=r"unknown key\(s\) image\.sise"):
        ProjectConfigLoader(conf_source=str(conf))["parameters"]


def test_a_conf_group_may_add_a_group_but_not_an_unknown_one(tmp_path: Path) -> None:
    conf = _project(tmp_path)
    (conf / "base" / "parameters.yml").write_text("split:\n  seed: 3\n")
    assert ProjectConfigLoader(conf_source=str(conf))["parameters"]["split"] == {"seed": 3}
    (conf / "base" / "parameters.yml").write_text("splt:\n  seed: 3\n")
    with pytest.raises(ParamsError, match=r"unknown top-level key\(s\) splt"):
        ProjectConfigLoader(conf_source=str(conf))["parameters"]
    (conf / "base" / "parameters.yml").write_text("image:\n  size: 3\n")
    with pytest.raises(ParamsError, match=r"group\(s\) image defined both in"):
        ProjectConfigLoader(conf_source=str(conf))["parameters"]
