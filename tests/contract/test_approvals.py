"""Protected aliases and traffic, and approval requests, the same on every backend.

Roles come from ``Authenticated``, the rule of a server with auth on; here each caller's
role is given by name (``RolesByName``), so the same flows run embedded on SQLite and
PostgreSQL and through REST, where the caller's name travels as ``X-Modelyard-User``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from modelyard.approvals import operations as ops
from modelyard.approvals.models import CreateProtectionRule, DecideApproval
from modelyard.client.client import Client
from modelyard.core.permissions import Authenticated
from modelyard.core.remote import RemoteBackend
from modelyard.core.roles import Role
from modelyard.core.unit_of_work import Actor
from modelyard.errors import (
    AlreadyExists,
    ApprovalRequested,
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from modelyard.storage.db.tables import audit_records, outbox
from tests.contract.conftest import Calling, Store


class RolesByName:
    """``Authenticated``'s decision, for callers whose role in ``default`` is set by name."""

    def __init__(self, roles: dict[str, Role]) -> None:
        self.roles = roles

    def check(
        self, actor: Actor, permission: str, operation: str, workspace: str = "default"
    ) -> None:
        role = self.roles.get(actor.name)
        proven = replace(
            actor, authenticated=True, roles=() if role is None else (("default", int(role)),)
        )
        Authenticated().check(proven, permission, operation, workspace)


Acting = Callable[[str], Client]


@pytest.fixture
def acting(store: Store, tmp_path: Path) -> Acting:
    """``acting("carol")``: a client whose calls are carol's."""
    roles = {
        "owner": Role.ADMIN,
        "alice": Role.APPROVER,
        "bob": Role.APPROVER,
        "carol": Role.CONTRIBUTOR,
        "vic": Role.VIEWER,
    }
    store.local.permissions = RolesByName(roles)
    clients: dict[str, Client] = {}

    def as_user(name: str) -> Client:
        if name not in clients:
            if store.kind == "rest":
                remote = store.client.backend
                assert isinstance(remote, RemoteBackend)
                backend = RemoteBackend(remote.base_url, user=name, retries=1)
                clients[name] = Client(settings=store.client.settings, backend=backend)
            else:
                acts = Calling(store.local, actor=name)
                clients[name] = Client(settings=store.client.settings, backend=acts)  # type: ignore[arg-type]
        return clients[name]

    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.bin").write_bytes(b"weights")
    owner = as_user("owner")
    for _ in range(3):
        owner.registry.register("churn", folder)
    owner.registry.register("fraud", folder)
    owner.registry.set_alias("churn", "champion", 1)
    return as_user


def _records(store: Store, action_prefix: str) -> list[dict[str, object]]:
    with store.local.db.read() as conn:
        rows = conn.execute(
            select(audit_records).where(audit_records.c.action.like(action_prefix + "%"))
        ).mappings()
        return [dict(r) for r in rows]


def _events(store: Store, prefix: str) -> list[dict[str, object]]:
    with store.local.db.read() as conn:
        rows = conn.execute(select(outbox).where(outbox.c.type.like(prefix + "%"))).mappings()
        return [dict(r) for r in rows]


def test_rules_are_made_listed_and_removed_by_workspace_admins(
    store: Store, acting: Acting
) -> None:
    owner = acting("owner")
    alias = owner.approvals.protect_alias("churn", "champion", reason="production model")
    traffic = owner.approvals.protect_traffic("*", require_approval=True)
    assert (alias.kind, alias.scope, alias.require_approval, alias.created_by) == (
        "alias",
        "churn@champion",
        False,
        "owner",
    )
    assert alias.target_uri == "models:/churn@champion"
    assert traffic.target_uri == "endpoints:/*/traffic"
    assert [r.id for r in acting("vic").approvals.rules()] == [alias.id, traffic.id]
    assert [r.id for r in owner.approvals.rules(kind="traffic")] == [traffic.id]
    with pytest.raises(AlreadyExists, match=rf"protected already \(rule {alias.id}\)"):
        owner.approvals.protect_alias("churn", "champion", require_approval=True)
    with pytest.raises(PermissionDenied, match="protection:admin"):
        acting("alice").approvals.protect_alias("churn", "challenger")
    owner.approvals.remove_rule(alias.id, reason="retired")
    assert [r.id for r in owner.approvals.rules()] == [traffic.id]
    with pytest.raises(NotFound, match=f"protection rule '{alias.id}' does not exist"):
        owner.approvals.remove_rule(alias.id)
    actions = [r["action"] for r in _records(store, "protection.")]
    assert actions == ["protection.rule.created"] * 2 + ["protection.rule.deleted"]
    assert len(_events(store, "protection.rule.")) == 3


