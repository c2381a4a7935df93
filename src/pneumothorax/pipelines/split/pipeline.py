"""The split pipeline: a patient-level train/validation split in ``data/05_model_input``."""

from __future__ import annotations

from kedro.pipeline import Pipeline, node, pipeline

from pneumothorax.pipelines.split.nodes import split_patients


def create_pipeline(**kwargs) -> Pipeline:
    """Create the split pipeline."""
    return pipeline(
        [
            node(
                func=split_patients,
                inputs={
                    "labels": "labels",
                    "train_metadata": "train_metadata",
                    "split": "params:split",
                },
                outputs="split",
                name="split_patients",
            )
        ]
    )
