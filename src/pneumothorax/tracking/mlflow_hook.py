"""kedro-mlflow's hook, made to group an experiment's stages and to survive a tracking outage."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import mlflow
from kedro.framework.context import KedroContext
from kedro.framework.hooks import hook_impl
from kedro.io import DataCatalog
from kedro.pipeline import Pipeline
from kedro.pipeline.node import Node
from kedro_mlflow.framework.hooks.mlflow_hook import MlflowHook
from kedro_mlflow.io.catalog.switch_catalog_logging import switch_catalog_logging
from mlflow.data.dataset_source import DatasetSource
from mlflow.exceptions import MlflowException

from pneumothorax.config.params import TrackingParams
from pneumothorax.raw.pick import select_sample_ids
from pneumothorax.tracking import safe_tracking
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
from pneumothorax.tracking.provenance import dvc_remote_url, raw_data, run_tags
from pneumothorax.tracking.safe_tracking import TRACKING_ERRORS, TrackingUnavailableError
from pneumothorax.tracking.store import relocate_store, repository_root, tracking_uri

logger = logging.getLogger(__name__)

#: MLflow refuses longer param values.
_MAX_PARAM_LENGTH = 6000

#: The PNG folder whose first few images (a fixed pick) the entry shows as images.
THUMBNAIL_DATASET = "img_train"
#: How many: enough to see what a size change did, few enough to keep the store small.
THUMBNAIL_COUNT = 4
#: The catalog type whose JSON files are the stages' DVC metrics.
_METRICS_TYPE = "RunMetricsDataset"
#: ``<kedro.runner.sequential_runner.SequentialRunner object at 0x7f…>``: a repr, not a value.
_OBJECT_REPR = re.compile(r"^<(?:[\w.]+\.)?(\w+) object at 0x[0-9a-fA-F]+>$")


class ProjectMlflowHook(MlflowHook):
    """kedro-mlflow's ``MlflowHook`` with two additions.

    * **One entry per experiment.** Every stage that one ``dvc repro`` or ``dvc exp run``
      runs becomes a child of one parent run, found by a group tag (see
      :func:`pneumothorax.tracking.experiment_run.group_key`) and named by ``dvc exp run -n``, else
      after the params that differ from the baseline commit and the data version
      (``image.size=128 (data a869c744)``). The parent carries every param flattened,
      every stage's metrics (carried from the metrics files for stages that did not
      rerun), MLflow's source tags and the DVC ones, the raw data as its input dataset, a
      few thumbnails as logged images and the reporting artifacts, so the MLflow UI's
      compare view of two parents shows what differed and what it did. A plain
      ``kedro run`` stays a single run, which gets the same.
    * **Tracking never costs data work.** An unreachable server at start-up sends the run
      to the repository's local store with a warning; a failure mid-run warns once and
      stops logging, and the pipeline finishes with exit code 0 so DVC records its
      outputs. With ``tracking.required: true`` both are errors instead.

    Registered in ``settings.py`` in place of kedro-mlflow's own (auto-registered) hook.
    """

    def __init__(self) -> None:
        super().__init__()
        self._project_path: Path | None = None
        self._params: dict[str, Any] = {}
        self._parent_id: str | None = None
        self._metric_files: dict[str, Path] = {}
        self._thumbnails: dict[str, bytes] = {}

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        """Probe the tracking server, fall back to the local store if it does not answer."""
        self._project_path = Path(context.project_path)
        # As params.yaml (and --params) wrote them: the nodes' inputs are typed models.
        self._params = dict(context.config_loader["parameters"])
        self._parent_id = None
        settings = TrackingParams.from_mapping(self._params.get("tracking"))
        safe_tracking.configure(required=settings.required)
        safe_tracking.apply_http_defaults()
        uri = tracking_uri(self._project_path)
        reason = safe_tracking.unreachable_reason(uri)
        if reason:
            if settings.required:
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
        # After the fallback above: the local store it falls back to may have moved too.
        moved = safe_tracking.guarded(
            "pointing the local store at this folder", relocate_store, self._project_path
        )
        if moved:
            logger.info(
                "MLflow store: %d artifact location(s) pointed at this project's folder "
                "(it was copied or moved)",
                moved,
            )
        try:
            super().after_context_created(context)
        except TRACKING_ERRORS as err:
            safe_tracking.fail("connecting to the tracking store", err)

    @hook_impl
    def after_catalog_created(
        self,
        catalog: DataCatalog,
        conf_catalog: dict[str, Any],
        conf_creds: dict[str, Any],
        parameters: dict[str, Any],
        save_version: str,
        load_versions: dict[str, str],
    ) -> None:
        """kedro-mlflow's catalog set-up, skipped when tracking is off.

        Also notes the stages' metrics files (``RunMetricsDataset`` entries), whose current
        values the experiment's entry carries for stages that do not rerun.
        """
        self._metric_files = _metric_files(conf_catalog, self._project_path or Path.cwd())
        self._thumbnails = {}
        safe_tracking.guarded(
            "setting up the catalog",
            super().after_catalog_created,
            catalog,
            conf_catalog,
            conf_creds,
            parameters,
            save_version,
            load_versions,
        )

    @hook_impl
    def before_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: DataCatalog
    ) -> None:
        """Resume (or create) the experiment's parent run, then start this stage's run in it."""
        if safe_tracking.enabled():
            try:
                self._start_parent()
                super().before_pipeline_run(_plain_run_params(run_params), pipeline, catalog)
                if self._parent_id is None and mlflow.active_run() is not None:
                    self._log_raw_data()  # a plain `kedro run`: the run is the entry
            except TRACKING_ERRORS as err:
                safe_tracking.fail("starting the run", err)
        if not safe_tracking.enabled():
            self._is_mlflow_enabled = False
            self.run_id = None
            switch_catalog_logging(catalog, False)

    @hook_impl
    def before_node_run(
        self, node: Node, catalog: DataCatalog, inputs: dict[str, Any], is_async: bool
    ) -> None:
        """kedro-mlflow's param logging, tolerant of an outage, of the params as written.

        A ``params:<group>`` input is the group's typed model (Kedro builds it from the
        node's annotation); the plugin flattens mappings only, so it is given the group as
        params.yaml wrote it (``image.size`` stays ``256``, not ``(256, 256)``).
        """
        if safe_tracking.enabled() and self._is_mlflow_enabled:
            written = {
                name: _written(self._params, name[len("params:") :], value)
                if name.startswith("params:")
                else value
                for name, value in inputs.items()
            }
            safe_tracking.guarded(
                "logging params", super().before_node_run, node, catalog, written, is_async
            )

    @hook_impl
    def after_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: DataCatalog
    ) -> None:
        """Complete the experiment's entry, end this stage's run, then the parent.

        The entry (the parent, else this run) gets the thumbnails this stage wrote and the
        current metrics of every stage, so an entry whose stages did not all rerun still
        has the full set. The parent is resumed by the next stage, if any.
        """
        if safe_tracking.enabled() and self._is_mlflow_enabled:
            entry = self._parent_id or _active_run_id()
            if entry:
                safe_tracking.guarded("logging thumbnails", self._log_thumbnails, entry)
                safe_tracking.guarded("carrying metrics", self._carry_metrics, entry)
            safe_tracking.guarded(
                "ending the run", super().after_pipeline_run, run_params, pipeline, catalog
            )
        else:
            switch_catalog_logging(catalog, True)
        self._end_runs("FINISHED")

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any) -> None:
        """Keep the PNGs of a fixed pick of ids (the contact sheet's first few) as they pass."""
        if dataset_name != THUMBNAIL_DATASET or not isinstance(data, Mapping):
            return
        pool = {**self._thumbnails, **data}
        self._thumbnails = {key: pool[key] for key in select_sample_ids(pool, THUMBNAIL_COUNT)}

    @hook_impl
    def on_pipeline_error(
        self,
        error: Exception,
        run_params: dict[str, Any],
        pipeline: Pipeline,
        catalog: DataCatalog,
    ) -> None:
        """Mark the stage's run and its parent failed (best effort)."""
        if safe_tracking.enabled() and self._is_mlflow_enabled:
            with contextlib.suppress(*TRACKING_ERRORS):
                super().on_pipeline_error(error, run_params, pipeline, catalog)
        self._end_runs("FAILED")

    def _start_parent(self) -> None:
        key = group_key()
        if key is None or self._project_path is None:
            return
        client = mlflow.MlflowClient()
        experiment_id = self.mlflow_config.tracking.experiment._experiment.experiment_id
        found = client.search_runs(
            [experiment_id], filter_string=f"tags.`{GROUP_TAG}` = '{key}'", max_results=1
        )
        changes = changed_params(
            current_params(self._project_path), baseline_params(self._project_path)
        )
        data = raw_data(self._project_path)
        name = given_exp_name() or run_name(changes, data[0].md5 if data else None)
        if found:
            parent_id = found[0].info.run_id
        else:
            parent_id = client.create_run(
                experiment_id, run_name=name, tags={GROUP_TAG: key}
            ).info.run_id
        mlflow.start_run(run_id=parent_id)
        self._parent_id = parent_id
        params = {
            name: format_value(value)[:_MAX_PARAM_LENGTH]
            for name, value in flatten(self._params).items()
        }
        mlflow.log_params(params)
        if not found:
            # Tagged once, before any stage writes: later stages rewrite the git-tracked
            # metrics files, and `git.dirty` would then say "true" of every reproduction.
            mlflow.set_tags(
                {
                    **run_tags(self._project_path),
                    "mlflow.source.name": _dvc_command(),
                    "mlflow.source.type": "LOCAL",
                    "pneumothorax.changed_params": run_name(changes),
                }
            )
            self._log_raw_data()
        logger.debug("MLflow experiment entry '%s' (run %s)", name, parent_id)

    def _log_raw_data(self) -> None:
        """Log each raw DVC folder as the active run's input (the UI's Datasets column).

        Name: the folder; digest: DVC's md5 of it (as in its ``.dvc`` file); source: where
        the default DVC remote keeps that version (or the folder itself, with no remote).
        """
        if self._project_path is None:
            return
        from mlflow.data.meta_dataset import MetaDataset

        remote = dvc_remote_url(repository_root(self._project_path))
        for data in raw_data(self._project_path):
            uri = (
                data.remote_object(remote)
                if remote
                else (self._project_path / data.path).resolve().as_posix()
            )
            dataset = MetaDataset(source=_dataset_source(uri), name=data.name, digest=data.md5)
            mlflow.log_input(dataset, context="raw")

    def _log_thumbnails(self, run_id: str) -> None:
        from PIL import Image

        client = mlflow.MlflowClient()
        for key, png in sorted(self._thumbnails.items()):
            with Image.open(io.BytesIO(png)) as image:
                client.log_image(run_id, image.copy(), key=key, step=0)
        self._thumbnails = {}

    def _carry_metrics(self, run_id: str) -> None:
        """Log every stage's current metrics file that the entry does not have yet."""
        client = mlflow.MlflowClient()
        have = client.get_run(run_id).data.metrics
        carried = {
            name: value
            for name, value in _current_metrics(self._metric_files).items()
            if name not in have
        }
        if carried:
            now = int(time.time() * 1000)
            client.log_batch(
                run_id, metrics=[mlflow.entities.Metric(k, v, now, 0) for k, v in carried.items()]
            )

    def _end_runs(self, status: str) -> None:
        # Pop every run this hook left active; a dead server must not keep them open
        # (ending a run pops it locally before contacting the store).
        while mlflow.active_run() is not None:
            if safe_tracking.enabled():
                safe_tracking.guarded("ending the run", mlflow.end_run, status)
            else:
                with contextlib.suppress(*TRACKING_ERRORS):
                    mlflow.end_run(status)
        self._parent_id = None


def _active_run_id() -> str | None:
    run = mlflow.active_run()
    return run.info.run_id if run is not None else None


def _written(params: Mapping[str, Any], key: str, value: Any) -> Any:
    """The value of the dotted ``key`` in ``params`` (as written), else ``value``."""
    found: Any = params
    for part in key.split("."):
        if not isinstance(found, Mapping) or part not in found:
            return value
        found = found[part]
    return found


def _plain_run_params(run_params: dict[str, Any]) -> dict[str, Any]:
    """Kedro's run params with object reprs replaced by their class name.

    kedro-mlflow tags the run with them, and Kedro passes the runner as ``str(runner)``:
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


class DvcRemoteSource(DatasetSource):
    """A dataset kept on a DVC remote MLflow has no source type for (``ssh://``, ``gs://``…).

    Only described, never loaded by MLflow: ``dvc pull`` fetches it.
    """

    def __init__(self, uri: str) -> None:
        self.uri = uri

    @staticmethod
    def _get_source_type() -> str:
        return "dvc"

    def load(self) -> Any:
        """Not loadable through MLflow.

        Raises:
            NotImplementedError: always; ``dvc pull`` fetches the data.
        """
        raise NotImplementedError(f"{self.uri}: fetch it with `dvc pull`")

    @staticmethod
    def _can_resolve(raw_source: Any) -> bool:
        return False

    @classmethod
    def _resolve(cls, raw_source: Any) -> DvcRemoteSource:
        return cls(str(raw_source))

    def to_dict(self) -> dict[str, Any]:
        """``{"uri": ...}``, as MLflow's artifact sources describe themselves."""
        return {"uri": self.uri}

    @classmethod
    def from_dict(cls, source_dict: dict[Any, Any]) -> DvcRemoteSource:
        """The source ``to_dict`` described."""
        return cls(str(source_dict["uri"]))
