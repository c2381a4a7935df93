"""SklearnModelDataset: an MLflow model folder on disk, the same model logged on the run."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from kedro.io.core import DatasetError

from pneumothorax.datasets.sklearn_model_dataset import SklearnModelDataset
from pneumothorax.model.classifier import build_classifier
from tests.tracking.tracked import tracked


def _fitted():
    rng = np.random.default_rng(0)
    images = rng.random((12, 16, 16)).astype(np.float32)
    labels = np.arange(12) % 2
    images[labels == 1, 4:12, 5] += 1.0
    return build_classifier(cells=2, c=1.0).fit(images, labels), images


def test_save_writes_an_mlflow_model_that_loads_back(tmp_path: Path) -> None:
    model, images = _fitted()
    dataset = SklearnModelDataset(filepath=str(tmp_path / "models" / "classifier"))
    assert not dataset.exists()
    dataset.save(model)
    assert dataset.exists()
    assert (tmp_path / "models" / "classifier" / "MLmodel").is_file()
    # No staging folder left beside it.
    assert [p.name for p in (tmp_path / "models").iterdir()] == ["classifier"]
    # Another instance has nothing in memory: it reads the folder.
    loaded = SklearnModelDataset(filepath=str(tmp_path / "models" / "classifier")).load()
    assert loaded is not model
    np.testing.assert_array_equal(loaded.predict_proba(images), model.predict_proba(images))
    np.testing.assert_array_equal(dataset.load().predict_proba(images), model.predict_proba(images))
    dataset.save(model)  # overwrites
    assert dataset.exists()


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_the_model_saved_is_what_the_same_dataset_loads_until_the_folder_changes(
    tmp_path: Path,
) -> None:
    # The evaluation node loads the model the training node saved: from memory, unless the
    # folder was replaced meanwhile (then from the folder, whatever it now holds).
    model, images = _fitted()
    other, _ = _fitted()
    other.set_params(logistic__C=0.001).fit(images, np.arange(12) % 2)
    dataset = SklearnModelDataset(filepath=str(tmp_path / "classifier"))
    dataset.save(model)
    assert dataset.load() is model
    SklearnModelDataset(filepath=str(tmp_path / "classifier")).save(other)  # another writer
    reloaded = dataset.load()
    assert reloaded is not model
    np.testing.assert_array_equal(reloaded.predict_proba(images), other.predict_proba(images))
    assert not np.array_equal(reloaded.predict_proba(images), model.predict_proba(images))


#: A stage in a fresh interpreter: the model saved through a real MLflow writer (as the
#: hook arranges), loaded back; prints whether this process imported MLflow or skops.
_STAGE = textwrap.dedent(
    """
    import json, os, sys
    from pathlib import Path
    import numpy as np
    from pneumothorax.datasets.sklearn_model_dataset import SklearnModelDataset
    from pneumothorax.model.classifier import build_classifier
    from pneumothorax.tracking.tracker import Tracker

    rng = np.random.default_rng(0)
    images = rng.random((12, 16, 16)).astype(np.float32)
    labels = np.arange(12) % 2
    images[labels == 1, 4:12, 5] += 1.0
    model = build_classifier(cells=2, c=1.0).fit(images, labels)
    tracker = Tracker()
    tracker.configure(project_path=Path(sys.argv[1]), experiment="save", params={})
    tracker.start_runs(name="stage", command="kedro run", tags={}, provenance={})
    dataset = SklearnModelDataset(filepath=sys.argv[2])
    dataset.prepare_mlflow(tracker)
    if sys.argv[3] == "writer-gone":
        tracker._process.kill()
        tracker._process.wait()
    dataset.save(model)
    same = dataset.load() is model
    outcome = tracker.finish("FINISHED")
    print(json.dumps({
        "imported": sorted(m for m in ("mlflow", "skops") if m in sys.modules),
        "same": same,
        "failure": outcome.failure,
    }))
    """
)


@pytest.mark.parametrize("writer", ["up", "writer-gone"])
def test_the_stage_has_its_writer_save_the_model_and_saves_it_itself_without_one(
    tmp_path: Path, writer: str
) -> None:
    # The stage's MLflow writer has MLflow and skops imported already; the stage, which
    # would take 1.5-2 s to import them, has it write the folder. A writer that is gone
    # leaves the folder to the stage: written all the same, byte for byte.
    model, _ = _fitted()
    reference = tmp_path / "in-process"
    SklearnModelDataset(filepath=str(reference)).save(model)
    target = tmp_path / "models" / "classifier"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DVC_")}
    out = subprocess.run(
        [sys.executable, "-c", _STAGE, str(tmp_path), str(target), writer],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert _digests(target) == _digests(reference)
    assert [p.name for p in target.parent.iterdir()] == ["classifier"]  # no staging left
    assert seen["same"] is True
    if writer == "up":
        assert seen == {"imported": [], "same": True, "failure": None}
    else:
        assert "mlflow" in seen["imported"]  # the stage saved it itself
        assert seen["failure"] is not None  # and the run says tracking failed


def test_the_model_is_logged_on_the_stages_run(tmp_path: Path) -> None:
    model, _ = _fitted()
    dataset = SklearnModelDataset(filepath=str(tmp_path / "classifier"), name="classifier")
    dataset.save(model)

    def log(tracker) -> None:
        dataset.prepare_mlflow(tracker)  # as the hook does before the nodes: logs nothing
        dataset.log_to_mlflow(model, tracker)

    runs = tracked(tmp_path, "model", log, under_dvc=False)
    assert runs.outcome.failure is None
    experiment = runs.client.get_experiment_by_name("model").experiment_id
    logged = runs.client.search_logged_models([experiment])
    assert [m.name for m in logged] == ["classifier"]
    assert logged[0].source_run_id == runs.run


def test_a_remote_path_is_refused() -> None:
    with pytest.raises(DatasetError, match="needs a local folder"):
        SklearnModelDataset(filepath="s3://bucket/classifier")


def test_the_same_model_saved_twice_gives_the_same_bytes(tmp_path: Path) -> None:
    # DVC hashes the folder into dvc.lock: a fresh clone must reproduce it.
    import time

    model, images = _fitted()
    digests = []
    for name in ("first", "second"):
        SklearnModelDataset(filepath=str(tmp_path / name)).save(model)
        digests.append(
            {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in (tmp_path / name).iterdir()}
        )
        time.sleep(1.1)  # a zip entry's time has a 2-second resolution; MLflow's, microseconds
    assert digests[0] == digests[1]
    assert "model.skops" in digests[0]
    loaded = SklearnModelDataset(filepath=str(tmp_path / "second")).load()
    np.testing.assert_array_equal(loaded.predict_proba(images), model.predict_proba(images))
