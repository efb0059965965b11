"""Serving benchmark: `modelyard serve` vs `mlflow models serve`, same model, same load.

Run by hand (it is not a test):

    .venv/bin/python bench/serving.py              # full run, about 5 minutes on 2 CPUs
    .venv/bin/python bench/serving.py --quick      # smoke run, short durations

Both servers score the same scikit-learn LogisticRegression (20 numeric features,
make_classification with a fixed seed), trained and saved by each tool's own side in its
own interpreter (``--side modelyard`` under .venv, ``--side mlflow`` under
bench/.venv-mlflow, as in tracking.py). Each side also measures the in-process floor:
``predict`` on a one-row DataFrame, p50/p99 over thousands of calls.

The load comes from Debian's ``wrk`` (compiled; a Python load generator saturates a core
before the server does) with a Lua script that POSTs the same one-row JSON body
(``{"dataframe_split": ...}``, a format both servers read) to ``/invocations`` and prints
its latency percentiles and throughput as one JSON line from ``done()``. Every server is
warmed up first, then loaded at concurrency 1 (``-t1 -c1``) and 32 (``-t2 -c32``). wrk
shares the machine's cores with the server: its CPU time is recorded with the results.

Servers bind 127.0.0.1 on free ports, run in their own session and are stopped (the whole
process group) on exit, also on errors. Only the standard library is imported at module
level, because the MLflow venv has no modelyard.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from machine_info import (  # bench/ is on sys.path when run as a script
    versus_mlflow,
)

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
WORK = BENCH / ".work"
MODELYARD_BIN = ROOT / ".venv" / "bin"
MODELYARD_PY = MODELYARD_BIN / "python"
MLFLOW_VENV = BENCH / ".venv-mlflow"
MLFLOW_BIN = MLFLOW_VENV / "bin"
MLFLOW_PY = MLFLOW_BIN / "python"
WRK = "/usr/bin/wrk"

N_FEATURES = 20
N_TRAIN = 2_000
SEED = 20_241_125
COLUMNS = [f"f{i}" for i in range(N_FEATURES)]

SIZES = {
    "full": {"duration_s": 10, "warmup_s": 2, "floor_calls": 5_000},
    "quick": {"duration_s": 3, "warmup_s": 1, "floor_calls": 1_000},
}
CONCURRENCY = {1: 1, 32: 2}  # connections -> wrk threads (2 CPUs here)
WRK_TIMEOUT = "5s"
READY_TIMEOUT_S = 120.0

THROUGHPUT_TARGET = 5.0  # at concurrency 32, vs MLflow's default server
P99_OVERHEAD_LIMIT_MS = 2.0  # server p99 at concurrency 1 minus the predict floor's p99
ROUTER_LIMIT_MS = 1.0  # p50 through the endpoint router minus p50 direct
# What the issue measured for MLflow 3.17 (one uvicorn worker), for scale.
ISSUE_MLFLOW = {"c1_rps": 280, "c1_p50_ms": 3.3, "c16_rps": "240-340", "c16_p99_ms": 178}


@dataclass(frozen=True)
class Config:
    label: str
    tool: str  # "modelyard" or "mlflow"
    workers: int = 1
    max_batch_size: int | None = None  # Modelyard only; None = its default (32)
    notes: list[str] = field(default_factory=list)


CONFIGS = [
    Config("modelyard (default: 1 worker, batching)", "modelyard"),
    Config("modelyard --workers 2", "modelyard", workers=2),
    Config("modelyard --max-batch-size 1 (no batching)", "modelyard", max_batch_size=1),
    Config("mlflow (default: 1 worker)", "mlflow"),
    Config("mlflow -w 2", "mlflow", workers=2),
]
BASELINE = "mlflow (default: 1 worker)"  # the target comparison: the issue's ~280 req/s
# Each Modelyard configuration is also compared with the MLflow one of the same workers.
SAME_WORKERS = {1: "mlflow (default: 1 worker)", 2: "mlflow -w 2"}


def progress(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# sides: the model and the in-process floor, each in its tool's interpreter -----------------


def train() -> tuple[Any, Any]:
    """The model both sides serve, and its training frame (deterministic)."""
    import pandas as pd
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    x, y = make_classification(n_samples=N_TRAIN, n_features=N_FEATURES, random_state=SEED)
    frame = pd.DataFrame(x, columns=COLUMNS)
    return LogisticRegression(max_iter=1_000).fit(frame, y), frame


def one_row_body(frame: Any) -> str:
    row = [float(v) for v in frame.iloc[0]]
    return json.dumps({"dataframe_split": {"columns": COLUMNS, "data": [row]}})


def percentiles_ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1e3

    return {
        "p50_ms": at(0.50),
        "p90_ms": at(0.90),
        "p99_ms": at(0.99),
        "mean_ms": sum(ordered) / len(ordered) * 1e3,
        "calls": len(ordered),
    }


def time_calls(fn: Callable[[], Any], n: int) -> dict[str, float]:
    for _ in range(min(500, n)):
        fn()
    samples = []
    clock = time.perf_counter
    for _ in range(n):
        t = clock()
        fn()
        samples.append(clock() - t)
    return percentiles_ms(samples)


def modelyard_side(folder: Path, n: int) -> dict[str, Any]:
    import numpy
    import pandas
    import sklearn
    import sqlalchemy
    import starlette
    import uvicorn

    import modelyard
    from modelyard.registry.loading import load_folder

    model, frame = train()
    modelyard.models.save(model, folder, sample=frame.iloc[:5])
    one = frame.iloc[:1].reset_index(drop=True)
    loaded = load_folder(folder)
    body = one_row_body(frame)
    floors = {
        "sklearn predict": time_calls(lambda: model.predict(one), n),
        "LoadedModel.predict (signature check + predict)": time_calls(
            lambda: loaded.predict(one), n
        ),
    }
    with contextlib.suppress(ImportError):
        # The server's per-request work without HTTP: parse, check, predict, encode.
        from modelyard.serving.inputs import parse_body
        from modelyard.serving.outputs import encode, to_jsonable

        raw = body.encode()

        def request_path() -> bytes:
            parsed = parse_body(raw, "application/json", loaded.signature)
            checked = loaded.check(parsed.data)
            return bytes(encode([to_jsonable(loaded.model.predict(checked))]))

        floors["in-process request path (parse + check + predict + encode)"] = time_calls(
            request_path, n
        )
    return {
        "folder": str(folder),
        "body": body,
        "expected": [int(v) for v in model.predict(one)],
        "floors": floors,
        "versions": {
            "modelyard": modelyard.__version__,
            "sqlalchemy": sqlalchemy.__version__,
            "scikit-learn": sklearn.__version__,
            "pandas": pandas.__version__,
            "numpy": numpy.__version__,
            "uvicorn": uvicorn.__version__,
            "starlette": starlette.__version__,
        },
    }


def mlflow_side(folder: Path, n: int) -> dict[str, Any]:
    import logging

    import fastapi
    import mlflow
    import mlflow.pyfunc
    import mlflow.sklearn
    import numpy
    import pandas
    import sklearn
    import sqlalchemy
    import uvicorn
    from mlflow.models import infer_signature

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    model, frame = train()
    signature = infer_signature(frame.iloc[:5], model.predict(frame.iloc[:5]))
    mlflow.sklearn.save_model(model, str(folder), signature=signature)
    one = frame.iloc[:1].reset_index(drop=True)
    pyfunc = mlflow.pyfunc.load_model(str(folder))
    return {
        "folder": str(folder),
        "body": one_row_body(frame),
        "expected": [int(v) for v in model.predict(one)],
        "floors": {
            "sklearn predict (MLflow venv)": time_calls(lambda: model.predict(one), n),
            "pyfunc predict (schema enforcement + predict)": time_calls(
                lambda: pyfunc.predict(one), n
            ),
        },
        "versions": {
            "mlflow": mlflow.__version__,
            "sqlalchemy": sqlalchemy.__version__,
            "scikit-learn": sklearn.__version__,
            "pandas": pandas.__version__,
            "numpy": numpy.__version__,
            "uvicorn": uvicorn.__version__,
            "fastapi": fastapi.__version__,
        },
    }


def call_side(name: str, python: Path, folder: Path, n: int) -> dict[str, Any]:
    cmd = [str(python), str(Path(__file__).resolve()), "--side", name, "--folder", str(folder)]
    cmd += ["--floor-calls", str(n)]
    progress(f"=== {name} side ({python}): train, save, in-process floor ({n:,} calls) ===")
    done = subprocess.run(cmd, stdout=subprocess.PIPE, cwd=WORK, timeout=600)
    if done.returncode != 0:
        raise SystemExit(f"the {name} side failed (exit {done.returncode})")
    return dict(json.loads(done.stdout))


def ensure_mlflow_venv() -> None:
    probe = [str(MLFLOW_PY), "-c", "import mlflow, sklearn"]
    if MLFLOW_PY.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return
    # The same pin as tracking.py, so every benchmark compares against one MLflow.
    sys.path.insert(0, str(BENCH))
    from tracking import MLFLOW_SPEC

    progress(f"creating {MLFLOW_VENV} with {MLFLOW_SPEC} (uv)")
    if not MLFLOW_PY.exists():
        subprocess.run(["uv", "venv", "-p", "3.11", str(MLFLOW_VENV)], check=True, cwd=ROOT)
    subprocess.run(
        ["uv", "pip", "install", "-p", str(MLFLOW_VENV), MLFLOW_SPEC, "scikit-learn"],
        check=True,
        cwd=ROOT,
    )


# servers ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    """Stop a process started in its own session, with everything it spawned."""
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        # The group leader is gone; a worker may not be yet.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        return


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


def get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except OSError:
        return 0


def post(url: str, body: str) -> Any:
    request = urllib.request.Request(
        url, data=body.encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@dataclass
class Running:
    url: str
    pid: int
    ready_s: float


@contextlib.contextmanager
def server(
    label: str, cmd: list[str], env: dict[str, str], ready_path: str, port: int, log_path: Path
) -> Iterator[Running]:
    """Start a server on 127.0.0.1:port, wait until ``ready_path`` answers 200 and the
    server is idle; stop its whole process group after."""
    url = f"http://127.0.0.1:{port}"
    progress(f"starting {label} on {url}")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd,
            env=env,
            cwd=WORK,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        started = time.monotonic()
        while get(url + ready_path) != 200:
            if proc.poll() is not None:
                tail = log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{label} exited with {proc.returncode}:\n{tail}")
            if time.monotonic() - started > READY_TIMEOUT_S:
                raise RuntimeError(f"{label} not ready after {READY_TIMEOUT_S:.0f} s; {log_path}")
            time.sleep(0.1)
        ready_s = time.monotonic() - started
        # Wait until its processes are idle (other workers may still be loading).
        before = session_cpu_seconds(proc.pid)
        for _ in range(30):
            time.sleep(0.5)
            now = session_cpu_seconds(proc.pid)
            if now - before < 0.02:
                break
            before = now
        progress(f"{label} ready after {ready_s:.1f} s")
        yield Running(url, proc.pid, ready_s)
    finally:
        stop_group(proc)


def server_command(config: Config, folder: str, port: int) -> tuple[list[str], dict[str, str]]:
    env = dict(os.environ)
    if config.tool == "modelyard":
        cmd = [str(MODELYARD_BIN / "modelyard"), "serve", folder, "--host", "127.0.0.1"]
        cmd += ["--port", str(port), "--workers", str(config.workers), "--log-level", "warning"]
        if config.max_batch_size is not None:
            cmd += ["--max-batch-size", str(config.max_batch_size)]
        return cmd, env
    # MLflow starts `uvicorn` from PATH; its venv's comes first. Its own defaults otherwise
    # (uvicorn's info log with the access log on, as a user gets it).
    env["PATH"] = f"{MLFLOW_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{WORK / 'serving-mlflow-unused.db'}"
    cmd = [str(MLFLOW_BIN / "mlflow"), "models", "serve", "-m", folder, "--env-manager", "local"]
    cmd += ["-h", "127.0.0.1", "-p", str(port), "-w", str(config.workers)]
    return cmd, env


# load ------------------------------------------------------------------------------------

LUA = r"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [==[BODY]==]

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKJSON {\"requests\": %d, \"duration_us\": %d, \"bytes\": %d, " ..
    "\"errors_connect\": %d, \"errors_read\": %d, \"errors_write\": %d, " ..
    "\"errors_status\": %d, \"errors_timeout\": %d, " ..
    "\"p50_us\": %.1f, \"p90_us\": %.1f, \"p99_us\": %.1f, \"mean_us\": %.1f, " ..
    "\"max_us\": %.1f}\n",
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.mean, latency.max))
end
"""


