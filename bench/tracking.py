"""Tracking benchmark: Modelyard and MLflow side by side, in one run, on this machine.

Run by hand (it is not a test):

    .venv/bin/python bench/tracking.py            # full run, a few minutes
    .venv/bin/python bench/tracking.py --quick    # smoke run, small N

The top-level invocation measures cold start itself and runs each tool's side in its own
interpreter: ``--side modelyard`` under /work/main/.venv and ``--side mlflow`` under
bench/.venv-mlflow (created with uv when missing). A side prints its results as JSON on
stdout and its progress on stderr. Only the standard library is imported at module level,
because the MLflow venv has neither modelyard nor rich.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from machine_info import (  # bench/ is on sys.path when run as a script
    versus_mlflow,
)

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
WORK = BENCH / ".work"
MODELYARD_PY = ROOT / ".venv" / "bin" / "python"
MLFLOW_VENV = BENCH / ".venv-mlflow"
MLFLOW_PY = MLFLOW_VENV / "bin" / "python"
# Pinned so that two runs of the benchmark compare against the same MLflow.
MLFLOW_SPEC = "mlflow==3.17.2"

# How much each side does. One-at-a-time sizes differ per tool so that every measurement
# takes seconds, not minutes: MLflow logs ~240 metrics/s embedded and ~20/s over HTTP.
SIZES: dict[str, dict[str, dict[str, int]]] = {
    "full": {
        "modelyard": {
            "one_embedded": 100_000,
            "one_http": 100_000,
            "batch_embedded": 100_000,
            "batch_http": 100_000,
            "params_embedded": 1_000,
            "params_http": 1_000,
            "search_runs": 10_000,
        },
        "mlflow": {
            "one_embedded": 1_000,
            "one_http": 200,
            "batch_embedded": 50_000,
            "batch_http": 50_000,
            "params_embedded": 1_000,
            "params_http": 200,
            "search_runs": 10_000,
        },
    },
    "quick": {
        "modelyard": {
            "one_embedded": 5_000,
            "one_http": 5_000,
            "batch_embedded": 5_000,
            "batch_http": 5_000,
            "params_embedded": 100,
            "params_http": 100,
            "search_runs": 500,
        },
        "mlflow": {
            "one_embedded": 100,
            "one_http": 30,
            "batch_embedded": 5_000,
            "batch_http": 5_000,
            "params_embedded": 100,
            "params_http": 30,
            "search_runs": 500,
        },
    },
}
BATCH = 1_000  # metrics per log_batch call (MLflow's maximum)
SEARCH_FILTER = "metrics.acc > 0.5"
SEARCH_ORDER = ["metrics.acc DESC"]
SEARCH_PAGE = 100
SEARCH_WARMUPS, SEARCH_REPEATS = 2, 20
COLD_REPEATS = 5
SEED = 20_241_125  # both tools search the same accuracies


def progress(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# servers ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    """Stop a process started in its own session, with everything it spawned."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def session_cpu_seconds(sid: int) -> float:
    """CPU time used so far by the live processes of session ``sid`` (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) == sid:  # fields[0] is field 3 of stat(5): state
                total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / tick


def settle(name: str, sid: int, timeout: float = 120.0) -> None:
    """Wait until a server's processes are idle.

    ``mlflow server`` answers /health while its background job consumers are still
    starting; on a small machine they would take CPU from the measurements.
    """
    deadline = time.monotonic() + timeout
    before = session_cpu_seconds(sid)
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = session_cpu_seconds(sid)
        if now - before < 0.05:
            return
        before = now
    progress(f"warning: {name} server still busy after {timeout:.0f} s; measuring anyway")


@contextlib.contextmanager
def server(
    name: str, cmd: list[str], env: dict[str, str], ready_path: str, port: int, log_path: Path
) -> Iterator[str]:
    """Start a server on 127.0.0.1:port, wait until ``ready_path`` answers 200, stop it after."""
    url = f"http://127.0.0.1:{port}"
    progress(f"starting {name} server on {url}")
    with open(log_path, "wb") as log:
        # Own session: the whole group (MLflow starts uvicorn workers) is stopped together.
        proc = subprocess.Popen(
            cmd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        started = time.monotonic()
        deadline = started + 300
        while True:
            if proc.poll() is not None:
                tail = log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{name} server exited with {proc.returncode}:\n{tail}")
            try:
                with urllib.request.urlopen(url + ready_path, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} server not ready after 300 s; see {log_path}")
            time.sleep(0.2)
        ready = time.monotonic() - started
        settle(name, proc.pid)
        progress(
            f"{name} server ready after {ready:.0f} s, idle after "
            f"{time.monotonic() - started:.0f} s"
        )
        yield url
    finally:
        stop_group(proc)
        progress(f"stopped {name} server")


def timed_searches(search: Callable[[], None]) -> dict[str, float]:
    for _ in range(SEARCH_WARMUPS):
        search()
    samples = []
    for _ in range(SEARCH_REPEATS):
        t0 = time.perf_counter()
        search()
        samples.append(time.perf_counter() - t0)
    samples.sort()
    p95 = samples[min(len(samples) - 1, round(0.95 * len(samples)) - 1)]
    return {"median_ms": statistics.median(samples) * 1e3, "p95_ms": p95 * 1e3}


def accuracies(n: int) -> list[float]:
    rng = random.Random(SEED)
    return [rng.random() for _ in range(n)]


def check(what: str, got: Any, expected: Any) -> None:
    if got != expected:
        raise AssertionError(f"{what}: expected {expected}, got {got}")


# Modelyard side -----------------------------------------------------------------------------


class ModelyardSide:
    """The measurements through Modelyard's public API (notebook API and ``Client``)."""

    def __init__(self) -> None:
        import modelyard

        self.my = modelyard
        self.client = modelyard.connect()

    def reconnect(self) -> None:
        self.client = self.my.connect()  # re-reads MODELYARD_URI; flushes and closes the old one

    def warm_up(self) -> None:
        with self.my.start_run("bench-warmup", run_name="warmup"):
            self.my.log_metric("w", 1.0)
            self.my.log_param("w", "1")

    def one_at_a_time(self, n: int) -> float:
        with self.my.start_run("bench-exp", run_name="one-at-a-time") as run:
            t0 = time.perf_counter()
            for i in range(n):
                self.my.log_metric("m", i * 0.001, step=i)
        elapsed = time.perf_counter() - t0  # includes the final flush and end of the run
        check("stored metrics", len(self.client.get_metric_history(run.id, "m")), n)
        return elapsed

    def batched(self, total: int) -> float:
        exp = self.client.get_or_create_experiment("bench-exp")
        run = self.client.create_run(exp.id, name="batched")
        now = int(time.time() * 1000)
        chunks = [
            [
                {"key": "m", "value": i * 0.001, "step": i, "timestamp": now}
                for i in range(start, min(start + BATCH, total))
            ]
            for start in range(0, total, BATCH)
        ]
        t0 = time.perf_counter()
        for chunk in chunks:
            self.client.log_batch(run.id, metrics=chunk)
        elapsed = time.perf_counter() - t0
        self.client.set_terminated(run.id)
        check("stored metrics", len(self.client.get_metric_history(run.id, "m")), total)
        return elapsed

    def params(self, n: int) -> float:
        with self.my.start_run("bench-exp", run_name="params") as run:
            t0 = time.perf_counter()
            for i in range(n):
                self.my.log_param(f"p{i}", "value")
            elapsed = time.perf_counter() - t0
        check("stored params", len(self.client.get_run(run.id).params), n)
        return elapsed

    def setup_search(self, n: int) -> tuple[str, int]:
        """``n`` finished runs with a metric ``acc`` and a param, through the public API."""
        exp = self.client.get_or_create_experiment("search-exp")
        now = int(time.time() * 1000)
        for i, acc in enumerate(accuracies(n)):
            run = self.client.create_run(exp.id, name=f"run-{i}")
            self.client.log_batch(
                run.id,
                metrics=[{"key": "acc", "value": acc, "step": 0, "timestamp": now}],
                params={"lr": str(0.001 * (i % 10 + 1))},
            )
            self.client.set_terminated(run.id)
        matching = sum(1 for _ in self.client.iter_runs([exp.id], SEARCH_FILTER))
        return exp.id, matching

    def search(self, exp_id: str, best: float) -> dict[str, float]:
        def once() -> None:
            page = self.client.search_runs(
                [exp_id], SEARCH_FILTER, order_by=SEARCH_ORDER, max_results=SEARCH_PAGE
            )
            check("runs found", len(page.runs), SEARCH_PAGE)
            check("best acc", page.runs[0].metrics["acc"], best)

        return timed_searches(once)

    @staticmethod
    def versions() -> dict[str, str]:
        import sqlalchemy

        import modelyard

        return {"modelyard": modelyard.__version__, "sqlalchemy": sqlalchemy.__version__}


