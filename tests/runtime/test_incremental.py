"""The result cache's keys: the code version follows the source, and a hit needs the same key."""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

import fsspec
import pytest

from pneumothorax.runtime.file_ref import FileRef
from pneumothorax.runtime.incremental import (
    ResultCache,
    cache_key,
    code_version,
    key_maker,
    map_cached,
)

LOCAL = fsspec.filesystem("file")


@pytest.fixture
def module_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    source = tmp_path / "conversion_under_test.py"
    source.write_text("def convert(x):\n    return x\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield source
    sys.modules.pop("conversion_under_test", None)


def test_code_version_changes_with_the_source(module_on_path: Path) -> None:
    before = code_version(["conversion_under_test"])
    assert code_version(["conversion_under_test"]) == before
    module_on_path.write_text("def convert(x):\n    return x + 1\n")
    assert code_version(["conversion_under_test"]) != before


@pytest.mark.parametrize(
    "changed",
    [
        ("jpg", "code", {"size": [256, 256]}, "md5"),
        ("png", "code2", {"size": [256, 256]}, "md5"),
        ("png", "code", {"size": [128, 128]}, "md5"),
        ("png", "code", {"size": [256, 256]}, "md5b"),
    ],
)
def test_every_part_of_the_key_matters(changed: tuple) -> None:
    assert cache_key(*changed) != cache_key("png", "code", {"size": [256, 256]}, "md5")


def test_the_key_is_the_sha256_of_kind_code_params_and_digest() -> None:
    import hashlib

    # By hand: the four parts on their own lines, the params as sorted JSON.
    expected = hashlib.sha256(b'png\ncode\n{"a": 1, "b": [2, 3]}\nabc').hexdigest()
    assert cache_key("png", "code", {"b": [2, 3], "a": 1}, "abc") == expected
    make = key_maker("png", "code", {"b": [2, 3], "a": 1})
    assert make("abc") == expected
    assert make("abd") == cache_key("png", "code", {"a": 1, "b": [2, 3]}, "abd") != expected


def test_batched_lookups_give_what_one_lookup_per_name_gives(tmp_path: Path) -> None:
    """More names than one query takes (500 keys or paths, 32 values): none lost or mixed."""
    cache = ResultCache(tmp_path / "cache")
    paths = [tmp_path / f"folder{i % 3}" / f"{i}.dcm" for i in range(1201)]
    for index, path in enumerate(paths):
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"%d" % index)
        if index % 5:  # every fifth file was never hashed
            cache.remember_digest(str(path), path.stat(), f"digest-{index}")
    for path in paths[::7]:
        path.write_bytes(b"edited")  # new size: the record no longer applies
    files = [(str(path), path.stat()) for path in paths]
    expected = [
        None if index % 5 == 0 or index % 7 == 0 else f"digest-{index}"
        for index in range(len(paths))
    ]
    assert cache.recorded_digests(files) == expected
    assert expected == [cache.known_digest(path, stat) for path, stat in files]

    keys = [f"key-{i}" for i in range(1201)]
    for index in range(0, len(keys), 3):
        cache.put(keys[index], b"value %d" % index)
    assert cache.stored(keys) == set(keys[::3])
    asked = [*keys[:40], keys[0], keys[3], keys[1]]  # repeats, and misses between hits
    assert list(cache.get_many(asked)) == [
        (key, b"value %d" % int(key[4:]) if int(key[4:]) % 3 == 0 else None) for key in asked
    ]
    assert list(cache.get_many(asked)) == [(key, cache.get(key)) for key in asked]
    cache.close()


def test_digest_is_remembered_only_while_the_file_is_unchanged(tmp_path: Path) -> None:
    cache = ResultCache(tmp_path / "cache")
    data = tmp_path / "input.dcm"
    data.write_bytes(b"one")
    cache.remember_digest(str(data), data.stat(), "digest-one")
    assert cache.known_digest(str(data), data.stat()) == "digest-one"
    data.write_bytes(b"two!")  # new size (and mtime): the recorded digest no longer applies
    assert cache.known_digest(str(data), data.stat()) is None
    cache.put("k", b"\x89PNG")
    assert cache.get("k") == b"\x89PNG" and cache.get("other") is None
    cache.close()


def test_known_digests_of_a_folder_match_the_per_file_lookup(tmp_path: Path) -> None:
    cache = ResultCache(tmp_path / "cache")
    raw, sibling = tmp_path / "raw", tmp_path / "raw0"  # "raw0/" sorts right after "raw/"
    paths = [raw / "a" / "1.dcm", raw / "a" / "2.dcm", raw / "b.dcm", sibling / "c.dcm"]
    for number, path in enumerate(paths):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * (number + 1))
        cache.remember_digest(str(path), path.stat(), f"digest-{number}")
    paths[1].write_bytes(b"changed")  # its record no longer applies
    unknown = raw / "new.dcm"
    unknown.write_bytes(b"new")
    files = [(str(p), p.stat()) for p in (*paths[:3], unknown, paths[3])]
    # The sibling folder's file is below neither raw/ nor its prefix: not found through raw.
    assert cache.known_digests(str(raw), files) == ["digest-0", None, "digest-2", None, None]
    assert cache.known_digests(str(raw), files) == [
        cache.known_digest(path, stat) if Path(path).is_relative_to(raw) else None
        for path, stat in files
    ]
    cache.close()


