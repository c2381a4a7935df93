"""The per-file runtime: executor, incremental cache, progress, rejection policy."""