BAD_RULES = [
    ({"kind": "alias", "model": "churn"}, "an alias rule names a model and an alias"),
    ({"kind": "alias", "endpoint": "churn"}, "an alias rule names a model and an alias"),
    ({"kind": "traffic", "model": "churn"}, "a traffic rule names an endpoint"),
    ({"kind": "traffic", "endpoint": "Bad Name"}, "endpoint"),
    ({"kind": "alias", "model": "churn", "alias": "Champion!"}, "alias"),
    ({"kind": "branch", "model": "churn", "alias": "x"}, "kind"),
    ({"kind": "alias", "model": "c*", "alias": "x"}, "model"),
]


def test_a_bad_rule_is_refused_saying_what_is_wrong(store: Store, acting: Acting) -> None:
    owner = acting("owner")
    for fields, message in BAD_RULES:
        with pytest.raises(InvalidInput, match=message):
            owner.backend.call(ops.create_protection_rule, CreateProtectionRule(**fields))
    assert owner.approvals.rules() == []


def test_a_protected_alias_needs_an_approver_and_a_reason(store: Store, acting: Acting) -> None:
    acting("owner").approvals.protect_alias("*", "champion")
    carol, alice = acting("carol"), acting("alice")
    with pytest.raises(PermissionDenied, match=r"models:/churn@champion is protected .*approver"):
        carol.registry.set_alias("churn", "champion", 2, reason="better AUC")
    with pytest.raises(PermissionDenied, match="is protected"):
        carol.registry.delete_alias("churn", "champion", reason="cleanup")
    with pytest.raises(InvalidInput, match="changing it needs a reason"):
        alice.registry.set_alias("churn", "champion", 2)
    moved = alice.registry.set_alias("churn", "champion", 2, reason="better AUC")
    assert "champion" in moved.aliases
    # Other aliases, and other models' other aliases, are not protected.
    carol.registry.set_alias("churn", "challenger", 3)
    assert carol.registry.version("churn", 3).aliases == ["challenger"]
    history = alice.registry.alias_history("churn", "champion")
    assert (history[-1].actor, history[-1].reason) == ("alice", "better AUC")
    assert _records(store, "approval.") == []


def test_a_contributors_change_becomes_a_request_an_approver_decides(
    store: Store, acting: Acting
) -> None:
    acting("owner").approvals.protect_alias("churn", "champion", require_approval=True)
    carol, alice, vic = acting("carol"), acting("alice"), acting("vic")
    with pytest.raises(InvalidInput, match="asking for approval needs a reason"):
        carol.registry.set_alias("churn", "champion", 3)
    with pytest.raises(ApprovalRequested, match="approval request") as asked:
        carol.registry.set_alias("churn", "champion", 3, reason="v3 wins the A/B test")
    request_id = asked.value.approval_id
    # Not made yet.
    assert carol.registry.version("churn", 1).aliases == ["champion"]
    pending = vic.approvals.list()
    assert [(a.id, a.state, a.requested_by) for a in pending] == [(request_id, "pending", "carol")]
    assert pending[0].summary == "point churn@champion at version 3"
    assert pending[0].reason == "v3 wins the A/B test"
    assert pending[0].target_uri == "models:/churn@champion"
    with pytest.raises(PermissionDenied, match="approvals:approve"):
        carol.approvals.approve(request_id)
    decided = alice.approvals.approve(request_id, reason="checked the report")
    assert (decided.state, decided.decided_by, decided.decision_reason) == (
        "approved",
        "alice",
        "checked the report",
    )
    assert carol.registry.version("churn", 3).aliases == ["champion"]
    assert vic.approvals.list() == []
    assert vic.approvals.list(state="approved")[0].id == request_id
    with pytest.raises(Conflict, match="was approved already, by alice"):
        acting("bob").approvals.approve(request_id)
    # Request, decision and change: each audited and evented.
    asked_record = _records(store, "approval.requested")
    assert [(r["actor"], r["target_id"]) for r in asked_record] == [("carol", str(request_id))]
    assert [r["actor"] for r in _records(store, "approval.approved")] == ["alice"]
    change = _records(store, "model.alias.set")[-1]
    assert change["actor"] == "alice"
    assert str(change["reason"]).startswith("v3 wins the A/B test (approval request")
    assert "asked by carol, approved by alice: checked the report" in str(change["reason"])
    history = vic.registry.alias_history("churn", "champion")
    assert history[-1].version == 3
    assert "asked by carol" in str(history[-1].reason)
    types = [e["type"] for e in _events(store, "approval.")]
    assert types == ["approval.requested", "approval.decided"]
    # The version's model card tells who asked, why, and who approved.
    card = vic.registry.card("models:/churn/3")
    [told] = card.considerations.approvals
    assert (told.id, told.requested_by, told.decided_by) == (request_id, "carol", "alice")
    assert vic.registry.card("models:/churn/2").considerations.approvals == []
    decided_event = _events(store, "approval.decided")[0]["payload"]
    assert isinstance(decided_event, dict)
    assert (decided_event["decision"], decided_event["requested_by"]) == ("approved", "carol")


