"""Protected changes: an alias or an endpoint's traffic that only approvers may move.

An operation that changes something a rule can protect declares a ``Guard``
(``core/guards.py``). The local backend calls ``screen`` before such an operation's
handler runs, in the same transaction, so no adapter can skip it:

* no rule covers the target: the change runs as any other;
* a rule covers it: the change needs a reason, and the approver role
  (``approvals:approve``) in the workspace;
* a caller without that role is refused (403), unless the rule says ``require_approval``:
  then the change is kept as an approval request instead, audited and evented, and the
  caller is told so with ``ApprovalRequested`` (HTTP 202). An approver's decision runs it
  (``governance/approvals.py``); nobody approves their own request.

A rule names its target exactly or with ``*`` for a whole part: ``churn@champion``,
``*@production`` (that alias of every model), ``churn@*``; an endpoint's name, or ``*``.
The most exact rule that matches decides.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from sqlalchemy import insert, select

from modelyard.core.guards import Guard, ProtectedKind, protected_uri
from modelyard.core.operations import Model, Operation, OperationContext
from modelyard.core.permissions import PermissionCheck
from modelyard.core.unit_of_work import ActionPolicy
from modelyard.errors import InvalidInput, PermissionDenied
from modelyard.storage.db.inserts import insert_if_absent
from modelyard.storage.db.tables import approval_requests, protection_rules, workspaces

# The permission a protected change needs: the approver role (core/roles.py, by its verb).
APPROVE_PERMISSION = "approvals:approve"
# How the request a contributor leaves is recorded: under its own action and event, inside
# the transaction of the operation it stands for (which then changes nothing itself).
REQUEST_POLICY = ActionPolicy("approval.requested")


class ApprovalState(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class ApprovalRequest(Model):
    """A protected change a contributor asked for, and what became of it."""

    id: int
    workspace: str
    operation: str
    kind: ProtectedKind
    target: str
    summary: str
    request: dict[str, Any]
    rule_id: int | None
    state: ApprovalState
    requested_by: str
    requested_at: int
    reason: str
    decided_by: str | None = None
    decided_at: int | None = None
    decision_reason: str | None = None

    @property
    def target_uri(self) -> str:
        return protected_uri(self.kind, self.target)


@dataclass(frozen=True)
class Rule:
    id: int
    kind: ProtectedKind
    scope: str
    require_approval: bool


def _candidates(kind: ProtectedKind, target: str) -> list[str]:
    """The scopes that cover ``target``, most exact first."""
    if kind == ProtectedKind.ALIAS:
        model, _, alias = target.partition("@")
        return [target, f"{model}@*", f"*@{alias}", "*@*"]
    return [target, "*"]


def rule_for(ctx: OperationContext, kind: ProtectedKind, target: str) -> Rule | None:
    """The most exact rule that protects ``target``, or None."""
    candidates = _candidates(kind, target)
    c = protection_rules.c
    rows = ctx.conn.execute(
        select(c.id, c.scope, c.require_approval).where(
            c.workspace == ctx.workspace, c.kind == kind.value, c.scope.in_(candidates)
        )
    ).all()
    if not rows:
        return None
    best = min(rows, key=lambda r: candidates.index(r.scope))
    return Rule(int(best.id), kind, str(best.scope), bool(best.require_approval))


def ensure_workspace_row(ctx: OperationContext) -> None:
    """The workspace's row in its own database, which its records name; ``default``'s is
    made on first use."""
    insert_if_absent(ctx.conn, workspaces, {"name": ctx.workspace, "created_at": ctx.now_ms()})


def approval_from_row(row: Any) -> ApprovalRequest:
    return ApprovalRequest.model_validate(dict(row))


def screen(
    ctx: OperationContext,
    op: Operation[Any, Any],
    guard: Guard,
    request: BaseModel,
    permissions: PermissionCheck,
) -> ApprovalRequest | None:
    """Whether the protected change ``request`` may run now (None), becomes an approval
    request (returned, already recorded), or is refused (raises)."""
    target = guard.target(request)
    rule = rule_for(ctx, guard.kind, target)
    if rule is None:
        return None
    uri = protected_uri(guard.kind, target)
    try:
        permissions.check(ctx.actor, APPROVE_PERMISSION, op.name, ctx.workspace)
        allowed = True
    except PermissionDenied:
        if not rule.require_approval:
            raise PermissionDenied(
                f"{uri} is protected (rule {rule.id}): changing it needs the approver role "
                f"({APPROVE_PERMISSION}); ask an approver to make the change, or a workspace "
                "admin to let contributors request approval "
                "(modelyard protection add ... --require-approval)",
                details={"permission": APPROVE_PERMISSION, "rule": rule.id, "target": uri},
            ) from None
        allowed = False
    reason = ctx.work.reason
    if not reason or not reason.strip():
        asked = "changing it" if allowed else "asking for approval"
        raise InvalidInput(
            f"{uri} is protected (rule {rule.id}): {asked} needs a reason; give one with "
            "--reason (the X-Modelyard-Reason header over REST)",
            details={"rule": rule.id, "target": uri},
        )
    if allowed:
        return None
    return _request_approval(ctx, op, guard, request, rule, target, reason)


def _request_approval(
    ctx: OperationContext,
    op: Operation[Any, Any],
    guard: Guard,
    request: BaseModel,
    rule: Rule,
    target: str,
    reason: str,
) -> ApprovalRequest:
    ensure_workspace_row(ctx)
    row: dict[str, Any] = {
        "workspace": ctx.workspace,
        "operation": op.name,
        "request": request.model_dump(mode="json", by_alias=True),
        "kind": guard.kind.value,
        "target": target,
        "summary": guard.describe(request)[:1000],
        "rule_id": rule.id,
        "state": ApprovalState.PENDING.value,
        "requested_by": ctx.actor.name,
        "requested_at": ctx.now_ms(),
        "reason": reason,
    }
    made = ctx.conn.execute(insert(approval_requests).values(row)).inserted_primary_key
    assert made is not None
    row["id"] = int(made[0])
    approval = approval_from_row(row)
    with ctx.work.acting(REQUEST_POLICY):
        ctx.work.record("approval", str(approval.id), after=approval.model_dump(mode="json"))
        ctx.work.emit("approval.requested", f"approvals/{approval.id}", _event(approval))
    return approval


def _event(approval: ApprovalRequest) -> dict[str, Any]:
    return {
        "id": approval.id,
        "operation": approval.operation,
        "target": approval.target_uri,
        "summary": approval.summary,
        "state": approval.state.value,
        "requested_by": approval.requested_by,
        "reason": approval.reason,
        "decided_by": approval.decided_by,
        "decision_reason": approval.decision_reason,
    }


def decision_event(approval: ApprovalRequest) -> dict[str, Any]:
    """The ``approval.decided`` event's data."""
    return {**_event(approval), "decision": approval.state.value}
