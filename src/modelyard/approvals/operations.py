"""Protection rules and approval requests (``core/protection.py`` screens the changes).

Rules are a workspace admin's (``protection:admin``), visible to every member. A pending
request is decided by an approver (``approvals:approve``) who did not ask for it: approving
runs the stored change in the same transaction, under the change's own declared action,
with a reason that says who asked, why, and who approved; rejecting keeps it undone.
Request, decision and change are each audited and evented.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, delete, insert, select, update

from modelyard.approvals.models import (
    ApprovalList,
    CreateProtectionRule,
    DecideApproval,
    DeleteProtectionRule,
    GetApproval,
    ListApprovals,
    ListProtectionRules,
    ProtectionRule,
    ProtectionRuleList,
    StateFilter,
)
from modelyard.core.guards import ProtectedKind
from modelyard.core.operations import Done, Operation, OperationContext, OperationSet
from modelyard.core.protection import (
    ApprovalRequest,
    ApprovalState,
    approval_from_row,
    decision_event,
    ensure_workspace_row,
)
from modelyard.errors import AlreadyExists, Conflict, InvalidInput, NotFound, PermissionDenied
from modelyard.governance.targets import escape_like
from modelyard.registry.operations import delete_alias, set_alias
from modelyard.serving.operations import set_traffic
from modelyard.serving.rollouts import start_rollout
from modelyard.storage.db.tables import approval_requests, protection_rules

ops = OperationSet("approvals")

# Every operation a rule can protect, by name: what an approval runs.
PROTECTED_OPERATIONS: dict[str, Operation[Any, Any]] = {
    op.name: op for op in (set_alias, delete_alias, set_traffic, start_rollout)
}


def _rule(row: Any) -> ProtectionRule:
    return ProtectionRule.model_validate(dict(row))


@ops.write(
    "POST", "/protection-rules", permission="protection:admin", audit="protection.rule.created"
)
def create_protection_rule(ctx: OperationContext, req: CreateProtectionRule) -> ProtectionRule:
    """Protect an alias or an endpoint's traffic: changing it then needs the approver role
    and a reason, or (``require_approval``) an approver's approval of a contributor's
    request."""
    ensure_workspace_row(ctx)
    c = protection_rules.c
    taken = ctx.conn.execute(
        select(c.id).where(
            c.workspace == ctx.workspace, c.kind == req.kind.value, c.scope == req.scope
        )
    ).first()
    if taken is not None:
        raise AlreadyExists(
            f"{req.kind.value} '{req.scope}' is protected already (rule {taken.id}): remove "
            f"that rule first to change it (modelyard protection remove {taken.id})",
            details={"rule": taken.id},
        )
    row: dict[str, Any] = {
        "workspace": ctx.workspace,
        "kind": req.kind.value,
        "scope": req.scope,
        "require_approval": req.require_approval,
        "created_at": ctx.now_ms(),
        "created_by": ctx.actor.name,
    }
    made = ctx.conn.execute(insert(protection_rules).values(row)).inserted_primary_key
    assert made is not None
    row["id"] = int(made[0])
    rule = _rule(row)
    ctx.work.record("protection_rule", str(rule.id), after=rule.model_dump(mode="json"))
    ctx.work.emit(
        "protection.rule.created",
        f"protection-rules/{rule.id}",
        {"id": rule.id, "target": rule.target_uri, "require_approval": rule.require_approval},
    )
    return rule


@ops.read("/protection-rules", permission="protection:read")
def list_protection_rules(ctx: OperationContext, req: ListProtectionRules) -> ProtectionRuleList:
    """The workspace's protection rules, oldest first."""
    c = protection_rules.c
    query = select(protection_rules).where(c.workspace == ctx.workspace).order_by(c.id)
    if req.kind is not None:
        query = query.where(c.kind == req.kind.value)
    return ProtectionRuleList(rules=[_rule(r) for r in ctx.conn.execute(query).mappings()])


@ops.write(
    "DELETE",
    "/protection-rules/{id}",
    permission="protection:admin",
    audit="protection.rule.deleted",
)
def delete_protection_rule(ctx: OperationContext, req: DeleteProtectionRule) -> Done:
    """Remove a protection rule; requests it caused stay as they are."""
    c = protection_rules.c
    where = (c.id == req.id, c.workspace == ctx.workspace)
    row = ctx.conn.execute(select(protection_rules).where(*where)).mappings().first()
    if row is None:
        raise NotFound.of("protection rule", req.id)
    rule = _rule(row)
    ctx.conn.execute(delete(protection_rules).where(*where))
    ctx.work.record("protection_rule", str(rule.id), before=rule.model_dump(mode="json"))
    ctx.work.emit(
        "protection.rule.deleted",
        f"protection-rules/{rule.id}",
        {"id": rule.id, "target": rule.target_uri},
    )
    return Done()


@ops.read("/approvals", permission="approvals:read")
def list_approvals(ctx: OperationContext, req: ListApprovals) -> ApprovalList:
    """Approval requests, newest first: the pending ones unless ``state`` says otherwise."""
    c = approval_requests.c
    query = select(approval_requests).where(c.workspace == ctx.workspace)
    if req.state != StateFilter.ALL:
        query = query.where(c.state == req.state.value)
    if req.requested_by is not None:
        query = query.where(c.requested_by == req.requested_by)
    if req.target is not None:
        query = query.where(_target_condition(req.target))
    rows = ctx.conn.execute(query.order_by(c.id.desc()).limit(req.limit)).mappings()
    return ApprovalList(approvals=[approval_from_row(r) for r in rows])


