"""Command-line entry points, and the only ones: ``python -m pneumothorax.commands.<name>``.

``raw_setup`` (make sample), ``deid_key`` (make key), ``summary`` (make run's last lines),
``raw_manifest`` (the first stage of dvc.yaml) and ``sample`` (a synthetic sample of one's
own). Each writes its result to stdout (``sys.stdout.write``) and a user error as one
``Error: ...`` line to stderr with exit status 1; progress goes through :mod:`logging`. The
work itself lives in the packages below (raw/, dicom/, ...), importable without a command.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

#: This package's folder (links resolved).
_OWN_PACKAGE = Path(__file__).resolve().parents[1]


def run_the_projects_copy(module: str) -> bool:
    """Run ``module`` from the working folder's ``src/`` if that holds another copy of this package.

    ``python -m`` imports the package where it was installed: the workspace's ``src/``
    (an editable install). DVC runs a stage's command in the project's folder, which for
    ``dvc exp run --temp`` and queued experiments is a copy with its own ``src/``: its lock
    file records that copy's files, and its Kedro stages run them (``kedro run`` puts the
    project's ``src/`` first on ``sys.path``). A command run by a stage does the same here,
    not through Kedro's ``bootstrap_project``, whose start-up every ``dvc repro`` would pay.
    Otherwise the first stage of an experiment would run the workspace's code, and start
    an MLflow writer that the stages (another package folder, another socket) never find.
    A command calls it before it imports anything else of this package, so that nothing
    but the installed copy's ``pneumothorax/__init__.py``, ``commands/__init__.py`` and the
    command's own module runs first.

    Args:
        module: The command's module (its ``__spec__.name``), run as ``__main__``.

    Returns:
        False if the working folder's ``src/`` is this package's (or holds none): run the
        command as it is. Otherwise it does not return: the copy's command ran, and its
        exit status is raised as ``SystemExit``.
    """
    local = Path.cwd() / "src" / "pneumothorax"
    if not (local / "__init__.py").is_file() or local.resolve() == _OWN_PACKAGE:
        return False
    sys.path.insert(0, str(local.parent.resolve()))
    for name in [n for n in sys.modules if n == "pneumothorax" or n.startswith("pneumothorax.")]:
        del sys.modules[name]  # imported from the installed folder: import them again
    runpy.run_module(module, run_name="__main__", alter_sys=True)
    raise SystemExit(0)  # a command's module raises its own status; a silent end is 0
