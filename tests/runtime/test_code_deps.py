"""The code behind each stage cannot drift: dvc.yaml's deps and the cache key cover its imports."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from kedro.framework.project import configure_project, pipelines

from pneumothorax.config.loader import ProjectConfigLoader
from pneumothorax.pipelines.images import nodes as images_nodes
from pneumothorax.pipelines.metadata import nodes as metadata_nodes
from pneumothorax.runtime.code_deps import import_closure, module_file
from pneumothorax.runtime.incremental import code_files, code_roots

ROOT = Path(__file__).resolve().parents[2]
#: How Kedro reads the config and the pipelines: every stage runs them.
CONFIG_MODULES = ("pneumothorax.config.loader", "pneumothorax.pipeline_registry")
#: The settings file itself (its hooks record runs in MLflow and never write a stage's outputs).
SETTINGS = "pneumothorax.settings"
#: Which catalog entry each cached node reads its partitions from.
CACHED_INPUTS = {images_nodes: "dicom_images", metadata_nodes: "dicom_headers"}


def _stages() -> dict:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def _catalog() -> dict:
    return ProjectConfigLoader(conf_source=str(ROOT / "conf"))["catalog"]


def _dataset_modules(entry: dict) -> set[str]:
    """The modules of a catalog entry's dataset type and of any nested ``dataset:`` type."""
    found = set()
    while isinstance(entry, dict):
        kind = entry.get("type")
        if isinstance(kind, str):
            found.add(kind.rpartition(".")[0])
        entry = entry.get("dataset")
        if isinstance(entry, str):
            found.add(entry.rpartition(".")[0])
    return found


def _stage_modules(name: str) -> dict[str, Path]:
    """The package's modules a stage runs: nodes, pipeline, datasets, config loading."""
    configure_project("pneumothorax")
    pipeline = pipelines[name]
    catalog = _catalog()
    roots = {*CONFIG_MODULES, f"pneumothorax.pipelines.{name}"}
    for node in pipeline.nodes:
        func = getattr(node.func, "func", node.func)  # functools.partial
        roots.add(func.__module__)
    for dataset in pipeline.datasets():
        roots |= _dataset_modules(catalog.get(dataset, {}))
    closure = import_closure(roots)
    closure[SETTINGS] = module_file(SETTINGS)
    return closure


def _covered(path: Path, deps: list[str]) -> bool:
    rel = path.relative_to(ROOT).as_posix()
    return any(rel == dep or rel.startswith(dep.rstrip("/") + "/") for dep in deps)


@pytest.mark.parametrize(
    "stage", ["images", "metadata", "reporting", "labels", "masks", "split", "model"]
)
def test_every_dataset_of_the_stage_has_a_catalog_entry_the_closure_can_read(stage: str) -> None:
    # A dataset matched by a factory pattern ("{name}_csv") or left to Kedro's default
    # MemoryDataset has no entry here, and _stage_modules would skip its type silently.
    configure_project("pneumothorax")
    catalog = _catalog()
    unread = [
        name
        for name in pipelines[stage].datasets()
        if not name.startswith("params:") and name != "parameters" and name not in catalog
    ]
    assert unread == [], f"give these an explicit conf/base/catalog.yml entry: {unread}"


@pytest.mark.parametrize(
    "stage", ["images", "metadata", "reporting", "labels", "masks", "split", "model"]
)
def test_dvc_deps_cover_every_file_the_stage_imports(stage: str) -> None:
    deps = _stages()[stage]["deps"]
    modules = _stage_modules(stage)
    # Not vacuous: the closure holds the stage's nodes and a dataset the catalog names.
    assert f"pneumothorax.pipelines.{stage}.nodes" in modules
    assert any(name.startswith("pneumothorax.datasets.") for name in modules)
    missing = sorted(
        path.relative_to(ROOT).as_posix() for path in modules.values() if not _covered(path, deps)
    )
    assert not missing, f"dvc.yaml stage {stage}: add to deps (its code imports them): {missing}"


