"""Regenerate the README's MLflow picture: ``python docs/make_screenshots.py``.

What a user would do, in a temporary copy of this repository: the bundled sample as
``make sample`` makes it (100 files and their labels), a real ``mlflow server`` on
127.0.0.1, ``dvc repro`` (the baseline, ``image.size`` 256) and
``dvc exp run -n size-64 -S image.size=64``, then headless Chromium, driven through the
DevTools protocol, on the MLflow UI's page comparing the two entries: the Assistant panel
closed, "Show diff only" on for Parameters and Metrics, the model's metrics on the
parallel-coordinates plot and in view in the metrics table.

The page is checked against the two runs as the server's REST API returns them, before
the clicks (names, the params that differ, every metric: the check
``tests/e2e/test_mlflow_server.py`` makes too) and after them (only the differing params
and metrics remain, each run's ``model.auc`` and ``model.f1`` side by side); the picture is
written only if both pass. Nothing is downloaded; it takes two or three minutes.

    python docs/make_screenshots.py [--out docs/images/mlflow-compare.png] [--keep]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the tests package holds the server and browser helpers

from tests.e2e.conftest import LABELS, RAW, Project, cli_env, copy_project  # noqa: E402
from tests.e2e.mlflow_server import (  # noqa: E402
    WINDOW,
    DevTools,
    compare_page_misses,
    compare_url,
    start_mlflow_server,
)

#: The tag of an experiment's entry (the parent of its stages' runs).
GROUP_TAG = "pneumothorax.experiment_group"
#: The experiment the picture compares with the baseline.
EXPERIMENT_NAME = "size-64"
EXPERIMENT_PARAM = "image.size=64"
#: The window's height: room for the page down to the tags table (the picture ends there).
PICTURE_HEIGHT = 2400
#: The model's validation metrics, the axes of the picture's parallel-coordinates plot.
PLOT_METRICS = ("model.auc", "model.f1")


def build_entries(root: Path) -> tuple[object, list[dict]]:
    """Start the server, run the baseline and the experiment; return the server and runs."""
    server = start_mlflow_server(root / "mlflow-server", cli_env())
    project = Project(
        path=copy_project(root / "project", exclude=("dvc.lock", f"{RAW}.dvc", f"{LABELS}.dvc")),
        env=cli_env({"MLFLOW_TRACKING_URI": server.url}),
    )
    project.run("git", "init", "-q", "-b", "main")
    # The bundled sample as `make sample` makes it (100 files and their labels): enough
    # labelled images for the model's validation metrics (model.auc) to differ by size.
    project.run(sys.executable, "-m", "pneumothorax.sample", "--out", str(RAW))
    project.run("dvc", "add", "-q", str(RAW), str(LABELS))
    project.run("git", "add", "-A")
    project.run("git", "commit", "-qm", "project with the bundled sample")
    project.run("dvc", "repro")
    project.run("git", "add", "-A")
    project.run("git", "commit", "-qm", "first reproduction")
    project.run("dvc", "exp", "run", "-n", EXPERIMENT_NAME, "-S", EXPERIMENT_PARAM)
    entries = [run for run in server.runs() if GROUP_TAG in _tags(run)]
    return server, sorted(entries, key=lambda run: run["info"]["start_time"])


def _tags(run: dict) -> dict[str, str]:
    return {tag["key"]: tag["value"] for tag in run["data"].get("tags", [])}


def _values(run: dict, kind: str) -> dict[str, object]:
    return {item["key"]: item["value"] for item in run["data"].get(kind, [])}


def differing(entries: list[dict], kind: str) -> set[str]:
    """Keys of ``kind`` (``params``/``metrics``) whose value differs between the entries
    (or that one of them lacks): the rows MLflow's "Show diff only" keeps."""
    values = [_values(run, kind) for run in entries]
    keys = set().union(*values)
    return {key for key in keys if len({repr(v.get(key)) for v in values}) > 1}


def shown_close(text: str, value: float) -> bool:
    """Whether ``text`` is ``value`` as MLflow's UI rounds a metric (Utils.formatMetric:
    3 decimals below 10, 2 below 100, 1 above)."""
    try:
        shown = float(text)
    except ValueError:
        return False
    step = 1e-3 if abs(value) < 10 else 1e-2 if abs(value) < 100 else 1e-1
    return abs(shown - value) <= step / 2 + 1e-12


