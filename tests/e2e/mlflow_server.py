"""A real ``mlflow server`` on 127.0.0.1 (free port, sqlite store, served artifacts), and the
headless Chromium that looks at its UI: shared by the e2e tests and docs/make_screenshots.py."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The project's default experiment (conf/base/mlflow.yml).
EXPERIMENT = "pneumothorax"

#: Debian's package (installed by .ci/run), or Ubuntu's older name for it.
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

#: The browser window of the README's pictures: tall enough for the compare page's params,
#: metrics and tags tables.
WINDOW = (1400, 2600)


def free_port() -> int:
    """A port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class MlflowServer:
    """A running ``mlflow server`` process and a tiny client of its REST API."""

    url: str
    process: subprocess.Popen
    log: Path

    def get(self, endpoint: str, **query: Any) -> dict[str, Any]:
        """GET ``/api/2.0/mlflow/<endpoint>`` and decode the JSON answer."""
        url = f"{self.url}/api/2.0/mlflow/{endpoint}?{urllib.parse.urlencode(query)}"
        with urllib.request.urlopen(url, timeout=30) as r:
            return json.load(r)

    def post(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST JSON to ``/api/2.0/mlflow/<endpoint>`` and decode the JSON answer."""
        request = urllib.request.Request(
            f"{self.url}/api/2.0/mlflow/{endpoint}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as r:
            return json.load(r)

    def experiment_id(self, name: str = EXPERIMENT) -> str:
        """The id of experiment ``name``."""
        return self.get("experiments/get-by-name", experiment_name=name)["experiment"][
            "experiment_id"
        ]

    def runs(self, filter_string: str = "", name: str = EXPERIMENT) -> list[dict[str, Any]]:
        """Every run of experiment ``name`` matching ``filter_string`` (REST runs/search)."""
        body = {"experiment_ids": [self.experiment_id(name)], "max_results": 1000}
        if filter_string:
            body["filter"] = filter_string
        return self.post("runs/search", body).get("runs", [])

    def artifacts(self, run_id: str, path: str = "") -> list[str]:
        """Artifact paths of a run under ``path`` (REST artifacts/list)."""
        answer = self.get("artifacts/list", run_id=run_id, path=path)
        return [f["path"] for f in answer.get("files", [])]

    def stop(self) -> None:
        """Stop the server and every worker it started."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=15)

    def kill(self) -> None:
        """Kill the server abruptly, as a crash would."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=15)


def start_mlflow_server(root: Path, env: dict[str, str]) -> MlflowServer:
    """Start ``mlflow server`` with its store under ``root``; wait until /health answers."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = root / "server.log"
    command = [
        str(Path(sys.executable).parent / "mlflow"),
        "server",
        "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination", str(root / "artifacts"),
        "--host", "127.0.0.1",
        "--port", str(port),
        "--workers", "1",
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stop() reaches the workers
        )
    server = MlflowServer(url=f"http://127.0.0.1:{port}", process=process, log=log)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"mlflow server exited {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{server.url}/health", timeout=2) as answer:
                if answer.status == 200:
                    return server
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    server.stop()
    raise RuntimeError(f"mlflow server did not answer /health within 90 s:\n{log.read_text()}")


def chromium(
    *args: str, profile: Path, window: tuple[int, int] = WINDOW
) -> subprocess.CompletedProcess:
    """Run headless Chromium once on a fresh profile (``--dump-dom``/``--screenshot`` + URL)."""
    if CHROMIUM is None:
        raise RuntimeError("chromium is not installed (apt-get install chromium)")
    # No sandbox (CI runs as root), nothing fetched but the page: no updates, sync, or
    # background traffic. The virtual time budget lets the single-page app render.
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", "--disable-default-apps", f"--user-data-dir={profile}",
        "--hide-scrollbars", "--virtual-time-budget=20000",
        f"--window-size={window[0]},{window[1]}", *args,
    ]  # fmt: skip
    return subprocess.run(
        command, capture_output=True, text=True, timeout=180, check=False, stdin=subprocess.DEVNULL
    )


def compare_url(server: MlflowServer, run_ids: list[str]) -> str:
    """The MLflow UI's page comparing ``run_ids`` (the README's picture)."""
    ids = json.dumps(run_ids, separators=(",", ":"))
    experiment = json.dumps([server.experiment_id()], separators=(",", ":"))
    query = urllib.parse.urlencode({"runs": ids, "experiments": experiment})
    return f"{server.url}/#/compare-runs?{query}"


def compare_page_misses(page: str, runs: list[dict[str, Any]]) -> list[str]:
    """What the compare page of ``runs`` (REST ``runs/search`` rows) fails to show.

    Derived from the runs themselves, not from a list kept here: each run's name, every
    param that differs between them with each run's value, and every metric's name. So
    whatever stages (and metrics) the pipeline has, the picture is checked against them.
    """
    wanted = [f"Comparing {len(runs)} Runs"]
    params = [{p["key"]: p["value"] for p in run["data"].get("params", [])} for run in runs]
    for run, values in zip(runs, params, strict=True):
        wanted.append(run["info"]["run_name"])
        for key, value in values.items():
            if len({str(other.get(key)) for other in params}) > 1:
                wanted += [key, value]
    for run in runs:
        wanted += [m["key"] for m in run["data"].get("metrics", [])]
    return [text for text in dict.fromkeys(wanted) if text.lower() not in page.lower()]


