"""The Kedro hook that records runs in MLflow: one entry per experiment, tolerant of an outage.

Why our own hook rather than kedro-mlflow's: of kedro-mlflow this project used only the
hook (no MLflow datasets, no ``PipelineML``), and every step of it was wrapped or replaced:
runs grouped under a parent per ``dvc repro``, outage tolerance, tags without object reprs.
Importing it also imports ``mlflow.pyfunc`` and pydantic configs, and its runs start through
MLflow's fluent API, which imports IPython and GitPython to guess tags we set ourselves:
about a second of every stage's start-up (docs/benchmarks.md, "Stage start-up"). This hook
never imports MLflow at all: a writer process started with the stage
(:mod:`pneumothorax.tracking.writer`) makes every call, with ``MlflowClient`` and explicit
run ids, while the stage works; the hook keeps every piece of its state (the writer,
whether tracking is required) on itself.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kedro.config import MissingConfigException
from kedro.framework.hooks import hook_impl

from pneumothorax.config.errors import ParamsError
from pneumothorax.config.params import TrackingParams
from pneumothorax.raw.pick import select_sample_ids
from pneumothorax.tracking.experiment_run import flatten
from pneumothorax.tracking.logged import MlflowLogged
from pneumothorax.tracking.outage import (
    TrackingUnavailableError,
    apply_http_defaults,
    unreachable_reason,
)
from pneumothorax.tracking.provenance import run_tags
from pneumothorax.tracking.store import tracking_uri
from pneumothorax.tracking.tracker import ENTRY, RUN, Tracker

if TYPE_CHECKING:
    from kedro.framework.context import KedroContext
    from kedro.io import DataCatalog
    from kedro.pipeline import Pipeline
    from kedro.pipeline.node import Node

logger = logging.getLogger(__name__)

#: The PNG folder whose first few images (a fixed pick) the entry shows as images.
THUMBNAIL_DATASET = "img_train"
#: How many: enough to see what a size change did, few enough to keep the store small.
THUMBNAIL_COUNT = 4
#: The catalog type whose JSON files are the stages' DVC metrics.
_METRICS_TYPE = "RunMetricsDataset"
#: ``<kedro.runner.sequential_runner.SequentialRunner object at 0x7f…>``: a repr, not a value.
_OBJECT_REPR = re.compile(r"^<(?:[\w.]+\.)?(\w+) object at 0x[0-9a-fA-F]+>$")


@dataclass(frozen=True)
class MlflowConfig:
    """``conf/<env>/mlflow.yml``: the experiment's name, and where the server's login is.

    Attributes:
        experiment: The MLflow experiment every run of the project goes to.
        credentials: A key of ``conf/<env>/credentials.yml`` whose ``MLFLOW_TRACKING_*``
            entries (``MLFLOW_TRACKING_USERNAME``, ``..._PASSWORD``, ``..._TOKEN``) are put
            in the environment, where MLflow's client reads them; None for none.
    """

    experiment: str = "pneumothorax"
    credentials: str | None = None

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any] | None) -> MlflowConfig:
        """Validate the loaded ``mlflow.yml``.

        Raises:
            ParamsError: An unknown key, or a value that is not a string.
        """
        raw = dict(raw or {})
        unknown = sorted(set(raw) - {"experiment", "credentials"})
        if unknown:
            raise ParamsError(
                f"mlflow.yml: unknown key(s) {', '.join(unknown)} (known: experiment, credentials)"
            )
        experiment = raw.get("experiment", cls.experiment)
        credentials = raw.get("credentials")
        if not isinstance(experiment, str) or not experiment:
            raise ParamsError("mlflow.yml: experiment must be a non-empty name")
        if credentials is not None and not isinstance(credentials, str):
            raise ParamsError("mlflow.yml: credentials must be a key of credentials.yml, or null")
        return cls(experiment=experiment, credentials=credentials)


class MlflowHook:
    """Records each ``kedro run`` in MLflow, and each ``dvc repro`` as one entry.

    * **One entry per experiment.** Every stage that one ``dvc repro`` or ``dvc exp run``
      runs becomes a child of one parent run, found by a group tag (see
      :func:`pneumothorax.tracking.experiment_run.group_key`) and named by ``dvc exp run -n``,
      else after the params that differ from the baseline commit and the data version
      (``image.size=128 (data a869c744)``). The parent carries every param flattened,
      every stage's metrics (carried from the metrics files for stages that did not
      rerun), MLflow's source tags and the DVC ones, the raw data as its input dataset, a
      few thumbnails as logged images and the reporting artifacts, so the MLflow UI's
      compare view of two parents shows what differed and what it did. A plain
      ``kedro run`` stays a single run, which gets the same.
    * **Each stage's run** is named after its pipeline and carries the params its nodes
      read, Kedro's run params as tags, the command, git commit and DVC data version.
      Datasets that log what they save (:class:`pneumothorax.tracking.logged.MlflowLogged`:
      metrics, reports, the model) are asked to after each save.
    * **Off the stage's critical path.** Every MLflow call is made by a writer process
      (:class:`pneumothorax.tracking.tracker.Tracker`) started with the stage: this process
      never imports MLflow, and waits for the writer only at the end of the run.
    * **Tracking never costs data work.** An unreachable server at start-up sends the run
      to the repository's local store with a warning; a failure later warns once (at the
      end of the run) and the rest of the run is not recorded, and the pipeline finishes
      with exit code 0 so DVC records its outputs. With ``tracking.required: true`` both
      are errors instead (a store that cannot be opened stops the run before any node).
    """

    def __init__(self) -> None:
        self._tracker: Tracker | None = None
        # Started now (settings.py builds the hook as Kedro starts), so that it imports
        # MLflow while Kedro does the rest of its start-up; configured once the context is.
        self._spare: Tracker | None = Tracker()
        self._at_exit = False
        self._reset()

    def _reset(self) -> None:
        """Forget the previous session's state (one hook object may serve several)."""
        if self._tracker is not None:
            self._finish("FAILED", raising=False)
        self._project_path = Path.cwd()
        self._params: dict[str, Any] = {}
        self._config = MlflowConfig()
        self._required = False
        self._tracker = None
        self._started = False
        self._catalog: DataCatalog | None = None
        self._logged_params: set[str] = set()
        self._metric_files: dict[str, Path] = {}
        self._thumbnails: dict[str, bytes] = {}

    @property
    def writer_pid(self) -> int | None:
        """The process id of this run's MLflow writer (else of the one started ahead)."""
        tracker = self._tracker or self._spare
        return tracker.pid if tracker is not None else None

    # -- Kedro hooks -------------------------------------------------------------------

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        """Read the settings, probe the server (else fall back to the local store), and
        start the writer, which connects while Kedro goes on.

        Raises:
            TrackingUnavailableError: The server is unreachable and tracking is required.
        """
        self._reset()
        self._project_path = Path(context.project_path)
        # As params.yaml (and --params) wrote them: the nodes' inputs are typed models.
        self._params = dict(context.config_loader["parameters"])
        self._required = TrackingParams.from_mapping(self._params.get("tracking")).required
        try:
            self._config = MlflowConfig.from_mapping(context.config_loader["mlflow"])
        except MissingConfigException:
            self._config = MlflowConfig()
        except ParamsError as error:
            raise SystemExit(f"Error: {error}") from None
        self._export_credentials(context)
        apply_http_defaults()
        uri = tracking_uri(self._project_path)
        reason = unreachable_reason(uri)
        if reason:
            if self._required:
                raise TrackingUnavailableError(
                    f"MLflow server {uri} is unreachable: {reason}; tracking.required is true "
                    "in params.yaml, so the run does not start"
                )
            os.environ.pop("MLFLOW_TRACKING_URI", None)
            logger.warning(
                "MLflow server %s is unreachable (%s). This run is recorded in the local "
                "store %s instead; the pipeline and its outputs are unaffected.",
                uri,
                reason,
                tracking_uri(self._project_path),
            )
        spare, self._spare = self._spare, None
        self._tracker = spare if spare is not None and spare.alive else Tracker()
        # After the fallback above: the writer gets the environment as it is now.
        self._tracker.configure(
            project_path=self._project_path,
            experiment=self._config.experiment,
            params=self._params,
            env=dict(os.environ),
        )
        if not self._at_exit:
            # A session that never runs a pipeline (``session.load_context()`` alone) still
            # hears from its writer, and never leaves it behind.
            atexit.register(self._finish_at_exit)
            self._at_exit = True

    @hook_impl
    def after_catalog_created(self, conf_catalog: dict[str, Any]) -> None:
        """Note the stages' metrics files, whose values the entry carries for skipped stages."""
        self._metric_files = _metric_files(conf_catalog, self._project_path)
        self._thumbnails = {}

    @hook_impl
    def before_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: DataCatalog
    ) -> None:
        """Ask for the experiment's parent run and this stage's run in it.

        With ``tracking.required`` it first waits for the writer to have opened the store.
        A dataset the pipeline will save that has a ``prepare_mlflow(tracker)`` method (the
        model) is asked to let the writer prepare while the nodes work.

        Raises:
            TrackingUnavailableError: Tracking is required and the store cannot be opened.
        """
        tracker = self._tracker
        if tracker is None:
            return
        if self._required:
            failure = tracker.connected().failure
            if failure is not None:
                self._tracker = None
                tracker.finish("FAILED")  # nothing to end: it only stops the writer
                self._fail(failure)
        self._catalog = catalog
        self._started = True
        tracker.start_runs(
            name=_pipeline_label(run_params),
            command=_kedro_command(run_params),
            tags={k: v for k, v in _plain_run_params(run_params).items() if v},
            # Read now, before any node writes: `git.dirty` of the code that ran.
            provenance=run_tags(self._project_path),
        )
        for name in sorted(pipeline.all_outputs()):
            prepare = (
                getattr(catalog.get(name), "prepare_mlflow", None) if name in catalog else None
            )
            if callable(prepare):
                prepare(tracker)

    @hook_impl
    def before_node_run(self, node: Node, inputs: dict[str, Any]) -> None:
        """Log the params the node reads (``params:<key>``, flattened) on the stage's run."""
        if self._tracker is None or not self._started:
            return
        params = {
            name: value
            for key, value in inputs.items()
            for name, value in _node_params(key, value, self._params).items()
            if name not in self._logged_params
        }
        if params:
            self._tracker.log_params(RUN, params)
            self._logged_params.update(params)

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any) -> None:
        """Keep a few thumbnails as they pass; ask a logging dataset to log what it saved."""
        if dataset_name == THUMBNAIL_DATASET and isinstance(data, Mapping):
            pool = {**self._thumbnails, **data}
            self._thumbnails = {k: pool[k] for k in select_sample_ids(pool, THUMBNAIL_COUNT)}
        if self._tracker is None or not self._started or self._catalog is None:
            return
        dataset = self._catalog.get(dataset_name)
        if isinstance(dataset, MlflowLogged):
            with self._tracker.acting(f"logging {dataset_name}"):
                dataset.log_to_mlflow(data, self._tracker)

    # trylast: the other hooks' end of run (closing the workers) comes first, also when
    # the writer's report stops the run.
    @hook_impl(trylast=True)
    def after_pipeline_run(self) -> None:
        """Complete the experiment's entry, end the runs, and hear the writer's report.

        The entry gets the thumbnails this stage wrote and the current metrics of every
        stage, so an entry whose stages did not all rerun still has the full set. The
        parent is resumed by the next stage, if any.

        Raises:
            TrackingUnavailableError: A tracking call failed and tracking is required.
        """
        if self._tracker is not None and self._started:
            if self._thumbnails:
                self._tracker.log_thumbnails(ENTRY, self._thumbnails)
            self._tracker.carry_metrics(ENTRY, _current_metrics(self._metric_files))
        self._thumbnails = {}
        self._finish("FINISHED", raising=True)

    @hook_impl
    def on_pipeline_error(self) -> None:
        """Mark the stage's run and its parent failed (best effort)."""
        self._finish("FAILED", raising=False)

    # -- the writer's report ---------------------------------------------------------------

    def _finish(self, status: str, *, raising: bool) -> None:
        """End the runs; a failure the writer reports warns (or, if required, raises)."""
        tracker, self._tracker = self._tracker, None
        self._started, self._catalog, self._logged_params = False, None, set()
        if tracker is None:
            return
        outcome = tracker.finish(status)
        if outcome.moved:
            logger.info(
                "MLflow store: %d artifact location(s) pointed at this project's folder "
                "(it was copied or moved)",
                outcome.moved,
            )
        if outcome.failure is not None:
            if raising:
                self._fail(outcome.failure)
            else:
                self._warn(outcome.failure)

    def _finish_at_exit(self) -> None:
        self._finish("FINISHED", raising=False)

    def _fail(self, failure: Mapping[str, Any]) -> None:
        """Raise if tracking is required (or the writer hit a bug), else warn.

        Raises:
            TrackingUnavailableError: ``tracking.required`` is true.
            RuntimeError: The writer failed on something other than an outage.
        """
        if not failure["tracking"]:
            raise RuntimeError(f"MLflow writer: {failure['action']} failed ({failure['reason']})")
        if self._required:
            raise TrackingUnavailableError(
                f"MLflow at {tracking_uri(self._project_path)}: {failure['action']} failed "
                f"({failure['reason']}); tracking.required is true in params.yaml, so the "
                "run stops"
            )
        self._warn(failure)

    def _warn(self, failure: Mapping[str, Any]) -> None:
        logger.warning(
            "MLflow at %s: %s failed (%s). The pipeline carries on and its outputs are valid, "
            "but the rest of this run is not recorded in MLflow (set tracking.required: true "
            "in params.yaml to stop instead).",
            tracking_uri(self._project_path),
            failure["action"],
            failure["reason"],
        )

    def _export_credentials(self, context: KedroContext) -> None:
        # MLflow's client reads a server's login from MLFLOW_TRACKING_* variables only.
        if self._config.credentials is None:
            return
        try:
            entries = context.config_loader["credentials"].get(self._config.credentials) or {}
        except MissingConfigException:
            entries = {}
        for name, value in entries.items():
            if str(name).startswith("MLFLOW_TRACKING_"):
                os.environ[str(name)] = str(value)


