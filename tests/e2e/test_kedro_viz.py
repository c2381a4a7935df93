"""``kedro viz build``: the pipelines drawn, with every catalog dataset in its layer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import REPO, new_project

pytestmark = pytest.mark.e2e

#: The catalog's layers, in data order (conf/base/catalog.yml `metadata.kedro-viz.layer`).
LAYERS = ["raw", "intermediate", "primary", "model_input", "models", "reporting"]


def _catalog_layers() -> dict[str, str]:
    """``{dataset: layer}`` read straight from the catalog file, anchors resolved by YAML."""
    catalog = yaml.safe_load((REPO / "conf/base/catalog.yml").read_text())
    return {
        name: entry["metadata"]["kedro-viz"]["layer"]
        for name, entry in catalog.items()
        if not name.startswith("_")
    }


def test_every_catalog_entry_has_a_layer() -> None:
    catalog = yaml.safe_load((REPO / "conf/base/catalog.yml").read_text())
    missing = [
        name
        for name, entry in catalog.items()
        if not name.startswith("_")
        and "layer" not in entry.get("metadata", {}).get("kedro-viz", {})
    ]
    assert missing == []
    assert set(_catalog_layers().values()) == set(LAYERS)


def test_viz_build_lists_the_datasets_by_layer(tmp_path: Path) -> None:
    project = new_project(tmp_path / "project", exclude=(), git=False)
    project.run("kedro", "viz", "build", timeout=300)
    build = project.path / "build"
    assert (build / "index.html").is_file()
    main = json.loads((build / "api" / "main").read_text())
    assert main["layers"] == LAYERS
    drawn = {n["name"]: n.get("layer") for n in main["nodes"] if n["type"] == "data"}
    assert drawn == _catalog_layers()
    nodes = {n["name"] for n in main["nodes"] if n["type"] == "task"}
    assert {"extract_metadata", "render_images", "build_contact_sheet"} <= nodes
    pipelines = {p["id"] for p in main["pipelines"]}
    assert {"__default__", "metadata", "images", "reporting"} <= pipelines
