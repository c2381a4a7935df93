"""The model nodes on PNGs in memory: a line the full size shows and a shrunk copy does not."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pneumothorax.config.params import ModelParams
from pneumothorax.datasets.png_folder_dataset import PngFolderDataset
from pneumothorax.model.classifier import CellFeatures, build_classifier, round_coefficients
from pneumothorax.pipelines.model.nodes import (
    evaluate_classifier,
    extract_features,
    train_classifier,
)
from pneumothorax.runtime.file_ref import FileRef
from tests.pipelines.conftest import file_mapper

MODEL = ModelParams(cells=4, c=1.0, threshold=0.5)


def _fit_and_score(images: dict, split: pd.DataFrame, model: ModelParams = MODEL) -> tuple:
    features = extract_features(images, split, model, file_mapper())
    return evaluate_classifier(train_classifier(features, split, model), features, split, model)


def _images(side: int) -> tuple[dict[str, FileRef], pd.DataFrame]:
    rng = np.random.default_rng(1)
    loads, rows = {}, []
    for index in range(48):
        positive = index % 3 == 0
        # Smooth anatomy-like shading: a random 4 x 4 grid, upsampled bicubically.
        shading = rng.integers(60, 140, (4, 4), dtype=np.uint8)
        pixels = np.asarray(Image.fromarray(shading).resize((64, 64), Image.Resampling.BICUBIC))
        pixels = pixels.copy()
        if positive:
            pixels[8:56, rng.integers(4, 28)] += 25  # a faint one-pixel line in the left half
        image = Image.fromarray(pixels, mode="L").resize((side, side), Image.Resampling.LANCZOS)
        loads[f"id{index:02d}"] = FileRef(f"id{index:02d}", f"id{index:02d}.png", image.copy)
        rows.append((f"id{index:02d}", int(positive), "valid" if index >= 33 else "train"))
    return loads, pd.DataFrame(rows, columns=["id", "pneumothorax", "split"])


def test_train_and_evaluate_write_metrics_roc_points_and_picture() -> None:
    metrics, points, picture = _fit_and_score(*_images(64))
    assert set(metrics) == {"auc", "f1", "positives", "negatives"}
    assert metrics["positives"]["value"] == 5
    assert metrics["negatives"]["value"] == 10
    assert metrics["auc"]["value"] == 1.0
    assert list(points.columns) == ["fpr", "tpr", "threshold"]
    assert points["tpr"].iloc[-1] == 1.0
    assert points["threshold"].max() <= 1.0
    assert Image.open(io.BytesIO(picture)).format == "PNG"


def test_the_same_images_shrunk_lose_the_line_and_the_auc() -> None:
    auc_full = _fit_and_score(*_images(64))[0]["auc"]
    auc_small = _fit_and_score(*_images(8))[0]["auc"]
    assert auc_small["value"] < auc_full["value"]


def test_a_handful_of_images_gives_a_constant_model_and_no_auc() -> None:
    loads, split = _images(64)
    tiny = split[split["id"].isin(["id01", "id02", "id04"])].assign(split="train")
    metrics, points, picture = _fit_and_score(loads, tiny)  # one class: no regression
    assert {name: entry["value"] for name, entry in metrics.items()} == {
        "f1": 0.0,
        "positives": 0,
        "negatives": 0,
    }
    assert points.empty
    assert picture.startswith(b"\x89PNG")


def test_features_per_image_equal_the_features_of_the_whole_stack() -> None:
    """The workers transform one image at a time; the reference transforms them all at once."""
    loads, split = _images(64)
    features = extract_features(loads, split, MODEL, file_mapper())
    stack = np.stack([np.asarray(loads[i].load()) for i in split["id"]])
    expected = CellFeatures(cells=4).transform(stack)
    assert features.index.tolist() == split["id"].tolist()
    assert features.to_numpy().dtype == np.float64
    np.testing.assert_array_equal(features.to_numpy(), expected)


def test_features_from_the_cache_come_back_in_the_split_order(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    loads, split = _images(64)
    folder = PngFolderDataset(path=str(tmp_path / "pngs"))
    folder.save({image_id: ref.load() for image_id, ref in loads.items()})
    pngs = folder.load()
    cached = {"enabled": True, "cache_dir": str(tmp_path / "cache")}
    runs = []
    caplog.set_level(logging.DEBUG, logger="pneumothorax.runtime.incremental")
    for subset in (split.iloc[::2], split):  # the second run: half from the cache, first
        mapper = file_mapper({"backend": "processes", "workers": 2}, incremental=cached)
        try:
            runs.append(extract_features(pngs, subset, MODEL, mapper))
        finally:
            mapper.close()
    assert "cell_features: 24 cached, 24 to compute" in caplog.text
    uncached = extract_features(pngs, split, MODEL, file_mapper())
    assert runs[1].index.tolist() == split["id"].tolist()
    pd.testing.assert_frame_equal(runs[1], uncached)


def test_an_image_the_split_names_without_a_png_is_a_clear_error() -> None:
    loads, split = _images(64)
    del loads["id05"]
    with pytest.raises(
        KeyError, match=r"1 labelled image\(s\) have no PNG in img_train, e\.g\. id05"
    ):
        extract_features(loads, split, MODEL, file_mapper())


def test_the_model_is_the_one_fitted_on_the_whole_stack_of_images() -> None:
    """The reference: scikit-learn's pipeline fitted end to end on the stacked train images."""
    loads, split = _images(64)
    split = split.sample(frac=1, random_state=2)  # rows not in id order
    train = split[split["split"] == "train"]
    stack = np.stack([np.asarray(loads[i].load()) for i in train["id"]])
    expected = build_classifier(MODEL.cells, MODEL.c).fit(stack, train["pneumothorax"])
    expected = round_coefficients(expected)
    features = extract_features(loads, split, MODEL, file_mapper())
    model = train_classifier(features, split, MODEL)
    # Exact equality: the model's bytes (and dvc.lock) must not depend on how rows are stored.
    for step, names in (("scale", ("mean_", "var_", "scale_")), ("logistic", ("coef_",))):
        for name in names:
            np.testing.assert_array_equal(
                getattr(model.named_steps[step], name), getattr(expected.named_steps[step], name)
            )