def _node_params(key: str, value: Any, written: Mapping[str, Any]) -> dict[str, Any]:
    """``params:image`` -> ``{"image.size": 256, ...}``: what a stage's run shows.

    A ``params:<group>`` input is the group's typed model (Kedro builds it from the node's
    annotation), so the group is logged as params.yaml wrote it (``written``):
    ``image.size`` stays ``256``, not ``(256, 256)``.
    """
    if key.startswith("params:"):
        name = key.removeprefix("params:")
        return flatten({name: _written(written, name, value)})
    if key == "parameters" and isinstance(value, Mapping):
        return flatten(value)
    return {}


def _written(params: Mapping[str, Any], key: str, value: Any) -> Any:
    """The value of the dotted ``key`` in ``params`` (as written), else ``value``."""
    found: Any = params
    for part in key.split("."):
        if not isinstance(found, Mapping) or part not in found:
            return value
        found = found[part]
    return found


def _pipeline_label(run_params: Mapping[str, Any]) -> str:
    """``images``, ``metadata+images``, or ``__default__``: a stage run's name."""
    names = run_params.get("pipeline_names") or [run_params.get("pipeline_name")]
    names = [str(name) for name in names if name] or ["__default__"]
    return "+".join(names)


def _kedro_command(run_params: Mapping[str, Any]) -> str:
    """``kedro run --pipelines images``: the command line a run came from, without options."""
    names = run_params.get("pipeline_names") or [run_params.get("pipeline_name")]
    names = [name for name in names if name and name != "__default__"]
    return f"kedro run --pipelines {','.join(names)}" if names else "kedro run"


