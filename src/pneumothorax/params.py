"""Validated views of ``params.yaml``, so a typo fails at start-up with a clear message."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from pneumothorax.dicom.render import RenderSpec

EXECUTOR_BACKENDS = ("sequential", "processes")


class ParamsError(ValueError):
    """A value in ``params.yaml`` is missing, misspelt or out of range."""


@dataclass(frozen=True)
class ImageParams:
    """The ``image`` group: how PNGs are rendered (changes here rerun the images stage)."""

    size: tuple[int, int] = (256, 256)
    png_compress_level: int = 6

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> ImageParams:
        """Validate the ``image`` group of ``params.yaml``.

        Raises:
            ParamsError: Unknown key, or a value of the wrong type or range.
        """
        _reject_unknown("image", raw, cls)
        size = raw.get("size", 256)
        pair = (
            (size, size) if _is_int(size) else tuple(size) if isinstance(size, list | tuple) else ()
        )
        if len(pair) != 2 or not all(_is_int(v) and v > 0 for v in pair):
            raise ParamsError(
                f"params.yaml: image.size must be a positive integer or [width, height], "
                f"got {size!r}"
            )
        level = raw.get("png_compress_level", 6)
        if not _is_int(level) or not 0 <= level <= 9:
            raise ParamsError(f"params.yaml: image.png_compress_level must be 0..9, got {level!r}")
        return cls(size=(int(pair[0]), int(pair[1])), png_compress_level=level)

    def render_spec(self) -> RenderSpec:
        """The pure rendering settings these parameters describe."""
        return RenderSpec(size=self.size, png_compress_level=self.png_compress_level)


@dataclass(frozen=True)
class ExecutorParams:
    """The ``executor`` group: where per-file work runs (never changes output bytes)."""

    backend: str = "processes"
    workers: int | None = None

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any] | None) -> ExecutorParams:
        """Validate the ``executor`` group of ``params.yaml``.

        Raises:
            ParamsError: Unknown key, unknown backend or a non-positive worker count.
        """
        raw = raw or {}
        _reject_unknown("executor", raw, cls)
        backend = raw.get("backend", "processes")
        if backend not in EXECUTOR_BACKENDS:
            choices = ", ".join(EXECUTOR_BACKENDS)
            raise ParamsError(
                f"params.yaml: executor.backend must be one of {choices}, got {backend!r}"
            )
        workers = raw.get("workers")
        if workers is not None and (
            isinstance(workers, bool) or not isinstance(workers, int) or workers < 1
        ):
            raise ParamsError(
                f"params.yaml: executor.workers must be a positive integer or null, got {workers!r}"
            )
        return cls(backend=backend, workers=workers)

    @property
    def worker_count(self) -> int:
        """Processes to use: ``workers``, or every core this process may run on."""
        if self.backend == "sequential":
            return 1
        if self.workers:
            return self.workers
        return (
            len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else os.cpu_count() or 1
        )


@dataclass(frozen=True)
class TrackingParams:
    """The ``tracking`` group: what happens when MLflow cannot be reached."""

    required: bool = False

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any] | None) -> TrackingParams:
        """Validate the ``tracking`` group of ``params.yaml``.

        Raises:
            ParamsError: Unknown key, or ``required`` not a boolean.
        """
        raw = raw or {}
        _reject_unknown("tracking", raw, cls)
        required = raw.get("required", False)
        if not isinstance(required, bool):
            raise ParamsError(
                f"params.yaml: tracking.required must be true or false, got {required!r}"
            )
        return cls(required=required)


def validate_params(params: Mapping[str, Any]) -> None:
    """Validate every group of ``params.yaml`` that the pipelines read.

    Raises:
        ParamsError: The first problem found, naming the key.
    """
    for key in ("image",):
        if key not in params:
            raise ParamsError(f"params.yaml: missing the '{key}' group")
    ImageParams.from_mapping(params["image"])
    ExecutorParams.from_mapping(params.get("executor"))
    TrackingParams.from_mapping(params.get("tracking"))


def _reject_unknown(group: str, raw: Mapping[str, Any], cls: type) -> None:
    if not isinstance(raw, Mapping):
        raise ParamsError(f"params.yaml: '{group}' must be a mapping, got {raw!r}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ParamsError(
            f"params.yaml: unknown key(s) {', '.join(f'{group}.{k}' for k in unknown)}; "
            f"known: {', '.join(sorted(known))}"
        )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
