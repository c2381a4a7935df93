"""The reporting pipeline: the intermediate layer to pictures and plots in ``data/08_reporting``."""

from __future__ import annotations

from kedro.pipeline import Pipeline, node, pipeline

from pneumothorax.pipelines.reporting.nodes import (
    build_contact_sheet,
    plot_distributions,
    summarise_metadata,
)


def create_pipeline(**kwargs) -> Pipeline:
    """Create the reporting pipeline."""
    return pipeline(
        [
            node(
                func=build_contact_sheet,
                inputs={"img_train": "img_train"},
                outputs="contact_sheet",
                name="build_contact_sheet",
            ),
            node(
                func=summarise_metadata,
                inputs={"train_metadata": "train_metadata"},
                outputs=["patient_age", "patient_sex", "view_position", "raw_image_size"],
                name="summarise_metadata",
            ),
            node(
                func=plot_distributions,
                inputs={
                    "patient_age": "patient_age",
                    "patient_sex": "patient_sex",
                    "view_position": "view_position",
                    "raw_image_size": "raw_image_size",
                    "pixel_intensity": "pixel_intensity",
                },
                outputs="distributions",
                name="plot_distributions",
            ),
        ]
    )
