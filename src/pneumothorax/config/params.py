"""Validated views of ``params.yaml``, so a typo fails at start-up with a clear message."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from pneumothorax.config.errors import ParamsError

if TYPE_CHECKING:  # render pulls in numpy, Pillow and pydicom (~1 s): only nodes need them
    from pneumothorax.dicom.render import RenderSpec

EXECUTOR_BACKENDS = ("sequential", "processes", "dask")
#: ``executor.workers`` for "every core": a word, because ``dvc exp run -S`` rewrites
#: params.yaml and turns ``null`` into an empty value (same meaning, a noisy diff).
AUTO_WORKERS = "auto"
#: image.frames policies (pneumothorax.dicom.render implements them).
FRAME_POLICIES = ("first", "all")
#: image.padding policies (pneumothorax.dicom.padding implements them).
PADDING_POLICIES = ("black", "keep")
#: Top-level scalar keys of params.yaml (groups are validated by their dataclasses).
TOP_LEVEL_FLAGS = ("strict",)
#: The largest image.size side. A PNG side above it is no use for a chest radiograph (the
#: largest detectors give ~4,300 pixels) and costs memory the run does not have: the 16-bit
#: path resamples in 32-bit floats, 256 MiB per image at 8,192 x 8,192, per worker. Checked
#: at start-up: 100,000 used to be accepted and every file then failed with MemoryError.
MAX_IMAGE_SIZE = 8192


@dataclass(frozen=True)
class ImageParams:
    """The ``image`` group: how PNGs are rendered (changes here rerun the images stage)."""

    size: tuple[int, int] = (256, 256)
    png_compress_level: int = 6
    bit_depth: int = 8
    keep_aspect: bool = False
    frames: str = "first"
    padding: str = "black"

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
        if max(pair) > MAX_IMAGE_SIZE:
            raise ParamsError(
                f"params.yaml: image.size must be at most {MAX_IMAGE_SIZE} pixels a side, "
                f"got {size!r}"
            )
        level = raw.get("png_compress_level", 6)
        if not _is_int(level) or not 0 <= level <= 9:
            raise ParamsError(f"params.yaml: image.png_compress_level must be 0..9, got {level!r}")
        bit_depth = raw.get("bit_depth", 8)
        if bit_depth not in (8, 16) or isinstance(bit_depth, bool):
            raise ParamsError(f"params.yaml: image.bit_depth must be 8 or 16, got {bit_depth!r}")
        keep_aspect = _flag("image.keep_aspect", raw.get("keep_aspect", False))
        frames = raw.get("frames", "first")
        if frames not in FRAME_POLICIES:
            raise ParamsError(
                f"params.yaml: image.frames must be one of {', '.join(FRAME_POLICIES)}, "
                f"got {frames!r}"
            )
        padding = raw.get("padding", "black")
        if padding not in PADDING_POLICIES:
            raise ParamsError(
                f"params.yaml: image.padding must be one of {', '.join(PADDING_POLICIES)}, "
                f"got {padding!r}"
            )
        return cls(
            size=(int(pair[0]), int(pair[1])),
            png_compress_level=level,
            bit_depth=bit_depth,
            keep_aspect=keep_aspect,
            frames=frames,
            padding=padding,
        )

    def render_spec(self) -> RenderSpec:
        """The pure rendering settings these parameters describe."""
        from pneumothorax.dicom.render import RenderSpec

        return RenderSpec(
            size=self.size,
            png_compress_level=self.png_compress_level,
            bit_depth=self.bit_depth,
            keep_aspect=self.keep_aspect,
            frames=self.frames,
            padding=self.padding,
        )


@dataclass(frozen=True)
class MetadataParams:
    """The ``metadata`` group: what the metadata table keeps (reruns the metadata stage)."""

    deid: bool = True
    date_shift: bool = True
    private_tags: bool = False

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any] | None) -> MetadataParams:
        """Validate the ``metadata`` group of ``params.yaml``.

        Raises:
            ParamsError: Unknown key, a non-boolean value, or private tags asked for while
                de-identification (which removes them) is on.
        """
        raw = raw or {}
        _reject_unknown("metadata", raw, cls)
        values = {
            f.name: _flag(f"metadata.{f.name}", raw.get(f.name, f.default)) for f in fields(cls)
        }
        if values["deid"] and values["private_tags"]:
            raise ParamsError(
                "params.yaml: metadata.private_tags: true needs metadata.deid: false "
                "(the PS3.15 Basic Profile removes private attributes)"
            )
        return cls(**values)


#: Where raw folders live: DVC tracks each one with a ``<folder>.dvc`` file beside it.
RAW_ROOT = "data/01_raw"
#: Characters a POSIX shell still interprets inside double quotes, plus line breaks.
_SHELL_ACTIVE_IN_QUOTES = '"$`\\\n\r'


@dataclass(frozen=True)
class RawParams:
    """The ``raw`` group: which folder under ``data/01_raw/`` holds the DICOM files."""

    folder: str = "data/01_raw/dicom-images-train"

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any] | None) -> RawParams:
        """Validate the ``raw`` group of ``params.yaml``.

        Raises:
            ParamsError: Unknown key, or ``folder`` not a relative path below ``data/01_raw/``.
        """
        raw = raw or {}
        _reject_unknown("raw", raw, cls)
        folder = raw.get("folder", cls.folder)
        parts = folder.rstrip("/").split("/") if isinstance(folder, str) else []
        # One level below data/01_raw: DVC tracks it as data/01_raw/<name>.dvc, and the
        # layer's .gitignore lists it.
        if len(parts) != 3 or "/".join(parts[:2]) != RAW_ROOT or parts[2] in ("", ".", ".."):
            raise ParamsError(
                f"params.yaml: raw.folder must be a folder directly under {RAW_ROOT}/ "
                f"(e.g. {RAW_ROOT}/my-xrays), got {folder!r}"
            )
        # dvc.yaml pastes the folder into a shell command inside double quotes, where these
        # characters still act (and a line break ends the command).
        unsafe = sorted(set(parts[2]) & set(_SHELL_ACTIVE_IN_QUOTES))
        if unsafe:
            raise ParamsError(
                f"params.yaml: raw.folder {folder!r} has {' '.join(map(repr, unsafe))}, which "
                "the shell running dvc.yaml's raw_manifest stage would interpret: rename the folder"
            )
        return cls(folder="/".join(parts))


def strict_flag(value: Any) -> bool:
    """Validate the top-level ``strict`` key (stop at the first bad file).

    Raises:
        ParamsError: Not a boolean.
    """
    return _flag("strict", False if value is None else value)


@dataclass(frozen=True)
class ExecutorParams:
    """The ``executor`` group: where per-file work runs (never changes output bytes)."""

    backend: str = "processes"
    workers: int | None = None
    scheduler_address: str | None = None

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
        if workers == AUTO_WORKERS:
            workers = None
        if workers is not None and (
            isinstance(workers, bool) or not isinstance(workers, int) or workers < 1
        ):
            raise ParamsError(
                f"params.yaml: executor.workers must be a positive integer or {AUTO_WORKERS!r}, "
                f"got {workers!r}"
            )
        address = raw.get("scheduler_address")
        if address is not None and not isinstance(address, str):
            raise ParamsError(
                f"params.yaml: executor.scheduler_address must be a string such as "
                f"'tcp://10.0.0.5:8786' or '' (none), got {address!r}"
            )
        return cls(backend=backend, workers=workers, scheduler_address=address or None)

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
class IncrementalParams:
    """The ``incremental`` group: reuse per-file results of earlier runs (never changes bytes)."""

    enabled: bool = True
    cache_dir: str | None = None

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any] | None) -> IncrementalParams:
        """Validate the ``incremental`` group of ``params.yaml``.

        Raises:
            ParamsError: Unknown key or a value of the wrong type.
        """
        raw = raw or {}
        _reject_unknown("incremental", raw, cls)
        enabled = _flag("incremental.enabled", raw.get("enabled", True))
        cache_dir = raw.get("cache_dir")
        if cache_dir is not None and not isinstance(cache_dir, str):
            raise ParamsError(
                f"params.yaml: incremental.cache_dir must be a path or null, got {cache_dir!r}"
            )
        if cache_dir:
            _check_folder("incremental.cache_dir", cache_dir)
        return cls(enabled=enabled, cache_dir=cache_dir or None)


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
        return cls(required=_flag("tracking.required", raw.get("required", False)))


#: Every top-level key of params.yaml and its check: a key not listed here is a typo.
#: A new group is one more entry (its dataclass's ``from_mapping``).
VALIDATORS: dict[str, Callable[[Any], Any]] = {
    "image": ImageParams.from_mapping,
    "raw": RawParams.from_mapping,
    "metadata": MetadataParams.from_mapping,
    "strict": strict_flag,
    "executor": ExecutorParams.from_mapping,
    "incremental": IncrementalParams.from_mapping,
    "tracking": TrackingParams.from_mapping,
}
#: Groups params.yaml must have.
REQUIRED_GROUPS = ("image",)


def validate_params(params: Mapping[str, Any]) -> None:
    """Validate every key of ``params.yaml``: unknown top-level keys too.

    Raises:
        ParamsError: The first problem found, naming the key.
    """
    unknown = sorted(set(params) - set(VALIDATORS))
    if unknown:
        raise ParamsError(
            f"params.yaml: unknown top-level key(s) {', '.join(map(str, unknown))}; "
            f"known: {', '.join(VALIDATORS)}"
        )
    for key in REQUIRED_GROUPS:
        if key not in params:
            raise ParamsError(f"params.yaml: missing the '{key}' group")
    for key, validate in VALIDATORS.items():
        validate(params.get(key))


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


def _check_folder(name: str, value: str) -> None:
    """A folder that exists, or can be made: its nearest existing ancestor is a folder."""
    path = os.path.abspath(os.path.expanduser(value))
    while not os.path.lexists(path):
        path = os.path.dirname(path)
    if not os.path.isdir(path):
        what = "is" if path == os.path.abspath(os.path.expanduser(value)) else "is below"
        raise ParamsError(
            f"params.yaml: {name} must be a folder, but {value!r} {what} a file"
            f"{'' if what == 'is' else f' ({path})'}"
        )
    if not os.access(path, os.W_OK | os.X_OK):
        raise ParamsError(f"params.yaml: {name}: no permission to write in {path!r}")


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ParamsError(f"params.yaml: {name} must be true or false, got {value!r}")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# ---- Labels, split and the baseline model (docs/labels-and-model.md) -----------------------


@dataclass(frozen=True)
class LabelsParams:
    """The ``labels`` group: where SIIM's ``train-rle.csv`` is."""

    path: str = "data/01_raw/train-rle.csv"

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any] | None) -> LabelsParams:
        """Validate the ``labels`` group of ``params.yaml``.

        Raises:
            ParamsError: Unknown key, or ``path`` not a non-empty string.
        """
        raw = raw or {}
        _reject_unknown("labels", raw, cls)
        path = raw.get("path", cls.path)
        if not isinstance(path, str) or not path:
            raise ParamsError(f"params.yaml: labels.path must be a file path, got {path!r}")
        return cls(path=path)


