"""Project settings: hooks, the config loader, and where MLflow records runs.

https://docs.kedro.org/en/stable/kedro_project_setup/settings.html
"""

from __future__ import annotations

import atexit
import gc
import logging
import os

from pneumothorax.config.loader import ProjectConfigLoader
from pneumothorax.hooks import ProjectHooks
from pneumothorax.tracking.mlflow_hook import MlflowHook
from pneumothorax.tracking.store import no_usage_reporting

# Patient-data projects keep usage reporting off (kedro-telemetry reads .telemetry; DVC
# reads .dvc/config; MLflow reads the environment when it is imported: the writer, after this).
no_usage_reporting()

# MLflow sets its own loggers' level when imported (INFO by default), over Kedro's logging
# config (conf/logging.yml, read before this module): hand it the level that config gives
# the "mlflow" logger (WARNING; INFO in conf/logging-verbose.yml), unless the user set one.
os.environ.setdefault(
    "MLFLOW_LOGGING_LEVEL", logging.getLevelName(logging.getLogger("mlflow").getEffectiveLevel())
)

# Python's shutdown runs full garbage collections over every object still alive; with
# MLflow, SQLAlchemy, pandas and the run's data loaded that took 1.8-1.9 s after each
# `kedro run` of 10,807 files here, paid again by every `dvc repro` stage (0.2 s frozen).
# Freezing at exit leaves those objects to the operating system, like any process exit;
# atexit handlers registered before this one (logging's flush, worker pools) still run
# after it, and outputs are closed long before (atomic writes).
atexit.register(gc.freeze)
# The same long-lived objects (Kedro and the imports above) would be scanned by every full
# collection until the run starts, where ProjectHooks freezes the rest.
gc.freeze()

# MlflowHook records each run in MLflow (conf/base/mlflow.yml; docs/design.md).
HOOKS = (ProjectHooks(), MlflowHook())

# kedro-viz's run hooks compute statistics of every dataset (including the dict of all
# partitions) and write .viz/ into the project on each run; `kedro viz` works without them.
DISABLE_HOOKS_FOR_PLUGINS = ("kedro-viz",)

# Parameters come from the repository's params.yaml, DVC's params file: one source of truth.
CONFIG_LOADER_CLASS = ProjectConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "config_patterns": {"mlflow": ["mlflow*", "mlflow*/**"]},
}
