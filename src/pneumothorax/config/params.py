"""Typed models of ``params.yaml`` (pydantic): each default once, a typo fails at start-up.

:class:`ProjectParams` is the whole file; each group is its own model, which Kedro builds
for a node whose ``params:<group>`` input is annotated with it (Kedro's typed parameters).
:func:`load_params` is the one reader of the file: the Kedro config loader
(:mod:`pneumothorax.config.loader`) validates what it returns with :func:`validate_params`,
and the commands that run outside Kedro read one group with :func:`read_group`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Self, TypeVar, cast, get_args

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PositiveInt,
    ValidationError,
    field_validator,
    model_validator,
)

from pneumothorax.config.errors import ParamsError

PARAMS_FILE = "params.yaml"
#: executor.backend choices (pneumothorax.runtime.executors implements them).
Backend = Literal["sequential", "processes", "dask"]
#: image.frames policies (pneumothorax.dicom.render implements them).
FramePolicy = Literal["first", "all"]
#: image.padding policies (pneumothorax.dicom.padding implements them).
PaddingPolicy = Literal["black", "keep"]
FRAME_POLICIES: tuple[str, ...] = get_args(FramePolicy)
PADDING_POLICIES: tuple[str, ...] = get_args(PaddingPolicy)
#: ``executor.workers`` for "every core": a word, because ``dvc exp run -S`` rewrites
#: params.yaml and turns ``null`` into an empty value (same meaning, a noisy diff).
AUTO_WORKERS = "auto"
#: The largest image.size side. A PNG side above it is no use for a chest radiograph (the
#: largest detectors give ~4,300 pixels) and costs memory the run does not have: the 16-bit
#: path resamples in 32-bit floats, 256 MiB per image at 8,192 x 8,192, per worker. Checked
#: at start-up: 100,000 used to be accepted and every file then failed with MemoryError.
MAX_IMAGE_SIZE = 8192
#: Where raw folders live: DVC tracks each one with a ``<folder>.dvc`` file beside it.
RAW_ROOT = "data/01_raw"
#: Characters a POSIX shell still interprets inside double quotes, plus line breaks.
_SHELL_ACTIVE_IN_QUOTES = '"$`\\\n\r'


def _none_if(*words: str) -> BeforeValidator:
    """params.yaml holds no nulls (``dvc exp run -S`` would rewrite them): a word means None."""
    return BeforeValidator(lambda value: None if value in words else value)


def _square(value: Any) -> Any:
    """``size: 256`` means ``[256, 256]``; YAML gives a list where the model keeps a tuple."""
    if isinstance(value, int) and not isinstance(value, bool):
        return (value, value)
    if isinstance(value, list | tuple) and len(value) != 2:
        raise ValueError("must be a positive integer or [width, height]")
    return tuple(value) if isinstance(value, list) else value


class _Group(BaseModel):
    """A group of ``params.yaml``: YAML's types exactly (no "6" for 6), no unknown keys."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)
    #: The group's key in params.yaml, for error messages.
    group: ClassVar[str]

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any] | Self | None) -> Self:
        """The group from its ``params.yaml`` mapping (or itself, as Kedro's typed params give it).

        Raises:
            ParamsError: One line naming the first bad key.
        """
        if isinstance(raw, cls):
            return raw
        try:
            return cls.model_validate({} if raw is None else raw)
        except ValidationError as error:
            raise ParamsError(_one_line(error, {cls.group: raw}, (cls.group,))) from None


G = TypeVar("G", bound=_Group)


class ImageParams(_Group):
    """The ``image`` group: how PNGs are rendered (changes here rerun the images stage)."""

    group: ClassVar[str] = "image"
    size: Annotated[tuple[PositiveInt, PositiveInt], BeforeValidator(_square)] = (256, 256)
    png_compress_level: Annotated[int, Field(ge=0, le=9)] = 1
    bit_depth: Literal[8, 16] = 8
    keep_aspect: bool = False
    frames: FramePolicy = "first"
    padding: PaddingPolicy = "black"

    @field_validator("size")
    @classmethod
    def _at_most_max(cls, size: tuple[int, int]) -> tuple[int, int]:
        if max(size) > MAX_IMAGE_SIZE:
            raise ValueError(f"must be at most {MAX_IMAGE_SIZE} pixels a side")
        return size