def _target_condition(target: str) -> ColumnElement[bool]:
    """The requests about ``target``: ``models:/NAME`` (any alias), ``models:/NAME@ALIAS``
    or ``endpoints:/NAME`` (its traffic)."""
    c = approval_requests.c
    if target.startswith("models:/"):
        name = target.removeprefix("models:/")
        if "@" in name:
            return and_(c.kind == ProtectedKind.ALIAS.value, c.target == name)
        return and_(
            c.kind == ProtectedKind.ALIAS.value,
            c.target.like(escape_like(name) + "@%", escape="\\"),
        )
    if target.startswith("endpoints:/"):
        name = target.removeprefix("endpoints:/").removesuffix("/traffic")
        return and_(c.kind == ProtectedKind.TRAFFIC.value, c.target == name)
    raise InvalidInput(
        f"target '{target}': write models:/NAME, models:/NAME@ALIAS or endpoints:/NAME",
        details={"target": target},
    )


def _approval(ctx: OperationContext, approval_id: int, *, lock: bool = False) -> ApprovalRequest:
    c = approval_requests.c
    query = select(approval_requests).where(c.id == approval_id, c.workspace == ctx.workspace)
    row = ctx.conn.execute(query.with_for_update() if lock else query).mappings().first()
    if row is None:
        raise NotFound.of("approval request", approval_id)
    return approval_from_row(row)


@ops.read("/approvals/{id}", permission="approvals:read")
def get_approval(ctx: OperationContext, req: GetApproval) -> ApprovalRequest:
    """One approval request: the change asked for, by whom and why, and its decision."""
    return _approval(ctx, req.id)


def _pending(ctx: OperationContext, approval_id: int, verb: str) -> ApprovalRequest:
    """The request, locked, if the actor may decide it now."""
    approval = _approval(ctx, approval_id, lock=True)
    if approval.state != ApprovalState.PENDING:
        raise Conflict(
            f"approval request {approval.id} was {approval.state.value} already, by "
            f"{approval.decided_by}: a request is decided once",
            details={"approval": approval.id, "state": approval.state.value},
        )
    if approval.requested_by == ctx.actor.name:
        raise PermissionDenied(
            f"approval request {approval.id} is your own: nobody {verb}s their own request; "
            "another approver decides it",
            details={"permission": "approvals:approve", "approval": approval.id},
        )
    return approval


def _decide(
    ctx: OperationContext, approval: ApprovalRequest, state: ApprovalState
) -> ApprovalRequest:
    decided = approval.model_copy(
        update={
            "state": state,
            "decided_by": ctx.actor.name,
            "decided_at": ctx.now_ms(),
            "decision_reason": ctx.work.reason,
        }
    )
    ctx.conn.execute(
        update(approval_requests)
        .where(approval_requests.c.id == approval.id)
        .values(
            state=state.value,
            decided_by=decided.decided_by,
            decided_at=decided.decided_at,
            decision_reason=decided.decision_reason,
        )
    )
    ctx.work.record(
        "approval",
        str(approval.id),
        before=approval.model_dump(mode="json"),
        after=decided.model_dump(mode="json"),
    )
    ctx.work.emit("approval.decided", f"approvals/{approval.id}", decision_event(decided))
    return decided


@ops.write(
    "POST", "/approvals/{id}/approve", permission="approvals:approve", audit="approval.approved"
)
def approve(ctx: OperationContext, req: DecideApproval) -> ApprovalRequest:
    """Approve a pending request: its change is made now, in this transaction (if it no
    longer can be, nothing is, and the request stays pending)."""
    approval = _pending(ctx, req.id, "approve")
    op = PROTECTED_OPERATIONS.get(approval.operation)
    if op is None:
        raise Conflict(
            f"approval request {approval.id} asks for {approval.operation}, which this server "
            "cannot run: reject it",
            details={"approval": approval.id},
        )
    change = op.parse(approval.request)
    decided = _decide(ctx, approval, ApprovalState.APPROVED)
    why = (
        f"{approval.reason} (approval request {approval.id}: asked by {approval.requested_by}, "
        f"approved by {ctx.actor.name}"
        + (f": {decided.decision_reason})" if decided.decision_reason else ")")
    )
    with ctx.work.explained(why):
        ctx.call(op, change)
    return decided


@ops.write(
    "POST", "/approvals/{id}/reject", permission="approvals:approve", audit="approval.rejected"
)
def reject(ctx: OperationContext, req: DecideApproval) -> ApprovalRequest:
    """Reject a pending request with a reason; its change is never made."""
    if not (ctx.work.reason or "").strip():
        raise InvalidInput(
            "a rejection needs a reason, for the one who asked: give it with --reason "
            "(the X-Modelyard-Reason header over REST)"
        )
    return _decide(ctx, _pending(ctx, req.id, "reject"), ApprovalState.REJECTED)


OPERATIONS = ops.operations
