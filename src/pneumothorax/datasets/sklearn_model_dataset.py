"""``SklearnModelDataset``: a scikit-learn model saved in MLflow's format and logged to MLflow."""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import yaml
from kedro.io.core import AbstractDataset, DatasetError, get_protocol_and_path

from pneumothorax.tracking import sklearn_flavour
from pneumothorax.tracking.logged import RUN, RunTracker


class SklearnModelDataset(AbstractDataset[Any, Any]):
    """A model folder in the ``mlflow.sklearn`` flavour, also logged on the stage's MLflow run.

    Like kedro-mlflow's ``MlflowModelLocalFileSystemDataset`` plus its tracking twin, in
    one: the folder (``MLmodel``, the pickle, the environment files) is what DVC tracks and
    ``mlflow.pyfunc.load_model(path)`` reads; the same model is logged with
    ``mlflow.sklearn.log_model`` on the stage's run when the MLflow hook asks
    (:meth:`log_to_mlflow`; a tracking failure costs a warning). The folder is written
    beside its target and renamed into place, so a killed run never leaves half a model.

    Example catalog entry::

        classifier:
          type: pneumothorax.datasets.sklearn_model_dataset.SklearnModelDataset
          filepath: data/06_models/classifier
          name: classifier
    """

    def __init__(
        self, *, filepath: str, name: str = "model", metadata: dict[str, Any] | None = None
    ) -> None:
        """Creates a new instance of ``SklearnModelDataset``.

        Args:
            filepath: Local folder of the model.
            name: Name of the logged model in MLflow.
            metadata: Arbitrary metadata, ignored by Kedro.

        Raises:
            DatasetError: ``filepath`` is not local.
        """
        protocol, path = get_protocol_and_path(filepath)
        if protocol != "file":
            raise DatasetError(f"SklearnModelDataset needs a local folder, got {filepath!r}")
        self._path = Path(path)
        self._name = name
        self.metadata = metadata
        self._tracker: RunTracker | None = None
        # The model this dataset last wrote, and the state of the MLmodel file it wrote.
        self._saved: tuple[Any, tuple[int, int, int]] | None = None

    def load(self) -> Any:
        """Load the model with ``mlflow.sklearn.load_model``.

        The model this dataset itself saved, while its folder is unchanged, comes from
        memory: the stage that trains a model evaluates it next, and reading it back would
        import MLflow and skops in the stage (1.5-2 s), for the same arrays (skops stores
        them exactly; a test compares the two). Kedro's ``CachedDataset`` does this too,
        but would hide this dataset's MLflow methods from the hook.
        """
        if self._saved is not None and self._saved[1] == _state(self._path / "MLmodel"):
            return self._saved[0]
        import mlflow.sklearn

        return mlflow.sklearn.load_model(str(self._path))

    def save(self, data: Any) -> None:
        """Write the model folder (the MLflow hook logs the model after it).

        With tracking on, the stage's MLflow writer, which has MLflow imported, writes it
        (:meth:`~pneumothorax.tracking.tracker.Tracker.save_model`); without one, or if it
        cannot, this process does. The folder is the same either way.
        """
        self._saved = None
        self._path.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=self._path.parent, prefix=f".{self._path.name}."))
        try:
            # save_model refuses an existing folder: write below the staging one.
            target, args = staging / "model", {"skops_trusted_types": _trusted_types(data)}
            if self._tracker is None or not self._tracker.save_model(data, target, **args):
                shutil.rmtree(target, ignore_errors=True)  # half written by the writer
                sklearn_flavour.save_model(data, str(target), args)
            _make_reproducible(target)
            if self._path.exists():
                shutil.rmtree(self._path)
            target.rename(self._path)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        self._saved = (data, _state(self._path / "MLmodel"))

    def log_to_mlflow(self, data: Any, tracker: RunTracker) -> None:
        """Log the model (``mlflow.sklearn.log_model``) on the stage's run.

        Args:
            data: The model :meth:`save` was given (it travels pickled to the writer).
            tracker: The stage's MLflow tracker.
        """
        tracker.log_model(RUN, data, self._name, skops_trusted_types=_trusted_types(data))

    def prepare_mlflow(self, tracker: RunTracker) -> None:
        """Before the model exists: let the writer load what logging one needs, and have it
        write the model folder (:meth:`save`)."""
        self._tracker = tracker
        tracker.prepare_model()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._path), "name": self._name}

    def _exists(self) -> bool:
        return (self._path / "MLmodel").is_file()


