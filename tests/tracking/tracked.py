"""A stage's runs recorded through a real MLflow writer process, for dataset tests."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import mlflow

from pneumothorax.tracking.tracker import Outcome, Tracker


@dataclass(frozen=True)
class Tracked:
    """What a tracked stage left in the store.

    Attributes:
        client: A client of the test's store (``MLFLOW_TRACKING_URI``, set by tests/conftest.py).
        run: The stage's run id.
        entry: The experiment's entry (the parent run under DVC, else ``run``).
        outcome: The writer's report.
    """

    client: mlflow.MlflowClient
    run: str
    entry: str
    outcome: Outcome


def tracked(
    tmp_path: Path, experiment: str, log: Callable[[Tracker], None], *, under_dvc: bool = True
) -> Tracked:
    """Start a writer, start a stage's runs, ``log(tracker)``, finish; read the runs back.

    ``under_dvc``: as a stage of ``dvc exp run`` (a parent entry and a child run), else a
    plain ``kedro run`` (one run). Artifacts go under ``tmp_path``.
    """
    client = mlflow.MlflowClient()
    if client.get_experiment_by_name(experiment) is None:
        client.create_experiment(experiment, (tmp_path / "artifacts").as_uri())
    env = {k: v for k, v in os.environ.items() if not k.startswith("DVC_")}
    if under_dvc:
        env["DVC_EXP_NAME"] = f"{experiment}-exp"
    tracker = Tracker(env=env)
    tracker.configure(project_path=tmp_path, experiment=experiment, params={}, env=env)
    tracker.start_runs(name="stage", command="kedro run", tags={}, provenance={})
    log(tracker)
    outcome = tracker.finish("FINISHED")
    found = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    [run] = [r for r in found if r.info.run_name == "stage"]
    entry = run.data.tags.get("mlflow.parentRunId", run.info.run_id)
    return Tracked(client=client, run=run.info.run_id, entry=entry, outcome=outcome)
