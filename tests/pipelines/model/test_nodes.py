"""The model nodes on PNGs in memory: a line the full size shows and a shrunk copy does not."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from PIL import Image

from pneumothorax.config.params import ModelParams
from pneumothorax.pipelines.model.nodes import evaluate_classifier, train_classifier

MODEL = ModelParams(cells=4, c=1.0, threshold=0.5)


def _images(side: int) -> tuple[dict, pd.DataFrame]:
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
        loads[f"id{index:02d}"] = lambda image=image: image.copy()
        rows.append((f"id{index:02d}", int(positive), "valid" if index >= 33 else "train"))
    return loads, pd.DataFrame(rows, columns=["id", "pneumothorax", "split"])


def test_train_and_evaluate_write_metrics_roc_points_and_picture() -> None:
    loads, split = _images(64)
    model = train_classifier(loads, split, MODEL)
    metrics, points, picture = evaluate_classifier(model, loads, split, MODEL)
    assert set(metrics) == {"auc", "f1", "positives", "negatives"}
    assert metrics["positives"]["value"] == 5
    assert metrics["negatives"]["value"] == 10
    assert metrics["auc"]["value"] == 1.0
    assert list(points.columns) == ["fpr", "tpr", "threshold"]
    assert points["tpr"].iloc[-1] == 1.0
    assert points["threshold"].max() <= 1.0
    assert Image.open(io.BytesIO(picture)).format == "PNG"


def test_the_same_images_shrunk_lose_the_line_and_the_auc() -> None:
    full = _images(64)
    small = _images(8)
    auc_full = evaluate_classifier(train_classifier(*full, MODEL), *full, MODEL)[0]["auc"]
    auc_small = evaluate_classifier(train_classifier(*small, MODEL), *small, MODEL)[0]["auc"]
    assert auc_small["value"] < auc_full["value"]


def test_a_handful_of_images_gives_a_constant_model_and_no_auc() -> None:
    loads, split = _images(64)
    tiny = split[split["id"].isin(["id01", "id02", "id04"])].assign(split="train")
    model = train_classifier(loads, tiny, MODEL)  # one class only: no logistic regression
    metrics, points, picture = evaluate_classifier(model, loads, tiny, MODEL)
    assert {name: entry["value"] for name, entry in metrics.items()} == {
        "f1": 0.0,
        "positives": 0,
        "negatives": 0,
    }
    assert points.empty
    assert picture.startswith(b"\x89PNG")


def test_features_are_computed_a_chunk_at_a_time(monkeypatch) -> None:
    from pneumothorax.pipelines.model import nodes

    loads, split = _images(64)
    whole = evaluate_classifier(train_classifier(loads, split, MODEL), loads, split, MODEL)
    monkeypatch.setattr(nodes, "_CHUNK", 4)
    chunked = evaluate_classifier(train_classifier(loads, split, MODEL), loads, split, MODEL)
    assert chunked[0] == whole[0]
    assert chunked[1].equals(whole[1])
