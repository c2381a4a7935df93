"""kedro-mlflow's hook, made to group an experiment's stages and to survive a tracking outage."""

from __future__ import annotations

import contextlib
import logging
import os
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

from pneumothorax import safe_tracking
from pneumothorax.experiment_run import (
    GROUP_TAG,
    baseline_params,
    changed_params,
    current_params,
    flatten,
    format_value,
    group_key,
    run_name,
)
from pneumothorax.params import TrackingParams
from pneumothorax.provenance import run_tags
from pneumothorax.safe_tracking import TRACKING_ERRORS, TrackingUnavailableError
from pneumothorax.tracking import relocate_store, tracking_uri

logger = logging.getLogger(__name__)

#: MLflow refuses longer param values.
_MAX_PARAM_LENGTH = 6000


class ProjectMlflowHook(MlflowHook):
    """kedro-mlflow's ``MlflowHook`` with two additions.

    * **One entry per experiment.** Every stage that one ``dvc repro`` or ``dvc exp run``
      runs becomes a child of one parent run, found by a group tag (see
      :func:`pneumothorax.experiment_run.group_key`) and named after the params that differ
      from the baseline commit (``image.size=128``). The parent carries every param
      flattened, the stages' metrics, the git commit, the DVC experiment name and data
      version, and the reporting artifacts, so the MLflow UI's compare view of two parents
      shows what differed and what it did. A plain ``kedro run`` stays a single run.
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

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        """Probe the tracking server, fall back to the local store if it does not answer."""
        self._project_path = Path(context.project_path)
        self._params = dict(context.params)
        self._parent_id = None
        settings = TrackingParams.from_mapping(self._params.get("tracking"))
        safe_tracking.configure(required=settings.required)
        safe_tracking.apply_http_defaults()
        moved = relocate_store(self._project_path)
        if moved:
            logger.info(
                "MLflow store: %d artifact location(s) pointed at this project's folder "
                "(it was copied or moved)",
                moved,
            )
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
        """kedro-mlflow's catalog set-up, skipped when tracking is off."""
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
                super().before_pipeline_run(run_params, pipeline, catalog)
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
        """kedro-mlflow's param logging, tolerant of an outage."""
        if safe_tracking.enabled() and self._is_mlflow_enabled:
            safe_tracking.guarded(
                "logging params", super().before_node_run, node, catalog, inputs, is_async
            )

    @hook_impl
    def after_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: DataCatalog
    ) -> None:
        """End this stage's run, then the parent (resumed by the next stage, if any)."""
        if safe_tracking.enabled() and self._is_mlflow_enabled:
            safe_tracking.guarded(
                "ending the run", super().after_pipeline_run, run_params, pipeline, catalog
            )
        else:
            switch_catalog_logging(catalog, True)
        self._end_runs("FINISHED")

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
        if found:
            parent_id = found[0].info.run_id
        else:
            parent_id = client.create_run(
                experiment_id, run_name=run_name(changes), tags={GROUP_TAG: key}
            ).info.run_id
        mlflow.start_run(run_id=parent_id)
        self._parent_id = parent_id
        params = {
            name: format_value(value)[:_MAX_PARAM_LENGTH]
            for name, value in flatten(self._params).items()
        }
        mlflow.log_params(params)
        mlflow.set_tags(
            {
                **run_tags(self._project_path),
                "pneumothorax.changed_params": run_name(changes),
            }
        )
        logger.info("MLflow experiment entry '%s' (run %s)", run_name(changes), parent_id)

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