class MetadataParams(_Group):
    """The ``metadata`` group: what the metadata table keeps (reruns the metadata stage)."""

    group: ClassVar[str] = "metadata"
    deid: bool = True
    date_shift: bool = True
    private_tags: bool = False

    @model_validator(mode="after")
    def _private_tags_need_deid_off(self) -> Self:
        if self.deid and self.private_tags:
            raise ValueError(
                "private_tags: true needs deid: false "
                "(the PS3.15 Basic Profile removes private attributes)"
            )
        return self


class RawParams(_Group):
    """The ``raw`` group: which folder under ``data/01_raw/`` holds the DICOM files."""

    group: ClassVar[str] = "raw"
    folder: str = "data/01_raw/dicom-images-train"

    @field_validator("folder")
    @classmethod
    def _one_level_below_raw_root(cls, folder: str) -> str:
        parts = folder.rstrip("/").split("/")
        # One level below data/01_raw: DVC tracks it as data/01_raw/<name>.dvc, and the
        # layer's .gitignore lists it.
        if len(parts) != 3 or "/".join(parts[:2]) != RAW_ROOT or parts[2] in ("", ".", ".."):
            raise ValueError(
                f"must be a folder directly under {RAW_ROOT}/ (e.g. {RAW_ROOT}/my-xrays)"
            )
        # dvc.yaml pastes the folder into a shell command inside double quotes, where these
        # characters still act (and a line break ends the command).
        unsafe = sorted(set(parts[2]) & set(_SHELL_ACTIVE_IN_QUOTES))
        if unsafe:
            raise ValueError(
                f"must not have {' '.join(map(repr, unsafe))}, which the shell running "
                "dvc.yaml's raw_manifest stage would interpret: rename the folder"
            )
        return "/".join(parts)


class ExecutorParams(_Group):
    """The ``executor`` group: where per-file work runs (never changes output bytes)."""

    group: ClassVar[str] = "executor"
    backend: Backend = "processes"
    workers: Annotated[PositiveInt | None, _none_if(AUTO_WORKERS)] = None
    scheduler_address: Annotated[str | None, _none_if("")] = None

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


class IncrementalParams(_Group):
    """The ``incremental`` group: reuse per-file results of earlier runs (never changes bytes)."""

    group: ClassVar[str] = "incremental"
    enabled: bool = True
    cache_dir: Annotated[str | None, _none_if("")] = None

    @field_validator("cache_dir")
    @classmethod
    def _a_folder_or_one_to_make(cls, value: str | None) -> str | None:
        """A folder that exists, or can be made: its nearest existing ancestor is a folder."""
        if value is None:
            return None
        # No library checks "could be created" without creating it, hence this walk up.
        target = os.path.abspath(os.path.expanduser(value))
        path = target
        while not os.path.lexists(path):
            path = os.path.dirname(path)
        if not os.path.isdir(path):
            where = "a file" if path == target else f"below a file ({path})"
            raise ValueError(f"must be a folder, but it is {where}")
        if not os.access(path, os.W_OK | os.X_OK):
            raise ValueError(f"needs permission to write in {path!r}")
        return value


class TrackingParams(_Group):
    """The ``tracking`` group: what happens when MLflow cannot be reached."""

    group: ClassVar[str] = "tracking"
    required: bool = False


class LabelsParams(_Group):
    """The ``labels`` group: where SIIM's ``train-rle.csv`` is (docs/labels-and-model.md)."""

    group: ClassVar[str] = "labels"
    path: Annotated[str, Field(min_length=1)] = "data/01_raw/train-rle.csv"


class SplitParams(_Group):
    """The ``split`` group: the patient-level train/validation split."""

    group: ClassVar[str] = "split"
    valid_fraction: Annotated[float, Field(gt=0, le=0.5)] = 0.3
    # NumPy's seeds are 0 to 2**32 - 1; a larger one would be the split's "cannot cut".
    seed: Annotated[int, Field(ge=0, lt=2**32)] = 0

    @property
    def folds(self) -> int:
        """Folds to cut the patients into; the first is the validation part."""
        return max(2, round(1 / self.valid_fraction))


class ModelParams(_Group):
    """The ``model`` group: the baseline classifier."""

    group: ClassVar[str] = "model"
    cells: PositiveInt = 8
    c: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 1.0
    threshold: Annotated[float, Field(gt=0, lt=1)] = 0.5


