"""Every change commits with its audit record and its outbox event, or not at all.

Through the local backend on SQLite and PostgreSQL: the records say who did what to which
target and why, the events carry unique ids, a failed change leaves no trace, and the
hash chain stays linear under concurrent writers and shows where it was tampered with.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update

from modelyard.client.client import Client
from modelyard.core.audit import ChainReport, verify_chain
from modelyard.core.backend import LocalBackend, open_local_backend
from modelyard.core.operations import Done, OperationContext, OperationSet
from modelyard.environments.current import register_current
from modelyard.errors import AlreadyExists, Conflict
from modelyard.storage.db.tables import (
    audit_chain_head,
    audit_records,
    experiments,
    latest_metrics,
    metrics,
    outbox,
    run_params,
    run_tags,
    runs,
    workspaces,
)
from modelyard.tracking.models import CreateRun, RunStatus
from modelyard.tracking.operations import create_run
from tests.conftest import store_settings

BACKENDS = ["sqlite", "postgresql"]
COUNTED = (
    audit_records,
    outbox,
    workspaces,
    experiments,
    runs,
    run_params,
    run_tags,
    metrics,
    latest_metrics,
)


@dataclass
class Store:
    client: Client
    backend: LocalBackend

    def audit(self) -> list[dict[str, Any]]:
        with self.backend.db.read() as conn:
            rows = conn.execute(select(audit_records).order_by(audit_records.c.seq))
            return [dict(r) for r in rows.mappings()]

    def events(self) -> list[dict[str, Any]]:
        with self.backend.db.read() as conn:
            rows = conn.execute(select(outbox).order_by(outbox.c.seq)).mappings()
            return [dict(r) for r in rows]

    def counts(self) -> dict[str, Any]:
        """Rows per table plus the chain tip: equal before and after means no trace."""
        with self.backend.db.read() as conn:
            counted: dict[str, Any] = {
                t.name: conn.execute(select(func.count()).select_from(t)).scalar() for t in COUNTED
            }
            counted["chain_head"] = tuple(conn.execute(select(audit_chain_head)).one())
            return counted

    def verify(self) -> ChainReport:
        with self.backend.db.read() as conn:
            return verify_chain(conn)

    def tamper(self, statement: Any) -> None:
        with self.backend.db.write() as conn:
            assert conn.execute(statement).rowcount == 1


def open_store(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    settings = store_settings(kind, request, tmp_path)
    backend = open_local_backend(settings)
    try:
        yield Store(Client(settings=settings, backend=backend), backend)
    finally:
        backend.close()


@pytest.fixture
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A fresh SQLite store."""
    yield from open_store("sqlite", request, tmp_path)


