"""Imports point one way (the layers in LAYERS below) and no modules import each other.

Read with ``ast`` from the source files, not from ``sys.modules``: every import counts, at the
top of a module or inside a function (a lazy import is still a dependency), and no module of
the package is executed to find them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import networkx as nx  # locked (dvc needs it); its SCC search is well kept
import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "pneumothorax"

#: Top to bottom: a module may import its own layer and the layers below it, never above.
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"commands", "settings", "hooks", "pipeline_registry", "__main__"}),
    frozenset({"pipelines"}),
    frozenset({"datasets", "runtime", "tracking"}),
    frozenset({"config", "raw"}),
    # files: atomic writes, used by datasets and raw alike.
    frozenset({"dicom", "labels", "model", "files"}),
)

#: Upward imports on today's tree ``(importer, imported)``, being removed by the redesign's
#: other branches. The integrator empties this set after merging them; a NEW upward import
#: fails the test, and so does an entry here that is gone (so the set only shrinks).
KNOWN_UPWARD: frozenset[tuple[str, str]] = frozenset()

#: Import cycles on today's tree, each as its sorted module names; same rules as above.
KNOWN_CYCLES: frozenset[tuple[str, ...]] = frozenset()


def _modules() -> dict[str, Path]:
    """``{dotted name: file}`` of every module of the package (a package is its __init__)."""
    found = {}
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _imported_names(name: str, path: Path) -> Iterator[str]:
    """The absolute names ``path`` imports: modules, or ``module.attribute`` candidates."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolved against the importing module's package
                anchor = name.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def import_graph() -> nx.DiGraph:
    """The package's modules and the imports between them (``from a import b``: to a.b if
    that is a module, else to a)."""
    modules = _modules()
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for name, path in modules.items():
        for imported in _imported_names(name, path):
            if imported in modules and imported not in (name, PACKAGE):
                graph.add_edge(name, imported)
    return graph


def layer_of(module: str) -> int | None:
    """The index in :data:`LAYERS` of ``module``'s top-level part; None for the package root."""
    parts = module.split(".")
    if len(parts) == 1:
        return None
    for index, names in enumerate(LAYERS):
        if parts[1] in names:
            return index
    raise AssertionError(f"{module}: not in any layer of LAYERS (tests/test_layers.py)")


def upward_imports(graph: nx.DiGraph) -> set[tuple[str, str]]:
    """``(importer, imported)`` where the imported module sits in a higher layer."""
    upward = set()
    for importer, imported in graph.edges:
        low, high = layer_of(importer), layer_of(imported)
        if low is not None and high is not None and high < low:
            upward.add((importer, imported))
    return upward


def import_cycles(graph: nx.DiGraph) -> set[tuple[str, ...]]:
    """Every group of modules that import each other (directly or around a circle)."""
    # networkx's strongly connected components (Tarjan's algorithm, iterative) rather than
    # a hand-written search.
    return {
        tuple(sorted(component))
        for component in nx.strongly_connected_components(graph)
        if len(component) > 1
    }


def test_every_module_is_in_a_layer() -> None:
    for module in _modules():
        layer_of(module)  # raises, naming the module, if its package is missing from LAYERS


def test_no_module_imports_a_higher_layer() -> None:
    upward = upward_imports(import_graph())
    new = sorted(upward - KNOWN_UPWARD)
    assert not new, "upward imports (importer -> imported):\n" + "\n".join(
        f"  {a} -> {b}" for a, b in new
    )
    fixed = sorted(KNOWN_UPWARD - upward)
    assert not fixed, f"fixed: delete from KNOWN_UPWARD in tests/test_layers.py: {fixed}"


def test_the_domain_imports_no_kedro() -> None:
    # DICOM, label and model knowledge is reusable without a Kedro session (STYLE.md).
    found = [
        f"{name} imports {imported}"
        for name, path in _modules().items()
        if layer_of(name) == len(LAYERS) - 1
        for imported in _imported_names(name, path)
        if imported.split(".")[0].startswith("kedro")
    ]
    assert not found, found


def test_no_import_cycles() -> None:
    cycles = import_cycles(import_graph())
    new = sorted(cycles - KNOWN_CYCLES)
    assert not new, "modules importing each other:\n" + "\n".join(f"  {c}" for c in new)
    fixed = sorted(KNOWN_CYCLES - cycles)
    assert not fixed, f"fixed: delete from KNOWN_CYCLES in tests/test_layers.py: {fixed}"


@pytest.mark.parametrize(
    ("edges", "upward", "cycles"),
    [
        # dicom (domain) importing pipelines: upward; the reverse is the allowed direction.
        ([("p.dicom.a", "p.pipelines.x.nodes")], {("p.dicom.a", "p.pipelines.x.nodes")}, set()),
        ([("p.pipelines.x.nodes", "p.dicom.a")], set(), set()),
        # Same layer, two packages (datasets -> runtime): allowed, and no cycle.
        ([("p.datasets.d", "p.runtime.r")], set(), set()),
        # a -> b -> c -> a within one package: one cycle of three.
        (
            [("p.dicom.a", "p.dicom.b"), ("p.dicom.b", "p.dicom.c"), ("p.dicom.c", "p.dicom.a")],
            set(),
            {("p.dicom.a", "p.dicom.b", "p.dicom.c")},
        ),
    ],
    ids=["upward", "downward", "same-layer", "three-cycle"],
)
def test_the_checks_find_what_they_claim(edges, upward, cycles) -> None:
    # The checks on hand-made graphs, so a check that finds nothing is not silently blind.
    graph = nx.DiGraph(edges)
    assert upward_imports(graph) == upward
    assert import_cycles(graph) == cycles


def test_relative_imports_resolve_to_the_sibling_module(tmp_path: Path) -> None:
    init = tmp_path / "__init__.py"
    init.write_text("from .pipeline import create_pipeline\nfrom . import nodes\n")
    names = set(_imported_names("pneumothorax.pipelines.images", init))
    assert {
        "pneumothorax.pipelines.images.pipeline",
        "pneumothorax.pipelines.images.nodes",
    } <= names
    module = tmp_path / "nodes.py"
    module.write_text("from ..metadata import nodes\nfrom .pipeline import x\n")
    names = set(_imported_names("pneumothorax.pipelines.images.nodes", module))
    assert "pneumothorax.pipelines.metadata.nodes" in names
    assert "pneumothorax.pipelines.images.pipeline" in names
