"""Benchmark the conversion: the 2020 tutorial's algorithm, bare loops, and the pipeline.

Run by hand (never in CI), from the repository root with the venv active::

    python benchmarks/run.py                       # N=2000, everything but the scaling table
    python benchmarks/run.py --count 500 --quick   # a smoke run: no tutorial, processes only
    python benchmarks/run.py --scaling 1000,2000,5000,10000

Everything is generated under ``--workdir`` (default ``benchmarks/results/work``): SIIM-like
1024x1024 files (75% JPEG Baseline, 25% uncompressed) from ``pneumothorax.sample``, and a
copy of the project (git + DVC initialised) for ``kedro run`` and ``dvc repro``. Results are
printed and written to ``benchmarks/results/<timestamp>.json`` and ``.md``.

Timings on a shared machine are noisy: compare the ratios measured within one run.
Peak RSS is the largest single process of the measured command (``RUSAGE_CHILDREN``).
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
RAW = Path("data/01_raw/dicom-images-train")
OUT = Path("data/02_intermediate/img_train")
SIZE = (256, 256)


# ---------------------------------------------------------------- data and helpers
def generate(root: Path, count: int) -> list[Path]:
    """SIIM-like files 0..count-1 (file i does not depend on count: growing N reuses them)."""
    from pneumothorax.sample import generate_sample

    return generate_sample(root, count=count, size=1024)


def measure(cmd: Sequence[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB, largest process) of ``cmd``, measured from outside."""
    probe = (
        "import resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)\n"
        "dt = time.perf_counter() - t\n"
        "sys.stderr.write(r.stderr.decode()[-3000:] if r.returncode else '')\n"
        "print(dt, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, r.returncode)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, *cmd],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds, rss, code = out.stdout.split()
    if int(code) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stderr}")
    return float(seconds), float(rss)


def _in_subprocess(function: str, *args: str) -> tuple[float, float]:
    """Run ``benchmarks/run.py --call function args`` in a fresh process: time and RSS."""
    return measure([sys.executable, __file__, "--call", function, *args], REPO, dict(os.environ))


# ---------------------------------------------------------------- (a) the tutorial
def tutorial(files: Sequence[Path], out: Path) -> None:
    """The 2020 tutorial's algorithm, faithfully: concat per file, every image kept in a dict."""
    import pandas as pd
    import pydicom
    from PIL import Image

    out.mkdir(parents=True, exist_ok=True)
    df = pd.DataFrame()
    images = {}
    for path in files:
        ds = pydicom.dcmread(path)
        row = {e.keyword: str(e.value) for e in ds if e.keyword and e.keyword != "PixelData"}
        df = pd.concat([df, pd.DataFrame([row])], ignore_index=True)
        images[path.stem] = Image.fromarray(ds.pixel_array).resize(SIZE)
    df.to_csv(out / "train.csv", index=False)
    for name, image in images.items():
        image.save(out / f"{name}.png")


# ---------------------------------------------------------------- (b) bare loops
def _plain_one(path: Path, out: Path) -> None:
    import pydicom
    from PIL import Image

    ds = pydicom.dcmread(path)
    image = Image.fromarray(ds.pixel_array).resize(SIZE, Image.Resampling.LANCZOS)
    image.save(out / f"{path.stem}.png", compress_level=6)


def _tuned_one(path: Path, out: Path) -> None:
    import pydicom

    from pneumothorax.dicom.fast_decode import render_fast

    image = render_fast(pydicom.dcmread(path), SIZE)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    (out / f"{path.stem}.png").write_bytes(buffer.getvalue())


def loop(kind: str, files: Sequence[Path], out: Path, processes: int) -> None:
    """A bare per-file loop: ``plain`` (full decode, Lanczos, level 6) or ``tuned``."""
    out.mkdir(parents=True, exist_ok=True)
    one = partial(_plain_one if kind == "plain" else _tuned_one, out=out)
    if processes == 1:
        for path in files:
            one(path)
        return
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        for _ in pool.imap(one, files, chunksize=16):
            pass


# ---------------------------------------------------------------- (c) the pipeline
def make_project(root: Path, data: Path) -> Path:
    """A copy of the project with ``data`` as its raw folder, git + DVC initialised."""
    if root.exists():
        shutil.rmtree(root)
    tracked = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    for rel in tracked:
        if rel in ("dvc.lock", f"{RAW}.dvc") or rel.startswith("benchmarks/"):
            continue
        source, target = REPO / rel, root / rel
        if not source.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, target)
    raw = root / RAW
    raw.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(data, raw, copy_function=os.link)  # hard links: no copy of the data
    env = project_env(root)
    for cmd in (
        ["git", "init", "-q", "-b", "main"],
        ["dvc", "config", "cache.type", "hardlink,copy"],
        ["dvc", "add", "-q", str(RAW)],
        ["git", "add", "-A"],
        ["git", "commit", "-qm", "benchmark project"],
    ):
        subprocess.run(cmd, cwd=root, env=env, check=True, capture_output=True)
    return root