@pytest.fixture(params=BACKENDS)
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A fresh store on each backend."""
    yield from open_store(request.param, request, tmp_path)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def test_each_change_writes_its_audit_record_and_event(store: Store) -> None:
    client = store.client
    # A process's first run registers the environment it runs in: done first here, so the
    # records below are the tracking changes alone.
    register_current(client.backend)
    skipped, skipped_events = len(store.audit()), len(store.events())
    started = now_ms()
    exp = client.create_experiment("audited", reason="track the audit")
    run = client.create_run(exp.id)
    client.log_param(run.id, "lr", 0.1)
    client.set_terminated(run.id, RunStatus.FINISHED)
    failed = client.create_run(exp.id)
    client.set_terminated(failed.id, "FAILED", failure="boom")
    client.delete_run(run.id, reason="duplicate of another run")
    ended = now_ms()

    audit = store.audit()[skipped:]
    assert [(r["action"], r["target_kind"], r["target_id"]) for r in audit] == [
        ("workspace.created", "workspace", "default"),
        ("experiment.created", "experiment", exp.id),
        ("run.created", "run", run.id),
        ("run.logged", "run", run.id),
        ("run.updated", "run", run.id),
        ("run.created", "run", failed.id),
        ("run.updated", "run", failed.id),
        ("run.deleted", "run", run.id),
    ]
    assert [r["seq"] for r in audit] == list(range(skipped + 1, skipped + len(audit) + 1))
    assert all(r["actor"] == "tester" for r in audit)
    assert all(started <= r["at"] <= ended for r in audit)
    assert [r["reason"] for r in audit] == [
        "track the audit",
        "track the audit",
        None,
        None,
        None,
        None,
        None,
        "duplicate of another run",
    ]

    created_exp, created_run, logged, finished = audit[1], audit[2], audit[3], audit[4]
    assert created_exp["before"] is None
    assert created_exp["after"]["name"] == "audited"
    assert created_run["before"] is None
    assert created_run["after"]["status"] == "RUNNING"
    assert created_run["after"]["experiment_id"] == exp.id
    assert logged["after"]["params"] == {"lr": "0.1"}
    assert finished["before"] == {"status": "RUNNING", "end_time": None}
    assert finished["after"]["status"] == "FINISHED"
    assert started <= finished["after"]["end_time"] <= ended
    assert audit[6]["before"]["status"] == "RUNNING"
    assert audit[6]["after"]["status"] == "FAILED"
    assert audit[6]["after"]["failure"] == "boom"
    assert audit[7]["before"] == {"lifecycle": "active"}
    assert audit[7]["after"] == {"lifecycle": "deleted"}

    events = store.events()[skipped_events:]
    assert [(e["type"], e["subject"]) for e in events] == [
        ("workspace.created", "default"),
        ("experiment.created", exp.id),
        ("run.started", run.id),
        ("run.finished", run.id),
        ("run.started", failed.id),
        ("run.failed", failed.id),
        ("run.deleted", run.id),
    ]
    assert events[1]["payload"] == {
        "experiment_id": exp.id,
        "workspace": "default",
        "name": "audited",
    }
    assert events[2]["payload"] == {"run_id": run.id, "experiment_id": exp.id}
    assert events[3]["payload"]["status"] == "FINISHED"
    assert events[5]["payload"]["failure"] == "boom"
    assert events[6]["payload"] == {"run_id": run.id}
    ids = [e["event_id"] for e in events]
    assert len(set(ids)) == len(ids)
    assert all(str(uuid.UUID(i)) == i for i in ids)
    assert all(e["delivered_at"] is None and e["attempts"] == 0 for e in events)
    assert all(started <= e["created_at"] <= ended for e in events)
    assert store.verify().ok


def test_a_change_that_changes_nothing_records_nothing(store: Store) -> None:
    client = store.client
    run = client.create_run(client.create_experiment("same").id)
    client.log_param(run.id, "lr", "0.1")
    client.set_terminated(run.id, RunStatus.FINISHED)
    before = store.counts()

    client.log_param(run.id, "lr", "0.1")  # the same value again is allowed and a no-op
    client.set_terminated(run.id, RunStatus.FINISHED)

    assert store.counts() == before


# A change that writes state, its audit record and its event, and then fails: the unit of
# work must roll every part of it back.
failing = OperationSet("test")


@failing.write("POST", "/test/runs", permission="runs:write", audit="run.created")
def create_run_then_refuse(ctx: OperationContext, req: CreateRun) -> Done:
    create_run.handler(ctx, req)
    raise Conflict("refused after writing")


def test_a_failed_change_leaves_no_record_no_event_and_no_state(any_store: Store) -> None:
    client = any_store.client
    exp = client.create_experiment("atomic")
    run = client.create_run(exp.id)
    client.log_batch(run.id, params={"p": 1}, tags={"t": "a"})
    before = any_store.counts()

    with pytest.raises(Conflict, match="param 'p'"):
        client.log_batch(
            run.id,
            params={"new": "x", "p": "2"},
            tags={"t": "b", "u": "c"},
            metrics=[{"key": "m", "value": 1.0, "step": 0}],
        )
    assert any_store.counts() == before
    stored = client.get_run(run.id)
    assert stored.params == {"p": "1"}
    assert stored.tags == {"t": "a"}
    assert stored.metrics == {}

    with pytest.raises(AlreadyExists):
        client.create_experiment("atomic")
    assert any_store.counts() == before

    with pytest.raises(Conflict, match="refused after writing"):
        any_store.backend.call(create_run_then_refuse, CreateRun(experiment_id=exp.id))
    assert any_store.counts() == before
    assert [r.id for r in client.iter_runs([exp.id])] == [run.id]

    client.set_terminated(run.id, RunStatus.FINISHED)
    finished = any_store.counts()
    with pytest.raises(Conflict, match="cannot be set back"):
        client.set_terminated(run.id, RunStatus.RUNNING)
    assert any_store.counts() == finished
    assert client.get_run(run.id).status == RunStatus.FINISHED
    assert any_store.verify().ok


def make_changes(client: Client, runs_count: int = 10) -> None:
    exp = client.create_experiment("chain")
    for n in range(runs_count):
        run = client.create_run(exp.id, tags={"n": str(n)})
        client.log_batch(run.id, params={"n": n}, metrics=[{"key": "m", "value": n}])
        client.set_terminated(run.id, RunStatus.FINISHED)
        if n % 3 == 0:
            client.delete_run(run.id, reason=f"cleanup {n}")


def test_the_chain_verifies_after_many_changes_and_shows_an_edit(any_store: Store) -> None:
    make_changes(any_store.client)
    report = any_store.verify()
    assert report.ok
    # The workspace, the experiment, this interpreter's environment (registered by the first
    # run), three changes per run, four deletions.
    assert report.checked == len(any_store.audit()) == 3 + 10 * 3 + 4

    any_store.tamper(update(audit_records).where(audit_records.c.seq == 3).values(reason="x"))

    report = any_store.verify()
    assert not report.ok
    assert report.broken_at == 3
    assert report.checked == 2


@pytest.mark.parametrize("which", ["middle", "last"])
def test_the_chain_shows_a_deleted_record(any_store: Store, which: str) -> None:
    make_changes(any_store.client)
    total = len(any_store.audit())
    seq = 5 if which == "middle" else total

    any_store.tamper(delete(audit_records).where(audit_records.c.seq == seq))

    report = any_store.verify()
    assert not report.ok, f"deleting the {which} audit record (seq {seq}) went unnoticed"
    if which == "middle":
        assert report.broken_at == 6  # the record after the gap no longer links


def test_concurrent_writers_keep_one_linear_chain(any_store: Store) -> None:
    client = any_store.client
    exp = client.create_experiment("concurrent")
    setup = len(any_store.audit())
    threads, changes = 4, 25
    start = threading.Barrier(threads)
    errors: list[BaseException] = []
    run_ids: list[str] = []

    def write() -> None:
        try:
            start.wait(timeout=30)
            run = client.create_run(exp.id)
            run_ids.append(run.id)
            for i in range(changes - 2):
                client.log_param(run.id, f"p{i}", i)
            client.set_terminated(run.id, RunStatus.FINISHED)
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=write) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
    assert not any(w.is_alive() for w in workers)
    assert errors == []

    audit = any_store.audit()
    # The first of the runs also registers the environment they run in (once: the others
    # find it, or lose the race to the same content and return it).
    assert len(audit) == setup + 1 + threads * changes
    assert [r["seq"] for r in audit] == list(range(1, len(audit) + 1))
    # Linear: every record links to the one before it, so no two share a predecessor.
    assert len({r["prev_hash"] for r in audit}) == len(audit)
    report = any_store.verify()
    assert report.ok, report
    assert report.checked == len(audit)
    with any_store.backend.db.read() as conn:
        head = conn.execute(select(audit_chain_head)).one()
    assert (head.seq, head.hash) == (audit[-1]["seq"], audit[-1]["hash"])
    for run_id in run_ids:
        assert len(client.get_run(run_id).params) == changes - 2
    finished = [e for e in any_store.events() if e["type"] == "run.finished"]
    assert sorted(e["subject"] for e in finished) == sorted(run_ids)
