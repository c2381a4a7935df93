"""The baseline classifier (no Kedro)."""
