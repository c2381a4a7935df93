"""FileMapper: one runtime per run, built from the params, owning the executor, cache and policy."""

from __future__ import annotations

import dataclasses
import logging
import os
from functools import partial
from pathlib import Path

import fsspec
import pytest
from kedro.io import DataCatalog

from pneumothorax.config.errors import ParamsError
from pneumothorax.dicom.results import FileResult
from pneumothorax.hooks import FILE_MAPPER_DATASET, ProjectHooks
from pneumothorax.runtime.file_ref import FileRef
from pneumothorax.runtime.mapper import FileMapper
from pneumothorax.runtime.rejections import BadInputError

LOCAL = fsspec.filesystem("file")


def _read(item: tuple[str, object]) -> FileResult:
    file_id, load = item
    try:
        return FileResult(file_id, load())  # type: ignore[operator]
    except OSError as error:
        return FileResult(file_id, error=f"{file_id}: {error.strerror}", reason="unreadable")


def _pid(item: tuple[str, object]) -> FileResult:
    return FileResult(item[0], os.getpid())


def _refuse() -> bytes:
    raise OSError(5, "read refused")


def _files(root: Path, count: int) -> list[FileRef]:
    refs = []
    for index in range(count):
        path = root / f"f{index}.dcm"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"bytes of file %d" % index)
        load = partial(Path.read_bytes, path)
        refs.append(FileRef(f"f{index}", f"f{index}.dcm", load, url=str(path), fs=LOCAL))
    return refs


def _map(mapper: FileMapper, files: list[FileRef], fn=_read, **options) -> list[FileResult]:
    options = {"cache": True, **options}
    return list(
        mapper.map(
            fn, files, stage="test", kind="raw", code=__name__, params={},
            encode=bytes, decode=bytes, **options,
        )
    )  # fmt: skip


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"executor": {"backend": "threads"}}, "executor.backend must be"),
        ({"incremental": {"enabled": "yes"}}, "incremental.enabled"),
        ({"strict": "no"}, "strict"),
    ],
)
def test_params_are_validated_when_it_is_built(params: dict, match: str) -> None:
    with pytest.raises(ParamsError, match=match):
        FileMapper.from_params(params)


@pytest.mark.parametrize("backend", ["sequential", "processes"])
def test_results_in_input_order_and_the_cache_serves_the_second_map(
    tmp_path: Path, backend: str
) -> None:
    files = _files(tmp_path / "raw", 20)
    mapper = FileMapper.from_params(
        {
            "executor": {"backend": backend, "workers": 2},
            "incremental": {"enabled": True, "cache_dir": str(tmp_path / "cache")},
        }
    )
    first = _map(mapper, files)
    assert [r.value for r in first] == [b"bytes of file %d" % i for i in range(20)]
    # Reads now fail: only a cache hit (same bytes, code and params) can still succeed.
    refused = [dataclasses.replace(ref, load=_refuse) for ref in files]
    assert [(r.id, r.value) for r in _map(mapper, refused)] == [(r.id, r.value) for r in first]
    # cache=False (e.g. rows that are not de-identified): computed, never read from the cache.
    assert {r.reason for r in _map(mapper, refused, cache=False)} == {"unreadable"}


def test_without_incremental_no_cache_file_is_made(tmp_path: Path) -> None:
    files = _files(tmp_path / "raw", 3)
    cache_dir = tmp_path / "cache"
    mapper = FileMapper.from_params(
        {"incremental": {"enabled": False, "cache_dir": str(cache_dir)}}
    )
    assert [r.ok for r in _map(mapper, files)] == [True, True, True]
    assert not cache_dir.exists()


def test_rejection_policy_logs_or_stops_naming_the_path(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ref = FileRef("x", "study/x.dcm", _refuse)
    failed = FileResult("x", error="x: not a DICOM file", reason="not a DICOM file")
    with caplog.at_level(logging.WARNING):
        row = FileMapper().reject(failed, ref, "images")
    assert row == {"id": "x", "path": "study/x.dcm", "reason": "not a DICOM file"}
    assert "images: rejected study/x.dcm: not a DICOM file" in caplog.text
    strict = FileMapper.from_params({"strict": True})
    with pytest.raises(BadInputError, match=r"^images: study/x\.dcm: not a DICOM file \(strict"):
        strict.reject(failed, ref, "images")


def test_the_hook_puts_one_mapper_in_the_catalog_and_closes_its_dask_cluster(
    tmp_path: Path,
) -> None:
    """The cluster a run's nodes share lives until the pipeline ends, then its workers stop."""
    hooks = ProjectHooks()
    catalog = DataCatalog()
    params = {"executor": {"backend": "dask", "workers": 2}, "incremental": {"enabled": False}}
    # As Kedro calls it: the params under "parameters", and each group as "params:<key>".
    feed = {"parameters": params, **{f"params:{key}": value for key, value in params.items()}}
    hooks.after_catalog_created(catalog=catalog, conf_catalog={}, parameters=feed)
    mapper = catalog.load(FILE_MAPPER_DATASET)
    assert isinstance(mapper, FileMapper)
    assert (mapper.executor.backend, mapper.executor.workers) == ("dask", 2)
    assert catalog.load(FILE_MAPPER_DATASET) is mapper  # shared by every node, never copied
    files = _files(tmp_path / "raw", 8)
    pids = {r.value for r in _map(mapper, files, fn=_pid)}
    pids |= {r.value for r in _map(mapper, files, fn=_pid)}  # the second map reuses them
    assert os.getpid() not in pids and all(_alive(pid) for pid in pids)
    hooks.after_pipeline_run()
    assert not [pid for pid in pids if _alive(pid)]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stream:
            return stream.read().rpartition(")")[2].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def test_the_catalog_entry_is_filled_not_replaced(caplog: pytest.LogCaptureFixture) -> None:
    """conf/base/catalog.yml declares file_mapper: the hook saves into it, with no log line."""
    import yaml

    entry = yaml.safe_load((Path(__file__).parents[2] / "conf/base/catalog.yml").read_text())[
        FILE_MAPPER_DATASET
    ]
    catalog = DataCatalog.from_config({FILE_MAPPER_DATASET: entry})
    params = {"executor": {"backend": "sequential"}, "strict": True}
    with caplog.at_level(logging.DEBUG):
        ProjectHooks().after_catalog_created(
            catalog=catalog,
            conf_catalog={FILE_MAPPER_DATASET: entry},
            parameters={"parameters": params},
        )
    assert not [r for r in caplog.records if "Replacing" in r.getMessage()]
    mapper = catalog.load(FILE_MAPPER_DATASET)
    assert (mapper.executor.backend, mapper.strict) == ("sequential", True)
    assert catalog.load(FILE_MAPPER_DATASET) is mapper
