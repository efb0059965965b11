"""A writer SIGKILLed mid-logging: the store opens cleanly and keeps everything acknowledged."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from modelyard.client.client import Client
from modelyard.core.audit import verify_chain
from modelyard.core.backend import open_local_backend
from modelyard.storage.db.database import Database
from modelyard.storage.db.tables import audit_records, outbox
from modelyard.tracking.models import RunStatus
from tests.conftest import make_settings

pytestmark = pytest.mark.slow

DEADLINE_SECONDS = 60

# Each child prints "acked <n>" only once n values are committed (flush() returned, or
# log_param() returned): everything up to n must survive the kill.
LOG_METRICS = """
import modelyard
modelyard.connect()
with modelyard.start_run("crash") as run:
    print("run", run.id, flush=True)
    i = 0
    while True:
        for _ in range(50):
            modelyard.log_metric("m", i, step=i)
            i += 1
        modelyard.flush()
        print("acked", i, flush=True)
"""

LOG_PARAMS = """
import modelyard
modelyard.connect()
with modelyard.start_run("crash") as run:
    print("run", run.id, flush=True)
    i = 0
    while True:
        modelyard.log_param(f"p{i}", i)
        i += 1
        print("acked", i, flush=True)
"""


@dataclass
class Crashed:
    uri: str
    tmp: Path
    run_id: str
    acked: int

    def client(self) -> Client:
        settings = make_settings(self.tmp, uri=self.uri, artifact_root=str(self.tmp / "artifacts"))
        return Client(settings=settings, backend=open_local_backend(settings))


def kill_while_logging(tmp: Path, script: str, threshold: int) -> Crashed:
    """Run ``script`` in a child, SIGKILL it once it has acknowledged ``threshold`` values."""
    uri = f"sqlite:///{tmp / 'm.db'}"
    env = {
        **os.environ,
        "MODELYARD_URI": uri,
        "MODELYARD_ARTIFACT_ROOT": str(tmp / "artifacts"),
        "MODELYARD_HOME": str(tmp / ".modelyard"),
        "MODELYARD_USER": "tester",
    }
    env.pop("MODELYARD_EXPERIMENT", None)
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp,
    )
    assert child.stdout is not None
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert child.stdout is not None
        for line in child.stdout:
            lines.put(line)
        lines.put("")  # end of output: the child exited

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    run_id, acked = None, 0
    deadline = time.monotonic() + DEADLINE_SECONDS
    try:
        while acked < threshold:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            if not line:
                pytest.fail(f"the child exited early:\n{child.communicate()[1]}")
            word, value = line.split()
            if word == "run":
                run_id = value
            else:
                assert word == "acked"
                acked = int(value)
        child.send_signal(signal.SIGKILL)  # mid-logging: it never stops on its own
    finally:
        if child.poll() is None:
            child.kill()
        _, stderr = child.communicate(timeout=DEADLINE_SECONDS)
        reader.join(timeout=DEADLINE_SECONDS)
    assert child.returncode == -signal.SIGKILL
    assert "Traceback" not in stderr, stderr
    # Lines written before the kill may still be in the pipe: the last ack counts.
    while not lines.empty():
        line = lines.get_nowait()
        if line.startswith("acked "):
            acked = int(line.split()[1])
    assert run_id is not None
    return Crashed(uri, tmp, run_id, acked)


def assert_store_sound(uri: str) -> int:
    """integrity_check is ok and the audit chain verifies; returns the audit record count."""
    db = Database(uri)
    try:
        with db.read() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalars().all() == ["ok"]
            report = verify_chain(conn)
            assert report.ok, report
            return report.checked
    finally:
        db.dispose()


def logged_audit(uri: str, run_id: str) -> list[dict[str, Any]]:
    db = Database(uri)
    try:
        with db.read() as conn:
            rows = conn.execute(
                select(audit_records.c.after).where(
                    audit_records.c.action == "run.logged", audit_records.c.target_id == run_id
                )
            ).scalars()
            return list(rows)
    finally:
        db.dispose()


@pytest.fixture(scope="module")
def crashed_metrics(tmp_path_factory: pytest.TempPathFactory) -> Crashed:
    """One child killed mid-metrics, shared by the tests that look at what it left."""
    return kill_while_logging(tmp_path_factory.mktemp("metrics"), LOG_METRICS, threshold=3000)


def test_acknowledged_metrics_survive_a_sigkill(crashed_metrics: Crashed) -> None:
    crashed = crashed_metrics
    assert_store_sound(crashed.uri)

    with crashed.client() as client:
        history = client.get_metric_history(crashed.run_id, "m")
        run = client.get_run(crashed.run_id)

    steps = [m.step for m in history]
    assert len(steps) >= crashed.acked
    # Batches commit whole and in order: what is stored is a prefix, with no gap or repeat.
    assert steps == list(range(len(steps)))
    assert [m.value for m in history] == [float(s) for s in steps]
    assert run.metrics["m"] == float(len(steps) - 1)
    # Each committed batch has its audit record: the same transaction, or neither.
    logged = logged_audit(crashed.uri, crashed.run_id)
    assert sum(int(after["metrics"]) for after in logged) == len(steps)


def test_a_run_killed_while_running_stays_running_and_another_process_ends_it(
    crashed_metrics: Crashed,
) -> None:
    crashed = crashed_metrics
    with crashed.client() as client:
        run = client.get_run(crashed.run_id)
        assert run.status == RunStatus.RUNNING
        assert run.end_time is None

        ended = client.set_terminated(crashed.run_id, RunStatus.KILLED)
        assert ended.status == RunStatus.KILLED
        assert ended.end_time is not None
        assert client.get_run(crashed.run_id).status == RunStatus.KILLED

        # The store is writable as usual after the crash.
        other = client.create_run(run.experiment_id)
        client.log_metric(other.id, "m", 1.0)
        assert len(client.get_metric_history(other.id, "m")) == 1

    assert_store_sound(crashed.uri)
    db = Database(crashed.uri)
    try:
        with db.read() as conn:
            killed = conn.execute(
                select(func.count()).where(
                    outbox.c.type == "run.killed", outbox.c.subject == crashed.run_id
                )
            ).scalar()
    finally:
        db.dispose()
    assert killed == 1


def test_acknowledged_params_survive_a_sigkill(tmp_path: Path) -> None:
    crashed = kill_while_logging(tmp_path, LOG_PARAMS, threshold=200)
    assert_store_sound(crashed.uri)

    with crashed.client() as client:
        run = client.get_run(crashed.run_id)

    assert run.status == RunStatus.RUNNING
    assert len(run.params) >= crashed.acked
    # Each log_param is its own transaction: the stored params are exactly p0..p(k-1).
    assert run.params == {f"p{i}": str(i) for i in range(len(run.params))}
    assert len(logged_audit(crashed.uri, crashed.run_id)) == len(run.params)
