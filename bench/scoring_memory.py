"""Scoring server memory: what refused and large request bodies cost a `modelyard serve`.

Run by hand (it is not a test):

    .venv/bin/python bench/scoring_memory.py                # this tree, about a minute
    .venv/bin/python bench/scoring_memory.py --base main    # and a git revision, after it

One `modelyard serve` process (1 worker, the default 32 MiB body limit) on 127.0.0.1 scores
a scikit-learn LogisticRegression over 20 numeric features, saved with
``modelyard.models.save``. Its resident memory (``VmRSS`` in /proc) is read:

- at baseline, after a few small requests (so every lazy import has happened);
- after 12 chunked bodies (no ``Content-Length``) of 33 MiB each, every one refused with
  413 once the streamed bytes pass the limit;
- around one valid ~30 MB JSON body per format (records, then ``dataframe_split``): the
  peak during the request (``VmHWM`` after resetting it through ``/proc/PID/clear_refs``)
  and what stays after it.

The ratio is the peak's growth over the RSS just before the request, divided by the body's
size: how many times its own size a request costs at its peak. With ``--base REV`` the
revision's ``src/`` is exported (``git archive``) under bench/.work and put first on the
server's PYTHONPATH, and the same steps run against it. Results: the printed table, and
``bench/.work/scoring-memory-<UTC timestamp>.json`` (or ``--out``) with versions and the
machine.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from machine_info import describe_machine  # bench/ is on sys.path when run as a script
from revisions import export_src

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work"
MODELYARD = ROOT / ".venv" / "bin" / "modelyard"
N_FEATURES = 20
COLUMNS = [f"f{i}" for i in range(N_FEATURES)]
SEED = 20_241_125
LIMIT = 32 * 1024 * 1024  # the server's default MODELYARD_MAX_REQUEST_BYTES
REFUSED = 12
REFUSED_BYTES = LIMIT + 1024 * 1024
CHUNK = 256 * 1024
BODY_BYTES = 30_000_000
MIB = 1024 * 1024


def progress(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def save_model(folder: Path) -> list[list[float]]:
    """Train and save the model; a few thousand rows of its training data to send."""
    import pandas as pd
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    from modelyard import models

    x, y = make_classification(n_samples=2_000, n_features=N_FEATURES, random_state=SEED)
    frame = pd.DataFrame(x, columns=COLUMNS)
    if folder.exists():
        shutil.rmtree(folder)
    models.save(LogisticRegression(max_iter=1_000).fit(frame, y), folder, sample=frame.head())
    return [[float(v) for v in row] for row in x]


def records_body(rows: list[list[float]], size: int) -> bytes:
    """A list of records of about ``size`` bytes, cycling through ``rows``."""
    one = [json.dumps(dict(zip(COLUMNS, r, strict=True))).encode() for r in rows]
    parts, total, i = [], 2, 0
    while total < size:
        parts.append(one[i % len(one)])
        total += len(parts[-1]) + 2
        i += 1
    return b"[" + b", ".join(parts) + b"]"


def split_body(rows: list[list[float]], size: int) -> bytes:
    """``{"dataframe_split": {"columns": ..., "data": ...}}`` of about ``size`` bytes."""
    one = [json.dumps(r).encode() for r in rows]
    head = json.dumps({"columns": COLUMNS}).encode()[:-1] + b', "data": ['
    parts, total, i = [], len(head) + 4, 0
    while total < size:
        parts.append(one[i % len(one)])
        total += len(parts[-1]) + 2
        i += 1
    return b'{"dataframe_split": ' + head + b", ".join(parts) + b"]}}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_status(pid: int) -> dict[str, int]:
    """``VmRSS`` and ``VmHWM`` of ``pid``, in bytes."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) * 1024
    return found


