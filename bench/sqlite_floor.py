"""Benchmark: how close batched metric logging gets to raw SQLite on this machine.

Explains the batched-logging figure of bench/tracking.py: it times, in one run and on
the same disk, (a) plain ``sqlite3`` inserting 1,000-row batches into a table shaped like
Modelyard's ``metrics`` (same index, WAL, synchronous=NORMAL, one transaction per batch),
and (b) ``Client.log_batch`` of 1,000 metrics on an embedded store. The difference is
what Modelyard adds (validation, the latest-value upsert, the audit record).

    .venv/bin/python bench/sqlite_floor.py
"""

from __future__ import annotations

import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

BATCHES = 100
SIZE = 1000


def raw_floor(folder: Path) -> float:
    conn = sqlite3.connect(folder / "raw.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(
        "CREATE TABLE metrics (id INTEGER PRIMARY KEY, run_id TEXT, key TEXT, value REAL,"
        " is_nan INTEGER, step INTEGER, timestamp INTEGER)"
    )
    conn.execute("CREATE INDEX ix ON metrics (run_id, key, step)")
    rows = [("r" * 32, "m", float(i), 0, i, 1) for i in range(SIZE)]
    times = []
    for _ in range(BATCHES):
        started = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO metrics (run_id, key, value, is_nan, step, timestamp)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )
        conn.execute("COMMIT")
        times.append(time.perf_counter() - started)
    conn.close()
    return statistics.median(times)


def modelyard_batch(folder: Path) -> float:
    from modelyard.client.client import Client
    from modelyard.config import Settings

    settings = Settings(uri=f"sqlite:///{folder / 'm.db'}", artifact_root=str(folder / "a"))
    client = Client(settings=settings)
    run = client.create_run(client.create_experiment("floor").id)
    batch = [{"key": "m", "value": float(i), "step": i, "timestamp": 1} for i in range(SIZE)]
    times = []
    for _ in range(BATCHES):
        started = time.perf_counter()
        client.log_batch(run.id, metrics=batch)
        times.append(time.perf_counter() - started)
    client.close()
    return statistics.median(times)


def main() -> None:
    with tempfile.TemporaryDirectory(dir=Path(__file__).parent / ".work") as tmp:
        raw = raw_floor(Path(tmp))
        ours = modelyard_batch(Path(tmp))
    print(
        f"{'raw sqlite3, 1,000-row batch (median)':<45} {raw * 1000:8.2f} ms  "
        f"{SIZE / raw:>10,.0f} rows/s"
    )
    print(
        f"{'Modelyard log_batch, 1,000 metrics (median)':<45} {ours * 1000:8.2f} ms  "
        f"{SIZE / ours:>10,.0f} metrics/s"
    )
    print(f"{'Modelyard / raw':<45} {ours / raw:8.2f}x")


if __name__ == "__main__":
    main()
