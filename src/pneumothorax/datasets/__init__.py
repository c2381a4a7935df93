"""Kedro datasets for DICOM input and PNG output."""