def _identity(item):
    from pneumothorax.dicom.results import FileResult

    file_id, load = item
    return FileResult(file_id, load())


def _ref(path: Path) -> FileRef:
    """A local file as a folder dataset hands it over; its load returns its bytes."""
    return FileRef(path.name, path.name, partial(Path.read_bytes, path), url=str(path), fs=LOCAL)


def _run_cached(files: list[Path], cache_dir: Path, mapper) -> list[tuple[str, bytes]]:
    """``(id, value)`` of every file through :func:`map_cached` (identity work), sorted."""
    cache = ResultCache(cache_dir)
    results = map_cached(
        _identity, [_ref(p) for p in files], mapper=mapper, cache=cache,
        kind="raw", code="c", params={}, encode=bytes, decode=bytes,
    )  # fmt: skip
    out = sorted((r.id, r.value) for r in results)
    cache.close()
    return out


def test_touched_but_unchanged_files_come_from_the_cache(tmp_path: Path) -> None:
    import os

    files = []
    for index in range(3):
        path = tmp_path / f"f{index}"
        path.write_bytes(b"content %d" % index)
        files.append(path)
    computed: list[str] = []

    def mapper(fn, items):
        for item in items:
            computed.append(item[0].id)  # (FileRef, digest, local path)
            yield fn(item)

    def run() -> list[tuple[str, bytes]]:
        return _run_cached(files, tmp_path / "cache", mapper)

    first = run()
    assert computed == ["f0", "f1", "f2"]
    computed.clear()
    os.utime(files[0], ns=(1, 1))  # touched: new mtime, same bytes
    files[1].write_bytes(b"changed")
    second = run()
    assert computed == ["f1"]
    assert second == [("f0", b"content 0"), ("f1", b"changed"), ("f2", b"content 2")]
    assert first[0] == second[0] and first[2] == second[2]


def test_inputs_are_keyed_by_the_sha256_of_their_bytes(tmp_path: Path) -> None:
    import hashlib
    import sqlite3

    import fsspec

    from pneumothorax.runtime.incremental import file_digest, map_cached

    files = [tmp_path / f"f{index}" for index in range(5)]
    for index, path in enumerate(files):
        path.write_bytes(bytes([index]) * (3 << 20))  # several read blocks each
    cache = ResultCache(tmp_path / "cache")
    results = map_cached(
        _identity, [_ref(p) for p in files], mapper=map, cache=cache,
        kind="raw", code="c", params={}, encode=bytes, decode=bytes,
    )  # fmt: skip
    assert [r.id for r in results] == [p.name for p in files]
    cache.close()
    stored = dict(
        sqlite3.connect(tmp_path / "cache" / "cache.sqlite").execute(
            "SELECT path, sha256 FROM file_state"
        )
    )
    assert stored == {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}

    # A file on a non-local filesystem: no local state to remember, hashed where it is read.
    memory = fsspec.filesystem("memory")
    remote = FileRef("f", "f.dcm", bytes, url="memory://bucket/f.dcm", fs=memory)
    memory.pipe(remote.url, b"remote bytes")
    assert remote.local_path is None
    assert file_digest(remote) == hashlib.sha256(b"remote bytes").hexdigest()


def test_generations_are_recorded_per_kind_code_and_params(tmp_path: Path) -> None:
    from pneumothorax.runtime.incremental import generation_key, map_cached

    path = tmp_path / "f0"
    path.write_bytes(b"content")

    def run(params: dict) -> None:
        cache = ResultCache(tmp_path / "cache")
        list(
            map_cached(
                _identity, [_ref(path)], mapper=map, cache=cache,
                kind="raw", code="c", params=params, encode=bytes, decode=bytes,
            )
        )  # fmt: skip
        cache.close()

    cache = ResultCache(tmp_path / "cache")
    assert not cache.has_generation(generation_key("raw", "c", {"size": 1}))
    cache.close()
    run({"size": 1})
    cache = ResultCache(tmp_path / "cache")
    assert cache.has_generation(generation_key("raw", "c", {"size": 1}))
    assert not cache.has_generation(generation_key("raw", "c", {"size": 2}))
    assert not cache.has_generation(generation_key("raw", "other code", {"size": 1}))
    cache.close()