def project_env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DVC_"))}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        MLFLOW_DISABLE_TELEMETRY="true",
        DO_NOT_TRACK="1",
        GIT_AUTHOR_NAME="bench",
        GIT_AUTHOR_EMAIL="bench@example.invalid",
        GIT_COMMITTER_NAME="bench",
        GIT_COMMITTER_EMAIL="bench@example.invalid",
    )
    env["PYTHONPATH"] = str(root / "src")
    # One store for every run, created before timing: a fresh store's migrations are a
    # one-off cost (~2.5 s), not part of a run.
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{root.parent / 'mlflow.db'}"
    return env


def set_params(root: Path, **groups: dict) -> None:
    params_file = root / "params.yaml"
    params = yaml.safe_load(params_file.read_text())
    for group, values in groups.items():
        params.setdefault(group, {}).update(values)
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))


def run_pipeline(root: Path, how: str, backend: str, cache: Path) -> tuple[float, float]:
    """Time ``kedro run`` or ``dvc repro -f`` with ``backend`` and an empty result cache."""
    shutil.rmtree(cache, ignore_errors=True)
    set_params(root, executor={"backend": backend}, incremental={"cache_dir": str(cache)})
    cmd = ["kedro", "run"] if how == "kedro" else ["dvc", "repro", "-f"]
    return measure(cmd, root, project_env(root))


# ---------------------------------------------------------------- the report
def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else 0.0


