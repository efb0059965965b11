"""Eight processes writing one SQLite store at once: nothing locked out, nothing lost."""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from modelyard.client.client import Client
from modelyard.config import Settings
from modelyard.core.audit import verify_chain
from modelyard.core.backend import open_local_backend
from modelyard.storage.db.database import Database
from modelyard.storage.db.migrate import HEAD_REVISION
from modelyard.storage.db.tables import audit_chain_head, audit_records, experiments
from modelyard.tracking.models import RunStatus
from tests.conftest import make_settings

pytestmark = pytest.mark.slow

PROCESSES = 8
METRICS = 5000
DEADLINE_SECONDS = 120

# Children are forked from a forkserver that has imported Modelyard once, instead of eight
# spawned interpreters importing it again: the writes, not the imports, are under test, and
# the forkserver (one thread, no open database) is as clean a parent as a spawn.
PRELOAD = [
    "modelyard.client.fluent",
    "modelyard.core.backend",
    "modelyard.storage.db.migrate",
    "alembic.command",
]


def log_with_fluent_api() -> str:
    import modelyard

    modelyard.connect()
    with modelyard.start_run("conc") as run:
        for i in range(METRICS):
            modelyard.log_metric("m", i, step=i)
    return run.id


def log_small_batches_with_client() -> str:
    import modelyard
    from modelyard.tracking.models import Metric

    client = modelyard.connect()
    run = client.create_run(client.get_or_create_experiment("conc").id)
    size = 50
    for call in range(METRICS // size):
        steps = range(call * size, (call + 1) * size)
        client.log_batch(run.id, metrics=[Metric(key="m", value=i, step=i) for i in steps])
    client.set_terminated(run.id, "FINISHED")
    return run.id


def child(body: Callable[[], str], env: dict[str, str], out: Path, n: int, conn: Any) -> None:
    """One writer process: says it is ready, waits for "go", runs ``body``, keeps its run id."""
    import logging

    err = os.open(out / f"{n}.err", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(err, 2)  # tracebacks and logs of this child go to its own file
    os.environ.update(env)
    logging.basicConfig(level=logging.INFO, format="%(name)s %(message)s", stream=sys.stderr)
    conn.send("ready")
    if conn.recv() != "go":
        return
    started = time.time()
    run_id = body()
    (out / f"{n}.run").write_text(f"{run_id} {started} {time.time()}")
    sys.stderr.flush()


@dataclass
class Finished:
    exitcode: int | None
    stderr: str
    run_id: str | None
    started: float = 0.0
    ended: float = 0.0


@dataclass
class Store:
    uri: str
    env: dict[str, str]
    tmp: Path

    def settings(self) -> Settings:
        """The parent's settings for the store the children write to."""
        artifacts = self.env["MODELYARD_ARTIFACT_ROOT"]
        return make_settings(self.tmp, uri=self.uri, artifact_root=artifacts)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    env = {
        "MODELYARD_URI": uri,
        "MODELYARD_ARTIFACT_ROOT": str(tmp_path / "artifacts"),
        "MODELYARD_HOME": str(tmp_path / ".modelyard"),
        "MODELYARD_USER": "tester",
        "MODELYARD_EXPERIMENT": "",
    }
    return Store(uri, env, tmp_path)


def run_together(store: Store, body: Callable[[], str]) -> list[Finished]:
    """Start PROCESSES children running ``body``, release them at once, wait for all."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    out = store.tmp / "children"
    out.mkdir()
    pipes = [ctx.Pipe() for _ in range(PROCESSES)]
    procs = [
        ctx.Process(target=child, args=(body, store.env, out, n, pipes[n][1]), daemon=True)
        for n in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    try:
        waiting = {parent_end for parent_end, _ in pipes}
        deadline = time.monotonic() + DEADLINE_SECONDS
        while waiting and time.monotonic() < deadline:
            signalled = wait([*waiting, *(p.sentinel for p in procs)], timeout=1)
            if any(p.exitcode is not None for p in procs):
                break  # a child died before the start; its stderr says why
            for conn in signalled:
                if conn in waiting:
                    assert conn.recv() == "ready"
                    waiting.discard(conn)
        for parent_end, _ in pipes:
            parent_end.send("go" if not waiting else "stop")
        for p in procs:
            p.join(timeout=DEADLINE_SECONDS)
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join()
    results = []
    for n, p in enumerate(procs):
        err_file, run_file = out / f"{n}.err", out / f"{n}.run"
        stderr = err_file.read_text() if err_file.exists() else ""
        if run_file.exists():
            run_id, started, ended = run_file.read_text().split()
            results.append(Finished(p.exitcode, stderr, run_id, float(started), float(ended)))
        else:
            results.append(Finished(p.exitcode, stderr, None))
    return results


def assert_all_succeeded(results: list[Finished]) -> None:
    for n, r in enumerate(results):
        assert "database is locked" not in r.stderr, f"child {n}:\n{r.stderr}"
        assert r.exitcode == 0, f"child {n} exited {r.exitcode}:\n{r.stderr}"
        assert "Traceback" not in r.stderr, f"child {n}:\n{r.stderr}"


def assert_store_complete(store: Store, results: list[Finished]) -> None:
    """Every metric of every run is stored once, the audit chain holds, the file is sound."""
    run_ids = [r.run_id for r in results if r.run_id is not None]
    assert len(set(run_ids)) == PROCESSES
    settings = store.settings()
    client = Client(settings=settings, backend=open_local_backend(settings))
    try:
        experiment = client.get_experiment_by_name("conc")
        runs = {r.id: r for r in client.iter_runs([experiment.id])}
        assert set(runs) == set(run_ids)
        for run_id in run_ids:
            assert runs[run_id].status == RunStatus.FINISHED
            history = client.get_metric_history(run_id, "m")
            assert len(history) == METRICS
            assert [m.step for m in history] == list(range(METRICS))
            assert [m.value for m in history] == [float(i) for i in range(METRICS)]
            assert runs[run_id].metrics["m"] == METRICS - 1
    finally:
        client.close()

    db = Database(store.uri)
    try:
        with db.read() as conn:
            report = verify_chain(conn)
            assert report.ok, report
            head = conn.execute(select(audit_chain_head)).one()
            assert head.seq == report.checked
            assert conn.execute(select(func.max(audit_records.c.seq))).scalar() == head.seq
            names = conn.execute(select(experiments.c.name)).scalars().all()
            assert names.count("conc") == 1
            if db.dialect == "sqlite":
                assert conn.exec_driver_sql("PRAGMA integrity_check").scalars().all() == ["ok"]
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        db.dispose()


def create_schema(store: Store) -> None:
    settings = store.settings()
    open_local_backend(settings).close()


def test_eight_processes_log_metrics_through_the_fluent_api(store: Store) -> None:
    create_schema(store)
    results = run_together(store, log_with_fluent_api)
    assert_all_succeeded(results)
    assert_store_complete(store, results)


def test_eight_processes_log_small_batches_through_the_client(store: Store) -> None:
    create_schema(store)
    results = run_together(store, log_small_batches_with_client)
    assert_all_succeeded(results)
    assert_store_complete(store, results)

    db = Database(store.uri)
    try:
        with db.read() as conn:
            logged = conn.execute(
                select(func.count()).where(audit_records.c.action == "run.logged")
            ).scalar()
    finally:
        db.dispose()
    assert logged == PROCESSES * 100  # one audit record per committed batch, none lost
    # The writers really contended: at some moment all eight were writing.
    assert max(r.started for r in results) < min(r.ended for r in results)


def test_eight_processes_open_a_new_file_and_create_the_schema_once(store: Store) -> None:
    db_file = Path(store.uri.removeprefix("sqlite:///"))
    assert not db_file.exists()

    results = run_together(store, log_with_fluent_api)

    assert_all_succeeded(results)
    upgrades = sum(r.stderr.count("upgrading metadata schema") for r in results)
    assert upgrades == 1, [r.stderr for r in results]
    db = Database(store.uri)
    try:
        with db.read() as conn:
            versions = conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
            assert [v[0] for v in versions] == [HEAD_REVISION]
            heads = conn.execute(text("SELECT id FROM audit_chain_head")).all()
            assert [h[0] for h in heads] == [1]
    finally:
        db.dispose()
    assert_store_complete(store, results)