#: Zip entries' timestamp: the earliest a zip can hold.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def _make_reproducible(folder: Path) -> None:
    """The same model gives the same bytes: DVC hashes the folder into ``dvc.lock``.

    MLflow stamps ``MLmodel`` with the save time and a random ``model_uuid``; skops dates
    its zip entries with the clock, and names objects by their memory address: the
    ``__id__`` of each node of ``schema.json`` (which only links references within it) and
    the array files (``<address>.npy``, named by the nodes' ``file``). So each run would
    change ``dvc.lock`` and a fresh clone could never reproduce it, and no option of either
    turns that off: the entries get a fixed date, ids and array files are renumbered in
    order of appearance, and the stamp and uuid are derived from the model's bytes.
    """
    for archive in folder.glob("*.skops"):
        with zipfile.ZipFile(archive) as source:
            entries = {info.filename: (info, source.read(info)) for info in source.infolist()}
        schema, renamed = _renumbered(entries.pop("schema.json")[1])
        with zipfile.ZipFile(archive, "w") as target:
            target.writestr(zipfile.ZipInfo("schema.json", date_time=_ZIP_EPOCH), schema)
            for name, (info, content) in sorted(entries.items(), key=lambda e: renamed[e[0]]):
                fixed = zipfile.ZipInfo(renamed[name], date_time=_ZIP_EPOCH)
                fixed.compress_type, fixed.external_attr = info.compress_type, info.external_attr
                target.writestr(fixed, content)
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.skops")):
        digest.update(path.read_bytes())
    mlmodel = folder / "MLmodel"
    meta = yaml.safe_load(mlmodel.read_text(encoding="utf-8"))
    meta["utc_time_created"] = "1970-01-01 00:00:00.000000"
    meta["model_uuid"] = digest.hexdigest()[:32]
    mlmodel.write_text(yaml.safe_dump(meta, default_flow_style=False), encoding="utf-8")


def _renumbered(schema: bytes) -> tuple[bytes, dict[str, str]]:
    """skops' schema with ids and array file names ranked by first appearance.

    Returns:
        The new schema, and ``{old file name: new}`` for the archive's other entries.
    """
    ids: dict[Any, int] = {}
    files: dict[str, str] = {}

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(item) for item in node]
        if not isinstance(node, dict):
            return node
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "__id__":
                out[key] = ids.setdefault(value, len(ids) + 1)
            elif key == "file" and isinstance(value, str):
                out[key] = files.setdefault(value, f"{len(files) + 1}{Path(value).suffix}")
            else:
                out[key] = walk(value)
        return out

    text = json.dumps(walk(json.loads(schema)), indent=2).encode("utf-8")
    return text, files


def _trusted_types(model: Any) -> list[str] | None:
    """The types of ``model``'s steps that skops must be told to trust: our own.

    MLflow 3 stores scikit-learn models with skops, which loads only the types it is told
    to trust (e.g. ``pneumothorax.model.classifier.CellFeatures``).
    """
    steps = getattr(model, "steps", [])
    trusted = sorted(
        {
            f"{type(step).__module__}.{type(step).__qualname__}"
            for _, step in steps
            if type(step).__module__.startswith("pneumothorax.")
        }
    )
    return trusted or None


def _state(path: Path) -> tuple[int, int, int]:
    """(size, mtime_ns, inode) of ``path``; zeros if it is missing."""
    try:
        stat = path.stat()
    except OSError:
        return (0, 0, 0)
    return stat.st_size, stat.st_mtime_ns, stat.st_ino
