"""Building the pipelines, which Kedro does in every stage, imports no heavy library."""

from __future__ import annotations

import subprocess
import sys

# Imported only by the nodes that use them: Kedro builds every pipeline at each stage's
# start-up, so a top-level import would cost every stage (docs/benchmarks.md).
HEAVY = ("sklearn", "scipy", "matplotlib", "mlflow")

_PROBE = """
import sys
from kedro.framework.project import configure_project
configure_project("pneumothorax")
from pneumothorax.pipeline_registry import register_pipelines
pipelines = register_pipelines()
print(",".join(sorted(pipelines)))
print(",".join(name for name in sys.argv[1:] if name in sys.modules))
"""


def test_building_every_pipeline_imports_no_heavy_library() -> None:
    # A fresh interpreter: this test process has imported them all already.
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, *HEAVY], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out[0].split(",") == [
        "__default__", "images", "labels", "masks", "metadata", "model", "reporting", "split",
    ]  # fmt: skip
    assert out[1] == ""