def test_dvc_deps_of_the_manifest_stage_cover_what_its_command_imports() -> None:
    stage = _stages()["raw_manifest"]
    module = stage["cmd"].split()[2]
    assert module == "pneumothorax.commands.raw_manifest"
    missing = [p for p in import_closure([module]).values() if not _covered(p, stage["deps"])]
    assert missing == []


def test_the_stage_closure_has_the_files_that_drifted_before() -> None:
    # params.py builds the render spec and was in neither list; png_dataset.py in only one.
    images = {p.relative_to(ROOT).as_posix() for p in _stage_modules("images").values()}
    assert {
        "src/pneumothorax/config/params.py",
        "src/pneumothorax/datasets/png_dataset.py",
        "src/pneumothorax/dicom/render.py",
        "src/pneumothorax/config/loader.py",
    } <= images


@pytest.mark.parametrize(("module", "entry"), list(CACHED_INPUTS.items()))
def test_the_cache_key_hashes_the_closure_of_the_node_and_its_input_dataset(
    module, entry: str, tmp_path: Path
) -> None:
    # The files a node sees name the module of the catalog's dataset that reads them.
    from kedro.io import DataCatalog

    config = {**_catalog()[entry], "path": str(tmp_path)}
    (tmp_path / "a.dcm").write_bytes(b"")
    files = DataCatalog.from_config({entry: config}).load(entry).values()
    hashed = code_files(code_roots(module.__name__, files))
    partition = config["dataset"]["type"].rpartition(".")[0]  # what each load reads with
    expected = import_closure([module.__name__, partition])
    assert set(expected) <= set(hashed)
    # Every file the key hashes is also a dvc.yaml dep: a change that invalidates the
    # cache also reruns the stage.
    deps = _stages()[module.__name__.split(".")[-2]]["deps"]
    assert [p for p in hashed.values() if not _covered(p, deps)] == []
    assert module_file("pneumothorax.config.params") in hashed.values()


def test_import_closure_follows_relative_lazy_and_submodule_imports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pneumothorax.runtime import code_deps

    pkg = tmp_path / "pneumothorax"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from ..c import x\n    return x\n")
    (pkg / "c.py").write_text("import os\nfrom pneumothorax import d\n")
    (pkg / "d.py").write_text("")
    (pkg / "unused.py").write_text("")
    monkeypatch.setattr(code_deps, "PACKAGE_DIR", pkg)
    assert list(code_deps.import_closure(["pneumothorax.a"])) == [
        "pneumothorax",
        "pneumothorax.a",
        "pneumothorax.c",
        "pneumothorax.d",
        "pneumothorax.sub",
        "pneumothorax.sub.b",
    ]


def _write_stage_deps() -> None:
    """Rewrite each stage's ``src/`` deps in dvc.yaml from the import closure.

    Run ``python -m tests.runtime.test_code_deps`` after moving or adding modules; the
    tests above then pass by construction and ``git diff dvc.yaml`` shows what changed.
    """
    text = (ROOT / "dvc.yaml").read_text().splitlines(keepends=True)
    stages = _stages()
    out: list[str] = []
    stage = None
    for line in text:
        head = line.rstrip("\n")
        if head.startswith("  ") and not head.startswith("   ") and head.strip().endswith(":"):
            stage = head.strip()[:-1]
        if stage in stages and head.startswith("      - src/pneumothorax/"):
            if not out or not out[-1].startswith("      - src/pneumothorax/"):
                out.extend(f"      - {dep}\n" for dep in _closure_deps(stage, stages[stage]))
            continue
        out.append(line)
    (ROOT / "dvc.yaml").write_text("".join(out))


def _closure_deps(stage: str, entry: dict) -> list[str]:
    if stage == "raw_manifest":
        modules = import_closure([entry["cmd"].split()[2]])
        own: list[str] = []
    else:
        modules = _stage_modules(stage)
        own = [f"src/pneumothorax/pipelines/{stage}"]
    files = sorted(p.relative_to(ROOT).as_posix() for p in modules.values())
    return own + [f for f in files if not _covered(ROOT / f, own)]


if __name__ == "__main__":
    _write_stage_deps()
