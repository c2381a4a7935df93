"""What makes one experiment one MLflow entry: its group key, its name, its flattened params."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from pneumothorax.config.params import PARAMS_FILE, load_params

#: Tag that ties the stage runs of one ``dvc repro`` / ``dvc exp run`` to their parent run.
GROUP_TAG = "pneumothorax.experiment_group"


def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"image": {"size": 128}}`` -> ``{"image.size": 128}``; lists stay whole values."""
    flat: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def format_value(value: Any) -> str:
    """A param value as MLflow shows it and as ``dvc exp run -S`` would take it."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(", ", ": ")) if value is not None else "null"


def changed_params(current: Mapping[str, Any], baseline: Mapping[str, Any]) -> dict[str, Any]:
    """Flattened keys of ``current`` whose value differs from (or is absent in) ``baseline``."""
    now, before = flatten(current), flatten(baseline)
    missing = object()
    return {k: v for k, v in sorted(now.items()) if before.get(k, missing) != v}


def run_name(changes: Mapping[str, Any], data_version: str | None = None) -> str:
    """Name an experiment after what changed: ``image.size=128``, or ``baseline``.

    Args:
        changes: The params that differ from the baseline (:func:`changed_params`).
        data_version: DVC's md5 of the raw data; its first 8 hex digits end the name
            (``baseline (data a869c744)``), so two dataset versions never share a name.
    """
    name = (
        ", ".join(f"{key}={format_value(value)}" for key, value in changes.items())
        if changes
        else "baseline"
    )
    return f"{name} (data {data_version[:8]})" if data_version else name


def given_exp_name(cmdline: list[str] | None = None) -> str | None:
    """The name given with ``dvc exp run -n NAME`` (or ``--name``), else None.

    DVC hands its stages ``DVC_EXP_NAME`` whether or not the user chose the name (it
    makes one up, e.g. ``sappy-tuna``), so the user's choice is read from the ``dvc``
    command line itself. Queued runs (``--queue``, ``--temp``) run under another DVC
    command and are named after what changed.

    Args:
        cmdline: The ``dvc`` command line; by default that of the ``dvc`` process this
            process runs under.
    """
    if cmdline is None:
        cmdline = _dvc_cmdline()
    args = cmdline[next((i for i, a in enumerate(cmdline) if Path(a).name.startswith("dvc")), 0) :]
    if args[1:3] != ["exp", "run"]:
        return None
    for index, arg in enumerate(args):
        if arg in ("-n", "--name") and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith(("--name=", "-n")) and arg not in ("-n", "--name"):
            return arg.removeprefix("--name=") if arg.startswith("--") else arg[2:]
    return None


def _dvc_cmdline() -> list[str]:
    import psutil

    process = dvc_process()
    try:
        return process.cmdline() if process is not None else []
    except psutil.Error:
        return []


def baseline_params(project_path: Path) -> dict[str, Any]:
    """``params.yaml`` as committed in the experiment's baseline (DVC's, else ``HEAD``).

    Returns an empty mapping outside git or when the file is not committed yet.
    """
    rev = os.environ.get("DVC_EXP_BASELINE_REV") or "HEAD"
    try:
        text = subprocess.run(
            ["git", "show", f"{rev}:./{PARAMS_FILE}"],
            cwd=project_path,
            check=True,
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    loaded = yaml.safe_load(text)
    return loaded if isinstance(loaded, dict) else {}


def current_params(project_path: Path) -> dict[str, Any]:
    """``params.yaml`` of the working copy (what ``dvc exp run -S`` edited)."""
    path = project_path / PARAMS_FILE
    return load_params(path) if path.is_file() else {}


def group_key(env: Mapping[str, str], owner: tuple[int, float] | None) -> str | None:
    """The key shared by every stage run of one DVC command, or None outside DVC.

    Under ``dvc exp run`` DVC names the experiment (``DVC_EXP_NAME`` in ``env``); under
    ``dvc repro`` every stage's command is a child of the same ``dvc`` process, ``owner``
    (:func:`dvc_owner`), whose host, pid and start time together never repeat. A plain
    ``kedro run`` has no group and stays a single run. Computed by the stage itself: its
    writer may be shared, and no longer a child of the DVC process.
    """
    name = env.get("DVC_EXP_NAME")
    if name:
        return f"dvc-exp:{name}:{env.get('DVC_EXP_BASELINE_REV', '')}"
    if owner is None:
        return None
    pid, started = owner
    return f"dvc:{socket.gethostname()}:{pid}:{started:.3f}"


def dvc_owner() -> tuple[int, float] | None:
    """The DVC process this one runs under: ``(pid, start time)``, or None."""
    import psutil

    process = dvc_process()
    if process is None:
        return None
    try:
        return process.pid, process.create_time()
    except psutil.Error:  # it ended, or cannot be read
        return None


def dvc_process() -> Any:
    """The nearest ``dvc`` process above this one (a ``psutil.Process``), or None."""
    import psutil

    try:
        for process in psutil.Process().parents():
            if _is_dvc(process.cmdline()):
                return process
    except psutil.Error:
        return None
    return None


def _is_dvc(cmdline: list[str]) -> bool:
    # `dvc ...`, `python /venv/bin/dvc ...` (a console script) or `python -m dvc ...`.
    head = [Path(arg).name for arg in cmdline[:3]]
    return bool(head) and (
        head[0] in ("dvc", "dvc.exe")
        or (len(head) > 1 and head[1] in ("dvc", "dvc.exe"))
        or head[1:3] == ["-m", "dvc"]
    )
