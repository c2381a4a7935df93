"""Project settings: hooks, the config loader, and where MLflow records runs.

https://docs.kedro.org/en/stable/kedro_project_setup/settings.html
"""

from __future__ import annotations

import atexit
import gc
import os
from pathlib import Path

# Patient-data projects keep usage reporting off (kedro-telemetry reads .telemetry; DVC
# reads .dvc/config; MLflow reads this variable, set before the imports below load it).
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "1")

from pneumothorax.config_loader import ProjectConfigLoader
from pneumothorax.hooks import ProjectHooks
from pneumothorax.mlflow_hook import ProjectMlflowHook
from pneumothorax.safe_tracking import apply_http_defaults
from pneumothorax.tracking import artifact_location, tracking_uri

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
