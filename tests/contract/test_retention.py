"""Retention behaves the same on every backend: old finished runs go, audited, and what is
still needed stays, with the reason; the oldest audit records go and the chain verifies.

Runs are made old by their own start and end times (the API takes them); audit records by
the clock of the backend that writes them (the server's, for REST), since their time is
part of their hash. Pipeline runs record their times as they run, so their rows are
backdated.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update

from modelyard.client.client import Client
from modelyard.core.audit import verify_records
from modelyard.errors import InvalidInput, NotFound
from modelyard.pipelines.runner import run_pipeline
from modelyard.storage.db.tables import audit_records, outbox, runs
from modelyard.tracking.models import Run, RunStatus
from tests.contract.conftest import Store
from tests.contract.pipeline_steps import squared

DAY = 86_400_000


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def old_run(
    client: Client,
    experiment_id: str,
    *,
    days: int = 100,
    status: RunStatus | None = RunStatus.FINISHED,
    parent: Run | None = None,
) -> Run:
    """A run that started ``days`` ago and (unless ``status`` is None) ended a second later."""
    start = now_ms() - days * DAY
    run = client.create_run(
        experiment_id, start_time=start, parent_run_id=parent.id if parent else None
    )
    if status is not None:
        client.set_terminated(run.id, status, end_time=start + 1000)
    return run


def exists(client: Client, run: Run | str) -> bool:
    try:
        client.get_run(run if isinstance(run, str) else run.id)
    except NotFound:
        return False
    return True


def test_rules_are_set_changed_listed_and_deleted(client: Client) -> None:
    client.create_experiment("churn")
    rule = client.retention.set("runs", older_than_ms=90 * DAY, experiment="churn")
    assert (rule.kind, rule.experiment, rule.older_than_ms, rule.created_by) == (
        "runs",
        "churn",
        90 * DAY,
        "tester",
    )
    assert rule.describe() == "runs of experiment churn ended over 90 days ago"
    changed = client.retention.set("runs", older_than_ms=30 * DAY, experiment="churn")
    assert (changed.id, changed.older_than_ms) == (rule.id, 30 * DAY)
    assert client.retention.set("runs", older_than_ms=30 * DAY, experiment="churn") == changed
    everything = client.retention.set("runs", older_than_ms=365 * DAY)
    kept_log = client.retention.set("audit", older_than_ms=730 * DAY, reason="two years")
    listed = client.retention.list()
    assert [r.id for r in listed] == [rule.id, everything.id, kept_log.id]
    assert listed[2].describe() == "audit records over 730 days old"

    client.retention.delete(rule.id, reason="churn is done")
    assert [r.id for r in client.retention.list()] == [everything.id, kept_log.id]
    with pytest.raises(NotFound, match=f"retention rule {rule.id} does not exist"):
        client.retention.delete(rule.id)
    actions = [(r.action, r.target_id) for r in client.audit.records(action="retention.*")]
    assert actions == [
        ("retention.rule.set", str(rule.id)),
        ("retention.rule.set", str(rule.id)),
        ("retention.rule.set", str(everything.id)),
        ("retention.rule.set", str(kept_log.id)),
        ("retention.rule.deleted", str(rule.id)),
    ], "setting the same period again changes nothing and records nothing"


def test_bad_rules_are_refused_saying_what_to_do(client: Client) -> None:
    with pytest.raises(InvalidInput, match=r"-\d+ ms is not a retention period: give at least"):
        client.retention.set("runs", older_than_ms=-90 * DAY)
    with pytest.raises(InvalidInput, match="'files' is not something retention deletes: use runs"):
        client.retention.set("files", older_than_ms=90 * DAY)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="experiment narrows a rule for runs, not for audit"):
        client.retention.set("audit", older_than_ms=90 * DAY, experiment="churn")
    with pytest.raises(NotFound, match=r"experiment 'chrun' does not exist.*experiments list"):
        client.retention.set("runs", older_than_ms=90 * DAY, experiment="chrun")
    with pytest.raises(InvalidInput, match="limit"):
        client.retention.apply(limit=0)
    assert client.retention.list() == []


def test_old_finished_runs_go_audited_and_what_is_still_needed_stays(
    store: Store, model_dir: Path
) -> None:
    client = store.client
    exp = client.create_experiment("churn")
    finished = old_run(client, exp.id)
    failed = old_run(client, exp.id, status=RunStatus.FAILED)
    parent = old_run(client, exp.id)
    child = old_run(client, exp.id, parent=parent)
    registered = old_run(client, exp.id)
    client.log_artifacts(registered.id, model_dir, "model")
    client.registry.register("churn", f"runs:/{registered.id}/model", flavor="sklearn")
    served = old_run(client, exp.id)
    client.log_artifacts(served.id, model_dir, "model")
    client.registry.register("churn", f"runs:/{served.id}/model", flavor="sklearn")
    client.serving.create_endpoint("churn")
    client.serving.create_deployment("churn", "blue", "models:/churn/2")
    running = old_run(client, exp.id, status=None)
    young = old_run(client, exp.id, days=10)
    other = old_run(client, client.create_experiment("other").id)
    client.retention.set("runs", older_than_ms=90 * DAY, experiment="churn")

    dry = client.retention.apply(dry_run=True)
    assert dry.dry_run
    assert [(i.run_id, i.runs) for i in dry.deleted] == [
        (finished.id, 1),
        (failed.id, 1),
        (parent.id, 2),
    ]
    assert {i.run_id: i.reasons for i in dry.kept} == {
        registered.id: ["model version churn/1 was registered from it"],
        served.id: [
            "model version churn/2 was registered from it",
            "deployment churn/blue serves model version churn/2, registered from it",
        ],
        running.id: ["it is RUNNING"],
    }
    assert (dry.rules[0].deleted, dry.rules[0].kept, dry.more) == (4, 3, False)
    assert exists(client, finished), "a dry run deletes nothing"

    report = client.retention.apply(reason="quarterly cleanup")
    assert (report.deleted_runs, report.more) == (4, False)
    assert {i.run_id for i in report.deleted} == {finished.id, failed.id, parent.id}
    for gone in (finished, failed, parent, child):
        assert not exists(client, gone)
    for kept in (registered, served, running, young, other):
        assert exists(client, kept)

    deleted = list(client.audit.records(action="run.deleted"))
    assert {r.target_id for r in deleted} == {finished.id, failed.id, parent.id, child.id}
    assert {r.reason for r in deleted} == {"quarterly cleanup"}
    assert [r.target_id for r in deleted].index(child.id) < [r.target_id for r in deleted].index(
        parent.id
    ), "a run under another goes first"
    (applied,) = client.audit.records(action="retention.applied")
    assert applied.after is not None
    assert (applied.after["runs_deleted"], applied.actor) == (4, "tester")
    with store.local.db.read() as conn:
        events = [e.type for e in conn.execute(select(outbox.c.type).order_by(outbox.c.seq))]
    assert events.count("run.deleted") == 4
    assert events[-1] == "retention.applied"

    again = client.retention.apply()
    assert (again.deleted_runs, again.more) == (0, False)
    assert len(list(client.audit.records(action="retention.applied"))) == 1, (
        "a pass that deletes nothing records nothing"
    )


def test_a_pass_deletes_at_most_its_limit_and_says_there_is_more(client: Client) -> None:
    exp = client.create_experiment("many")
    made = [old_run(client, exp.id, days=100 + n) for n in range(5)]
    client.retention.set("runs", older_than_ms=90 * DAY)
    first = client.retention.apply(limit=2)
    assert (first.deleted_runs, first.more) == (2, True)
    assert [i.run_id for i in first.deleted] == [made[4].id, made[3].id], "the oldest first"
    second = client.retention.apply(limit=2)
    last = client.retention.apply(limit=2)
    assert (second.deleted_runs, second.more, last.deleted_runs, last.more) == (2, True, 1, False)
    assert not any(exists(client, run) for run in made)
    reasons = {r.reason for r in client.audit.records(action="run.deleted")}
    assert reasons == {"retention: runs ended over 90 days ago"}, "without one, the rule says why"


def test_a_pipeline_run_goes_with_its_steps_unless_one_is_still_needed(
    store: Store, tmp_path: Path
) -> None:
    client = store.client
    stage = tmp_path / "stage"
    reused = run_pipeline(squared, backend=client.backend, params={"n": 3}, staging_root=stage)
    registered = run_pipeline(squared, backend=client.backend, params={"n": 4}, staging_root=stage)
    hit = run_pipeline(squared, backend=client.backend, params={"n": 3}, staging_root=stage)
    assert hit.steps["square"].cached_from == reused.steps["square"].run_id
    client.registry.register("sq", f"pipelines:/{registered.run_id}/square/output")
    with store.local.db.write() as conn:
        conn.execute(
            update(runs).values(
                start_time=runs.c.start_time - 100 * DAY, end_time=runs.c.end_time - 100 * DAY
            )
        )
    client.retention.set("runs", older_than_ms=90 * DAY)
    assert client.retention.apply(dry_run=True).deleted == [], "runs rules leave pipelines alone"
    client.retention.set("pipeline_runs", older_than_ms=90 * DAY, pipeline="squared")

    report = client.retention.apply()
    step = registered.steps["square"].run_id
    assert {i.run_id: i.reasons for i in report.kept} == {
        reused.run_id: [
            f"step run {hit.steps['square'].run_id} of pipeline run {hit.run_id} reuses the "
            f"outputs of its run {reused.steps['square'].run_id} (square) from the cache"
        ],
        registered.run_id: [f"model version sq/1 was registered from its run {step} (square)"],
    }
    assert [(i.run_id, i.runs) for i in report.deleted] == [(hit.run_id, 2)]
    assert not exists(client, hit.run_id)
    assert not exists(client, hit.steps["square"].run_id)

    # The run that reused its outputs is gone: the next pass takes the producer too.
    after = client.retention.apply()
    assert [(i.run_id, i.runs) for i in after.deleted] == [(reused.run_id, 2)]
    assert exists(client, registered.run_id)


@contextmanager
def clock_shifted(store: Store, by_ms: int) -> Iterator[None]:
    """The backend that writes (the server's, for REST) records changes ``by_ms`` earlier."""
    real = store.local.clock
    store.local.clock = lambda: real() - by_ms
    try:
        yield
    finally:
        store.local.clock = real


def test_old_audit_records_are_pruned_and_the_chain_still_verifies(store: Store) -> None:
    client = store.client
    with clock_shifted(store, 400 * DAY):
        exp = client.create_experiment("old")
        for _ in range(3):
            client.set_terminated(client.create_run(exp.id).id)
        signed = client.audit.checkpoint().model_dump()
    old = len(list(client.audit.records()))
    at_the_edge = client.audit.checkpoint().model_dump()  # of the last old record
    client.create_experiment("recent")
    client.retention.set("audit", older_than_ms=365 * DAY)
    total = len(list(client.audit.records()))

    dry = client.retention.apply(dry_run=True)
    assert dry.rules[0].audit is not None
    assert (dry.rules[0].audit.first_seq, dry.rules[0].audit.through_seq) == (1, old)
    assert len(list(client.audit.records())) == total, "a dry run prunes nothing"

    report = client.retention.apply()
    assert report.pruned_records == old
    records = list(client.audit.records())
    assert records[0].seq == old + 1
    anchor, applied = records[-2:]
    assert (anchor.target_kind, anchor.target_id) == ("audit", f"pruned-through/{old}")
    assert (applied.action, applied.after and applied.after["audit_records_pruned"]) == (
        "retention.applied",
        old,
    )
    verdict = client.audit.verify()
    assert verdict.ok, verdict.reason
    assert verdict.pruned is not None
    assert (verdict.pruned.through_seq, verdict.pruned.action) == (old, "retention.applied")
    assert verdict.pruned.recorded_seq == anchor.seq
    older = client.audit.verify(signed)
    assert older.ok
    assert older.checkpoint is not None
    assert older.checkpoint.pruned
    assert "was pruned by retention" in (older.checkpoint.reason or "")
    edge = client.audit.verify(at_the_edge)
    assert edge.ok
    assert edge.checkpoint is not None
    assert (edge.checkpoint.seq, edge.checkpoint.matches) == (old, True)
    exported = [r.model_dump(mode="json") for r in client.audit.records()]
    assert verify_records(exported, start=(old, verdict.pruned.through_hash)).ok, (
        "an export of a pruned log verifies on its own from its anchor"
    )
    assert client.retention.apply().pruned_records == 0, "what is left is young"

    # Deleting more of the start than retention pruned is still deleting.
    with store.local.db.write() as conn:
        conn.execute(delete(audit_records).where(audit_records.c.seq == old + 1))
    broken = client.audit.verify()
    assert not broken.ok
    assert broken.broken_at == old + 2
    assert "missing: deleted" in (broken.reason or "")


def test_records_deleted_from_the_start_without_a_prune_are_reported(store: Store) -> None:
    client = store.client
    exp = client.create_experiment("tampered")
    client.set_terminated(client.create_run(exp.id).id)
    with store.local.db.write() as conn:
        conn.execute(delete(audit_records).where(audit_records.c.seq <= 2))
    verdict = client.audit.verify()
    assert not verdict.ok
    assert (verdict.broken_at, verdict.pruned) == (3, None)
    assert "seq 1 to 2) are missing: deleted" in (verdict.reason or "")
