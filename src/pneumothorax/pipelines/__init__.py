"""Kedro pipelines, one per folder, discovered by find_pipelines."""
