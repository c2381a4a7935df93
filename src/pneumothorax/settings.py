"""Project settings: hooks, the config loader, and where MLflow records runs.

https://docs.kedro.org/en/stable/kedro_project_setup/settings.html
"""

from __future__ import annotations

import atexit
import gc
import logging
import os
import warnings
from pathlib import Path

# Patient-data projects keep usage reporting off (kedro-telemetry reads .telemetry; DVC
# reads .dvc/config; MLflow reads this variable, set before the imports below load it).
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "1")

# MLflow sets its own loggers' level when imported (INFO by default), over Kedro's logging
# config (conf/logging.yml, read before this module): hand it the level that config gives
# the "mlflow" logger (WARNING; INFO in conf/logging-verbose.yml), unless the user set one.
os.environ.setdefault(
    "MLFLOW_LOGGING_LEVEL", logging.getLevelName(logging.getLogger("mlflow").getEffectiveLevel())
)


def _foreign(warning: warnings.WarningMessage) -> bool:
    """MLflow's UserWarning that kedro-mlflow's KedroPipelineModel has an untyped `predict`.

    Raised when kedro-mlflow is imported (below), on every start-up, about a class this
    project never uses.
    """
    return issubclass(warning.category, UserWarning) and Path(warning.filename).match(
        "mlflow/pyfunc/utils/data_validation.py"
    )


# kedro-mlflow sets its logger to INFO when imported, over Kedro's logging config (read
# before this module); the level that config gives it is put back after the import below.
_CONFIGURED_LEVELS = {name: logging.getLogger(name).level for name in ("kedro_mlflow",)}

# That warning is raised inside MLflow's own `catch_warnings(); simplefilter("once")`, which
# outranks any `warnings.filterwarnings` of ours. So the import's warnings are caught here and
# every one but that (by category and module) is raised again under the user's filters.
with warnings.catch_warnings(record=True) as _caught:
    warnings.simplefilter("always")
    from pneumothorax.config.loader import ProjectConfigLoader
    from pneumothorax.hooks import ProjectHooks
    from pneumothorax.tracking.mlflow_hook import ProjectMlflowHook
    from pneumothorax.tracking.safe_tracking import apply_http_defaults
    from pneumothorax.tracking.store import artifact_location, tracking_uri
for _name, _level in _CONFIGURED_LEVELS.items():
    logging.getLogger(_name).setLevel(_level)
for _warning in _caught:
    if not _foreign(_warning):
        warnings.warn_explicit(
            _warning.message, _warning.category, _warning.filename, _warning.lineno
        )

apply_http_defaults()

# Python's shutdown runs full garbage collections over every object still alive; with
# MLflow, SQLAlchemy, pandas and the run's data loaded that took 1.8-1.9 s after each
# `kedro run` of 10,807 files here, paid again by every `dvc repro` stage (0.2 s frozen).
# Freezing at exit leaves those objects to the operating system, like any process exit;
# atexit handlers registered before this one (logging's flush, worker pools) still run
# after it, and outputs are closed long before (atomic writes).
atexit.register(gc.freeze)
# The same long-lived objects (Kedro, MLflow, pandas: the imports above) would be scanned
# by every full collection until the run starts, where ProjectHooks freezes the rest.
gc.freeze()

_PROJECT_PATH = Path(__file__).resolve().parents[2]

# ProjectMlflowHook is kedro-mlflow's hook plus experiment grouping and outage tolerance;
# it replaces the plugin's auto-registered hook (disabled below; the wheel's metadata
# spells the name "kedro_mlflow", older ones "kedro-mlflow") so there is only one.
HOOKS = (ProjectHooks(), ProjectMlflowHook())

# kedro-viz's run hooks compute statistics of every dataset (including the dict of all
# partitions) and write .viz/ into the project on each run; `kedro viz` works without them.
DISABLE_HOOKS_FOR_PLUGINS = ("kedro-viz", "kedro-mlflow", "kedro_mlflow")

# Parameters come from the repository's params.yaml, DVC's params file: one source of truth.
CONFIG_LOADER_CLASS = ProjectConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "custom_resolvers": {
        "project_tracking_uri": lambda: tracking_uri(_PROJECT_PATH),
        "project_artifact_location": lambda: artifact_location(_PROJECT_PATH),
    },
}
