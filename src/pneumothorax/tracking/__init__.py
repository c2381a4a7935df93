"""MLflow tracking: the store, run tags and the Kedro hook."""
