"""Versioned, reproducible chest X-ray DICOM pipeline (Kedro + DVC + MLflow)."""

__version__ = "0.1.0"
