"""The metadata pipeline: raw DICOM headers to ``train.csv`` and ``rejected.csv``.

It runs after the images pipeline, whose log (``img_train_log.csv``) says which files were
converted: only their headers are read, without the pixels.
"""

from __future__ import annotations

from kedro.pipeline import Pipeline, node, pipeline

from pneumothorax.pipelines.metadata.nodes import extract_metadata


def create_pipeline(**kwargs: object) -> Pipeline:
    """Create the metadata pipeline."""
    return pipeline(
        [
            node(
                func=extract_metadata,
                inputs={
                    "dicom_headers": "dicom_headers",
                    "img_train_log": "img_train_log",
                    "metadata": "params:metadata",
                    "deid_key": "deid_key",
                    "file_mapper": "file_mapper",
                },
                outputs=["train_metadata", "rejected_files", "metadata_metrics"],
                name="extract_metadata",
            ),
        ]
    )