# MLflow side --------------------------------------------------------------------------------


class MlflowSide:
    """The same measurements through MLflow's fluent API and ``MlflowClient``."""

    def __init__(self, uri: str, artifacts: Path) -> None:
        import logging

        import mlflow
        from mlflow import MlflowClient

        for name in ("mlflow", "alembic"):
            logging.getLogger(name).setLevel(logging.WARNING)
        self.mlflow = mlflow
        self.artifacts = artifacts
        mlflow.set_tracking_uri(uri)
        self.client = MlflowClient()

    def reconnect(self, uri: str) -> None:
        from mlflow import MlflowClient

        self.mlflow.set_tracking_uri(uri)
        self.client = MlflowClient()

    def experiment(self, name: str) -> str:
        exp = self.client.get_experiment_by_name(name)
        if exp is not None:
            return str(exp.experiment_id)
        return str(
            self.client.create_experiment(name, artifact_location=(self.artifacts / name).as_uri())
        )

    def warm_up(self) -> None:
        with self.mlflow.start_run(
            experiment_id=self.experiment("bench-warmup"), run_name="warmup"
        ):
            self.mlflow.log_metric("w", 1.0)
            self.mlflow.log_param("w", "1")

    def one_at_a_time(self, n: int) -> float:
        exp_id = self.experiment("bench-exp")
        with self.mlflow.start_run(experiment_id=exp_id, run_name="one-at-a-time") as run:
            t0 = time.perf_counter()
            for i in range(n):
                self.mlflow.log_metric("m", i * 0.001, step=i)
        elapsed = time.perf_counter() - t0
        stored = self.client.get_metric_history(run.info.run_id, "m")
        check("stored metrics", len(stored), n)
        return elapsed

    def batched(self, total: int) -> float:
        from mlflow.entities import Metric

        run = self.client.create_run(self.experiment("bench-exp"), run_name="batched")
        run_id = run.info.run_id
        now = int(time.time() * 1000)
        chunks = [
            [Metric("m", i * 0.001, now, i) for i in range(start, min(start + BATCH, total))]
            for start in range(0, total, BATCH)
        ]
        t0 = time.perf_counter()
        for chunk in chunks:
            self.client.log_batch(run_id, metrics=chunk)
        elapsed = time.perf_counter() - t0
        self.client.set_terminated(run_id)
        check("stored metrics", len(self.client.get_metric_history(run_id, "m")), total)
        return elapsed

    def params(self, n: int) -> float:
        exp_id = self.experiment("bench-exp")
        with self.mlflow.start_run(experiment_id=exp_id, run_name="params") as run:
            t0 = time.perf_counter()
            for i in range(n):
                self.mlflow.log_param(f"p{i}", "value")
            elapsed = time.perf_counter() - t0
        check("stored params", len(self.client.get_run(run.info.run_id).data.params), n)
        return elapsed

    def setup_search(self, n: int) -> tuple[str, int]:
        """``n`` finished runs with a metric ``acc`` and a param, inserted in bulk.

        Through the API each run costs ~20 ms embedded (create, log_batch, terminate), so
        10,000 runs would take minutes. The rows are inserted with MLflow's own ORM models
        in one transaction instead, with what ``create_run`` writes (run row, run-name and
        user tags, metric, latest metric, param); the search below then verifies them.
        """
        import uuid

        from mlflow.store.tracking.dbmodels.models import (
            SqlLatestMetric,
            SqlMetric,
            SqlParam,
            SqlRun,
            SqlTag,
        )
        from mlflow.tracking._tracking_service.utils import _get_store

        exp_id = self.experiment("search-exp")
        artifact_root = (self.artifacts / "search-exp").as_uri()
        now = int(time.time() * 1000)
        rows: list[Any] = []
        for i, acc in enumerate(accuracies(n)):
            run_id = uuid.uuid4().hex
            rows.append(
                SqlRun(
                    run_uuid=run_id,
                    name=f"run-{i}",
                    source_type="LOCAL",
                    source_name="bench",
                    entry_point_name="",
                    user_id="bench",
                    status="FINISHED",
                    start_time=now,
                    end_time=now,
                    source_version="",
                    lifecycle_stage="active",
                    artifact_uri=f"{artifact_root}/{run_id}/artifacts",
                    experiment_id=int(exp_id),
                )
            )
            rows.append(SqlTag(key="mlflow.runName", value=f"run-{i}", run_uuid=run_id))
            rows.append(SqlTag(key="mlflow.user", value="bench", run_uuid=run_id))
            for table in (SqlMetric, SqlLatestMetric):
                rows.append(
                    table(
                        key="acc", value=acc, timestamp=now, step=0, is_nan=False, run_uuid=run_id
                    )
                )
            rows.append(SqlParam(key="lr", value=str(0.001 * (i % 10 + 1)), run_uuid=run_id))
        store = _get_store()
        with store.ManagedSessionMaker() as session:
            session.add_all(rows)
        matching, token = 0, None
        while True:
            page = self.client.search_runs(
                [exp_id], SEARCH_FILTER, max_results=5_000, page_token=token
            )
            matching += len(page)
            token = page.token
            if not token:
                return exp_id, matching

    def search(self, exp_id: str, best: float) -> dict[str, float]:
        def once() -> None:
            page = self.client.search_runs(
                [exp_id], SEARCH_FILTER, order_by=SEARCH_ORDER, max_results=SEARCH_PAGE
            )
            check("runs found", len(page), SEARCH_PAGE)
            check("best acc", page[0].data.metrics["acc"], best)

        return timed_searches(once)

    @staticmethod
    def versions() -> dict[str, str]:
        import mlflow
        import sqlalchemy

        return {"mlflow": mlflow.__version__, "sqlalchemy": sqlalchemy.__version__}


