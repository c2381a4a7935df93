"""``FileMapper``: the per-file runtime in one object, built once per run from the params.

It owns what every per-file node needs and none should set up itself: where the work runs
(:class:`~pneumothorax.runtime.executors.Executor`, with its local Dask cluster), the
incremental cache (:mod:`pneumothorax.runtime.incremental`: opened for one map, closed at
its end), progress (:mod:`pneumothorax.runtime.progress`) and the rejection policy
(``strict``: :mod:`pneumothorax.runtime.rejections`). :class:`pneumothorax.hooks.ProjectHooks`
builds it from ``params.yaml`` and puts it in the catalog as ``file_mapper``; nodes take it
as an input and call :meth:`FileMapper.map`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from pneumothorax.config.params import ExecutorParams, IncrementalParams, strict_flag
from pneumothorax.dicom.results import FileResult
from pneumothorax.runtime.executors import Executor
from pneumothorax.runtime.file_ref import FileRef
from pneumothorax.runtime.incremental import (
    Item,
    ResultCache,
    cache_directory,
    code_roots,
    code_version,
    map_cached,
    reading_options,
)
from pneumothorax.runtime.progress import progress
from pneumothorax.runtime.rejections import reject


class FileMapper:
    """Maps a per-file function over a node's files: executor, cache, progress, rejections.

    Attributes:
        executor: Where the work runs.
        incremental: Whether (and where) per-file results are cached.
        strict: Stop at the first unusable file instead of listing it.
    """

    def __init__(
        self,
        executor: ExecutorParams | None = None,
        incremental: IncrementalParams | None = None,
        strict: bool = False,
    ) -> None:
        """Build the runtime from the typed params (defaults: ``params.yaml``'s defaults)."""
        settings = executor or ExecutorParams()
        self.executor = Executor(
            settings.backend, settings.worker_count, settings.scheduler_address
        )
        self.incremental = incremental or IncrementalParams()
        self.strict = strict

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> FileMapper:
        """The runtime the ``executor``, ``incremental`` and ``strict`` keys of ``params`` give.

        Raises:
            ParamsError: One of them is not valid.
        """
        return cls(
            ExecutorParams.from_mapping(params.get("executor")),
            IncrementalParams.from_mapping(params.get("incremental")),
            strict_flag(params.get("strict")),
        )

    def map(
        self,
        fn: Callable[[Item], FileResult],
        files: Sequence[FileRef],
        *,
        stage: str,
        kind: str,
        code: str,
        params: Mapping[str, Any],
        encode: Callable[[Any], bytes],
        decode: Callable[[bytes], Any],
        cache: bool = True,
    ) -> Iterator[FileResult]:
        """Yield ``fn((id, load))`` for every file, with progress; from the cache when known.

        Cached results come first, then computed ones, each in input order (see
        :func:`~pneumothorax.runtime.incremental.map_cached`). The cache is open while
        the results are drawn and closed when they end (or the caller stops early).

        Args:
            fn: The per-file function (picklable: module-level or a ``functools.partial``).
            files: The files, e.g. a folder dataset's ``FileRef`` values.
            stage: The stage's name, which the progress line shows.
            kind: What ``fn`` produces (part of the cache key).
            code: The module of the node calling this: the cache key hashes its import
                closure and that of the modules reading ``files``.
            params: What, besides the input bytes and the code, changes ``fn``'s output.
            encode: Result value to bytes for the cache.
            decode: Bytes from the cache to a result value.
            cache: ``False``: never read or store these results (e.g. rows that are not
                de-identified), whatever ``incremental.enabled`` says.

        Yields:
            One :class:`FileResult` per file.
        """
        files = list(files)
        with self._cache(cache) as store:
            results = map_cached(
                fn,
                files,
                mapper=self.executor.map,
                cache=store,
                kind=kind,
                code=code_version(code_roots(code, files)),
                params={**params, "reading": reading_options(files)},
                encode=encode,
                decode=decode,
            )
            yield from progress(results, total=len(files), desc=stage)

    def reject(
        self, result: FileResult, ref: FileRef, stage: str, *, announce: bool = True
    ) -> dict[str, str]:
        """Apply the rejection policy to an unusable file: its report row, or raise if strict.

        Raises:
            BadInputError: ``strict``.
        """
        return reject(result, ref.path, self.strict, stage, announce=announce)

    def close(self) -> None:
        """Release what the runs held between nodes (a local Dask cluster)."""
        self.executor.close()

    @contextlib.contextmanager
    def _cache(self, wanted: bool) -> Iterator[ResultCache | None]:
        if not (wanted and self.incremental.enabled):
            yield None
            return
        store = ResultCache(cache_directory(self.incremental.cache_dir))
        try:
            yield store
        finally:
            store.close()
