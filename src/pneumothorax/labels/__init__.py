"""Pneumothorax labels: SIIM-ACR run-length encoding and the label table (no Kedro here)."""