# one side, both modes ------------------------------------------------------------------------


def measure_mode(side: Any, sizes: dict[str, int], mode: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    progress(f"  {mode}: warm-up run")
    side.warm_up()
    n = sizes[f"one_{mode}"]
    progress(f"  {mode}: {n:,} metrics one call at a time")
    out["one_per_s"] = n / side.one_at_a_time(n)
    n = sizes[f"batch_{mode}"]
    progress(f"  {mode}: {n:,} metrics in batches of {BATCH:,}")
    out["batch_per_s"] = n / side.batched(n)
    n = sizes[f"params_{mode}"]
    progress(f"  {mode}: {n:,} params one call at a time")
    out["params_per_s"] = n / side.params(n)
    out["sizes"] = {k: v for k, v in sizes.items() if k.endswith(mode)}
    return out


def run_side(name: str, quick: bool) -> dict[str, Any]:
    sizes = SIZES["quick" if quick else "full"][name]
    WORK.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"{name}-", dir=WORK) as tmp_name:
        tmp = Path(tmp_name)
        if name == "modelyard":
            return run_modelyard(tmp, sizes)
        return run_mlflow(tmp, sizes)


def run_modelyard(tmp: Path, sizes: dict[str, int]) -> dict[str, Any]:
    db, art = tmp / "my.db", tmp / "art"
    os.environ["MODELYARD_URI"] = f"sqlite:///{db}"
    os.environ["MODELYARD_ARTIFACT_ROOT"] = str(art)
    progress("modelyard: embedded (SQLite)")
    side = ModelyardSide()
    result: dict[str, Any] = {"versions": side.versions()}
    result["embedded"] = measure_mode(side, sizes, "embedded")
    n = sizes["search_runs"]
    accs = accuracies(n)
    progress(f"  embedded: creating {n:,} runs for search (not timed)")
    t0 = time.perf_counter()
    exp_id, matching = side.setup_search(n)
    result["search_setup_s"] = time.perf_counter() - t0
    check("runs matching the filter", matching, sum(a > 0.5 for a in accs))
    progress(f"  embedded: search_runs over {n:,} runs")
    result["embedded"]["search"] = side.search(exp_id, max(accs))

    port = free_port()
    env = {**os.environ, "MODELYARD_URI": f"sqlite:///{db}", "MODELYARD_ARTIFACT_ROOT": str(art)}
    cmd = [
        str(ROOT / ".venv" / "bin" / "modelyard"),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    with server("modelyard", cmd, env, "/readyz", port, tmp / "server.log") as url:
        os.environ["MODELYARD_URI"] = url
        progress("modelyard: over HTTP")
        side.reconnect()
        result["http"] = measure_mode(side, sizes, "http")
        progress(f"  http: search_runs over {n:,} runs")
        result["http"]["search"] = side.search(exp_id, max(accs))
        side.my.connect(f"sqlite:///{db}")  # closes the HTTP session before the server stops
    return result


def run_mlflow(tmp: Path, sizes: dict[str, int]) -> dict[str, Any]:
    db, art = tmp / "mlflow.db", tmp / "mlartifacts"
    progress("mlflow: embedded (SQLite)")
    side = MlflowSide(f"sqlite:///{db}", art)
    side.experiment("bench-exp")  # creates the schema off the clock
    result: dict[str, Any] = {"versions": side.versions()}
    result["embedded"] = measure_mode(side, sizes, "embedded")
    n = sizes["search_runs"]
    accs = accuracies(n)
    progress(f"  embedded: inserting {n:,} runs for search in bulk (not timed)")
    t0 = time.perf_counter()
    exp_id, matching = side.setup_search(n)
    result["search_setup_s"] = time.perf_counter() - t0
    check("runs matching the filter", matching, sum(a > 0.5 for a in accs))
    progress(f"  embedded: search_runs over {n:,} runs")
    result["embedded"]["search"] = side.search(exp_id, max(accs))

    port = free_port()
    cmd = [
        str(MLFLOW_VENV / "bin" / "mlflow"),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--backend-store-uri",
        f"sqlite:///{db}",
        "--default-artifact-root",
        str(art),
    ]
    with server("mlflow", cmd, dict(os.environ), "/health", port, tmp / "server.log") as url:
        progress("mlflow: over HTTP")
        side.reconnect(url)
        result["http"] = measure_mode(side, sizes, "http")
        progress(f"  http: search_runs over {n:,} runs")
        result["http"]["search"] = side.search(exp_id, max(accs))
    return result


# top level ---------------------------------------------------------------------------------


def ensure_mlflow_venv() -> None:
    probe = [str(MLFLOW_PY), "-c", "import mlflow"]
    if MLFLOW_PY.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return
    progress(f"creating {MLFLOW_VENV} with {MLFLOW_SPEC} (uv)")
    subprocess.run(["uv", "venv", "-p", "3.11", str(MLFLOW_VENV)], check=True, cwd=ROOT)
    subprocess.run(
        ["uv", "pip", "install", "-p", str(MLFLOW_VENV), MLFLOW_SPEC], check=True, cwd=ROOT
    )


def call_side(name: str, python: Path, quick: bool) -> dict[str, Any]:
    cmd = [str(python), str(Path(__file__).resolve()), "--side", name]
    if quick:
        cmd.append("--quick")
    progress(f"=== {name} side ({python}) ===")
    # stderr (progress) goes straight through; stdout carries the JSON only.
    done = subprocess.run(cmd, stdout=subprocess.PIPE, cwd=WORK, timeout=1800)
    if done.returncode != 0:
        raise SystemExit(f"the {name} side failed (exit {done.returncode})")
    return dict(json.loads(done.stdout))


def median_wall(cmd: list[str]) -> float:
    """Median wall time of ``cmd`` over COLD_REPEATS runs, after one untimed run.

    The untimed run writes .pyc files and warms the page cache, so the numbers describe
    every start after the first one on a machine.
    """
    subprocess.run(cmd, capture_output=True, check=True, cwd=WORK)
    samples = []
    for _ in range(COLD_REPEATS):
        t0 = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True, cwd=WORK)
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def cold_start() -> dict[str, dict[str, float]]:
    my_bin, ml_bin = ROOT / ".venv" / "bin", MLFLOW_VENV / "bin"
    pairs = {
        "cli": ([str(my_bin / "modelyard"), "--help"], [str(ml_bin / "mlflow"), "--version"]),
        "import": (
            [str(MODELYARD_PY), "-c", "import modelyard"],
            [str(MLFLOW_PY), "-c", "import mlflow"],
        ),
        # `import modelyard` is lazy; this is what the first modelyard.start_run costs.
        "import_api": (
            [str(MODELYARD_PY), "-c", "import modelyard; modelyard.start_run"],
            [str(MLFLOW_PY), "-c", "import mlflow; mlflow.start_run"],
        ),
    }
    out = {}
    for key, (my_cmd, ml_cmd) in pairs.items():
        progress(
            f"cold start: {' '.join(Path(c).name for c in my_cmd[:2])} ... vs "
            f"{' '.join(Path(c).name for c in ml_cmd[:2])} ..."
        )
        out[key] = {"modelyard_s": median_wall(my_cmd), "mlflow_s": median_wall(ml_cmd)}
    return out


