"""Regenerate the README's MLflow picture: ``python docs/make_screenshots.py``.

What a user would do, in a temporary copy of this repository: a 12-file sample, a real
``mlflow server`` on 127.0.0.1, ``dvc repro`` (the baseline, ``image.size`` 256) and
``dvc exp run -n size-64 -S image.size=64``, then headless Chromium on the MLflow UI's page
comparing the two entries. Before the picture is written, the same page's DOM is checked
against the two runs as the server's REST API returns them (names, the params that differ,
every metric), the check ``tests/e2e/test_mlflow_server.py`` makes too. Nothing is
downloaded; it takes a minute or two.

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

from tests.e2e.conftest import RAW, Project, cli_env, copy_project  # noqa: E402
from tests.e2e.mlflow_server import (  # noqa: E402
    chromium,
    compare_page_misses,
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
        path=copy_project(root / "project", exclude=("dvc.lock", f"{RAW}.dvc")),
        env=cli_env({"MLFLOW_TRACKING_URI": server.url}),
    )
    project.run("git", "init", "-q", "-b", "main")
    project.run(
        sys.executable, "-m", "pneumothorax.sample", "--out", str(RAW), "--count", "12",
        "--size", "256",
    )  # fmt: skip
    project.run("dvc", "add", "-q", str(RAW))
    project.run("git", "add", "-A")
    project.run("git", "commit", "-qm", "project with a small sample")
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
        dom = chromium("--dump-dom", url, profile=root / "profile-dom")
        misses = compare_page_misses(dom.stdout, entries)
        if dom.returncode != 0 or misses:
            print(
                f"the compare page does not show {misses}:\n{dom.stderr[-2000:]}", file=sys.stderr
            )
            return 1
        shot = root / "mlflow-compare.png"
        taken = chromium(f"--screenshot={shot}", url, profile=root / "profile-shot")
        if taken.returncode != 0 or not shot.is_file():
            print(f"chromium failed:\n{taken.stderr[-2000:]}", file=sys.stderr)
            return 1
        args.out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, args.out)
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
