"""MlflowHook driven through a stage's hook calls against a real sqlite store (through its
real writer process): what a run records, and what a tracking failure costs (a warning, or
with tracking.required an error)."""

from __future__ import annotations

import logging
import os
import signal
import socket
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import mlflow
import pytest
from kedro.io import DataCatalog
from kedro.pipeline import Pipeline

from pneumothorax.config.params import ImageParams
from pneumothorax.datasets.run_metrics_dataset import RunMetricsDataset
from pneumothorax.tracking.mlflow_hook import MlflowHook
from pneumothorax.tracking.outage import TrackingUnavailableError

METRICS = {"files_converted": {"value": 12.0, "step": 0}}
RUN_PARAMS = {
    "pipeline_names": ["images"],
    "runner": "<kedro.runner.sequential_runner.SequentialRunner object at 0x7f3a2c1d9e50>",
    "env": "local",
    "tags": None,
}


#: A metric name MLflow's store refuses: a real tracking error, raised in the writer.
REFUSED = "not?valid"


class _Bug(RunMetricsDataset):
    """A metrics dataset whose logging has a bug (not an outage)."""

    def __init__(self, error: BaseException, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.error = error

    def log_to_mlflow(self, data: Any, tracker: Any) -> None:
        raise self.error


@pytest.fixture(autouse=True)
def _forget_the_tracking_uri() -> Iterator[None]:
    # The hook points MLflow's fluent API at its store; the next test's store is its own.
    yield
    mlflow.set_tracking_uri(None)


def _context(project: Path, *, required: bool = False, mlflow_yml: Any = None) -> Any:
    params = {"image": {"size": 256}, "tracking": {"required": required}}
    loader = {
        "mlflow": mlflow_yml or {"experiment": "hook-test"},
        "credentials": {},
        "parameters": params,
    }
    return SimpleNamespace(project_path=project, params=params, config_loader=loader)


def _stage(hook: MlflowHook, project: Path, datasets: dict[str, Any], **context: Any) -> None:
    """The hook calls of one ``kedro run``: one node, which saves each dataset once."""
    hook.after_context_created(_context(project, **context))
    hook.after_catalog_created(conf_catalog={})
    hook.before_pipeline_run(
        run_params=dict(RUN_PARAMS), pipeline=Pipeline([]), catalog=DataCatalog(datasets)
    )
    # Kedro hands the node the group's typed model, whose size is a (height, width) pair.
    image = ImageParams.from_mapping({"size": 256})
    hook.before_node_run(node=None, inputs={"params:image": image, "train": object()})
    for name in datasets:
        hook.after_dataset_saved(dataset_name=name, data=METRICS)
    hook.after_pipeline_run()


def _runs() -> list[Any]:
    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name("hook-test")
    return client.search_runs([experiment.experiment_id])


def test_a_stage_run_records_params_metrics_and_tags(tmp_path: Path) -> None:
    metrics = RunMetricsDataset(filepath=str(tmp_path / "m.json"), prefix="images")
    _stage(MlflowHook(), tmp_path, {"images_metrics": metrics})
    [run] = _runs()
    assert run.info.run_name == "images"
    assert run.info.status == "FINISHED"
    assert run.data.params == {"image.size": "256"}  # as params.yaml wrote it
    assert run.data.metrics == {"images.files_converted": 12.0}
    tags = run.data.tags
    assert tags["mlflow.source.name"] == "kedro run --pipelines images"
    assert tags["runner"] == "SequentialRunner"
    assert tags["pipeline_names"] == "['images']"
    assert "tags" not in tags  # empty run params are not tags
    assert "mlflow.parentRunId" not in tags  # not under dvc: a single run


def test_a_tracking_failure_warns_once_and_the_stage_finishes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    refused = RunMetricsDataset(filepath=str(tmp_path / "m.json"), prefix=REFUSED)
    after = RunMetricsDataset(filepath=str(tmp_path / "n.json"), prefix="after")
    catalog = {"first": refused, "second": after}
    with caplog.at_level(logging.WARNING, logger="pneumothorax.tracking.mlflow_hook"):
        _stage(MlflowHook(), tmp_path, catalog)
    [run] = _runs()
    assert run.data.metrics == {}  # nothing attempted once tracking is off
    assert run.info.status == "FINISHED"  # the store was up: the run is not left running
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1
    assert f'logging first failed (Invalid value "{REFUSED}.files_converted"' in warnings[0]
    assert "not recorded in MLflow" in warnings[0]


def test_a_required_tracking_failure_stops_the_run(tmp_path: Path) -> None:
    down = RunMetricsDataset(filepath=str(tmp_path / "m.json"), prefix=REFUSED)
    with pytest.raises(TrackingUnavailableError, match=r"logging down failed .*tracking.required"):
        _stage(MlflowHook(), tmp_path, {"down": down}, required=True)


def test_other_errors_are_not_swallowed(tmp_path: Path) -> None:
    bug = _Bug(KeyError("a bug, not an outage"), filepath=str(tmp_path / "m.json"))
    with pytest.raises(KeyError, match="a bug"):
        _stage(MlflowHook(), tmp_path, {"bug": bug})


def test_an_unreachable_server_sends_the_run_to_the_local_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", dead)
    with caplog.at_level(logging.WARNING, logger="pneumothorax.tracking.mlflow_hook"):
        _stage(MlflowHook(), tmp_path, {})
    assert f"MLflow server {dead} is unreachable" in caplog.text
    assert (tmp_path / "mlflow.db").is_file()
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("hook-test")
    assert [r.info.run_name for r in client.search_runs([experiment.experiment_id])] == ["images"]
    # The project's own store keeps artifacts beside it (not in MLflow's ./mlruns default).
    assert experiment.artifact_location == (tmp_path / "mlartifacts").as_uri()


def test_an_unreachable_required_server_stops_the_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{sock.getsockname()[1]}")
    with pytest.raises(TrackingUnavailableError, match="so the run does not start"):
        MlflowHook().after_context_created(_context(tmp_path, required=True))


def test_an_unknown_mlflow_yml_key_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match=r"^Error: mlflow.yml: unknown key\(s\) server"):
        MlflowHook().after_context_created(_context(tmp_path, mlflow_yml={"server": {}}))