def source_fingerprint() -> dict[str, Any]:
    """A hash of Modelyard's sources, so a result can be tied to the code that produced it.

    Other people edit the tree while a benchmark runs; the top level compares the hash
    before and after and says so when the code changed under the measurements.
    """
    import hashlib

    digest = hashlib.sha256()
    files = sorted((ROOT / "src" / "modelyard").rglob("*.py"))
    for file in files:
        digest.update(file.relative_to(ROOT).as_posix().encode())
        digest.update(file.read_bytes())
    newest = max(f.stat().st_mtime for f in files)
    return {
        "sha256": digest.hexdigest()[:16],
        "files": len(files),
        "newest_mtime": dt.datetime.fromtimestamp(newest, dt.UTC).isoformat(timespec="seconds"),
    }


def build_rows(
    my: dict[str, Any], ml: dict[str, Any], cold: dict[str, Any], n_search: int
) -> list[dict[str, Any]]:
    """Table rows; ``ratio`` is always "how many times better Modelyard is"."""
    rows: list[dict[str, Any]] = []

    def rate(label: str, mode: str, key: str, target: float | None) -> None:
        a, b = my[mode][key], ml[mode][key]
        rows.append(
            {
                "measurement": label,
                "unit": "/s",
                "modelyard": a,
                "mlflow": b,
                "ratio": a / b,
                "target": target and f"≥{target:g}x",
                "met": None if target is None else a / b >= target,
            }
        )

    def latency(
        label: str, a: float, b: float, unit: str, limit: float | None, target: str | None = None
    ) -> None:
        rows.append(
            {
                "measurement": label,
                "unit": unit,
                "modelyard": a,
                "mlflow": b,
                "ratio": b / a,
                "target": target if limit is not None else None,
                "met": None if limit is None else a < limit,
            }
        )

    rate("metrics one-at-a-time, embedded", "embedded", "one_per_s", 100)
    rate("metrics one-at-a-time, HTTP", "http", "one_per_s", 500)
    rate("metrics batched (1,000/call), embedded", "embedded", "batch_per_s", 20)
    rate("metrics batched (1,000/call), HTTP", "http", "batch_per_s", 20)
    rate("params one-at-a-time, embedded", "embedded", "params_per_s", None)
    rate("params one-at-a-time, HTTP", "http", "params_per_s", None)
    for mode, limit in (("embedded", 100.0), ("http", None)):
        for stat in ("median", "p95"):
            latency(
                f"search {n_search:,} runs, {mode}, {stat}",
                my[mode]["search"][f"{stat}_ms"],
                ml[mode]["search"][f"{stat}_ms"],
                "ms",
                limit,
                "<100 ms",
            )
    c = cold["cli"]
    latency(
        "`modelyard --help` vs `mlflow --version`",
        c["modelyard_s"],
        c["mlflow_s"],
        "s",
        0.3,
        "<0.3 s",
    )
    c = cold["import"]
    latency(
        "`import modelyard` vs `import mlflow`", c["modelyard_s"], c["mlflow_s"], "s", 0.2, "<0.2 s"
    )
    c = cold["import_api"]
    latency("import + resolve start_run (info)", c["modelyard_s"], c["mlflow_s"], "s", None)
    return rows


