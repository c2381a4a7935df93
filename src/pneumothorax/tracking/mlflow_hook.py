"""The Kedro hook that records runs in MLflow: one entry per experiment, tolerant of an outage.

Why our own hook rather than kedro-mlflow's: of kedro-mlflow this project used only the
hook (no MLflow datasets, no ``PipelineML``), and every step of it was wrapped or replaced:
runs grouped under a parent per ``dvc repro``, outage tolerance, tags without object reprs.
Importing it also imports ``mlflow.pyfunc`` and pydantic configs, and its runs start through
MLflow's fluent API, which imports IPython and GitPython to guess tags we set ourselves:
about a second of every stage's start-up (docs/benchmarks.md, "Stage start-up"). This hook
talks to MLflow through ``MlflowClient`` with explicit run ids, and keeps every piece of its
state (the runs, whether tracking is required, whether it failed) on itself.
"""

from __future__ import annotations

import contextlib
import getpass
import io
import json
import logging
import os
import re
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from kedro.config import MissingConfigException
from kedro.framework.hooks import hook_impl

from pneumothorax.config.errors import ParamsError
from pneumothorax.config.params import TrackingParams
from pneumothorax.config.project import repository_root
from pneumothorax.raw.pick import select_sample_ids
from pneumothorax.tracking.experiment_run import (
    GROUP_TAG,
    baseline_params,
    changed_params,
    current_params,
    flatten,
    format_value,
    given_exp_name,
    group_key,
    run_name,
)
from pneumothorax.tracking.logged import MlflowLogged, RunIds
from pneumothorax.tracking.outage import (
    TrackingUnavailableError,
    apply_http_defaults,
    fail_fast,
    first_line,
    tracking_errors,
    unreachable_reason,
)
from pneumothorax.tracking.provenance import dvc_remote_url, raw_data, run_tags
from pneumothorax.tracking.store import artifact_location, relocate_store, tracking_uri