def _plain_run_params(run_params: Mapping[str, Any]) -> dict[str, Any]:
    """Kedro's run params with object reprs replaced by their class name.

    They tag each stage's run, and Kedro passes the runner as ``str(runner)``:
    ``<kedro.runner.sequential_runner.SequentialRunner object at 0x7f…>`` says nothing
    and differs on every run. It becomes ``SequentialRunner``.
    """
    plain = dict(run_params)
    for key, value in run_params.items():
        match = _OBJECT_REPR.match(value) if isinstance(value, str) else None
        if match:
            plain[key] = match.group(1)
    return plain


def _metric_files(conf_catalog: Mapping[str, Any], project_path: Path) -> dict[str, Path]:
    """``{prefix: JSON file}`` of every ``RunMetricsDataset`` in the catalog config."""
    files: dict[str, Path] = {}
    for entry in conf_catalog.values():
        if isinstance(entry, Mapping) and str(entry.get("type", "")).endswith(_METRICS_TYPE):
            path = Path(str(entry.get("filepath", "")))
            files[str(entry.get("prefix") or "")] = (
                path if path.is_absolute() else project_path / path
            )
    return files


def _current_metrics(files: Mapping[str, Path]) -> dict[str, float]:
    """The metrics the stages' JSON files hold now, named as the stages log them."""
    metrics: dict[str, float] = {}
    for prefix, path in files.items():
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # that stage has not run yet in this working copy
        for name, value in values.items() if isinstance(values, dict) else ():
            if isinstance(value, int | float) and not isinstance(value, bool):
                metrics[f"{prefix}.{name}" if prefix else name] = float(value)
    return metrics
