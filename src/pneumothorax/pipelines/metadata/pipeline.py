"""The metadata pipeline: raw DICOM headers to ``train.csv`` and ``rejected.csv``.

It runs after the images pipeline, whose log (``img_train_log.csv``) says which files were
converted: only their headers are read, without the pixels.
"""

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
                    "img_train_log": "img_train_log",
                    "metadata": "params:metadata",
                    "strict": "params:strict",
                    "executor": "params:executor",
                    "deid_key": "deid_key",
                    "incremental": "params:incremental",
                },
                outputs=["train_metadata", "rejected_files", "metadata_metrics"],
                name="extract_metadata",
            ),
        ]
    )