@dataclass(frozen=True)
class SplitParams:
    """The ``split`` group: the patient-level train/validation split."""

    valid_fraction: float = 0.3
    seed: int = 0

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any] | None) -> SplitParams:
        """Validate the ``split`` group of ``params.yaml``.

        Raises:
            ParamsError: Unknown key, a fraction outside (0, 0.5], or a negative seed.
        """
        raw = raw or {}
        _reject_unknown("split", raw, cls)
        fraction = raw.get("valid_fraction", cls.valid_fraction)
        if not _is_number(fraction) or not 0 < fraction <= 0.5:
            raise ParamsError(
                f"params.yaml: split.valid_fraction must be in (0, 0.5], got {fraction!r}"
            )
        seed = raw.get("seed", cls.seed)
        if not _is_int(seed) or seed < 0:
            raise ParamsError(f"params.yaml: split.seed must be an integer >= 0, got {seed!r}")
        return cls(valid_fraction=float(fraction), seed=seed)

    @property
    def folds(self) -> int:
        """Folds to cut the patients into; the first is the validation part."""
        return max(2, round(1 / self.valid_fraction))


@dataclass(frozen=True)
class ModelParams:
    """The ``model`` group: the baseline classifier."""

    cells: int = 8
    c: float = 1.0
    threshold: float = 0.5

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any] | None) -> ModelParams:
        """Validate the ``model`` group of ``params.yaml``.

        Raises:
            ParamsError: Unknown key or a value out of range.
        """
        raw = raw or {}
        _reject_unknown("model", raw, cls)
        cells = raw.get("cells", cls.cells)
        if not _is_int(cells) or cells < 1:
            raise ParamsError(f"params.yaml: model.cells must be a positive integer, got {cells!r}")
        c = raw.get("c", cls.c)
        if not _is_number(c) or c <= 0:
            raise ParamsError(f"params.yaml: model.c must be a number > 0, got {c!r}")
        threshold = raw.get("threshold", cls.threshold)
        if not _is_number(threshold) or not 0 < threshold < 1:
            raise ParamsError(f"params.yaml: model.threshold must be in (0, 1), got {threshold!r}")
        return cls(cells=cells, c=float(c), threshold=float(threshold))


# Checked by validate_params with the other groups (absent groups take the defaults).
VALIDATORS.update(
    labels=LabelsParams.from_mapping,
    split=SplitParams.from_mapping,
    model=ModelParams.from_mapping,
)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
