"""Metrics every conversion node reports, in the shape kedro-mlflow's metrics dataset takes."""

from __future__ import annotations

MetricsDict = dict[str, dict[str, float]]


def conversion_metrics(converted: int, rejected: int, seconds: float) -> MetricsDict:
    """Files converted and rejected, seconds and files/s, as ``{name: {value, step}}``."""
    values = {
        "files_converted": float(converted),
        "files_rejected": float(rejected),
        "seconds": round(seconds, 3),
        "files_per_second": round(converted / seconds, 2) if seconds > 0 else 0.0,
    }
    return {name: {"value": value, "step": 0} for name, value in values.items()}
