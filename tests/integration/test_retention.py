"""Retention as it runs: applied by the scheduler in bounded passes, refused with a 4xx that
says what to do, and safe beside writers on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from modelyard.client.client import Client
from modelyard.config import Settings
from modelyard.core.audit import verify_chain
from modelyard.core.backend import LocalBackend, open_local_backend
from modelyard.errors import NotFound
from modelyard.pipelines.scheduler import Scheduler
from modelyard.retention.models import RetentionReport
from modelyard.retention.scheduled import REASON
from modelyard.server.app import create_app
from modelyard.storage.db.tables import audit_records, model_versions, runs
from modelyard.tracking.models import Run, RunStatus
from tests.conftest import make_settings, store_settings

DAY = 86_400_000
HOUR = 3_600_000


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def old_runs(client: Client, count: int, *, experiment: str = "old") -> list[Run]:
    exp = client.get_or_create_experiment(experiment)
    made = []
    for n in range(count):
        start = now_ms() - (100 + n) * DAY
        run = client.create_run(exp.id, start_time=start)
        made.append(client.set_terminated(run.id, RunStatus.FINISHED, end_time=start + 1000))
    return made


def active(client: Client, run: Run) -> bool:
    try:
        client.get_run(run.id)
    except NotFound:
        return False
    return True


class FakeClock:
    def __init__(self) -> None:
        self.now = now_ms()

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, retention_interval_seconds=3600)


@pytest.fixture
def backend(settings: Settings) -> Iterator[LocalBackend]:
    local = open_local_backend(settings)
    yield local
    local.close()


def test_the_scheduler_applies_the_rules_every_interval_in_bounded_passes(
    settings: Settings, backend: LocalBackend
) -> None:
    client = Client(settings=settings, backend=backend)
    made = old_runs(client, 5)
    client.retention.set("runs", older_than_ms=90 * DAY)
    clock, passes = FakeClock(), list[RetentionReport]()
    scheduler = Scheduler(
        backend, settings=settings, clock=clock, retention_limit=2, on_retention=passes.append
    )
    for _ in range(3):  # a backlog: one bounded pass per poll until it is done
        scheduler.run_once()
    assert [(p.deleted_runs, p.more) for p in passes] == [(2, True), (2, True), (1, False)]
    assert not any(active(client, run) for run in made)
    reasons = {r.reason for r in client.audit.records(action="run.deleted")}
    assert reasons == {REASON}

    [late] = old_runs(client, 1)
    scheduler.run_once()
    assert len(passes) == 3, "done: the next pass waits an interval"
    assert active(client, late)
    clock.now += HOUR
    scheduler.run_once()
    assert not active(client, late)


def test_a_scheduler_without_rules_or_with_retention_off_deletes_nothing(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path, retention_interval_seconds=0)
    backend = open_local_backend(settings)
    try:
        client = Client(settings=settings, backend=backend)
        [run] = old_runs(client, 1)
        passes: list[RetentionReport] = []
        Scheduler(backend, settings=settings, on_retention=passes.append).run_once()
        client.retention.set("runs", older_than_ms=90 * DAY)
        Scheduler(backend, settings=settings, on_retention=passes.append).run_once()
        assert passes == []
        assert active(client, run)
    finally:
        backend.close()


def test_bad_rules_get_a_4xx_that_says_what_to_do(
    settings: Settings, backend: LocalBackend
) -> None:
    http = TestClient(create_app(backend, settings))
    cases = [
        ({"kind": "runs", "older_than_ms": -90 * DAY}, "is not a retention period: give at least"),
        ({"kind": "files", "older_than_ms": 90 * DAY}, "'files' is not something retention"),
        ({"kind": "runs", "older_than_ms": "90d"}, "older_than_ms"),
        ({"kind": "audit", "older_than_ms": DAY, "pipeline": "x"}, "pipeline narrows a rule"),
    ]
    for body, message in cases:
        answer = http.put("/api/v1/retention/rules", json=body)
        assert answer.status_code == 400, answer.text
        assert message in answer.json()["error"]["message"]
    answer = http.put(
        "/api/v1/retention/rules", json={"kind": "runs", "older_than_ms": DAY, "experiment": "nope"}
    )
    assert answer.status_code == 404
    assert "experiments list" in answer.json()["error"]["message"]
    assert http.delete("/api/v1/retention/rules/7").status_code == 404
    assert http.post("/api/v1/retention/apply", json={"limit": 0}).status_code == 400


def test_a_chain_that_does_not_verify_is_never_pruned(
    settings: Settings, backend: LocalBackend
) -> None:
    client = Client(settings=settings, backend=backend)
    real = backend.clock
    backend.clock = lambda: real() - 400 * DAY
    [run] = old_runs(client, 1)
    backend.clock = real
    client.retention.set("runs", older_than_ms=90 * DAY)
    client.retention.set("audit", older_than_ms=365 * DAY)
    with backend.db.write() as conn:  # someone rewrites history
        conn.execute(update(audit_records).where(audit_records.c.seq == 2).values(reason="x"))
    before = len(list(client.audit.records()))

    report = client.retention.apply()
    audit_rule = report.rules[1]
    assert audit_rule.deleted == 0
    assert "the audit chain is broken at record 2" in (audit_rule.problem or "")
    assert report.deleted_runs == 1, "the rules on runs still apply"
    assert not active(client, run)
    records = list(client.audit.records())
    assert len(records) == before + 2, "nothing pruned: the deletion and the pass are added"
    verdict = client.audit.verify()
    assert (verdict.ok, verdict.broken_at, verdict.pruned) == (False, 2, None)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LocalBackend]:
    local = open_local_backend(store_settings(request.param, request, tmp_path))
    yield local
    local.close()


def _until_done(client: Client, limit: int = 3) -> list[RetentionReport]:
    """Small passes, as the scheduler runs them, until one finds nothing more to do."""
    passes = [client.retention.apply(limit=limit)]
    while passes[-1].more:
        passes.append(client.retention.apply(limit=limit))
    return passes


def test_a_writer_logging_while_retention_runs_loses_nothing_it_should_keep(
    any_backend: LocalBackend, tmp_path: Path
) -> None:
    client = Client(settings=make_settings(tmp_path), backend=any_backend)
    doomed = old_runs(client, 30)
    exp = client.get_or_create_experiment("live")
    live = client.create_run(exp.id, start_time=now_ms() - 100 * DAY)  # old, still running
    client.retention.set("runs", older_than_ms=90 * DAY)
    batches, per_batch = 40, 25
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for b in range(batches):
                metrics = [
                    {"key": "loss", "value": 1.0, "step": b * per_batch + i}
                    for i in range(per_batch)
                ]
                client.log_batch(live.id, metrics=metrics, params={f"p{b}": str(b)})
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    passes = _until_done(client)
    writer.join(60)
    assert not errors, errors
    assert sum(p.deleted_runs for p in passes) == len(doomed)
    assert not any(active(client, run) for run in doomed)
    kept = client.get_run(live.id)
    assert kept.status == RunStatus.RUNNING
    assert len(client.get_metric_history(live.id, "loss")) == batches * per_batch
    assert len(kept.params) == batches
    with any_backend.db.read() as conn:
        assert verify_chain(conn).ok


def test_a_version_registered_while_retention_runs_keeps_its_run_or_fails(
    any_backend: LocalBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    client = Client(settings=make_settings(tmp_path), backend=any_backend)
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.bin").write_bytes(b"weights")
    candidates = old_runs(client, 24)
    for run in candidates:
        client.log_artifacts(run.id, model, "model")
    client.retention.set("runs", older_than_ms=90 * DAY)
    refused: list[str] = []
    started = threading.Event()

    def register() -> None:
        # Newest first: retention deletes oldest first, so the two meet in the middle.
        for run in candidates:
            try:
                client.registry.register("raced", f"runs:/{run.id}/model")
            except NotFound:
                refused.append(run.id)
            started.set()

    registrar = threading.Thread(target=register)
    registrar.start()
    assert started.wait(30)
    _until_done(client, limit=1)
    registrar.join(60)
    with any_backend.db.read() as conn:
        named = set(
            conn.execute(select(model_versions.c.run_id).where(model_versions.c.model == "raced"))
            .scalars()
            .all()
        )
        lifecycles = dict(conn.execute(select(runs.c.id, runs.c.lifecycle)).all())
    assert named, "some versions were registered"
    assert all(lifecycles[run_id] == "active" for run_id in named), (
        "a version's run was deleted while the version was registered"
    )
    assert all(lifecycles[run_id] == "deleted" for run_id in refused)
    assert len(named) + len(refused) == len(candidates)
    # What registration did not reach, a pass after it deletes: every old run is decided.
    client.retention.apply()
    assert {run.id for run in candidates if active(client, run)} == named
