"""Golden files: fixed sample DICOMs must give PNG and CSV bytes pinned in golden_md5.json.

The same bytes on every machine is what lets teammates share DVC's cache and run cache.
A dependency update (Pillow and its zlib, pydicom, the JPEG decoders, numpy, pandas) that
changes a single byte fails here, instead of silently invalidating everyone's cache.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.golden.golden import PINS, build, load_pins

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore:Invalid value for VR AS")]

WHAT_TO_DO = f"""
The pipeline no longer produces the pinned bytes ({PINS.name}).
If you did not mean to change outputs: install the locked environment
(`make setup`, i.e. `pip install -r requirements.lock`) and run again.
If a dependency update or a code change did this on purpose:
  1. `make lock` if pyproject.toml changed, so everyone installs the same versions;
  2. `python -m tests.golden.regenerate` (prints what changed), review the new images/CSV;
  3. `dvc repro` and commit requirements.lock, {PINS.name} and dvc.lock together,
     so teammates rebuild (or pull) the new outputs instead of mixing old and new bytes.
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    return build(tmp_path_factory.mktemp("golden"))


def test_pins_cover_three_dicoms_their_labels_pngs_masks_and_the_csvs() -> None:
    pins = load_pins()
    assert sum(name.endswith(".dcm") for name in pins["inputs"]) == 3
    assert "train-rle.csv" in pins["inputs"]
    outputs = pins["outputs"]
    assert sum(name.startswith("img_train/") for name in outputs) == 3
    assert sum(name.startswith("masks/") for name in outputs) == 3
    csvs = sorted(name for name in outputs if name.endswith(".csv"))
    assert csvs == [
        "img_train_log.csv",
        "label_runs.csv",
        "labels.csv",
        "labels_rejected.csv",
        "rejected.csv",
        "train.csv",
    ]


def test_the_golden_sample_is_the_one_pinned(built: dict) -> None:
    assert built["inputs"] == load_pins()["inputs"], (
        "The sample generator (pneumothorax.raw.sample) no longer writes the pinned DICOMs, "
        "so the output pins below cannot be compared. " + WHAT_TO_DO
    )


@pytest.mark.parametrize("kind", [".csv", ".png"])
def test_outputs_match_the_pinned_md5s(built: dict, kind: str) -> None:
    pinned = {k: v for k, v in load_pins()["outputs"].items() if k.endswith(kind)}
    produced = {k: v for k, v in built["outputs"].items() if k.endswith(kind)}
    changed = sorted(k for k in pinned.keys() | produced.keys() if pinned.get(k) != produced.get(k))
    assert not changed, f"{kind} files changed: {changed}\n{WHAT_TO_DO}"


def test_regeneration_command_is_importable() -> None:
    from tests.golden import regenerate

    assert Path(regenerate.__file__).with_name(PINS.name) == PINS
