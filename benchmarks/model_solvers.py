"""The model's fit under several BLAS kernels: does the rounded model stay the same?

Run by hand, from the repository root with the venv active, after ``benchmarks/run.py``
(which leaves its SIIM-size project in ``<workdir>/project``)::

    python benchmarks/model_solvers.py --project /work/bench/work/project

It takes the project's own training rows: the cell features of the split's images (from
the project's incremental cache, as the model stage does) and the split. Then, for each
solver and each OpenBLAS kernel (``OPENBLAS_CORETYPE``, which an OpenBLAS built for many
CPUs honours: numpy's and scipy's wheels are), a fresh interpreter fits the classifier as
``build_classifier`` builds it, with only the solver set. Printed per fit: the kernel
OpenBLAS reports, the fit's seconds and iterations, the largest gradient of the objective
at the fitted coefficients (computed here from the formula, not taken from scikit-learn),
and how many of the rounded coefficients differ from the same solver's fit under the
default kernel: any difference changes the model's bytes, and so ``dvc.lock``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from run import project_env  # the benchmark's own module, beside this one

#: Kernels every x86-64 CPU that has AVX2 runs (SkylakeX needs AVX-512: left out).
KERNELS = ("default", "Haswell", "Sandybridge", "Prescott")
SOLVERS = ("lbfgs", "newton-cholesky")


def training_rows(project: Path, out: Path) -> None:
    """Save the project's training features and labels (run inside the project)."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    from pneumothorax.pipelines.model.nodes import _rows, extract_features

    bootstrap_project(project)
    with KedroSession.create(project_path=project) as session:
        context = session.load_context()
        catalog = context.catalog
        split = catalog.load("split")
        features = extract_features(
            catalog.load("img_train"), split, context.params["model"], catalog.load("file_mapper")
        )
    train = split[split["split"] == "train"]
    np.savez(
        out,
        features=_rows(features, train["id"]),
        labels=train["pneumothorax"].to_numpy(dtype=int),
        cells=context.params["model"].cells,
        c=context.params["model"].c,
    )


def fit(rows: Path, solver: str, out: Path) -> None:
    """Fit one model (run in a fresh interpreter per kernel); save its rounded values."""
    from threadpoolctl import threadpool_info

    from pneumothorax.model.classifier import build_classifier, round_coefficients

    data = np.load(rows)
    features, labels, c = data["features"], data["labels"], float(data["c"])
    model = build_classifier(int(data["cells"]), c)
    model.set_params(logistic__solver=solver)
    start = time.perf_counter()
    model[1:].fit(features, labels)
    seconds = time.perf_counter() - start
    scaled, logistic = model[1].transform(features), model[-1]
    # The objective scikit-learn minimises, over the total weight: class_weight="balanced"
    # weighs a row n / (2 * rows of its class); log loss plus |coef|^2 / (2 C).
    weights = len(labels) / (2 * np.bincount(labels)[labels])
    scores = scaled @ logistic.coef_[0] + logistic.intercept_[0]
    errors = weights * (1 / (1 + np.exp(-scores)) - labels)
    gradient = np.append(scaled.T @ errors + logistic.coef_[0] / c, errors.sum()) / weights.sum()
    round_coefficients(model)
    blas = [i for i in threadpool_info() if i.get("internal_api") == "openblas"]
    np.save(out, np.concatenate([logistic.coef_.ravel(), logistic.intercept_]))
    print(
        json.dumps(
            {
                "kernel": ",".join(sorted({str(i.get("architecture")) for i in blas})),
                "seconds": round(seconds, 3),
                "iterations": int(np.max(logistic.n_iter_)),
                "gradient": float(np.abs(gradient).max()),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, help="a benchmark project after its runs")
    parser.add_argument("--kernels", default=",".join(KERNELS))
    parser.add_argument("--solvers", default=",".join(SOLVERS))
    parser.add_argument("--fit", nargs=3, metavar=("ROWS", "SOLVER", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fit:
        fit(Path(args.fit[0]), args.fit[1], Path(args.fit[2]))
        return
    if args.rows:
        training_rows(Path.cwd(), args.rows)
        return
    project = args.project.resolve()
    env = project_env(project)
    env.pop("OPENBLAS_CORETYPE", None)
    print(f"load average {os.getloadavg()[0]:.2f}; project {project}")
    with tempfile.TemporaryDirectory() as scratch:
        rows = Path(scratch) / "rows.npz"
        subprocess.run(
            [sys.executable, __file__, "--rows", str(rows)], cwd=project, env=env, check=True
        )
        data = np.load(rows)
        print(f"training rows: {data['features'].shape[0]} x {data['features'].shape[1]}")
        print("| solver | OPENBLAS_CORETYPE | kernel | fit s | iterations | max gradient |"
              " rounded values differing from default |")  # fmt: skip
        print("|---|---|---|---:|---:|---:|---:|")
        for solver in args.solvers.split(","):
            baseline = None
            for kernel in args.kernels.split(","):
                out = Path(scratch) / f"{solver}-{kernel}.npy"
                kernel_env = dict(env)
                if kernel != "default":
                    kernel_env["OPENBLAS_CORETYPE"] = kernel
                report = json.loads(
                    subprocess.run(
                        [sys.executable, __file__, "--fit", str(rows), solver, str(out)],
                        cwd=project, env=kernel_env, check=True, capture_output=True, text=True,
                    ).stdout.strip().splitlines()[-1]
                )  # fmt: skip
                values = np.load(out)
                baseline = values if baseline is None else baseline
                differing = int((values != baseline).sum())
                print(
                    f"| {solver} | {kernel} | {report['kernel']} | {report['seconds']:.2f} |"
                    f" {report['iterations']} | {report['gradient']:.1e} |"
                    f" {differing} of {values.size} |"
                )
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
