"""Project settings: hooks, the config loader, and where MLflow records runs.

https://docs.kedro.org/en/stable/kedro_project_setup/settings.html
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from pneumothorax.config_loader import ProjectConfigLoader
from pneumothorax.hooks import ProjectHooks
from pneumothorax.tracking import artifact_location, tracking_uri

# Patient-data projects keep usage reporting off (kedro-telemetry reads .telemetry; DVC
# reads .dvc/config; MLflow reads this variable, set before kedro-mlflow imports it).
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "1")

# Emitted when kedro-mlflow imports mlflow.pyfunc; about model logging, which we don't do.
warnings.filterwarnings("ignore", message=".*Add type hints to the `predict` method")

_PROJECT_PATH = Path(__file__).resolve().parents[2]

HOOKS = (ProjectHooks(),)

# kedro-viz's run hooks compute statistics of every dataset (including the dict of all
# partitions) and write .viz/ into the project on each run; `kedro viz` works without them.
DISABLE_HOOKS_FOR_PLUGINS = ("kedro-viz",)

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
