"""The images pipeline: raw DICOM pixels to ``data/02_intermediate/img_train/<id>.png``."""

from __future__ import annotations

from kedro.pipeline import Pipeline, node, pipeline

from pneumothorax.pipelines.images.nodes import render_images


def create_pipeline(**kwargs) -> Pipeline:
    """Create the images pipeline."""
    return pipeline(
        [
            node(
                func=render_images,
                inputs={
                    "dicom_images": "dicom_images",
                    "image": "params:image",
                    "executor": "params:executor",
                    "incremental": "params:incremental",
                },
                outputs=["img_train", "images_metrics"],
                name="render_images",
            ),
        ]
    )