def reset_peak(pid: int) -> None:
    # Writing 5 resets VmHWM to the current RSS (Linux 4.0+, for our own processes).
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@contextlib.contextmanager
def serving(folder: Path, python_path: str | None, log_path: Path) -> Iterator[tuple[int, int]]:
    """``modelyard serve FOLDER`` on a free port until ready: (port, pid); stopped after."""
    port = free_port()
    env = dict(os.environ)
    if python_path:
        env["PYTHONPATH"] = python_path
    cmd = [str(MODELYARD), "serve", str(folder), "--port", str(port), "--log-level", "warning"]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd, env=env, cwd=WORK, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited: {log_path.read_text()[-2000:]}")
            if ready(port):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server was not ready after 120 s; see {log_path}")
            time.sleep(0.1)
        yield port, proc.pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def post(port: int, body: bytes | Iterator[bytes]) -> tuple[int, bytes]:
    """POST ``body`` to /invocations: bytes with a Content-Length, an iterator chunked."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    headers = {"Content-Type": "application/json"}
    try:
        # Refused mid-body, the server may close before all is sent: its answer is waiting.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            connection.request(
                "POST",
                "/invocations",
                body=body,
                headers=headers,
                encode_chunked=not isinstance(body, bytes),
            )
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def refused_chunks() -> Iterator[bytes]:
    yield b"["
    row = json.dumps(dict.fromkeys(COLUMNS, 0.5)).encode() + b","
    chunk = row * (CHUNK // len(row))
    sent = 1
    while sent < REFUSED_BYTES:
        yield chunk
        sent += len(chunk)
    yield b"{}]"


def settle() -> None:
    time.sleep(0.5)


def warm(port: int, small: bytes) -> None:
    for _ in range(20):
        status, answer = post(port, small)
        assert status == 200, answer


def measure(folder: Path, bodies: dict[str, bytes], python_path: str | None) -> dict[str, Any]:
    """The RSS figures: baseline and after refused bodies, then around each large body,
    each phase on a new server so none inherits another's freed memory."""
    log_path = WORK / "scoring-memory-server.log"
    with serving(folder, python_path, log_path) as (port, pid):
        warm(port, bodies["small"])
        settle()
        result: dict[str, Any] = {"baseline": proc_status(pid)["VmRSS"], "refused": []}
        for _ in range(REFUSED):
            status, answer = post(port, refused_chunks())
            assert status == 413, (status, answer[:200])
            settle()
            result["refused"].append(proc_status(pid)["VmRSS"])
    for name in ("records", "split"):
        body = bodies[name]
        with serving(folder, python_path, log_path) as (port, pid):
            warm(port, bodies["small"])
            settle()
            before = proc_status(pid)["VmRSS"]
            reset_peak(pid)
            started = time.perf_counter()
            status, answer = post(port, body)
            seconds = time.perf_counter() - started
            assert status == 200, (status, answer[:300])
            peak = proc_status(pid)["VmHWM"]
            settle()
            result[name] = {
                "body_bytes": len(body),
                "rows": len(json.loads(answer)["predictions"]),
                "before": before,
                "peak": peak,
                "after": proc_status(pid)["VmRSS"],
                "seconds": seconds,
            }
    return result


def commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "src"], cwd=ROOT, capture_output=True)
    return done.stdout.decode().strip() + (" (+ uncommitted src)" if dirty.stdout else "")


def versions() -> dict[str, str]:
    import numpy
    import pandas
    import sklearn
    import starlette
    import uvicorn

    from modelyard import __version__

    return {
        "modelyard": __version__,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "pandas": pandas.__version__,
        "scikit-learn": sklearn.__version__,
        "starlette": starlette.__version__,
        "uvicorn": uvicorn.__version__,
    }


def mb(value: float) -> str:
    return f"{value / MIB:,.0f} MiB"


def print_table(results: dict[str, dict[str, Any]]) -> None:
    sides = list(results)
    rows: list[tuple[str, ...]] = []

    def row(label: str, value: Any) -> None:
        rows.append((label, *(value(results[s]) for s in sides)))

    row("RSS baseline (after 20 small requests)", lambda r: mb(r["baseline"]))
    row(
        f"RSS after {REFUSED} refused chunked bodies of {REFUSED_BYTES // MIB} MiB",
        lambda r: mb(r["refused"][-1]),
    )
    row("  growth per refused body", lambda r: mb((r["refused"][-1] - r["baseline"]) / REFUSED))
    for name in ("records", "split"):
        first = results[sides[0]][name]
        label = f"{name} body ({first['body_bytes'] / 1e6:.1f} MB, {first['rows']:,} rows)"
        row(f"{label}: RSS before", lambda r, n=name: mb(r[n]["before"]))
        row("  peak during the request", lambda r, n=name: mb(r[n]["peak"]))
        row(
            "  ratio (peak - before) / body",
            lambda r, n=name: f"{(r[n]['peak'] - r[n]['before']) / r[n]['body_bytes']:.1f}x",
        )
        row("  RSS after", lambda r, n=name: mb(r[n]["after"]))
        row("  request time", lambda r, n=name: f"{r[n]['seconds']:.2f} s")
    widths = [max(len(r[i]) for r in [("", *sides), *rows]) for i in range(len(sides) + 1)]
    header = ("", *sides)
    print(" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("-+-".join("-" * w for w in widths))
    for r in rows:
        cells = [
            r[0].ljust(widths[0]),
            *(c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)),
        ]
        print(" | ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", help="a git revision to measure as well, e.g. main")
    parser.add_argument("--out", type=Path, help="where to write the JSON results")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    folder = WORK / "scoring-memory-model"
    rows = save_model(folder)
    bodies = {
        "small": json.dumps({"dataframe_split": {"columns": COLUMNS, "data": rows[:1]}}).encode(),
        "records": records_body(rows, BODY_BYTES),
        "split": split_body(rows, BODY_BYTES),
    }
    sides: dict[str, str | None] = {f"this tree ({commit()})": None}
    if args.base:
        sides[args.base] = export_src(args.base, "scoring-memory-src")
    results = {}
    for label, python_path in sides.items():
        progress(f"measuring {label}")
        results[label] = measure(folder, bodies, python_path)
    print_table(results)
    out = args.out or WORK / f"scoring-memory-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(
        json.dumps(
            {
                "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "versions": versions(),
                "machine": describe_machine(),
                "load_average": os.getloadavg(),
                "results": results,
            },
            indent=2,
        )
    )
    progress(f"results in {out}")


if __name__ == "__main__":
    main()