def fmt(value: float, unit: str) -> str:
    if unit == "/s":
        return f"{value:,.0f}/s"
    if unit == "ms":
        return f"{value:,.1f} ms"
    return f"{value:.3f} s"


def print_table(rows: list[dict[str, Any]], title: str) -> None:
    cells = [
        [
            r["measurement"],
            fmt(r["modelyard"], r["unit"]),
            fmt(r["mlflow"], r["unit"]),
            f"{r['ratio']:,.1f}x",
            r["target"] or "",
            "" if r["met"] is None else ("met" if r["met"] else "MISSED"),
        ]
        for r in rows
    ]
    header = ["measurement", "Modelyard", "MLflow", "ratio", "target", ""]
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        widths = [max(len(str(x)) for x in col) for col in zip(header, *cells, strict=True)]
        print(title)
        for line in [header, *cells]:
            print("  ".join(str(x).ljust(w) for x, w in zip(line, widths, strict=True)))
        return
    table = Table(title=title, title_justify="left")
    for i, name in enumerate(header):
        table.add_column(name, justify="left" if i in (0, 4, 5) else "right")
    for line in cells:
        style = "red" if line[5] == "MISSED" else None
        table.add_row(*line, style=style)
    Console(width=150).print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small N: a smoke run")
    parser.add_argument(
        "--side",
        choices=["modelyard", "mlflow"],
        help="internal: run one tool's measurements and print JSON",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="results JSON (default: bench/.work/"
        "tracking-results.json, or tracking-results-quick.json with --quick)",
    )
    args = parser.parse_args()
    # A terminated side still runs its `finally` blocks, which stop its server.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.side:
        # Keep stdout for the JSON alone: MLflow prints "View run ..." lines to stdout.
        results = os.fdopen(os.dup(1), "w")
        os.dup2(2, 1)
        results.write(json.dumps(run_side(args.side, args.quick)))
        results.close()
        return

    started = time.perf_counter()
    WORK.mkdir(parents=True, exist_ok=True)
    ensure_mlflow_venv()
    source = source_fingerprint()
    my = call_side("modelyard", MODELYARD_PY, args.quick)
    source["changed_during_modelyard_side"] = source_fingerprint()["sha256"] != source["sha256"]
    ml = call_side("mlflow", MLFLOW_PY, args.quick)
    before_cold = source_fingerprint()["sha256"]
    cold = cold_start()
    source["changed_during_cold_start"] = source_fingerprint()["sha256"] != before_cold
    for phase in ("modelyard_side", "cold_start"):
        if source[f"changed_during_{phase}"]:
            progress(
                f"warning: src/modelyard changed during the {phase.replace('_', ' ')}; "
                "those numbers mix code versions"
            )
    n_search = SIZES["quick" if args.quick else "full"]["modelyard"]["search_runs"]
    rows = build_rows(my, ml, cold, n_search)
    title, header = versus_mlflow("", my, ml, quick=args.quick)
    print_table(rows, title)
    out = args.out or WORK / (
        "tracking-results-quick.json" if args.quick else "tracking-results.json"
    )
    out.write_text(
        json.dumps(
            {
                **header,
                "modelyard_source": source,
                "sizes": SIZES["quick" if args.quick else "full"],
                "rows": rows,
                "raw": {"modelyard": my, "mlflow": ml, "cold_start": cold},
                "wall_s": time.perf_counter() - started,
            },
            indent=2,
        )
    )
    print(f"results: {out}  (total {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
