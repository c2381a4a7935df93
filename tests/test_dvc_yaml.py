"""dvc.yaml stays in step with params.yaml and the package layout."""

from __future__ import annotations

import importlib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _stages() -> dict:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def test_every_image_param_is_a_dependency_of_the_images_stage_by_its_dotted_key() -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    listed = {p for p in _stages()["images"]["params"] if str(p).startswith("image")}
    # Dotted keys, never the bare group: DVC's run cache ignores nested keys named "size".
    assert listed == {f"image.{key}" for key in params["image"]}


def test_metadata_stage_does_not_depend_on_image_params() -> None:
    assert not any(str(p).startswith("image") for p in _stages()["metadata"].get("params", []))


def test_every_dependency_path_exists() -> None:
    for name, stage in _stages().items():
        for dep in stage["deps"]:
            if not dep.startswith(("data/", "${")):  # data, or a params.yaml path
                assert (ROOT / dep).exists(), f"stage {name}: missing dep {dep}"


RAW = "data/01_raw/dicom-images-train"
MANIFEST = "data/02_intermediate/raw_manifest.csv"


def test_stage_commands_run_their_own_kedro_pipeline() -> None:
    for name, stage in _stages().items():
        if name == "raw_manifest":
            continue
        assert stage["cmd"] == f"kedro run --pipelines {name}"
        assert (ROOT / "src" / "pneumothorax" / "pipelines" / name / "pipeline.py").is_file()


def test_no_stage_makes_dvc_walk_the_raw_folder() -> None:
    stages = _stages()
    # The raw folder is one key of params.yaml, read by DVC's templating and by Kedro.
    assert stages["raw_manifest"]["cmd"] == (
        f'python -m pneumothorax.commands.raw_manifest "${{raw.folder}}" {MANIFEST}'
    )
    assert stages["raw_manifest"]["outs"] == [MANIFEST]
    # The manifest stage walks it itself, on every `dvc repro`; DVC never does.
    assert stages["raw_manifest"]["always_changed"] is True
    assert [name for name, stage in stages.items() if RAW in stage["deps"]] == []
    assert not any("01_raw" in dep for stage in stages.values() for dep in stage["deps"])
    # The stages that read raw files depend on its manifest instead.
    assert MANIFEST in stages["metadata"]["deps"]
    assert MANIFEST in stages["images"]["deps"]


def test_the_raw_folder_is_one_param_read_by_dvc_and_the_catalog() -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert params["raw"]["folder"] == RAW
    catalog = (ROOT / "conf" / "base" / "catalog.yml").read_text()
    assert "${params:raw.folder}" in catalog
    assert _stages()["raw_manifest"]["params"] == ["raw.folder"]
    assert "dicom-images-train" not in catalog


# ---- labels, masks, split and model (docs/labels-and-model.md) ------------------------------


def _params() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def test_the_label_file_is_one_param_read_by_dvc_and_the_catalog() -> None:
    assert _params()["labels"]["path"] == "data/01_raw/train-rle.csv"
    assert "${labels.path}" in _stages()["labels"]["deps"]
    catalog = (ROOT / "conf" / "base" / "catalog.yml").read_text()
    assert "filepath: ${params:labels.path}" in catalog
    assert "data/01_raw/train-rle.csv" not in catalog


def test_image_size_reruns_masks_and_model_only_through_their_own_deps() -> None:
    stages = _stages()
    # Masks are drawn at image.size (dotted keys: DVC's run cache drops "size" dict keys).
    assert {"image.size", "image.keep_aspect"} <= set(stages["masks"]["params"])
    # The model reads the PNGs, not the params: img_train's hash carries the size.
    assert "data/02_intermediate/img_train" in stages["model"]["deps"]
    for name in ("labels", "split", "model"):
        assert not any(str(p).startswith("image") for p in stages[name].get("params", []))


def test_each_new_stage_lists_every_key_of_its_params_group() -> None:
    params, stages = _params(), _stages()
    for stage, group in (("labels", "labels"), ("split", "split"), ("model", "model")):
        listed = {p for p in stages[stage]["params"] if str(p).startswith(f"{group}.")}
        assert listed == {f"{group}.{key}" for key in params[group]}, stage


def test_each_persisted_output_is_a_png_folder_its_node_makes_exact() -> None:
    """DVC keeps a persisted output between runs, so its stage must remove what is stale.

    The folder datasets remove every file a run did not write when their node confirms them
    (``PngFolderDataset.confirm``); any other output would keep stale files.
    """
    catalog = yaml.safe_load((ROOT / "conf/base/catalog.yml").read_text())
    by_path = {
        entry.get("path"): name for name, entry in catalog.items() if isinstance(entry, dict)
    }
    persisted = {
        (stage_name, path)
        for stage_name, stage in _stages().items()
        for out in stage.get("outs", [])
        if isinstance(out, dict)
        for path, options in out.items()
        if options.get("persist")
    }
    assert persisted == {
        ("images", "data/02_intermediate/img_train"),
        ("masks", "data/03_primary/masks"),
    }
    for stage_name, path in persisted:
        dataset = by_path[path]
        assert catalog[dataset]["type"].endswith("png_folder_dataset.PngFolderDataset")
        module = importlib.import_module(f"pneumothorax.pipelines.{stage_name}.pipeline")
        producers = [n for n in module.create_pipeline().nodes if dataset in n.outputs]
        assert [n.confirms for n in producers] == [[dataset]], (stage_name, dataset)
