"""The metadata pipeline: raw DICOM headers to ``data/02_intermediate/train.csv``."""

from __future__ import annotations

from kedro.pipeline import Pipeline, node, pipeline

from pneumothorax.pipelines.metadata.nodes import extract_metadata


def create_pipeline(**kwargs) -> Pipeline:
    """Create the metadata pipeline."""
    return pipeline(
        [
            node(
                func=extract_metadata,
                inputs={
                    "dicom_headers": "dicom_headers",
                    "executor": "params:executor",
                    "incremental": "params:incremental",
                },
                outputs=["train_metadata", "metadata_metrics"],
                name="extract_metadata",
            ),
        ]
    )
