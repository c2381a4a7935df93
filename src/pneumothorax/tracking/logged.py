"""The contract between the MLflow hook and the datasets whose saves it logs."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

#: A run's name in a request: this stage's run, or the experiment's entry (the parent run
#: of a ``dvc repro``/``dvc exp run``, else the stage's run itself).
RUN, ENTRY = "run", "entry"


class RunTracker(Protocol):
    """What a dataset logs through: requests in plain data, runs named :data:`RUN`/:data:`ENTRY`.

    :class:`pneumothorax.tracking.tracker.Tracker` sends them to the stage's MLflow writer
    process, which makes the calls; each returns at once.
    """

    def log_metrics(self, which: str | tuple[str, ...], metrics: Mapping[str, float]) -> None:
        """Log ``{name: value}`` (step 0, now) on ``which`` run(s)."""

    def log_artifact(self, which: str, path: str | Path, artifact_path: str | None = None) -> None:
        """Log the file at ``path`` under ``artifact_path`` of ``which`` run."""

    def log_model(self, which: str, model: Any, name: str, **args: Any) -> None:
        """``mlflow.sklearn.log_model(model, name=name, **args)`` on ``which`` run."""

    def prepare_model(self) -> None:
        """Let the writer load what logging a model needs, ahead of it."""

    def save_model(self, model: Any, path: str | Path, **args: Any) -> bool:
        """Have the writer write the model folder (``mlflow.sklearn.save_model``); whether
        it did. The one request that waits for its answer."""


@runtime_checkable
class MlflowLogged(Protocol):
    """A dataset that logs what it saved to MLflow, when the hook asks it to.

    The hook (:class:`pneumothorax.tracking.mlflow_hook.MlflowHook`) calls
    :meth:`log_to_mlflow` after each save with the stage's :class:`RunTracker`. A tracking
    error costs a warning at the end of the run (or, with ``tracking.required``, an error).
    The dataset writes its file whether MLflow is up or not, and never needs to know which.
    """

    def log_to_mlflow(self, data: Any, tracker: RunTracker) -> None:
        """Log ``data`` (what was just saved) through ``tracker``."""
