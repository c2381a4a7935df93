"""Command-line entry points (make sample, make key, make run's summary)."""