def write_lua(body: str, folder: Path) -> Path:
    if "]==]" in body:
        raise ValueError("the body cannot be quoted in Lua")
    path = folder / "post.lua"
    path.write_text(LUA.replace("BODY", body))
    return path


def run_wrk(running: Running, script: Path, connections: int, duration_s: float) -> dict[str, Any]:
    threads = CONCURRENCY.get(connections, min(connections, 2))
    cmd = [WRK, f"-t{threads}", f"-c{connections}", f"-d{duration_s:g}s"]
    cmd += ["--timeout", WRK_TIMEOUT, "-s", str(script), running.url + "/invocations"]
    wrk_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_before = session_cpu_seconds(running.pid)
    t0 = time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=duration_s + 60)
    wall = time.monotonic() - t0
    server_cpu = session_cpu_seconds(running.pid) - server_before
    wrk_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = next((x for x in done.stdout.splitlines() if x.startswith("WRKJSON ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout}\n{done.stderr}")
    raw = json.loads(line.removeprefix("WRKJSON "))
    errors = sum(raw[k] for k in raw if k.startswith("errors_"))
    wrk_cpu = (wrk_after.ru_utime - wrk_before.ru_utime) + (
        wrk_after.ru_stime - wrk_before.ru_stime
    )
    return {
        "connections": connections,
        "threads": threads,
        "requests": raw["requests"],
        "errors": errors,
        "rps": raw["requests"] / (raw["duration_us"] / 1e6),
        "p50_ms": raw["p50_us"] / 1e3,
        "p90_ms": raw["p90_us"] / 1e3,
        "p99_ms": raw["p99_us"] / 1e3,
        "mean_ms": raw["mean_us"] / 1e3,
        "max_ms": raw["max_us"] / 1e3,
        # Share of one CPU over the run (200% = both cores of a 2-CPU machine).
        "server_cpu_pct": 100 * server_cpu / wall,
        "wrk_cpu_pct": 100 * wrk_cpu / wall,
        "raw": raw,
    }


def measure_config(
    config: Config, side: dict[str, Any], script: Path, sizes: dict[str, Any], tmp: Path
) -> dict[str, Any]:
    port = free_port()
    cmd, env = server_command(config, side["folder"], port)
    ready_path = "/readyz" if config.tool == "modelyard" else "/ping"
    log_path = tmp / f"server-{port}.log"
    with server(config.label, cmd, env, ready_path, port, log_path) as running:
        answer = post(running.url + "/invocations", side["body"])
        if answer != {"predictions": side["expected"]}:
            raise AssertionError(f"{config.label} answered {answer}, expected {side['expected']}")
        progress(f"  warm-up {sizes['warmup_s']} s at concurrency 4")
        warm = run_wrk(running, script, 4, sizes["warmup_s"])
        result: dict[str, Any] = {
            "command": cmd,
            "ready_s": running.ready_s,
            "warmup_requests": warm["requests"],
        }
        for connections in CONCURRENCY:
            progress(f"  concurrency {connections} for {sizes['duration_s']} s")
            run = run_wrk(running, script, connections, sizes["duration_s"])
            if run["errors"]:
                progress(f"  warning: {run['errors']} errors at concurrency {connections}")
            progress(
                f"    {run['rps']:,.0f} req/s, p50 {run['p50_ms']:.2f} ms, "
                f"p99 {run['p99_ms']:.2f} ms (server CPU {run['server_cpu_pct']:.0f}%, "
                f"wrk {run['wrk_cpu_pct']:.0f}%)"
            )
            result[f"c{connections}"] = run
    return result


# the endpoint router ----------------------------------------------------------------------


def router_overhead(
    my: dict[str, Any], script: Path, sizes: dict[str, Any], tmp: Path
) -> dict[str, Any]:
    """p50 through the endpoint router minus p50 direct to its deployment, at concurrency 1.

    Measured only when `modelyard supervisor` exists: the saved folder is registered in a
    fresh store, one endpoint gets one deployment of it (1 worker, default batching) and
    the supervisor runs them; wrk then loads the deployment's own port and the router's.
    """
    modelyard = str(MODELYARD_BIN / "modelyard")
    try:
        probe = subprocess.run([modelyard, "supervisor", "--help"], capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        probe = None
    if probe is None or probe.returncode != 0:
        return {"measured": False, "reason": "no supervisor yet"}
    home = tmp / "store"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    env["MODELYARD_HOME"] = str(home)
    port = free_port()
    setup = [
        ["model", "register", "bench-serving", my["folder"]],
        ["endpoint", "create", "bench", "--port", str(port)],
        ["deployment", "create", "bench/blue", "--model", "models:/bench-serving/1"],
        ["endpoint", "traffic", "bench", "blue=100"],
    ]
    for args in setup:
        done = subprocess.run(
            [modelyard, *args], capture_output=True, text=True, env=env, cwd=tmp, timeout=120
        )
        if done.returncode != 0:
            return {
                "measured": False,
                "reason": f"`modelyard {' '.join(args)}` failed: {done.stderr.strip()[-500:]}",
            }
    status_file = home / "serving" / "supervisor.json"
    log_path = tmp / "supervisor.log"
    progress(f"starting modelyard supervisor (router on 127.0.0.1:{port})")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [modelyard, "supervisor", "--poll-seconds", "0.5"],
            env=env,
            cwd=tmp,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    deployment_pid: int | None = None
    try:
        started = time.monotonic()
        router_url = f"http://127.0.0.1:{port}"
        direct_url = None
        while True:
            if proc.poll() is not None:
                tail = log_path.read_text(errors="replace")[-1500:]
                return {"measured": False, "reason": f"supervisor exited: {tail}"}
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                live = json.loads(status_file.read_text())["endpoints"]["bench"]["deployments"]
                blue = live["blue"]
                deployment_pid = blue.get("pid") or deployment_pid
                if blue["state"] == "ready" and get(router_url + "/readyz") == 200:
                    direct_url = str(blue["url"]).rstrip("/")
                    break
            if time.monotonic() - started > READY_TIMEOUT_S:
                return {"measured": False, "reason": "the endpoint was not ready in time"}
            time.sleep(0.2)
        progress(
            f"endpoint ready after {time.monotonic() - started:.1f} s; deployment {direct_url}"
        )
        runs: dict[str, Any] = {}
        for name, url in (("direct", direct_url), ("router", router_url)):
            answer = post(url + "/invocations", my["body"])
            if answer.get("predictions") != my["expected"]:
                raise AssertionError(f"{name} answered {answer}, expected {my['expected']}")
            running = Running(url, proc.pid, 0.0)
            run_wrk(running, script, 4, sizes["warmup_s"])
        # Alternate, twice each, so that a burst of other work on the machine hits both.
        for round_ in range(2):
            for name, url in (("direct", direct_url), ("router", router_url)):
                progress(
                    f"  {name}, concurrency 1 for {sizes['duration_s']} s (round {round_ + 1})"
                )
                run = run_wrk(Running(url, proc.pid, 0.0), script, 1, sizes["duration_s"])
                progress(
                    f"    {run['rps']:,.0f} req/s, p50 {run['p50_ms']:.2f} ms, "
                    f"p99 {run['p99_ms']:.2f} ms"
                )
                runs.setdefault(name, []).append(run)
        progress(f"  router, concurrency 32 for {sizes['duration_s']} s")
        runs["router_c32"] = run_wrk(
            Running(router_url, proc.pid, 0.0), script, 32, sizes["duration_s"]
        )
        progress(f"  direct, concurrency 32 for {sizes['duration_s']} s")
        runs["direct_c32"] = run_wrk(
            Running(direct_url, proc.pid, 0.0), script, 32, sizes["duration_s"]
        )

        def best(name: str, key: str) -> float:
            return min(r[key] for r in runs[name])

        return {
            "measured": True,
            "direct_p50_ms": best("direct", "p50_ms"),
            "router_p50_ms": best("router", "p50_ms"),
            "overhead_ms": best("router", "p50_ms") - best("direct", "p50_ms"),
            "overhead_p99_ms": best("router", "p99_ms") - best("direct", "p99_ms"),
            "note": "the lower p50 of two alternating runs each; server CPU % counts the "
            "supervisor's session (supervisor and router), not the deployment's",
            "runs": runs,
        }
    finally:
        # SIGTERM first: the supervisor stops its deployments (their own process groups).
        stop_group(proc)
        # Should it have outlived the supervisor, the deployment it started goes too.
        cmdline = Path(f"/proc/{deployment_pid}/cmdline")
        with contextlib.suppress(OSError):
            if deployment_pid and b"serve" in cmdline.read_bytes():
                os.killpg(deployment_pid, signal.SIGKILL)
        progress("stopped the supervisor")


# report ------------------------------------------------------------------------------------


def build_report(
    my: dict[str, Any], results: dict[str, dict[str, Any]], router: dict[str, Any]
) -> dict[str, Any]:
    floor = my["floors"]["sklearn predict"]
    base = results.get(BASELINE)
    rows = []
    for config in CONFIGS:
        r = results.get(config.label)
        if r is None:
            continue
        row = {"configuration": config.label, "tool": config.tool, "workers": config.workers}
        for c in CONCURRENCY:
            for key in ("rps", "p50_ms", "p99_ms", "server_cpu_pct", "wrk_cpu_pct", "errors"):
                row[f"c{c}_{key}"] = r[f"c{c}"][key]
        if config.tool == "modelyard":
            if base is not None:
                row["x_mlflow_default_c32"] = r["c32"]["rps"] / base["c32"]["rps"]
                row["x_mlflow_default_c1"] = r["c1"]["rps"] / base["c1"]["rps"]
            same = results.get(SAME_WORKERS.get(config.workers, ""))
            if same is not None:
                row["x_mlflow_same_workers_c32"] = r["c32"]["rps"] / same["c32"]["rps"]
        row["c1_p99_overhead_ms"] = r["c1"]["p99_ms"] - floor["p99_ms"]
        row["c1_p50_overhead_ms"] = r["c1"]["p50_ms"] - floor["p50_ms"]
        rows.append(row)
    default = next((r for r in rows if r["configuration"] == CONFIGS[0].label), None)
    targets = []
    if default is not None and "x_mlflow_default_c32" in default:
        ratio = default["x_mlflow_default_c32"]
        targets.append(
            {
                "target": f"throughput at c=32 >= {THROUGHPUT_TARGET:g}x MLflow's default server",
                "value": f"{ratio:.1f}x (modelyard default vs mlflow default)",
                "met": ratio >= THROUGHPUT_TARGET,
            }
        )
    if default is not None:
        over = default["c1_p99_overhead_ms"]
        targets.append(
            {
                "target": f"p99 over the predict floor at c=1 < {P99_OVERHEAD_LIMIT_MS:g} ms",
                "value": f"{over:.2f} ms (server p99 {default['c1_p99_ms']:.2f} - floor p99 "
                f"{floor['p99_ms']:.2f})",
                "met": over < P99_OVERHEAD_LIMIT_MS,
            }
        )
    if router.get("measured"):
        targets.append(
            {
                "target": f"router overhead at p50 (c=1) < {ROUTER_LIMIT_MS:g} ms",
                "value": f"{router['overhead_ms']:.2f} ms (router p50 "
                f"{router['router_p50_ms']:.2f} - direct p50 {router['direct_p50_ms']:.2f})",
                "met": router["overhead_ms"] < ROUTER_LIMIT_MS,
            }
        )
    return {"rows": rows, "targets": targets, "floor": floor}


def print_table(
    title: str, my: dict[str, Any], ml: dict[str, Any], report: dict[str, Any], router: dict
) -> None:
    header = [
        "configuration",
        "c=1 req/s",
        "p50",
        "p99",
        "c=32 req/s",
        "p50",
        "p99",
        "x mlflow default",
        "x mlflow same -w",
    ]
    cells = []
    for r in report["rows"]:
        x_default = r.get("x_mlflow_default_c32")
        x_same = r.get("x_mlflow_same_workers_c32")
        cells.append(
            [
                r["configuration"],
                f"{r['c1_rps']:,.0f}",
                f"{r['c1_p50_ms']:.2f} ms",
                f"{r['c1_p99_ms']:.2f} ms",
                f"{r['c32_rps']:,.0f}",
                f"{r['c32_p50_ms']:.2f} ms",
                f"{r['c32_p99_ms']:.2f} ms",
                "" if x_default is None else f"{x_default:.1f}x",
                "" if x_same is None else f"{x_same:.1f}x",
            ]
        )
    for side in (my, ml):
        for name, f in side["floors"].items():
            cells.append(
                [
                    f"floor: {name}",
                    "",
                    f"{f['p50_ms']:.3f} ms",
                    f"{f['p99_ms']:.3f} ms",
                    "",
                    "",
                    "",
                    "",
                    "",
                ]
            )
    widths = [max(len(str(x)) for x in col) for col in zip(header, *cells, strict=True)]
    print(title)
    for line in [header, *cells]:
        print("  ".join(str(x).ljust(w) for x, w in zip(line, widths, strict=True)).rstrip())
    print()
    print("CPU during the c=32 run (100% = one core): server / wrk")
    for r in report["rows"]:
        print(
            f"  {r['configuration']}: {r['c32_server_cpu_pct']:.0f}% / {r['c32_wrk_cpu_pct']:.0f}%"
        )
    print()
    for t in report["targets"]:
        print(f"target: {t['target']}: {t['value']} -> {'met' if t['met'] else 'MISSED'}")
    if not router.get("measured"):
        print(f"router: not measured ({router['reason']})")
    errors = [(r["configuration"], r["c1_errors"], r["c32_errors"]) for r in report["rows"]]
    for label, e1, e32 in errors:
        if e1 or e32:
            print(f"warning: {label} had errors (c=1: {e1}, c=32: {e32})")


def source_state() -> dict[str, Any]:
    """The commit measured, and the serving files that differed from it (read-only git)."""

    def git(*args: str) -> str:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            done = subprocess.run(["git", *args], capture_output=True, text=True, cwd=ROOT)
            return done.stdout.strip()
        return ""

    changed = git("status", "--porcelain", "--", "src/modelyard/serving", "src/modelyard/cli")
    return {"commit": git("rev-parse", "HEAD"), "uncommitted": changed.splitlines()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short durations: a smoke run")
    parser.add_argument("--duration", type=float, help="seconds per load run (default 10)")
    parser.add_argument("--out", type=Path, help="results JSON")
    parser.add_argument("--only", help="run only the configurations whose label contains this")
    parser.add_argument("--no-router", action="store_true", help="skip the router row")
    parser.add_argument("--side", choices=["modelyard", "mlflow"], help="internal")
    parser.add_argument("--folder", type=Path, help="internal: where a side saves its model")
    parser.add_argument("--floor-calls", type=int, default=5_000, help="internal")
    args = parser.parse_args()
    if args.side:
        # Keep stdout for the JSON alone.
        results_out = os.fdopen(os.dup(1), "w")
        os.dup2(2, 1)
        side = modelyard_side if args.side == "modelyard" else mlflow_side
        results_out.write(json.dumps(side(args.folder, args.floor_calls)))
        results_out.close()
        return

    started = time.perf_counter()
    sizes = dict(SIZES["quick" if args.quick else "full"])
    if args.duration:
        sizes["duration_s"] = args.duration
    WORK.mkdir(parents=True, exist_ok=True)
    if not Path(WRK).exists():
        raise SystemExit(f"{WRK} is missing: apt-get install wrk")
    ensure_mlflow_venv()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    with tempfile.TemporaryDirectory(prefix="serving-", dir=WORK) as tmp_name:
        tmp = Path(tmp_name)
        my = call_side("modelyard", MODELYARD_PY, tmp / "modelyard-model", sizes["floor_calls"])
        ml = call_side("mlflow", MLFLOW_PY, tmp / "mlflow-model", sizes["floor_calls"])
        if my["body"] != ml["body"] or my["expected"] != ml["expected"]:
            raise AssertionError("the two sides did not train the same model on the same data")
        script = write_lua(my["body"], tmp)
        results: dict[str, dict[str, Any]] = {}
        for config in CONFIGS:
            if args.only and args.only not in config.label:
                continue
            side = my if config.tool == "modelyard" else ml
            results[config.label] = measure_config(config, side, script, sizes, tmp)
        router = (
            {"measured": False, "reason": "--no-router"}
            if args.no_router
            else router_overhead(my, script, sizes, tmp)
        )
    report = build_report(my, results, router)
    title, header = versus_mlflow("Serving, one-row requests: ", my, ml, quick=args.quick)
    print()
    print_table(title, my, ml, report, router)
    out = args.out or WORK / f"serving-{stamp}{'-quick' if args.quick else ''}.json"
    header["versions"].update(
        {
            "sides": {"modelyard": my["versions"], "mlflow": ml["versions"]},
            "wrk": subprocess.run([WRK, "-v"], capture_output=True, text=True).stdout.split("\n")[
                0
            ],
        }
    )
    out.write_text(
        json.dumps(
            {
                **header,
                "source": source_state(),
                "sizes": sizes,
                "issue_mlflow_reference": ISSUE_MLFLOW,
                "report": report,
                "router": router,
                "floors": {"modelyard": my["floors"], "mlflow": ml["floors"]},
                "results": results,
                "wall_s": time.perf_counter() - started,
            },
            indent=2,
        )
    )
    print(f"results: {out}  (total {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
