"""The model folder's flavour: requirements named from what is installed, never inferred."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml
from sklearn.dummy import DummyClassifier

from pneumothorax.tracking.sklearn_flavour import save_model


def test_the_folder_names_the_installed_mlflow_and_scikit_learn_without_a_subprocess(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Inferring requirements loads the model in a child Python (seconds per save); plain
    # save_model does (MLflow's utils/_capture_modules.py), which this test would catch.
    started: list[object] = []
    real = subprocess.Popen.__init__

    def record(self, args, *rest, **kwargs):  # type: ignore[no-untyped-def]
        started.append(args)
        real(self, args, *rest, **kwargs)

    monkeypatch.setattr(subprocess.Popen, "__init__", record)
    model = DummyClassifier().fit([[0.0], [1.0]], [0, 1])
    save_model(model, str(tmp_path / "model"), {"skops_trusted_types": []})

    assert [args for args in started if sys.executable in map(str, args)] == []
    requirements = (tmp_path / "model" / "requirements.txt").read_text().split()
    assert sorted(requirements) == [
        f"mlflow=={version('mlflow')}",
        f"scikit-learn=={version('scikit-learn')}",
    ]
    flavour = yaml.safe_load((tmp_path / "model" / "MLmodel").read_text())["flavors"]["sklearn"]
    assert flavour["sklearn_version"] == version("scikit-learn")
    assert flavour["pickled_model"] == "model.skops"  # the args reached save_model