class ProjectParams(BaseModel):
    """All of ``params.yaml``: a top-level key that is not a field here is a typo.

    A group left out takes its model's defaults (:func:`with_defaults`).
    """

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    image: ImageParams = ImageParams()
    raw: RawParams = RawParams()
    metadata: MetadataParams = MetadataParams()
    strict: bool = False
    executor: ExecutorParams = ExecutorParams()
    incremental: IncrementalParams = IncrementalParams()
    tracking: TrackingParams = TrackingParams()
    labels: LabelsParams = LabelsParams()
    split: SplitParams = SplitParams()
    model: ModelParams = ModelParams()


def strict_flag(value: Any) -> bool:
    """The top-level ``strict`` key (stop at the first bad file); absent means false.

    For nodes given the raw value: :class:`ProjectParams` has checked it already.

    Raises:
        ParamsError: Not a boolean.
    """
    if value is None or isinstance(value, bool):
        return bool(value)
    raise ParamsError(f"params.yaml: strict must be a valid boolean, got {value!r}")


def validate_params(params: Mapping[str, Any]) -> ProjectParams:
    """Validate the whole of ``params.yaml`` (after ``kedro run --params``, if any).

    Raises:
        ParamsError: One line naming the first bad key.
    """
    try:
        return ProjectParams.model_validate(params)
    except ValidationError as error:
        raise ParamsError(_one_line(error, params)) from None


def with_defaults(params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` plus every group it leaves out, at its model's defaults, as YAML holds them.

    So each node gets its ``params:<group>`` input, whose defaults are written nowhere else.
    """
    defaults = ProjectParams().model_dump(mode="json")
    return {**params, **{name: value for name, value in defaults.items() if name not in params}}


def load_params(path: Path) -> dict[str, Any]:
    """The mapping ``path`` holds, unvalidated (the config loader merges ``--params`` first).

    Raises:
        ParamsError: No such file, not YAML, or not a mapping.
    """
    if not path.is_file():
        raise ParamsError(f"{path}: no such file (the project's params)")
    try:
        params = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        problem = getattr(error, "problem", None) or type(error).__name__
        raise ParamsError(f"{path}: not valid YAML{line} ({problem})") from None
    if not isinstance(params, dict):
        raise ParamsError(f"{path}: expected a mapping of parameters")
    return params


def read_group(model: type[G], path: Path = Path(PARAMS_FILE)) -> G:
    """One group of ``params.yaml``, validated: for the commands that run outside Kedro.

    Raises:
        ParamsError: The file is missing or not YAML, or the group has a bad key or value.
    """
    return model.from_mapping(load_params(path).get(model.group))


def _one_line(
    error: ValidationError, params: Mapping[str, Any], prefix: tuple[str, ...] = ()
) -> str:
    """pydantic's report as one line naming the dotted key: ``image.bit_depth must be ...``."""
    problems = error.errors(include_url=False)
    unknown = [p for p in problems if p["type"] == "extra_forbidden"]
    if unknown:
        # Every misspelt key of the first group that has any, with what it may hold.
        group = (*prefix, *unknown[0]["loc"][:-1])
        names = [".".join(map(str, (*group, p["loc"][-1]))) for p in unknown
                 if tuple((*prefix, *p["loc"][:-1])) == group]  # fmt: skip
        model = _model_at(group)
        known = ", ".join(model.model_fields if not group else sorted(model.model_fields))
        what = "top-level key(s)" if not group else "key(s)"
        return f"params.yaml: unknown {what} {', '.join(sorted(names))}; known: {known}"
    first = problems[0]
    loc = tuple(part for part in (*prefix, *first["loc"]) if isinstance(part, str))
    key = ".".join(loc)
    if first["type"] in ("model_type", "model_attributes_type"):
        return f"params.yaml: '{key}' must be a mapping, got {_value_at(params, loc)!r}"
    message = str(first["ctx"]["error"]) if first["type"] == "value_error" else first["msg"]
    message = re.sub(r"^(Input|String|Tuple) should", "must", message)
    if first["type"] == "value_error" and len(loc) == 1 and loc[0] in ProjectParams.model_fields:
        return f"params.yaml: {key}: {message}"  # a check of the group as a whole
    separator = " " if message.startswith("must") else ": "
    return f"params.yaml: {key}{separator}{message}, got {_value_at(params, loc)!r}"


def _model_at(group: tuple[str | int, ...]) -> type[BaseModel]:
    if not group:
        return ProjectParams
    return cast(type[BaseModel], ProjectParams.model_fields[str(group[0])].annotation)


def _value_at(params: Mapping[str, Any], loc: tuple[str, ...]) -> Any:
    """The value the user wrote at ``loc`` (pydantic reports it after conversion)."""
    value: Any = params
    for part in loc:
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value
