"""The raw folder param, and the missing-folder error that says which fix applies."""

from __future__ import annotations

from pathlib import Path

import pytest

from pneumothorax.config.params import ParamsError, RawParams
from pneumothorax.raw.layer import missing_folder_reason, raw_folder


@pytest.mark.parametrize(
    ("folder", "expected"),
    [
        ("data/01_raw/dicom-images-train", "data/01_raw/dicom-images-train"),
        ("data/01_raw/my-xrays/", "data/01_raw/my-xrays"),
        ("data/01_raw/my x-rays (2024)", "data/01_raw/my x-rays (2024)"),  # quoted in dvc.yaml
    ],
)
def test_raw_folder_param_valid(folder: str, expected: str) -> None:
    assert RawParams.from_mapping({"folder": folder}).folder == expected


@pytest.mark.parametrize(
    "folder",
    [
        "/data/01_raw/x",
        "data/02_intermediate/x",
        "data/01_raw",
        "data/01_raw/a/b",
        "data/01_raw/..",
    ],
)
def test_raw_folder_param_outside_the_raw_layer_fails(folder: object) -> None:
    with pytest.raises(
        ParamsError, match=r"raw\.folder must be a folder directly under data/01_raw/"
    ):
        RawParams.from_mapping({"folder": folder})


def test_raw_folder_param_must_be_a_string() -> None:
    with pytest.raises(
        ParamsError, match=r"^params\.yaml: raw\.folder must be a valid string, got 3$"
    ):
        RawParams.from_mapping({"folder": 3})


@pytest.mark.parametrize("name", ["a$HOME", 'a"b', "a`id`", "a\\b", "a\nb"])
def test_raw_folder_param_with_characters_a_quoted_shell_word_interprets_fails(name: str) -> None:
    # dvc.yaml runs: python -m pneumothorax.commands.raw_manifest "${raw.folder}" ... (POSIX sh).
    with pytest.raises(ParamsError, match=r"raw_manifest stage would interpret: rename"):
        RawParams.from_mapping({"folder": f"data/01_raw/{name}"})


def test_unknown_raw_key_fails() -> None:
    with pytest.raises(ParamsError, match=r"unknown key\(s\) raw\.path"):
        RawParams.from_mapping({"path": "data/01_raw/x"})


def test_raw_folder_is_read_from_params_yaml(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("raw:\n  folder: data/01_raw/my-xrays\nimage:\n  size: 8\n")
    assert raw_folder(params) == "data/01_raw/my-xrays"


def test_missing_but_tracked_folder_says_dvc_pull(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data" / "01_raw").mkdir(parents=True)
    (tmp_path / "data" / "01_raw" / "scans.dvc").write_text("outs: []\n")
    assert missing_folder_reason("data/01_raw/scans") == (
        "raw folder 'data/01_raw/scans' is not fetched yet: data/01_raw/scans.dvc tracks it, "
        "so `dvc pull data/01_raw/scans.dvc` restores it from the DVC remote"
    )


def test_missing_untracked_folder_says_params_and_lists_the_folders(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    raw = tmp_path / "data" / "01_raw"
    (raw / "my-xrays").mkdir(parents=True)
    (raw / ".hidden").mkdir()
    (raw / "pulled-later.dvc").write_text("outs: []\n")
    assert missing_folder_reason("data/01_raw/my-xray") == (
        "raw folder 'data/01_raw/my-xray' does not exist and no data/01_raw/my-xray.dvc tracks "
        "it: check raw.folder in params.yaml (raw folders here: data/01_raw/my-xrays, "
        "data/01_raw/pulled-later)"
    )
