"""A team's S3 remote, against a real S3-protocol server (moto) on 127.0.0.1.

Push from one clone, pull into fresh clones; a push killed part-way; an object corrupted in
the remote. Tests in this module share one project copy and one server, and run in order.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import RAW, Project, cli_env, md5s, stages_run
from tests.e2e.s3_server import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, S3Server

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore:Invalid value for VR AS"),
]

BUCKET = "pneumothorax-team"
LAYERS = (
    *("data/01_raw", "data/02_intermediate", "data/03_primary", "data/05_model_input"),
    *("data/06_models", "data/08_reporting"),
)


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    server = S3Server().start()
    try:
        server.client().create_bucket(Bucket=BUCKET)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def origin(project: Project, s3: S3Server) -> Project:
    """The shared project, built once and set up with the team's S3 remote as default."""
    project.env.update(_no_ambient_aws(project.path.parent))
    project.run("dvc", "repro")
    project.run("dvc", "remote", "add", "-d", "s3remote", f"s3://{BUCKET}/dvc")
    project.run("dvc", "remote", "modify", "s3remote", "verify", "true")
    # Per-machine settings and secrets go to the git-ignored .dvc/config.local.
    _configure_locally(project, "s3remote", s3, credentials=True)
    project.commit("pipeline outputs and the team S3 remote")
    return project


