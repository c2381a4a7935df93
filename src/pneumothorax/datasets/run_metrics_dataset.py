"""``RunMetricsDataset`` writes a run's metrics to a JSON file (DVC metrics) and to MLflow."""

from __future__ import annotations

import json
from copy import deepcopy
from pathlib import PurePosixPath
from typing import Any

import fsspec
from kedro.io.core import AbstractDataset, get_filepath_str, get_protocol_and_path

from pneumothorax.files.atomic import write_atomically
from pneumothorax.tracking.logged import ENTRY, RUN, RunTracker


class RunMetricsDataset(AbstractDataset[dict[str, dict[str, float]], dict[str, float]]):
    """Metrics in kedro-mlflow's shape (``{name: {"value": v, "step": s}}``), saved twice.

    * to ``filepath`` as a flat JSON object (``{"files_converted": 12, ...}``, sorted keys,
      LF), the file a ``dvc.yaml`` stage declares under ``metrics:`` so ``dvc metrics
      show/diff`` and ``dvc exp show`` list it — except the ``mlflow_only`` names: values
      that differ on every run (seconds, files/s) would make the file, and so ``dvc.lock``
      and ``git status``, differ between two runs of the same code on the same data;
    * to the stage's MLflow run and its experiment entry as ``<prefix>.<name>``, all of
      them, when the MLflow hook asks (:meth:`log_to_mlflow`; a tracking failure warns,
      the file is written regardless).

    Not kedro-mlflow's ``MlflowMetricsHistoryDataset``: that one logs only to MLflow, and
    fails the node when MLflow is down; DVC needs the file.

    Saving an empty mapping does nothing, so a generator node can yield ``{}`` until its
    last chunk.

    Example catalog entry::

        images_metrics:
          type: pneumothorax.datasets.run_metrics_dataset.RunMetricsDataset
          filepath: data/08_reporting/images_metrics.json
          prefix: images
          mlflow_only: [seconds, files_per_second]
    """

    def __init__(
        self,
        *,
        filepath: str,
        prefix: str | None = None,
        mlflow_only: list[str] | None = None,
        fs_args: dict[str, Any] | None = None,
        credentials: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        """Creates a new instance of ``RunMetricsDataset``.

        Args:
            filepath: Path or URL of the JSON file.
            prefix: Prepended (with a dot) to each metric name in MLflow.
            mlflow_only: Names logged to MLflow but kept out of the file (timings).
            fs_args: Extra arguments for the fsspec filesystem constructor.
            credentials: Credentials for the filesystem.
            metadata: Arbitrary metadata, ignored by Kedro.
        """
        protocol, path = get_protocol_and_path(filepath)
        self._protocol = protocol
        self._filepath = PurePosixPath(path)
        self._fs = fsspec.filesystem(protocol, **deepcopy(credentials or {}), **(fs_args or {}))
        self._prefix = prefix
        self._mlflow_only = frozenset(mlflow_only or ())
        self.metadata = metadata

    def load(self) -> dict[str, float]:
        """Read the flat ``{name: value}`` JSON object."""
        with self._fs.open(get_filepath_str(self._filepath, self._protocol), "r") as stream:
            return json.load(stream)

    def save(self, data: dict[str, dict[str, float]]) -> None:
        """Write the metrics file (the MLflow hook logs the metrics after it)."""
        if not data:
            return
        values = {name: _plain(entry["value"]) for name, entry in data.items()}
        in_file = {k: v for k, v in values.items() if k not in self._mlflow_only}
        text = json.dumps(in_file, indent=2, sort_keys=True) + "\n"
        path = get_filepath_str(self._filepath, self._protocol)
        if self._protocol == "file":
            write_atomically(path, text.encode("utf-8"), sweep=True)
        else:
            self._fs.pipe_file(path, text.encode("utf-8"))

    def log_to_mlflow(self, data: dict[str, dict[str, float]], tracker: RunTracker) -> None:
        """Log every metric saved (``mlflow_only`` ones too) on the stage's run and its entry.

        Args:
            data: What :meth:`save` was given.
            tracker: The stage's MLflow tracker.
        """
        if not data:
            return
        prefix = f"{self._prefix}." if self._prefix else ""
        tracker.log_metrics(
            (RUN, ENTRY), {f"{prefix}{name}": float(entry["value"]) for name, entry in data.items()}
        )

    def _describe(self) -> dict[str, Any]:
        return {
            "filepath": self._filepath,
            "protocol": self._protocol,
            "prefix": self._prefix,
            "mlflow_only": sorted(self._mlflow_only),
        }

    def _exists(self) -> bool:
        return self._fs.isfile(get_filepath_str(self._filepath, self._protocol))


def _plain(value: float) -> float | int:
    # Counts read as counts in `dvc metrics show` (12, not 12.0).
    return int(value) if float(value).is_integer() else float(value)
