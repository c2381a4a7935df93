"""``SklearnModelDataset``: a scikit-learn model saved in MLflow's format and logged to MLflow."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from kedro.io.core import AbstractDataset, DatasetError, get_protocol_and_path

from pneumothorax import safe_tracking


class SklearnModelDataset(AbstractDataset[Any, Any]):
    """A model folder in the ``mlflow.sklearn`` flavour, also logged on the active MLflow run.

    Like kedro-mlflow's ``MlflowModelLocalFileSystemDataset`` plus its tracking twin, in
    one: the folder (``MLmodel``, the pickle, the environment files) is what DVC tracks and
    ``mlflow.pyfunc.load_model(path)`` reads; the same model is logged with
    ``mlflow.sklearn.log_model`` on the stage's run, best effort (see
    :mod:`pneumothorax.safe_tracking`). The folder is written beside its target and renamed
    into place, so a killed run never leaves half a model.

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

    def load(self) -> Any:
        """Load the model with ``mlflow.sklearn.load_model``."""
        import mlflow.sklearn

        return mlflow.sklearn.load_model(str(self._path))

    def save(self, data: Any) -> None:
        """Write the model folder, then log the model to MLflow (best effort)."""
        import mlflow.sklearn

        self._path.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=self._path.parent, prefix=f".{self._path.name}."))
        try:
            # save_model refuses an existing folder: write below the staging one.
            mlflow.sklearn.save_model(data, str(staging / "model"), **_model_args(data))
            if self._path.exists():
                shutil.rmtree(self._path)
            (staging / "model").rename(self._path)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        safe_tracking.guarded("logging the model", _log_model, data, self._name)

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._path), "name": self._name}

    def _exists(self) -> bool:
        return (self._path / "MLmodel").is_file()


def _log_model(model: Any, name: str) -> None:
    import mlflow
    import mlflow.sklearn

    if mlflow.active_run() is None:
        return
    mlflow.sklearn.log_model(model, name=name, **_model_args(model))


def _model_args(model: Any) -> dict[str, Any]:
    """What save_model and log_model need beyond the model.

    MLflow 3 stores scikit-learn models with skops, which loads only the types it is told
    to trust: our own steps (e.g. ``pneumothorax.classifier.CellFeatures``) are listed.
    The requirements are MLflow's defaults for the flavour, named so that it does not
    infer them by loading the model in a subprocess (seconds per save).
    """
    import mlflow.sklearn

    steps = getattr(model, "steps", [])
    trusted = sorted(
        {
            f"{type(step).__module__}.{type(step).__qualname__}"
            for _, step in steps
            if type(step).__module__.startswith("pneumothorax.")
        }
    )
    return {
        "skops_trusted_types": trusted or None,
        "pip_requirements": mlflow.sklearn.get_default_pip_requirements(),
    }