class DevTools:
    """One page of a headless Chromium driven through the DevTools protocol (CDP).

    ``--dump-dom``/``--screenshot`` cannot click; the compare page's "Show diff only"
    switches need a click, and CDP over the ``websockets`` package is how to send one
    without a browser-automation dependency.
    """

    def __init__(self, profile: Path, window: tuple[int, int] = WINDOW) -> None:
        if CHROMIUM is None:
            raise RuntimeError("chromium is not installed (apt-get install chromium)")
        profile.mkdir(parents=True, exist_ok=True)
        command = [
            CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", "--disable-default-apps", f"--user-data-dir={profile}",
            "--hide-scrollbars", f"--window-size={window[0]},{window[1]}",
            "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "about:blank",
        ]  # fmt: skip
        self.log = profile.parent / f"{profile.name}.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        self._id = 0
        self._stack = contextlib.ExitStack()
        try:
            port = self._port(profile / "DevToolsActivePort")
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
                page = next(t for t in json.load(r) if t["type"] == "page")
            from websockets.sync.client import connect

            # websockets 17 wants its connection entered as a context manager.
            self.socket = self._stack.enter_context(
                connect(page["webSocketDebuggerUrl"], max_size=None)
            )
        except BaseException:
            self.close()
            raise

    def _port(self, active: Path) -> int:
        """The port Chromium picked, from the file it writes once it listens."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"chromium exited:\n{self.log.read_text()[-2000:]}")
            lines = active.read_text().splitlines() if active.is_file() else []
            if lines and lines[0].isdigit():
                return int(lines[0])
            time.sleep(0.2)
        raise RuntimeError(f"chromium did not open its DevTools port:\n{self.log.read_text()}")

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Call ``method`` and return its result (events in between are skipped)."""
        self._id += 1
        self.socket.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv(timeout=120))
            if message.get("id") == self._id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (awaited if a promise)."""
        answer = self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in answer:
            raise RuntimeError(f"{expression[:80]}: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 60) -> Any:
        """Poll ``expression`` until it is truthy; its value."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.25)
        raise TimeoutError(f"the page never satisfied: {expression}")

    def click(self, element: str) -> None:
        """Click the middle of ``element`` (a JavaScript expression), as a mouse would."""
        x, y = self._middle(element)
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.send(
                "Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left",
                clickCount=0 if kind == "mouseMoved" else 1,
            )  # fmt: skip

    def _middle(self, element: str) -> tuple[float, float]:
        """Where the middle of ``element`` is in the window, once it is there."""
        x, y = self.wait_for(
            f"(() => {{ const e = {element};"
            " if (!e) return null; e.scrollIntoView({block: 'nearest'});"
            " const r = e.getBoundingClientRect();"
            " return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        return x, y

    def type(self, text: str) -> None:
        """Type ``text`` into the focused element."""
        self.send("Input.insertText", text=text)

    def screenshot(self, height: int | None = None) -> bytes:
        """A PNG of the window (its top ``height`` px if given)."""
        import base64

        params: dict[str, Any] = {"format": "png"}
        if height is not None:
            width = self.evaluate("window.innerWidth")
            params["clip"] = {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}
        return base64.b64decode(self.send("Page.captureScreenshot", **params)["data"])

    def close(self) -> None:
        """Close the connection and end the browser."""
        self._stack.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)


#: The window's height for the README's compare picture (it ends with the page's content).
PICTURE_HEIGHT = 2400
#: The model's validation metrics, the axes of the picture's parallel-coordinates plot.
PLOT_METRICS = ("model.auc", "model.f1")


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


def compare_picture(
    url: str, entries: list[dict], profile: Path, required: tuple[str, ...] = PLOT_METRICS
) -> tuple[bytes, list[str]]:
    """The compare page as the README shows it, and what it fails to show (empty: fine).

    In a DevTools-driven Chromium: the Assistant panel closed, "Show diff only" on for
    Parameters and Metrics, ``PLOT_METRICS`` on the parallel-coordinates plot, the metrics
    grids scrolled to their end (the model's rows). Checked before, then after the clicks.

    Args:
        url: The compare page (``compare_url``).
        entries: The compared runs as REST ``runs/search`` returns them.
        profile: A fresh Chromium profile folder.
        required: Metrics whose every run's value must be in view, side by side.
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
        # The parallel-coordinates plot: the model's metrics instead of the page's pick.
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
            browser.evaluate(_PARAM_ROWS), browser.evaluate(_METRIC_ROWS), entries, required
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
    param_rows: list[list[str]],
    metric_rows: list[list[str]],
    entries: list[dict],
    required: tuple[str, ...],
) -> list[str]:
    """What the diff-only tables fail to show: exactly the differing params, only differing
    metrics, and each run's value of the ``required`` metrics (from the REST API)."""
    misses = []
    params = [_values(run, "params") for run in entries]
    want = {key: [p.get(key, "") for p in params] for key in differing(entries, "params")}
    got = {row[0]: row[1:] for row in param_rows}
    if got != want:
        misses.append(f"params rows {got} instead of the differing {want}")
    shown = {row[0]: row[1:] for row in metric_rows}
    if extra := set(shown) - differing(entries, "metrics"):
        misses.append(f"metrics that do not differ still shown: {sorted(extra)}")
    for key in required:
        values = [_values(run, "metrics").get(key) for run in entries]
        row = shown.get(key, [])
        if len(row) != len(values) or not all(
            v is not None and shown_close(t, float(v)) for t, v in zip(row, values, strict=False)
        ):
            misses.append(f"{key} {values} (the page shows {row})")
    return misses
