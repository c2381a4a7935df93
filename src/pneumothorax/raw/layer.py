"""The raw layer: which folder it is (``raw.folder`` in params.yaml), and why it is missing.

Imported by the stages that read raw files (the manifest, ``DicomFolderDataset``), so it
stays small: ``make sample``'s placing of the folder lives in
:mod:`pneumothorax.commands.raw_setup`.
"""

from __future__ import annotations

from pathlib import Path

from pneumothorax.config.params import PARAMS_FILE, RawParams, read_group


def raw_folder(params_file: Path = Path(PARAMS_FILE)) -> str:
    """``raw.folder`` from ``params.yaml`` (validated), relative to the project root.

    Raises:
        ParamsError: The file is missing or not YAML, or ``raw`` has a bad key or value.
    """
    return read_group(RawParams, params_file).folder


def dvc_file(folder: str | Path) -> Path:
    """The ``.dvc`` file that tracks ``folder``: ``<folder>.dvc`` beside it."""
    path = Path(folder)
    return path.with_name(f"{path.name}.dvc")


def missing_folder_reason(folder: str | Path) -> str:
    """Why ``folder`` is missing, and the fix: ``dvc pull`` if DVC tracks it, else params.yaml.

    One line, naming folders only (never file contents).
    """
    tracker = dvc_file(folder)
    if tracker.is_file():
        return (
            f"raw folder '{folder}' is not fetched yet: {tracker} tracks it, so "
            f"`dvc pull {tracker}` restores it from the DVC remote"
        )
    parent = Path(folder).parent
    known = (
        sorted(
            {p.name for p in parent.iterdir() if p.is_dir() and not p.name.startswith(".")}
            | {p.stem for p in parent.glob("*.dvc")}
        )
        if parent.is_dir()
        else []
    )
    listing = ", ".join(f"{parent.as_posix()}/{name}" for name in known) or "none"
    return (
        f"raw folder '{folder}' does not exist and no {tracker} tracks it: check raw.folder "
        f"in params.yaml (raw folders here: {listing})"
    )