def test_the_credentials_entry_reaches_mlflows_client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
    context = _context(tmp_path, mlflow_yml={"experiment": "hook-test", "credentials": "team"})
    context.config_loader["credentials"] = {
        "team": {"MLFLOW_TRACKING_USERNAME": "alice", "aws_secret": "not for mlflow"}
    }
    MlflowHook().after_context_created(context)
    assert os.environ["MLFLOW_TRACKING_USERNAME"] == "alice"
    assert "aws_secret" not in os.environ


def _kill_writer(hook: MlflowHook) -> None:
    pid = hook.writer_pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("when", ["before the run", "mid-run"])
def test_a_killed_writer_warns_once_and_the_stage_finishes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, when: str
) -> None:
    hook = MlflowHook()
    metrics = RunMetricsDataset(filepath=str(tmp_path / "m.json"), prefix="images")
    hook.after_context_created(_context(tmp_path))
    hook.after_catalog_created(conf_catalog={})
    if when == "before the run":
        _kill_writer(hook)
    hook.before_pipeline_run(
        run_params=dict(RUN_PARAMS), pipeline=Pipeline([]), catalog=DataCatalog({"m": metrics})
    )
    if when == "mid-run":
        _kill_writer(hook)
    with caplog.at_level(logging.WARNING, logger="pneumothorax.tracking.mlflow_hook"):
        hook.after_dataset_saved(dataset_name="m", data=METRICS)
        hook.after_pipeline_run()
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1
    assert (
        "recording the run failed (the MLflow writer process ended with exit code -9)"
        in (warnings[0])
    )
    assert "not recorded in MLflow" in warnings[0]
    assert hook.writer_pid is None  # nothing left behind


def test_a_writer_started_ahead_and_lost_before_the_run_is_replaced(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    hook = MlflowHook()
    ahead = hook.writer_pid
    assert ahead is not None
    os.kill(ahead, signal.SIGKILL)
    os.waitpid(ahead, 0)
    metrics = RunMetricsDataset(filepath=str(tmp_path / "m.json"), prefix="images")
    with caplog.at_level(logging.WARNING, logger="pneumothorax.tracking.mlflow_hook"):
        _stage(hook, tmp_path, {"images_metrics": metrics})
    assert caplog.records == []
    [run] = _runs()
    assert run.data.metrics == {"images.files_converted": 12.0}


def test_a_killed_writer_stops_a_required_run(tmp_path: Path) -> None:
    hook = MlflowHook()
    metrics = RunMetricsDataset(filepath=str(tmp_path / "m.json"), prefix="images")
    hook.after_context_created(_context(tmp_path, required=True))
    hook.before_pipeline_run(
        run_params=dict(RUN_PARAMS), pipeline=Pipeline([]), catalog=DataCatalog({"m": metrics})
    )
    _kill_writer(hook)  # connected already (a required run waits for that): mid-run
    hook.after_dataset_saved(dataset_name="m", data=METRICS)
    with pytest.raises(TrackingUnavailableError, match=r"recording the run failed .*exit code -9"):
        hook.after_pipeline_run()


def test_a_writer_killed_before_a_required_run_stops_it_before_any_node(tmp_path: Path) -> None:
    hook = MlflowHook()
    hook.after_context_created(_context(tmp_path, required=True))
    _kill_writer(hook)
    with pytest.raises(TrackingUnavailableError, match="so the run stops"):
        hook.before_pipeline_run(
            run_params=dict(RUN_PARAMS), pipeline=Pipeline([]), catalog=DataCatalog({})
        )