def main(argv: list[str] | None = None) -> int:  # noqa: PLR0912, PLR0915 - a linear script
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000, help="files for the main table")
    parser.add_argument("--workdir", type=Path, default=RESULTS / "work")
    parser.add_argument("--backends", default="sequential,processes,dask")
    parser.add_argument("--quick", action="store_true", help="no tutorial, processes only")
    parser.add_argument("--no-tutorial", action="store_true")
    parser.add_argument("--no-dvc", action="store_true", help="skip the dvc repro rows")
    parser.add_argument("--scaling", default="", help="e.g. 1000,2000,5000,10000")
    parser.add_argument("--call", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.call:  # a measured child: run one function and exit
        name, *rest = args.call
        files = sorted(Path(rest[0]).rglob("*.dcm"))
        out = Path(rest[1])
        shutil.rmtree(out, ignore_errors=True)
        if name == "tutorial":
            tutorial(files, out)
        else:
            loop(name, files, out, int(rest[2]))
        return 0

    if args.quick:
        args.no_tutorial, args.backends = True, "processes"
    backends = [b for b in args.backends.split(",") if b]
    work = args.workdir.resolve()
    data = work / "data"
    rows: list[dict] = []
    n = args.count

    def record(name: str, seconds: float, rss: float, count: int = n) -> None:
        row = {"what": name, "files": count, "seconds": round(seconds, 2),
               "files_per_s": round(rate(count, seconds), 1),
               "peak_rss_mb": round(rss)}  # fmt: skip
        rows.append(row)
        print(f"{name:<42} {count:>6} files {seconds:8.1f} s {row['files_per_s']:8.1f} files/s"
              f" {rss:7.0f} MB", flush=True)  # fmt: skip

    t = time.perf_counter()
    generate(data, n)
    print(f"data: {n} files in {data} ({time.perf_counter() - t:.0f} s to generate/check)")
    scratch = work / "scratch"

    if not args.no_tutorial:
        record("(a) 2020 tutorial algorithm", *_in_subprocess("tutorial", str(data), str(scratch)))
    record("(b) plain loop, 1 core (full decode, L6)",
           *_in_subprocess("plain", str(data), str(scratch), "1"))  # fmt: skip
    record("(b) tuned loop, 1 core", *_in_subprocess("tuned", str(data), str(scratch), "1"))
    record("(b) tuned loop, 2 processes", *_in_subprocess("tuned", str(data), str(scratch), "2"))

    project = make_project(work / "project", data)
    tiny = make_project(work / "tiny", _tiny_data(work, data))
    run_pipeline(tiny, "kedro", "processes", work / "cache-tiny")  # warms the MLflow store
    fixed, fixed_rss = min(
        run_pipeline(tiny, "kedro", "processes", work / "cache-tiny") for _ in range(2)
    )
    record("fixed cost: kedro run (2 stages, 1 file)", fixed, fixed_rss, 1)
    for backend in backends:
        record(f"(c) kedro run, {backend}", *run_pipeline(project, "kedro", backend, work / "c"))
    if not args.no_dvc:
        for backend in backends:
            record(f"(c) dvc repro, {backend}", *run_pipeline(project, "dvc", backend, work / "c"))
        set_params(project, executor={"backend": "processes"})
        env = project_env(project)
        subprocess.run(["dvc", "repro"], cwd=project, env=env, check=True, capture_output=True)
        subprocess.run(["git", "add", "-A"], cwd=project, env=env, check=True)
        subprocess.run(["git", "commit", "-qm", "run"], cwd=project, env=env, check=True)
        record("no-op dvc repro", *measure(["dvc", "repro"], project, env))
        extra = max(n // 100, 1)
        grown = generate(data, n + extra)
        for path in grown:
            target = project / RAW / path.relative_to(data)
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                os.link(path, target)
        subprocess.run(["dvc", "add", "-q", str(RAW)], cwd=project, env=env, check=True)
        record(f"incremental dvc repro (+{extra} files)", *measure(["dvc", "repro"], project, env),
               n + extra)  # fmt: skip

    scaling = []
    for size in [int(s) for s in args.scaling.split(",") if s]:
        sdata = data if size == n else work / f"data-{size}"
        if size != n:
            generate(sdata, size)
        sproject = make_project(work / f"project-{size}", sdata)
        seconds, rss = run_pipeline(sproject, "kedro", "processes", work / f"cache-{size}")
        entry = {"files": size, "kedro_run_s": round(seconds, 1), "peak_rss_mb": round(rss),
                 "files_per_s_after_fixed": round(rate(size, seconds - fixed), 1)}  # fmt: skip
        if size <= 2000 and not args.no_tutorial:
            entry["tutorial_s"] = round(_in_subprocess("tutorial", str(sdata), str(scratch))[0], 1)
        scaling.append(entry)
        print("scaling", entry, flush=True)
        shutil.rmtree(sproject)

    report = _report(rows, scaling, fixed, n)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"{stamp}.json").write_text(json.dumps({"rows": rows, "scaling": scaling}, indent=1))
    (RESULTS / f"{stamp}.md").write_text(report)
    print(report)
    return 0


def _tiny_data(work: Path, data: Path) -> Path:
    tiny = work / "data-tiny"
    if not tiny.exists():
        first = sorted(data.rglob("*.dcm"))[0]
        target = tiny / first.relative_to(data)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(first, target)
    return tiny


def _fmt(value: float) -> str:
    return f"{value:.2f}" if 0 < value < 1e6 else "n/a (start-up dominates at this N)"


def _report(rows: list[dict], scaling: list[dict], fixed: float, n: int) -> str:
    by = {row["what"]: row for row in rows}
    lines = [
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        f", {platform.platform()}; shared with other jobs: compare ratios within one run.",
        "",
        "| what | files | s | files/s | peak RSS MB |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['what']} | {r['files']} | {r['seconds']} | {r['files_per_s']} | {r['peak_rss_mb']} |"
        for r in rows
    ]
    tuned2 = by.get("(b) tuned loop, 2 processes")
    ratios: list[tuple[str, Callable[[], float]]] = []
    for key in ("(c) kedro run, processes", "(c) dvc repro, processes", "(c) kedro run, dask"):
        if key in by and tuned2:
            # Throughput of the conversion itself: the fixed start-up cost taken out.
            ratios.append((f"{key} vs tuned 2-process loop (start-up excluded)",
                           partial(lambda k: tuned2["seconds"] / max(by[k]["seconds"] - fixed,
                                                                     1e-9), key)))  # fmt: skip
    if "(a) 2020 tutorial algorithm" in by and "(c) dvc repro, processes" in by:
        ratios.append(("tutorial / dvc repro (processes), same N",
                       lambda: by["(a) 2020 tutorial algorithm"]["seconds"]
                       / by["(c) dvc repro, processes"]["seconds"]))  # fmt: skip
    if "(c) kedro run, dask" in by and "(c) kedro run, processes" in by:
        ratios.append(("dask / processes throughput (kedro run, start-up excluded)",
                       lambda: (by["(c) kedro run, processes"]["seconds"] - fixed)
                       / max(by["(c) kedro run, dask"]["seconds"] - fixed, 1e-9)))  # fmt: skip
    inc = [r for r in rows if r["what"].startswith("incremental")]
    if inc and "(c) dvc repro, processes" in by:
        ratios.append(
            (
                "incremental (+1%) / full dvc repro",
                lambda: inc[0]["seconds"] / by["(c) dvc repro, processes"]["seconds"],
            )
        )
    lines += ["", "| ratio | value |", "|---|---:|"]
    lines += [f"| {name} | {_fmt(fn())} |" for name, fn in ratios]
    if scaling:
        lines += ["", f"Scaling (kedro run, processes; fixed start-up {fixed:.1f} s):", "",
                  "| files | kedro run s | files/s after start-up | peak RSS MB | tutorial s |",
                  "|---:|---:|---:|---:|---:|"]  # fmt: skip
        lines += [
            f"| {s['files']} | {s['kedro_run_s']} | {s['files_per_s_after_fixed']} | "
            f"{s['peak_rss_mb']} | {s.get('tutorial_s', '-')} |"
            for s in scaling
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
