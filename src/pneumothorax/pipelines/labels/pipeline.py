"""The labels pipeline: ``train-rle.csv`` to per-image labels and a rejected list."""

from __future__ import annotations

from kedro.pipeline import Pipeline, node, pipeline

from pneumothorax.pipelines.labels.nodes import check_label_file


def create_pipeline(**kwargs) -> Pipeline:
    """Create the labels pipeline."""
    return pipeline(
        [
            node(
                func=check_label_file,
                inputs={
                    "train_rle": "train_rle",
                    "train_metadata": "train_metadata",
                    "labels": "params:labels",
                    "strict": "params:strict",
                },
                outputs=["labels", "label_runs", "labels_rejected", "labels_metrics"],
                name="check_label_file",
            )
        ]
    )
