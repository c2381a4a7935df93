"""The masks pipeline: label rows to ``data/03_primary/masks/<id>.png`` at ``image.size``."""

from __future__ import annotations

from kedro.pipeline import Pipeline, node, pipeline

from pneumothorax.pipelines.masks.nodes import render_masks


def create_pipeline(**kwargs) -> Pipeline:
    """Create the masks pipeline."""
    return pipeline(
        [
            node(
                func=render_masks,
                inputs={
                    "labels": "labels",
                    "label_runs": "label_runs",
                    "image": "params:image",
                    "file_mapper": "file_mapper",
                },
                outputs="masks",
                # The folder ends the run with exactly this run's masks: stale ones go.
                confirms="masks",
                name="render_masks",
            )
        ]
    )
