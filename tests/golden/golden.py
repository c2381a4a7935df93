"""Build the golden outputs: three fixed sample DICOMs through the real `kedro run`."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

from tests.e2e.conftest import RAW, cli_env, copy_project

PINS = Path(__file__).with_name("golden_md5.json")
SAMPLE = {"count": 3, "size": 256, "seed": 0}  # pneumothorax.raw.sample is deterministic
OUTPUTS = Path("data/02_intermediate")
#: Labels and masks (the third file carries a pneumothorax).
PRIMARY = Path("data/03_primary")
LABELS = Path("data/01_raw/train-rle.csv")
#: Every pipeline but split and model: three images are too few to validate a classifier.
PIPELINES = "images,metadata,reporting,labels,masks"


def _md5s(root: Path, suffixes: tuple[str, ...]) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.md5(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.suffix in suffixes
    }


def build(workdir: Path) -> dict[str, dict[str, str]]:
    """Run the whole pipeline on the golden sample in a project copy under ``workdir``.

    Returns:
        ``{"inputs": {dicom or label file: md5}, "outputs": {csv or png: md5}}``, paths
        relative to the raw, intermediate and primary folders.
    """
    from pneumothorax.raw.sample import generate_sample

    project = copy_project(workdir / "project", exclude=("dvc.lock", f"{RAW}.dvc", f"{LABELS}.dvc"))
    params = project / "params.yaml"
    params.write_text(params.read_text().replace("backend: processes", "backend: sequential"))
    generate_sample(project / RAW, **SAMPLE)
    result = subprocess.run(
        ["kedro", "run", "--pipelines", PIPELINES],
        cwd=project,
        env=cli_env(),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"kedro run failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    labels_md5 = hashlib.md5((project / LABELS).read_bytes()).hexdigest()
    return {
        "inputs": {**_md5s(project / RAW, (".dcm",)), LABELS.name: labels_md5},
        "outputs": {
            **_md5s(project / OUTPUTS, (".csv", ".png")),
            **_md5s(project / PRIMARY, (".csv", ".png")),
        },
    }


def load_pins() -> dict[str, dict[str, str]]:
    return json.loads(PINS.read_text())


def write_pins(pins: dict[str, dict[str, str]]) -> None:
    PINS.write_text(json.dumps(pins, indent=2, sort_keys=True) + "\n")
