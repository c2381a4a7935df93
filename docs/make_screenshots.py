"""Regenerate the README's MLflow picture: ``python docs/make_screenshots.py``.

What a user would do, in a temporary copy of this repository: the bundled sample as
``make sample`` makes it (100 files and their labels), a real ``mlflow server`` on
127.0.0.1, ``dvc repro`` (the baseline, ``image.size`` 256) and
``dvc exp run -n size-64 -S image.size=64``, then headless Chromium, driven through the
DevTools protocol, on the MLflow UI's page comparing the two entries: the Assistant panel
closed, "Show diff only" on for Parameters and Metrics, the model's metrics on the
parallel-coordinates plot and in view in the metrics table.

The page is checked against the two runs as the server's REST API returns them, before
the clicks (names, the params that differ, every metric: the check
``tests/e2e/test_mlflow_server.py`` makes too) and after them (only the differing params
and metrics remain, each run's ``model.auc`` and ``model.f1`` side by side); the picture is
written only if both pass. Nothing is downloaded; it takes two or three minutes.

    python docs/make_screenshots.py [--out docs/images/mlflow-compare.png] [--keep]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the tests package holds the server and browser helpers

from tests.e2e.conftest import LABELS, RAW, Project, cli_env, copy_project  # noqa: E402
from tests.e2e.mlflow_server import (  # noqa: E402
    compare_picture,
    compare_url,
    start_mlflow_server,
)

#: The tag of an experiment's entry (the parent of its stages' runs).
GROUP_TAG = "pneumothorax.experiment_group"
#: The experiment the picture compares with the baseline.
EXPERIMENT_NAME = "size-64"
EXPERIMENT_PARAM = "image.size=64"


def build_entries(root: Path) -> tuple[object, list[dict]]:
    """Start the server, run the baseline and the experiment; return the server and runs."""
    server = start_mlflow_server(root / "mlflow-server", cli_env())
    project = Project(
        path=copy_project(root / "project", exclude=("dvc.lock", f"{RAW}.dvc", f"{LABELS}.dvc")),
        env=cli_env({"MLFLOW_TRACKING_URI": server.url}),
    )
    project.run("git", "init", "-q", "-b", "main")
    # The bundled sample as `make sample` makes it (100 files and their labels): enough
    # labelled images for the model's validation metrics (model.auc) to differ by size.
    project.run(sys.executable, "-m", "pneumothorax.commands.sample", "--out", str(RAW))
    project.run("dvc", "add", "-q", str(RAW), str(LABELS))
    project.run("git", "add", "-A")
    project.run("git", "commit", "-qm", "project with the bundled sample")
    project.run("dvc", "repro")
    project.run("git", "add", "-A")
    project.run("git", "commit", "-qm", "first reproduction")
    project.run("dvc", "exp", "run", "-n", EXPERIMENT_NAME, "-S", EXPERIMENT_PARAM)
    entries = [run for run in server.runs() if GROUP_TAG in _tags(run)]
    return server, sorted(entries, key=lambda run: run["info"]["start_time"])


def _tags(run: dict) -> dict[str, str]:
    return {tag["key"]: tag["value"] for tag in run["data"].get("tags", [])}


def main(argv: list[str] | None = None) -> int:
    """Write the compare picture; exit 1 if the page does not show what it should."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs/images/mlflow-compare.png")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="pneumothorax-screenshots-"))
    server = None
    try:
        server, entries = build_entries(root)
        if len(entries) != 2:
            print(f"expected 2 experiment entries, found {len(entries)}", file=sys.stderr)
            return 1
        url = compare_url(server, [run["info"]["run_id"] for run in entries])
        png, misses = compare_picture(url, entries, root / "profile")
        if misses:
            print(f"the compare page does not show {misses}", file=sys.stderr)
            return 1
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_bytes(png)
        print(f"wrote {args.out} (compare page of {[r['info']['run_name'] for r in entries]})")
        return 0
    finally:
        if server is not None:
            server.stop()
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
