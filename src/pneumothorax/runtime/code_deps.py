"""Which of the package's source files a module runs: its import closure, read statically.

The per-file cache key (:func:`pneumothorax.runtime.incremental.code_version`) hashes this closure,
and tests/runtime/test_code_deps.py checks that each ``dvc.yaml`` stage's ``deps`` cover the
closure of its nodes, datasets and config loading: the code behind a stage is derived from
its imports, never kept in a hand-written list that can drift.

Read from the source with :mod:`ast` rather than by importing: :mod:`modulefinder` would
also walk every third-party library, and importing runs code. Every ``import`` statement
counts, also inside functions and ``if TYPE_CHECKING:`` blocks: a lazy import is still run
(over-counting costs a rerun at worst; under-counting would give stale outputs).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from functools import cache
from pathlib import Path

#: The package whose modules are followed; imports of anything else are not.
PACKAGE = __name__.partition(".")[0]
#: Where the package's sources are.
PACKAGE_DIR = Path(__file__).resolve().parents[1]


def module_file(name: str) -> Path | None:
    """The source file of module ``name`` of the package (``None`` if not one of ours)."""
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return None
    base = PACKAGE_DIR.joinpath(*parts[1:])
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def import_closure(modules: Iterable[str]) -> dict[str, Path]:
    """Every module of the package that importing ``modules`` runs, with its file.

    Includes ``modules`` themselves and the ``__init__`` of every package on the way
    (importing ``a.b.c`` runs ``a/__init__.py`` and ``a/b/__init__.py``).

    Returns:
        ``{module name: source file}``, sorted by name.
    """
    found: dict[str, Path] = {}
    pending = [name for name in modules]
    while pending:
        name = pending.pop()
        if name in found:
            continue
        path = module_file(name)
        if path is None:
            continue
        found[name] = path
        parents = [".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)]
        pending.extend(parents)
        pending.extend(_imports(name, path))
    return dict(sorted(found.items()))


@cache
def _parsed(path: Path, mtime_ns: int) -> ast.Module:
    return ast.parse(path.read_bytes(), filename=str(path))


def _imports(name: str, path: Path) -> list[str]:
    """Modules of the package that ``path`` (module ``name``) imports, maybe not all ours."""
    tree = _parsed(path, path.stat().st_mtime_ns)
    is_package = path.name == "__init__.py"
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(name, is_package, node.module, node.level)
            names.append(base)
            # `from pkg import sub` imports the submodule `pkg.sub` when there is one.
            names.extend(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return [n for n in names if n.split(".")[0] == PACKAGE]


def _absolute(name: str, is_package: bool, module: str | None, level: int) -> str:
    """The absolute name of ``from <level dots><module> import ...`` inside module ``name``."""
    if level == 0:
        return module or ""
    package = name.split(".") if is_package else name.split(".")[:-1]
    anchor = package[: len(package) - (level - 1)]
    return ".".join([*anchor, module] if module else anchor)