def _no_ambient_aws(home: Path) -> dict[str, str]:
    """Keep a developer's ~/.aws and the EC2 metadata service out of the tests."""
    return {
        "AWS_CONFIG_FILE": str(home / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_DEFAULT_REGION": REGION,
    }


def _configure_locally(project: Project, remote: str, s3: S3Server, *, credentials: bool) -> None:
    local = ("dvc", "remote", "modify", "--local", remote)
    project.run(*local, "endpointurl", s3.endpoint)
    if credentials:
        project.run(*local, "access_key_id", ACCESS_KEY_ID)
        project.run(*local, "secret_access_key", SECRET_ACCESS_KEY)


def _clone(origin: Project, name: str, s3: S3Server, remote: str = "s3remote") -> Project:
    """A teammate's fresh clone; credentials from the AWS environment this time."""
    path = origin.path.parent / name
    origin.run("git", "clone", "-q", str(origin.path), str(path), cwd=origin.path.parent)
    env = cli_env(
        {
            **_no_ambient_aws(origin.path.parent),
            "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        }
    )
    clone = Project(path=path, env=env)
    _configure_locally(clone, remote, s3, credentials=False)
    return clone


def _layers(project: Project) -> dict[str, str]:
    found = {}
    for layer in LAYERS:
        found.update({f"{layer}/{k}": v for k, v in md5s(project.path / layer).items()})
    # Git's files (.gitignore, .gitkeep, the .dvc pointer, the DVC metrics kept in git with
    # `cache: false`) are not DVC's to restore.
    git_files = (".gitignore", ".gitkeep", ".dvc", "_metrics.json")
    return {k: v for k, v in found.items() if not k.endswith(git_files)}


def _keys(s3: S3Server, prefix: str) -> set[str]:
    pages = s3.client().get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return {o["Key"].removeprefix(prefix) for page in pages for o in page.get("Contents", [])}


def _expected_objects(project: Project) -> int:
    """One object per distinct file content, plus one listing (.dir) per tracked folder."""
    # The raw, img_train, masks and classifier folders.
    return len(set(_layers(project).values())) + 4


def test_push_then_a_fresh_clone_pulls_every_layer_byte_identical(
    origin: Project, s3: S3Server
) -> None:
    assert origin.run("git", "status", "--porcelain").stdout == ""  # config.local is ignored
    leaked = origin.run("git", "grep", "-I", "-l", SECRET_ACCESS_KEY, check=False)
    assert leaked.returncode == 1, f"secret committed in {leaked.stdout}"

    origin.run("dvc", "push")
    assert len(_keys(s3, "dvc/")) == _expected_objects(origin)

    clone = _clone(origin, "teammate", s3)
    clone.run("dvc", "pull")
    expected = _layers(origin)
    assert any(k.endswith(".dcm") for k in expected)
    assert any(k.endswith(".png") for k in expected)
    assert any(k.endswith(".csv") for k in expected)
    assert _layers(clone) == expected
    assert "Cache and remote 's3remote' are in sync" in clone.run("dvc", "status", "-c").stdout
    assert stages_run(clone.run("dvc", "repro").stdout) == {"raw_manifest"}


def test_a_push_killed_part_way_completes_when_run_again(origin: Project, s3: S3Server) -> None:
    origin.run("dvc", "remote", "add", "second", f"s3://{BUCKET}/second")
    origin.run("git", "commit", "-qam", "a second remote")
    _configure_locally(origin, "second", s3, credentials=True)
    allowed = 5
    s3.hold_uploads_after(allowed)
    push = subprocess.Popen(
        ["dvc", "push", "-r", "second", "-j", "2"],
        cwd=origin.path,
        env=origin.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the kill reaches every child
    )
    try:
        assert s3.held.wait(timeout=180), "dvc push never reached the held upload"
        deadline = time.monotonic() + 60
        while len(_keys(s3, "second/")) < allowed and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        os.killpg(push.pid, signal.SIGKILL)
        push.wait(timeout=60)
        s3.open_gate()
    assert push.returncode == -signal.SIGKILL
    partial = _keys(s3, "second/")
    total = _expected_objects(origin)
    assert len(partial) == allowed < total  # killed part-way: the remote is incomplete
    status = origin.run("dvc", "status", "-c", "-r", "second", check=False).stdout
    assert "in sync" not in status and "new:" in status

    result = origin.run("dvc", "push", "-r", "second")
    assert f"{total - allowed} files pushed" in result.stdout
    assert _keys(s3, "second/") == _keys(s3, "dvc/")

    clone = _clone(origin, "after-killed-push", s3, remote="second")
    clone.run("dvc", "pull", "-r", "second")
    assert _layers(clone) == _layers(origin)


def test_an_object_corrupted_in_the_remote_is_refused_on_pull(
    origin: Project, s3: S3Server
) -> None:
    raw = origin.path / RAW
    victim = sorted(raw.rglob("*.dcm"))[0]
    victim_rel = victim.relative_to(origin.path).as_posix()
    md5 = hashlib.md5(victim.read_bytes()).hexdigest()
    key = f"dvc/files/md5/{md5[:2]}/{md5[2:]}"
    client = s3.client()
    body = bytearray(client.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    body[len(body) // 2] ^= 0xFF  # one flipped byte, same size: a silent bit rot
    client.put_object(Bucket=BUCKET, Key=key, Body=bytes(body))

    clone = _clone(origin, "after-corruption", s3)
    result = clone.run("dvc", "pull", check=False)
    assert result.returncode != 0
    assert f"Checkout failed for following targets:\n{RAW.as_posix()}" in result.stderr
    assert not (clone.path / victim_rel).exists(), "the corrupted file was checked out"
    assert not (clone.path / RAW).exists(), "a partial raw folder was checked out"
    # Verbose output names the very file and the cache object that failed its checksum.
    verbose = clone.run("dvc", "pull", "-v", check=False)
    assert verbose.returncode != 0
    log = verbose.stdout + verbose.stderr
    assert f"corrupted cache file '{clone.path}/.dvc/cache/files/md5/{md5[:2]}/{md5[2:]}'" in log
    assert f"failed to create '{clone.path / victim_rel}'" in log

    # Recovery (README): delete the bad object and the listing (.dir) of its folder, whose
    # presence makes `dvc push` skip the folder's files, then push from a good cache.
    listing = yaml.safe_load((origin.path / f"{RAW}.dvc").read_text())["outs"][0]["md5"]
    assert listing.endswith(".dir")
    client.delete_object(Bucket=BUCKET, Key=key)
    client.delete_object(Bucket=BUCKET, Key=f"dvc/files/md5/{listing[:2]}/{listing[2:]}")
    assert "2 files pushed" in origin.run("dvc", "push").stdout
    clone.run("dvc", "pull")
    assert _layers(clone) == _layers(origin)
