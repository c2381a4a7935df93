"""``python -m pneumothorax.commands.summary``: where a run's outputs and MLflow runs are."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

from PIL import Image

from pneumothorax.tracking.store import tracking_uri

TABLE = Path("data/02_intermediate/train.csv")
REJECTED = Path("data/02_intermediate/rejected.csv")
IMAGES = Path("data/02_intermediate/img_train")
MODEL_METRICS = Path("data/08_reporting/model_metrics.json")


def summarise(project_path: Path) -> list[str]:
    """Describe the intermediate layer and the MLflow store of the project, line by line."""
    lines = ["Outputs:"]
    table = project_path / TABLE
    if table.is_file():
        with table.open(newline="", encoding="utf-8") as stream:
            reader = csv.reader(stream)
            header = next(reader, [])
            rows = sum(1 for _ in reader)
        lines.append(f"  {TABLE}  {rows} rows x {len(header)} columns")
    else:
        lines.append(f"  {TABLE}  (missing)")
    pngs = sorted((project_path / IMAGES).rglob("*.png"))
    if pngs:
        with Image.open(pngs[0]) as first:
            width, height = first.size
        lines.append(f"  {IMAGES}/  {len(pngs)} PNGs, {width}x{height}")
    else:
        lines.append(f"  {IMAGES}/  (no PNGs)")
    rejected = _data_rows(project_path / REJECTED)
    if rejected:
        lines.append(f"  {REJECTED}  {rejected} unusable file(s), each with the reason")
    metrics_file = project_path / MODEL_METRICS
    if metrics_file.is_file():
        metrics = json.loads(metrics_file.read_text(encoding="utf-8"))
        scores = ", ".join(
            f"{name.upper()} {metrics[name]:.3f}" for name in ("auc", "f1") if name in metrics
        )
        lines.append(f"  {MODEL_METRICS}  validation {scores or 'n/a'}")
    lines.append(f"MLflow store: {tracking_uri(project_path)}  (browse it: make ui)")
    return lines


def _data_rows(path: Path) -> int:
    """Rows below the header of a CSV file (0 if it does not exist)."""
    if not path.is_file():
        return 0
    with path.open(newline="", encoding="utf-8") as stream:
        return max(sum(1 for _ in csv.reader(stream)) - 1, 0)


def main() -> int:
    """Print the summary for the project in the current directory."""
    sys.stdout.write("\n".join(summarise(Path.cwd())) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
