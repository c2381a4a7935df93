"""``ArtifactDataset`` saves through any file dataset, then logs the file to MLflow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.io.core import AbstractDataset, DatasetError, get_protocol_and_path

from pneumothorax.tracking.logged import ENTRY, RunTracker


class ArtifactDataset(AbstractDataset[Any, Any]):
    """Wraps a file dataset; each save also logs the file as an MLflow artifact.

    Like kedro-mlflow's ``MlflowArtifactDataset``, but best effort (that one fails the node
    when MLflow is down): the file is always written, and the MLflow hook then asks
    :meth:`log_to_mlflow` to log it; a tracking failure costs a warning. The artifact goes
    to the experiment's entry (the parent run of a ``dvc repro``/``dvc exp run``, else
    the stage's run). Outside a tracked run only the file is written.

    Example catalog entry::

        contact_sheet:
          type: pneumothorax.datasets.artifact_dataset.ArtifactDataset
          artifact_path: reporting
          dataset:
            type: pneumothorax.datasets.png_dataset.PngDataset
            filepath: data/08_reporting/contact_sheet.png
    """

    def __init__(
        self,
        *,
        dataset: dict[str, Any],
        artifact_path: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Creates a new instance of ``ArtifactDataset``.

        Args:
            dataset: Catalog config of the wrapped dataset; it must have a local ``filepath``.
            artifact_path: Folder of the artifact within the run.
            metadata: Arbitrary metadata, ignored by Kedro.

        Raises:
            DatasetError: The wrapped dataset has no local ``filepath``.
        """
        filepath = dataset.get("filepath")
        if not filepath or get_protocol_and_path(filepath)[0] != "file":
            raise DatasetError(
                f"ArtifactDataset needs a wrapped dataset with a local filepath, got {filepath!r}"
            )
        self._path = Path(get_protocol_and_path(filepath)[1])
        self._dataset = AbstractDataset.from_config("wrapped", dict(dataset))
        self._artifact_path = artifact_path
        self.metadata = metadata

    def load(self) -> Any:
        """Load through the wrapped dataset."""
        return self._dataset.load()

    def save(self, data: Any) -> None:
        """Save through the wrapped dataset (the MLflow hook logs the file after it)."""
        self._dataset.save(data)

    def log_to_mlflow(self, data: Any, tracker: RunTracker) -> None:
        """Log the written file on the experiment's entry.

        Args:
            data: What :meth:`save` was given (the file holds it).
            tracker: The stage's MLflow tracker.
        """
        tracker.log_artifact(ENTRY, self._path, self._artifact_path)

    def _describe(self) -> dict[str, Any]:
        return {"dataset": self._dataset._describe(), "artifact_path": self._artifact_path}

    def _exists(self) -> bool:
        return self._dataset.exists()