if TYPE_CHECKING:
    from kedro.framework.context import KedroContext
    from kedro.io import DataCatalog
    from kedro.pipeline.node import Node
    from mlflow import MlflowClient
    from mlflow.data.dataset_source import DatasetSource

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: MLflow refuses longer param values.
_MAX_PARAM_LENGTH = 6000
#: MLflow refuses longer tag values.
_MAX_TAG_LENGTH = 8000

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
    * **Tracking never costs data work.** An unreachable server at start-up sends the run
      to the repository's local store with a warning; a failure mid-run warns once and
      stops logging, and the pipeline finishes with exit code 0 so DVC records its
      outputs. With ``tracking.required: true`` both are errors instead.
    """

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        """Forget the previous session's state (one hook object may serve several)."""
        self._project_path = Path.cwd()
        self._params: dict[str, Any] = {}
        self._config = MlflowConfig()
        self._required = False
        self._failed = False
        self._errors: tuple[type[BaseException], ...] = ()
        self._client: MlflowClient | None = None
        self._experiment_id: str | None = None
        self._runs: RunIds | None = None
        self._catalog: DataCatalog | None = None
        self._logged_params: set[str] = set()
        self._metric_files: dict[str, Path] = {}
        self._thumbnails: dict[str, bytes] = {}

    # -- Kedro hooks -------------------------------------------------------------------

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        """Read the settings, probe the server (else fall back to the local store), connect.

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
        self._errors = tracking_errors()  # imports MLflow: from here on, the run tracks
        # After the fallback above: the local store it falls back to may have moved too.
        moved = self._guarded(
            "pointing the local store at this folder", relocate_store, self._project_path
        )
        if moved:
            logger.info(
                "MLflow store: %d artifact location(s) pointed at this project's folder "
                "(it was copied or moved)",
                moved,
            )
        self._guarded("connecting to the tracking store", self._connect)

    @hook_impl
    def after_catalog_created(self, conf_catalog: dict[str, Any]) -> None:
        """Note the stages' metrics files, whose values the entry carries for skipped stages."""
        self._metric_files = _metric_files(conf_catalog, self._project_path)
        self._thumbnails = {}

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], catalog: DataCatalog) -> None:
        """Resume (or create) the experiment's parent run, then start this stage's run in it."""
        self._catalog = catalog
        self._guarded("starting the run", self._start_runs, run_params)

    @hook_impl
    def before_node_run(self, node: Node, inputs: dict[str, Any]) -> None:
        """Log the params the node reads (``params:<key>``, flattened) on the stage's run."""
        if self._runs is None:
            return
        params = {
            name: value
            for key, value in inputs.items()
            for name, value in _node_params(key, value, self._params).items()
            if name not in self._logged_params
        }
        if params:
            self._guarded("logging params", self._log_params, self._runs.run, params)
            self._logged_params.update(params)

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any) -> None:
        """Keep a few thumbnails as they pass; ask a logging dataset to log what it saved."""
        if dataset_name == THUMBNAIL_DATASET and isinstance(data, Mapping):
            pool = {**self._thumbnails, **data}
            self._thumbnails = {k: pool[k] for k in select_sample_ids(pool, THUMBNAIL_COUNT)}
        if self._runs is None or self._client is None or self._catalog is None:
            return
        dataset = self._catalog.get(dataset_name)
        if isinstance(dataset, MlflowLogged):
            self._guarded(
                f"logging {dataset_name}", dataset.log_to_mlflow, data, self._client, self._runs
            )

    @hook_impl
    def after_pipeline_run(self) -> None:
        """Complete the experiment's entry, end this stage's run, then the parent.

        The entry gets the thumbnails this stage wrote and the current metrics of every
        stage, so an entry whose stages did not all rerun still has the full set. The
        parent is resumed by the next stage, if any.
        """
        if self._runs is not None:
            self._guarded("logging thumbnails", self._log_thumbnails, self._runs.entry)
            self._guarded("carrying metrics", self._carry_metrics, self._runs.entry)
        self._end_runs("FINISHED")

    @hook_impl
    def on_pipeline_error(self) -> None:
        """Mark the stage's run and its parent failed (best effort)."""
        self._end_runs("FAILED")

    # -- failures ------------------------------------------------------------------------

    def _guarded(self, action: str, fn: Callable[..., T], *args: Any) -> T | None:
        """Call ``fn`` unless tracking failed; a tracking error goes to :meth:`_fail`."""
        if self._failed or not self._errors:
            return None
        try:
            return fn(*args)
        except self._errors as err:
            self._fail(action, err)
            return None

    def _fail(self, action: str, err: BaseException) -> None:
        """Raise if tracking is required, else warn once and stop tracking for this run.

        Raises:
            TrackingUnavailableError: ``tracking.required`` is true.
        """
        uri = tracking_uri(self._project_path)
        if self._required:
            raise TrackingUnavailableError(
                f"MLflow at {uri}: {action} failed ({first_line(err)}); tracking.required is "
                "true in params.yaml, so the run stops"
            ) from err
        logger.warning(
            "MLflow at %s: %s failed (%s). The pipeline carries on and its outputs are valid, "
            "but the rest of this run is not recorded in MLflow (set tracking.required: true "
            "in params.yaml to stop instead).",
            uri,
            action,
            first_line(err),
        )
        self._failed = True
        fail_fast()

    # -- MLflow calls (each through _guarded) ----------------------------------------------

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

    def _connect(self) -> None:
        import mlflow

        uri = tracking_uri(self._project_path)
        # Before set_tracking_uri, which exports MLFLOW_TRACKING_URI: that variable means
        # "a server's store", whose server decides where artifacts go.
        location = artifact_location(self._project_path)
        # MLflow's fluent API (the model dataset's ``mlflow.sklearn.log_model``) uses it too.
        mlflow.set_tracking_uri(uri)
        client = mlflow.MlflowClient(uri)
        experiment = client.get_experiment_by_name(self._config.experiment)
        if experiment is None:
            self._experiment_id = client.create_experiment(
                self._config.experiment, artifact_location=location
            )
        else:
            if experiment.lifecycle_stage == "deleted":
                client.restore_experiment(experiment.experiment_id)
            self._experiment_id = experiment.experiment_id
        self._client = client

    def _start_runs(self, run_params: dict[str, Any]) -> None:
        if self._client is None or self._experiment_id is None:
            return
        parent = self._resume_parent()
        command = _kedro_command(run_params)
        tags = {
            **{k: v for k, v in _plain_run_params(run_params).items() if v},
            **run_tags(self._project_path),
            "mlflow.source.name": command,
            "mlflow.source.type": "LOCAL",
            "mlflow.user": _user(),
        }
        if parent is not None:
            tags["mlflow.parentRunId"] = parent
        run = self._client.create_run(
            self._experiment_id,
            run_name=_pipeline_label(run_params),
            tags={k: str(v)[:_MAX_TAG_LENGTH] for k, v in tags.items()},
        ).info.run_id
        self._runs = RunIds(run=run, entry=parent or run, experiment=self._experiment_id)
        if parent is None:
            self._log_raw_data(run)  # a plain `kedro run`: the run is the entry
        logger.debug("MLflow run %s (%s) started", run, command)

    def _resume_parent(self) -> str | None:
        """The experiment's entry for this DVC command, created by its first stage."""
        key = group_key()
        if key is None or self._client is None or self._experiment_id is None:
            return None
        found = self._client.search_runs(
            [self._experiment_id], filter_string=f"tags.`{GROUP_TAG}` = '{key}'", max_results=1
        )
        changes = changed_params(
            current_params(self._project_path), baseline_params(self._project_path)
        )
        data = raw_data(self._project_path)
        name = given_exp_name() or run_name(changes, data[0].md5 if data else None)
        if found:
            parent = found[0].info.run_id
            self._client.update_run(parent, status="RUNNING")
        else:
            parent = self._client.create_run(
                self._experiment_id, run_name=name, tags={GROUP_TAG: key}
            ).info.run_id
        self._log_params(
            parent, {key: format_value(value) for key, value in flatten(self._params).items()}
        )
        if not found:
            # Tagged once, before any stage writes: later stages rewrite the git-tracked
            # metrics files, and `git.dirty` would then say "true" of every reproduction.
            for tag, value in {
                **run_tags(self._project_path),
                "mlflow.source.name": _dvc_command(),
                "mlflow.source.type": "LOCAL",
                "mlflow.user": _user(),
                "pneumothorax.changed_params": run_name(changes),
            }.items():
                self._client.set_tag(parent, tag, value)
            self._log_raw_data(parent)
        logger.debug("MLflow experiment entry '%s' (run %s)", name, parent)
        return parent

    def _log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        if self._client is None:
            return
        self._client.log_batch(
            run_id, params=[Param(k, str(v)[:_MAX_PARAM_LENGTH]) for k, v in params.items()]
        )

    def _log_raw_data(self, run_id: str) -> None:
        """Log each raw DVC folder as the run's input (the UI's Datasets column).

        Name: the folder; digest: DVC's md5 of it (as in its ``.dvc`` file); source: where
        the default DVC remote keeps that version (or the folder itself, with no remote).
        """
        from mlflow.data.meta_dataset import MetaDataset
        from mlflow.entities import Dataset, DatasetInput, InputTag
        from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

        if self._client is None:
            return
        remote = dvc_remote_url(repository_root(self._project_path))
        inputs = []
        for data in raw_data(self._project_path):
            uri = (
                data.remote_object(remote)
                if remote
                else (self._project_path / data.path).resolve().as_posix()
            )
            # MLflow's Dataset marks `profile` abstract without enforcing it (no ABCMeta), and
            # MetaDataset, its dataset for data it only describes, has none: fine, not to mypy.
            meta = MetaDataset(  # type: ignore[abstract]
                source=_dataset_source(uri), name=data.name, digest=data.md5
            )
            inputs.append(
                DatasetInput(
                    Dataset(**meta.to_dict()), tags=[InputTag(MLFLOW_DATASET_CONTEXT, "raw")]
                )
            )
        if inputs:
            self._client.log_inputs(run_id, datasets=inputs)

    def _log_thumbnails(self, run_id: str) -> None:
        from PIL import Image

        if self._client is None:
            return
        for key, png in sorted(self._thumbnails.items()):
            with Image.open(io.BytesIO(png)) as image:
                self._client.log_image(run_id, image.copy(), key=key, step=0)
        self._thumbnails = {}

    def _carry_metrics(self, run_id: str) -> None:
        """Log every stage's current metrics file that the entry does not have yet."""
        from mlflow.entities import Metric

        if self._client is None:
            return
        have = self._client.get_run(run_id).data.metrics
        carried = {
            name: value
            for name, value in _current_metrics(self._metric_files).items()
            if name not in have
        }
        if carried:
            now = int(time.time() * 1000)
            self._client.log_batch(
                run_id, metrics=[Metric(k, v, now, 0) for k, v in carried.items()]
            )

    def _end_runs(self, status: str) -> None:
        """End this stage's run, then the entry (best effort: a dead store costs nothing)."""
        runs, self._runs, self._catalog = self._runs, None, None
        self._logged_params = set()
        if runs is None or self._client is None:
            return
        for run_id in dict.fromkeys([runs.run, runs.entry]):
            if status == "FINISHED" and not self._failed:
                self._guarded("ending the run", self._client.set_terminated, run_id, status)
            else:
                # After a failure (warned about already) or in a failed pipeline: one quick
                # try, so a store that is still up does not keep the run "RUNNING".
                with contextlib.suppress(*self._errors):
                    self._client.set_terminated(run_id, status)


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


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (a container's anonymous uid)
        return "unknown"


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


def _dvc_command() -> str:
    """The DVC command an experiment's entry comes from (its ``mlflow.source.name``)."""
    return "dvc exp run" if os.environ.get("DVC_EXP_NAME") else "dvc repro"


def _dataset_source(uri: str) -> DatasetSource:
    """MLflow's own dataset source for ``uri`` (S3, HTTP, a local path), else a DVC one."""
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.exceptions import MlflowException

    from pneumothorax.tracking.dvc_source import DvcRemoteSource

    try:
        with warnings.catch_warnings():
            # A local path matches MLflow's two local-artifact resolvers, which are the same
            # class; it says so in a UserWarning on every run. Only that one is ignored.
            warnings.filterwarnings(
                "ignore",
                message="The specified dataset source can be interpreted in multiple ways",
                category=UserWarning,
                module=r"mlflow\.data\.dataset_source_registry",
            )
            return resolve_dataset_source(uri)
    except MlflowException:  # e.g. ssh://, which MLflow has no source type for
        return DvcRemoteSource(uri)
