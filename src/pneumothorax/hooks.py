"""Project hooks: validate params at start-up, build the per-file runtime, point at the
rejected list. MLflow runs are :class:`pneumothorax.tracking.mlflow_hook.MlflowHook`'s."""

from __future__ import annotations

import contextlib
import gc
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kedro.framework.context import KedroContext
from kedro.framework.hooks import hook_impl
from kedro.io import CatalogProtocol, MemoryDataset

from pneumothorax.config.errors import ParamsError

if TYPE_CHECKING:
    from pneumothorax.runtime.mapper import FileMapper

logger = logging.getLogger(__name__)

#: The catalog entry listing unusable files (``rejected.csv``).
REJECTED_DATASET = "rejected_files"
#: The catalog entry the per-file nodes take their runtime from (a FileMapper).
FILE_MAPPER_DATASET = "file_mapper"


class ProjectHooks:
    """Hooks registered in ``settings.py``."""

    def __init__(self) -> None:
        self._project_path: Path | None = None
        self._rejected_path: str | None = None
        self._mapper: FileMapper | None = None

    # tryfirst: before the MLflow hook, which reads the params too (and would show a
    # traceback for a params.yaml that is not valid YAML).
    @hook_impl(tryfirst=True)
    def after_context_created(self, context: KedroContext) -> None:
        """Fail before any node runs if ``params.yaml`` has a typo or a bad value.

        Raises:
            SystemExit: With one line naming the key and the problem.
        """
        self._project_path = Path(context.project_path)
        try:
            # Reading them is validating them: the config loader checks params.yaml against
            # ProjectParams; Kedro then builds the typed groups the nodes ask for.
            _ = context.params
        except ParamsError as error:
            # A configuration error: one line and exit status 1, before any file is read
            # (so it is never reported as a bad file), and no traceback.
            raise SystemExit(f"Error: {error}") from None

    @hook_impl
    def after_catalog_created(
        self, catalog: CatalogProtocol, conf_catalog: dict[str, Any], parameters: dict[str, Any]
    ) -> None:
        """Give the catalog the run's per-file runtime; remember where rejected files are listed.

        The :class:`FileMapper` is built once from the validated params and owned here, so
        its local Dask cluster is closed when the pipeline ends or fails.
        """
        # Imported here: the executor and cache code is only needed when a catalog is made.
        from pneumothorax.runtime.mapper import FileMapper

        self._close_mapper()
        # ``parameters`` is what Kedro adds to the catalog: the whole params under "parameters".
        self._mapper = FileMapper.from_params(parameters.get("parameters") or {})
        if FILE_MAPPER_DATASET in catalog:
            # conf/base/catalog.yml declares it (copy_mode: assign, its kedro-viz layer):
            # filled, not replaced, so Kedro has no "Replacing dataset" line to print.
            catalog.save(FILE_MAPPER_DATASET, self._mapper)
        else:
            catalog[FILE_MAPPER_DATASET] = MemoryDataset(self._mapper, copy_mode="assign")
        entry = conf_catalog.get(REJECTED_DATASET)
        path = entry.get("filepath") if isinstance(entry, dict) else None
        if path and self._project_path is not None:
            # Kedro makes local paths absolute; the project-relative one is what users type.
            with contextlib.suppress(ValueError):
                path = Path(path).relative_to(self._project_path).as_posix()
        self._rejected_path = path

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any) -> None:
        """One line naming the rejected list, after a save that put files in it."""
        if dataset_name == REJECTED_DATASET and self._rejected_path and len(data):
            logger.warning("%d rejected file(s) listed in %s", len(data), self._rejected_path)

    # trylast: after the MLflow hook has asked for its runs (its writer process imports MLflow).
    @hook_impl(trylast=True)
    def before_pipeline_run(self) -> None:
        """Take the start-up heap out of garbage collection."""
        # Kedro, MLflow, SQLAlchemy and pandas leave long-lived objects that every full
        # collection during the run scans again: 7 full collections took 1.69 s of a
        # `kedro run --pipelines metadata` over 10,807 files (1.37 s of `--pipelines
        # images`); frozen here and in settings.py, 0.76-0.77 s. Frozen objects are never
        # scanned (nor freed: they live until exit anyway); the run's own are collected.
        gc.freeze()

    @hook_impl
    def after_pipeline_run(self) -> None:
        """Close the local Dask cluster the nodes shared, if they started one."""
        self._close_mapper()

    def _close_mapper(self) -> None:
        if self._mapper is not None:
            self._mapper.close()

    # trylast: the MLflow hook's on_pipeline_error must end the MLflow run (as FAILED) first.
    @hook_impl(trylast=True)
    def on_pipeline_error(self, error: Exception) -> None:
        """Show a bad input file (``strict: true``) or a missing key as one line, no traceback.

        A user error is not a crash: the message names the file (or the setting) and the
        reason, and the command exits with status 1. A local Dask cluster is closed first.
        """
        # Imported here, not above: pydicom (0.5 s) would load in every stage, split's too.
        from pneumothorax.datasets.dicom_folder_dataset import RawFolderError
        from pneumothorax.dicom.deid import DeidKeyError
        from pneumothorax.runtime.rejections import BadInputError

        self._close_mapper()
        # Kedro's catalog re-raises a load error as its own DatasetError "from" it.
        cause: BaseException | None = error
        while cause is not None:
            if isinstance(cause, BadInputError | DeidKeyError | RawFolderError):
                logger.error("%s", cause)
                raise SystemExit(f"Error: {cause}")
            cause = cause.__cause__
