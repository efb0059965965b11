"""The audit log as a tool behaves the same on every backend: query, verify, checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from modelyard.client.client import Client
from modelyard.core.checkpoints import check_signature
from modelyard.errors import InvalidInput
from modelyard.governance import operations as ops
from modelyard.governance.models import ListAuditRecords, VerifyAudit
from modelyard.storage.db.tables import outbox
from tests.contract.conftest import Store


def _history(client: Client, model_dir: Path) -> None:
    """A model with two versions and an alias that moves, and an unrelated model."""
    client.registry.register("churn", model_dir, flavor="sklearn", reason="baseline")
    client.registry.register("churn", model_dir, flavor="sklearn", reason="retrained")
    client.registry.set_alias("churn", "champion", 1, reason="first champion")
    client.registry.set_alias("churn", "champion", 2, reason="better AUC")
    client.registry.register("churnish", model_dir, flavor="sklearn")


def test_records_are_found_by_target_action_and_actor(client: Client, model_dir: Path) -> None:
    _history(client, model_dir)
    churn = list(client.audit.records(target="models:/churn"))
    assert [r.target_id for r in churn] == [
        "churn",
        "churn/1",
        "churn/2",
        "churn@champion",
        "churn@champion",
    ], "models:/churn is the model, its versions and its aliases, and never churnish"
    moves = list(client.audit.records(target="models:/churn@champion"))
    assert [(r.reason, r.after and r.after.get("version")) for r in moves] == [
        ("first champion", 1),
        ("better AUC", 2),
    ]
    assert moves[1].before is not None
    assert moves[1].before.get("version") == 1
    assert [r.target_id for r in client.audit.records(target="models:/churn/2")] == ["churn/2"]
    aliases = list(client.audit.records(action="model.alias.*"))
    assert len(aliases) == 2
    assert all(r.action == "model.alias.set" for r in aliases)
    assert all(r.actor == "tester" for r in client.audit.records(actor="tester"))
    assert list(client.audit.records(actor="somebody-else")) == []
    # Underscores and percent signs are literal, not LIKE wildcards.
    assert list(client.audit.records(target="models:/c_urn")) == []


def test_records_page_in_both_directions_and_by_time(client: Client, model_dir: Path) -> None:
    _history(client, model_dir)
    every = list(client.audit.records())
    assert [r.seq for r in every] == list(range(1, len(every) + 1))
    newest = list(client.audit.records(newest_first=True, limit=3))
    assert [r.seq for r in newest] == [every[-1].seq, every[-2].seq, every[-3].seq]
    page = client.backend.call(ops.list_audit_records, ListAuditRecords(limit=2))
    assert [r.seq for r in page.records] == [1, 2]
    assert page.next == 2
    middle = every[len(every) // 2].at
    later = list(client.audit.records(since=middle))
    earlier = list(client.audit.records(until=middle))
    assert later
    assert all(r.at >= middle for r in later)
    assert all(r.at < middle for r in earlier)
    assert len(later) + len(earlier) == len(every)


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"target": "buckets:/x"}, "is not a target the audit log knows"),
        ({"target": "models:/"}, "is not a target the audit log knows"),
        ({"action": "model.*.set"}, "'*' may only end a prefix"),
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"since": -1}, "since"),
    ],
)
def test_bad_queries_are_refused_naming_what_is_wrong(
    client: Client, filters: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        client.backend.call(ops.list_audit_records, ListAuditRecords(**filters))  # type: ignore[arg-type]


def test_a_checkpoint_is_signed_published_audited_and_holds(
    store: Store, client: Client, model_dir: Path, tmp_path: Path
) -> None:
    _history(client, model_dir)
    tip = list(client.audit.records())[-1]
    made = client.audit.checkpoint(reason="nightly")
    assert (made.seq, made.hash, made.created_by) == (tip.seq, tip.hash, "tester")
    check_signature(made.model_dump())
    # Published outside the database, as a file of the store's home, and as an event.
    published = list((tmp_path / ".modelyard" / "audit" / "checkpoints").glob("*.json"))
    assert len(published) == 1
    [record] = client.audit.records(action="audit.checkpointed")
    assert record.reason == "nightly"
    summary = {"seq": made.seq, "hash": made.hash, "at": made.at, "key_id": made.key_id}
    assert record.after == summary
    with store.local.db.read() as conn:
        types = [r.type for r in conn.execute(select(outbox.c.type))]
    assert "audit.checkpointed" in types

    client.registry.set_alias("churn", "champion", 1, reason="rollback")
    verdict = client.audit.verify(made.model_dump())
    assert verdict.ok
    assert verdict.checkpoint is not None
    assert verdict.checkpoint.matches
    assert verdict.tip_seq == tip.seq + 2  # the checkpoint's own record, then the move


def test_verify_with_a_checkpoint_checks_its_signature_first(
    client: Client, model_dir: Path
) -> None:
    _history(client, model_dir)
    made = client.audit.checkpoint().model_dump()
    forged = {**made, "seq": made["seq"] - 1}
    with pytest.raises(InvalidInput, match="signature does not match"):
        client.audit.verify(forged)
    with pytest.raises(InvalidInput, match="not a Modelyard audit checkpoint"):
        client.audit.verify({"seq": 1})
    with pytest.raises(InvalidInput, match="go together"):
        VerifyAudit(checkpoint_seq=1)


def test_a_fresh_store_verifies(client: Client) -> None:
    verdict = client.audit.verify()
    assert verdict.ok
    assert verdict.checked == verdict.tip_seq
