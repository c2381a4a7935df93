"""The model pipeline: a baseline pneumothorax classifier, its validation metrics and ROC."""

from __future__ import annotations

from kedro.pipeline import Pipeline, node, pipeline

from pneumothorax.pipelines.model.nodes import (
    evaluate_classifier,
    extract_features,
    train_classifier,
)


def create_pipeline(**kwargs) -> Pipeline:
    """Create the model pipeline."""
    return pipeline(
        [
            node(
                func=extract_features,
                inputs={
                    "img_train": "img_train",
                    "split": "split",
                    "model": "params:model",
                    "file_mapper": "file_mapper",
                },
                outputs="model_features",
                name="extract_features",
            ),
            node(
                func=train_classifier,
                inputs={"features": "model_features", "split": "split", "model": "params:model"},
                outputs="classifier",
                name="train_classifier",
            ),
            node(
                func=evaluate_classifier,
                inputs={
                    "classifier": "classifier",
                    "features": "model_features",
                    "split": "split",
                    "model": "params:model",
                },
                outputs=["model_metrics", "roc_points", "roc_curve"],
                name="evaluate_classifier",
            ),
        ]
    )