def _q(selector: str) -> str:
    return f"document.querySelector({json.dumps(selector)})"


#: The rows of the Parameters table, the name and values of each.
_PARAM_ROWS = """(() => {
  let e = document.querySelector('button[aria-label="Parameters - Show diff only"]');
  while (e && !e.querySelector('table')) e = e.parentElement;
  return [...e.querySelector('table').querySelectorAll('tr')]
    .map(r => [...r.children].map(c => c.innerText.trim()));
})()"""
#: The parallel-coordinates plot's metrics picker (the second select: params, metrics).
_PLOT_METRICS = "[...document.querySelectorAll('.du-bois-light-select')][1]"
#: The Metrics section's two grids (react-virtualized): names left, values right.
_METRICS_GRIDS = """(() => {
  let e = document.querySelector('button[aria-label="Metrics - Show diff only"]');
  while (e && !e.querySelector('[role=grid]')) e = e.parentElement;
  return [...e.querySelectorAll('[role=grid]')];
})()"""
#: The metrics rows wholly in view, each name with its values, matched by where they are
#: drawn (not by the DOM): what a reader of the picture sees side by side.
_METRIC_ROWS = f"""(() => {{
  const rows = {{}};
  for (const grid of {_METRICS_GRIDS}) {{
    const box = grid.getBoundingClientRect();
    const cells = [...grid.querySelectorAll('[role=rowgroup] > div')]
      .map(c => [c.getBoundingClientRect(), c.innerText.trim()])
      .filter(([r]) => r.top >= box.top - 1 && r.bottom <= box.bottom + 1)
      .sort((a, b) => a[0].left - b[0].left);
    for (const [r, text] of cells) (rows[Math.round(r.top)] ??= []).push(text);
  }}
  return Object.values(rows);
}})()"""


def scroll_metrics(browser: DevTools, top: int | str) -> None:
    """Scroll the metrics grids to ``top`` px (a number or JavaScript expression).

    The values grid moves the names grid to where the values grid *was* (MLflow 3.17 reads
    its scroll state before it is updated), so the names grid is then set on its own.
    """
    for grid in (1, 0):
        browser.evaluate(f"{_METRICS_GRIDS}[{grid}].scrollTop = {top}")
        time.sleep(0.4)  # the grids' re-render


