"""Metrics every conversion node reports, in the shape kedro-mlflow's metrics dataset takes."""

from __future__ import annotations

MetricsDict = dict[str, dict[str, float]]


def conversion_metrics(
    converted: int, rejected: int, seconds: float, **extra: float
) -> MetricsDict:
    """Files converted and rejected, seconds, files/s and ``extra``, as ``{name: {value, step}}``.

    The catalog keeps the timings out of the DVC metrics file (MLflow only): they differ on
    every run, the rest is decided by the code and the data.
    """
    values = {
        "files_converted": float(converted),
        "files_rejected": float(rejected),
        "seconds": round(seconds, 3),
        "files_per_second": round(converted / seconds, 2) if seconds > 0 else 0.0,
        **{name: float(value) for name, value in extra.items()},
    }
    return {name: {"value": value, "step": 0} for name, value in values.items()}