def test_nobody_approves_their_own_request(store: Store, acting: Acting) -> None:
    acting("owner").approvals.protect_traffic("churn", require_approval=True)
    owner = acting("owner")
    owner.serving.create_endpoint("churn")
    owner.serving.create_deployment("churn", "blue", "models:/churn/1")
    owner.serving.create_deployment("churn", "green", "models:/churn/2")
    carol = acting("carol")
    with pytest.raises(ApprovalRequested) as asked:
        carol.serving.set_traffic("churn", {"blue": 50, "green": 50}, reason="canary")
    # carol is promoted meanwhile: still not her own request to approve.
    store.local.permissions.roles["carol"] = Role.APPROVER  # type: ignore[attr-defined]
    with pytest.raises(PermissionDenied, match="is your own: nobody approves their own"):
        carol.approvals.approve(asked.value.approval_id)
    with pytest.raises(PermissionDenied, match="nobody rejects their own"):
        carol.approvals.reject(asked.value.approval_id, reason="changed my mind")
    assert owner.serving.endpoint("churn").traffic == {"blue": 100}
    acting("bob").approvals.approve(asked.value.approval_id)
    assert owner.serving.endpoint("churn").traffic == {"blue": 50, "green": 50}


def test_a_rejected_request_is_never_made(store: Store, acting: Acting) -> None:
    acting("owner").approvals.protect_traffic("*", require_approval=True)
    owner = acting("owner")
    owner.serving.create_endpoint("churn")
    owner.serving.create_deployment("churn", "blue", "models:/churn/1")
    owner.serving.create_deployment("churn", "green", "models:/churn/2")
    carol, alice = acting("carol"), acting("alice")
    with pytest.raises(ApprovalRequested, match=r"roll churn out to green in steps 10/100%"):
        carol.serving.start_rollout("churn", "green", [10, 100], reason="new model")
    request_id = carol.approvals.list()[0].id
    with pytest.raises(InvalidInput, match="a rejection needs a reason"):
        alice.backend.call(ops.reject, DecideApproval(id=request_id))
    rejected = alice.approvals.reject(request_id, reason="wait for the load test")
    assert (rejected.state, rejected.decision_reason) == ("rejected", "wait for the load test")
    with pytest.raises(Conflict, match="was rejected already"):
        alice.approvals.approve(request_id)
    with pytest.raises(NotFound, match="rollout"):
        owner.serving.rollout("churn")
    assert acting("vic").approvals.get(request_id).state == "rejected"
    with pytest.raises(NotFound, match="approval request '999' does not exist"):
        acting("vic").approvals.get(999)
    assert [e["payload"]["decision"] for e in _events(store, "approval.decided")] == [  # type: ignore[index]
        "rejected"
    ]


def test_an_approval_that_can_no_longer_be_made_changes_nothing(
    store: Store, acting: Acting
) -> None:
    acting("owner").approvals.protect_alias("churn", "*", require_approval=True)
    carol = acting("carol")
    with pytest.raises(ApprovalRequested) as asked:
        carol.registry.set_alias("churn", "champion", 2, reason="v2")
    acting("owner").registry.archive("churn", 2)
    with pytest.raises(Conflict, match="archived"):
        acting("alice").approvals.approve(asked.value.approval_id)
    assert acting("vic").approvals.get(asked.value.approval_id).state == "pending"
    assert _records(store, "approval.approved") == []


def test_the_most_exact_rule_decides(store: Store, acting: Acting) -> None:
    owner = acting("owner")
    owner.approvals.protect_alias("*", "production", require_approval=True)
    owner.approvals.protect_alias("fraud", "production")
    carol = acting("carol")
    with pytest.raises(ApprovalRequested):
        carol.registry.set_alias("churn", "production", 1, reason="go live")
    with pytest.raises(PermissionDenied, match="models:/fraud@production is protected"):
        carol.registry.set_alias("fraud", "production", 1, reason="go live")