def compare_picture(url: str, entries: list[dict], profile: Path) -> tuple[bytes, list[str]]:
    """The compare page as the README shows it, and what it fails to show (empty: fine).

    In a DevTools-driven Chromium: the Assistant panel closed, "Show diff only" on for
    Parameters and Metrics, ``model.auc`` on the parallel-coordinates plot, the metrics
    grid scrolled to its end (the model's rows). Checked before, then after the clicks.
    """
    browser = DevTools(profile, window=WINDOW)
    try:
        browser.send("Page.enable")
        browser.send(
            "Emulation.setDeviceMetricsOverride", width=WINDOW[0], height=PICTURE_HEIGHT,
            deviceScaleFactor=1, mobile=False,
        )  # fmt: skip
        browser.send("Page.navigate", url=url)
        names = [run["info"]["run_name"] for run in entries]
        switch = 'button[aria-label="{} - Show diff only"]'.format
        browser.wait_for(
            f"{_q(switch('Metrics'))} && "
            f"{json.dumps(names)}.every(n => document.body.innerText.includes(n))"
        )
        # The metrics grid renders only the rows in view: scroll it through for their names.
        page = [browser.evaluate("document.body.outerHTML")]
        height = browser.evaluate(f"{_METRICS_GRIDS}[1].scrollHeight")
        for top in range(0, int(height) + 1, 100):
            scroll_metrics(browser, top)
            page += [row[0] for row in browser.evaluate(_METRIC_ROWS)]
        scroll_metrics(browser, 0)
        misses = compare_page_misses("\n".join(page), entries)
        if misses:
            return b"", misses
        # MLflow's Assistant side panel, open by default: its close button.
        close = _q('button[aria-label="Close"]')
        if browser.evaluate(f"!!{close}"):
            browser.click(close)
            browser.wait_for(f"!{close}")
            # The tables size themselves on a window resize: to the room the panel left.
            browser.evaluate("window.dispatchEvent(new Event('resize'))")
        for section in ("Parameters", "Metrics"):
            browser.click(_q(switch(section)))
            browser.wait_for(f"{_q(switch(section))}.getAttribute('aria-checked') === 'true'")
        # The parallel-coordinates plot: model.auc instead of the first metric.
        browser.click(f"{_PLOT_METRICS}.querySelector('input')")
        for metric in PLOT_METRICS:
            browser.type(metric)
            option = _q(f'.du-bois-light-select-item-option[title="{metric}"]')
            browser.wait_for(f"!!{option}")
            time.sleep(0.5)  # the list's opening animation: it moves until then
            browser.click(option)
            browser.wait_for(f"{_PLOT_METRICS}.innerText.includes({json.dumps(metric)})")
        for _ in range(10):  # the metric the page picked itself, off the plot
            shown = browser.evaluate(f"{_PLOT_METRICS}.innerText.trim().split(/\\s+/)")
            others = [name for name in shown if name not in PLOT_METRICS]
            if not others:
                break
            browser.click(
                f"[...{_PLOT_METRICS}.querySelectorAll('.du-bois-light-select-selection-item')]"
                f".find(e => e.innerText.trim() === {json.dumps(others[0])})"
                ".querySelector('.du-bois-light-select-selection-item-remove')"
            )
            time.sleep(0.3)
        browser.click("document.querySelector('h2, h1')")  # closes the select's list
        # The metrics grids to their end: the model's rows in view.
        scroll_metrics(browser, f"{_METRICS_GRIDS}[1].scrollHeight")
        time.sleep(1)  # the plot's and the grid's re-render
        misses = after_clicks_misses(
            browser.evaluate(_PARAM_ROWS), browser.evaluate(_METRIC_ROWS), entries
        )
        plot = browser.evaluate(f"{_PLOT_METRICS}.innerText.trim().split(/\\s+/)")
        if plot != list(PLOT_METRICS):
            misses.append(f"{PLOT_METRICS} on the plot (it has {plot})")
        # Down to the end of the page's content (the tags table).
        bottom = browser.evaluate(
            "document.querySelector('.CompareRunView').getBoundingClientRect().bottom"
        )
        return browser.screenshot(height=min(int(bottom) + 24, PICTURE_HEIGHT)), misses
    finally:
        browser.close()


def after_clicks_misses(
    param_rows: list[list[str]], metric_rows: list[list[str]], entries: list[dict]
) -> list[str]:
    """What the diff-only tables fail to show: exactly the differing params, only differing
    metrics, and each run's ``model.auc``/``model.f1`` (values from the REST API)."""
    misses = []
    params = [_values(run, "params") for run in entries]
    want = {key: [p.get(key, "") for p in params] for key in differing(entries, "params")}
    got = {row[0]: row[1:] for row in param_rows}
    if got != want:
        misses.append(f"params rows {got} instead of the differing {want}")
    shown = {row[0]: row[1:] for row in metric_rows}
    if extra := set(shown) - differing(entries, "metrics"):
        misses.append(f"metrics that do not differ still shown: {sorted(extra)}")
    for key in ("model.auc", "model.f1"):
        values = [_values(run, "metrics").get(key) for run in entries]
        row = shown.get(key, [])
        if len(row) != len(values) or not all(
            v is not None and shown_close(t, float(v)) for t, v in zip(row, values, strict=False)
        ):
            misses.append(f"{key} {values} (the page shows {row})")
    return misses


def main(argv: list[str] | None = None) -> int:
    """Write the compare picture; exit 1 if the page does not show what it should."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs/images/mlflow-compare.png")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="pneumothorax-screenshots-"))
    server = None
    try:
        server, entries = build_entries(root)
        if len(entries) != 2:
            print(f"expected 2 experiment entries, found {len(entries)}", file=sys.stderr)
            return 1
        url = compare_url(server, [run["info"]["run_id"] for run in entries])
        png, misses = compare_picture(url, entries, root / "profile")
        if misses:
            print(f"the compare page does not show {misses}", file=sys.stderr)
            return 1
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_bytes(png)
        print(f"wrote {args.out} (compare page of {[r['info']['run_name'] for r in entries]})")
        return 0
    finally:
        if server is not None:
            server.stop()
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
