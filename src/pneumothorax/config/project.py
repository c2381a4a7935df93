"""Where the project's repository is, also from inside a DVC temporary experiment copy."""

from __future__ import annotations

from pathlib import Path

#: DVC runs ``dvc exp run --temp`` / ``--queue`` in a copy under this folder of the repo.
_DVC_TEMP_MARKER = (".dvc", "tmp")


def repository_root(project_path: Path) -> Path:
    """Return the repository that owns ``project_path``.

    Inside a DVC temporary experiment workspace (``<repo>/.dvc/tmp/exps/...``) this is
    ``<repo>``, so an experiment uses the same MLflow store, per-file cache and key as the
    workspace, and none of them is deleted with the temporary copy.

    Args:
        project_path: The project folder (a working copy or DVC's temporary copy of it).

    Returns:
        The absolute path of the repository.
    """
    parts = project_path.resolve().parts
    for index in range(len(parts) - 1):
        if parts[index : index + 2] == _DVC_TEMP_MARKER:
            return Path(*parts[:index])
    return project_path.resolve()