def test_a_cache_in_an_older_layout_has_its_results_dropped_not_misread(tmp_path: Path) -> None:
    import sqlite3

    from pneumothorax.runtime.incremental import generation_key

    (tmp_path / "cache").mkdir()
    db = sqlite3.connect(tmp_path / "cache" / "cache.sqlite")
    db.execute("CREATE TABLE results (key TEXT PRIMARY KEY, value BLOB)")
    db.execute("INSERT INTO results VALUES ('k', x'00')")  # no checksum: unusable
    db.commit()
    db.close()
    cache = ResultCache(tmp_path / "cache")
    assert not cache.has_generation(generation_key("raw", "c", {}))
    assert cache.get("k") is None
    cache.close()


def _damage_garbage_header(db: Path) -> None:
    db.write_bytes(b"this is not an sqlite file" * 200)


def _damage_truncate(db: Path) -> None:
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 3])


def _damage_pages(db: Path) -> None:
    data = bytearray(db.read_bytes())
    page = 4096
    for start in range(2 * page, len(data), 3 * page):  # every third page from the third on
        data[start : start + page] = bytes(range(256)) * (page // 256)
    db.write_bytes(bytes(data))


def _damage_values(db: Path) -> None:
    import sqlite3

    connection = sqlite3.connect(db)
    rows = connection.execute("SELECT key, value FROM results ORDER BY key").fetchall()
    for index, (key, value) in enumerate(rows):
        if index % 2 == 0:
            stored = bytes(value)
            flipped = stored[:-1] + bytes([stored[-1] ^ 0xFF])  # checksum no longer matches
            connection.execute("UPDATE results SET value = ? WHERE key = ?", (flipped, key))
    connection.commit()
    connection.close()


@pytest.mark.parametrize(
    "damage", [_damage_garbage_header, _damage_truncate, _damage_pages, _damage_values]
)
def test_a_damaged_cache_gives_one_warning_and_the_results_of_a_clean_run(
    tmp_path: Path, damage, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    files = []
    for index in range(60):
        path = tmp_path / "raw" / f"f{index:02d}"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(bytes([index]) * 5000)  # several sqlite pages of results in all
        files.append(path)
    expected = [(p.name, p.read_bytes()) for p in files]  # what the per-file work returns

    def run() -> list[tuple[str, bytes]]:
        return _run_cached(files, tmp_path / "cache", map)

    assert run() == expected
    cache_file = tmp_path / "cache" / "cache.sqlite"
    damage(cache_file)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="pneumothorax.runtime.incremental"):
        assert run() == expected
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "incremental cache" in warnings[0].getMessage()
    if damage is not _damage_values:  # the whole file was unusable: kept aside for a look
        assert (tmp_path / "cache" / "cache.sqlite.corrupt").is_file()
    # The rebuilt cache serves the next run, silently.
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="pneumothorax.runtime.incremental"):
        assert run() == expected
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_an_input_that_is_no_file_is_cached_by_the_digest_its_ref_gives(tmp_path: Path) -> None:
    """A ref with no location (the masks' label rows) hits by its own digest, never hashed."""
    computed: list[str] = []

    def mapper(fn, items):
        for item in items:
            computed.append(item[0].id)
            yield fn(item)

    def run(digests: dict[str, str]) -> list[tuple[str, bytes]]:
        refs = [
            FileRef(name, name, partial(bytes, f"drawn from {digest}", "ascii"), digest=digest)
            for name, digest in digests.items()
        ]
        cache = ResultCache(tmp_path / "cache")
        results = map_cached(
            _identity, refs, mapper=mapper, cache=cache,
            kind="mask", code="c", params={}, encode=bytes, decode=bytes,
        )  # fmt: skip
        out = sorted((r.id, r.value) for r in results)
        cache.close()
        return out

    assert run({"a": "d1", "b": "d2"}) == [("a", b"drawn from d1"), ("b", b"drawn from d2")]
    assert computed == ["a", "b"]
    computed.clear()
    # "b" now has other rows (another digest); "c" is new with "a"'s rows: only "b" is drawn.
    again = run({"a": "d1", "b": "d3", "c": "d1"})
    assert computed == ["b"]
    assert again == [("a", b"drawn from d1"), ("b", b"drawn from d3"), ("c", b"drawn from d1")]


def test_cached_results_come_first_then_computed_ones_each_in_input_order(tmp_path: Path) -> None:
    """The order map_cached documents, across more hits than one batch of stored values."""
    files = []
    for index in range(80):
        path = tmp_path / "raw" / f"f{index:02d}"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"first %d" % index)
        files.append(path)

    def run() -> list[str]:
        cache = ResultCache(tmp_path / "cache")
        results = map_cached(
            _identity, [_ref(p) for p in files], mapper=map, cache=cache,
            kind="raw", code="c", params={}, encode=bytes, decode=bytes,
        )  # fmt: skip
        order = [result.id for result in results]
        cache.close()
        return order

    assert run() == [p.name for p in files]
    changed = files[5::7]  # f05, f12, ..., f75: computed again, after every hit
    for path in changed:
        path.write_bytes(b"second")
    unchanged = [p for p in files if p not in changed]
    assert run() == [p.name for p in unchanged] + [p.name for p in changed]
