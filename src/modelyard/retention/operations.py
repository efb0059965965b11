"""Retention operations: set, list and delete rules; apply them now (or see what would go).

Rules are a workspace admin's (``retention:admin``), and so is applying them; every member
may read them (``retention:read``). A pass deletes at most ``limit`` runs, each through
tracking's ``delete_run`` (audited as ``run.deleted``, with its event), prunes at most
``core.audit.MAX_PRUNE`` audit records, and is itself audited as ``retention.applied``
when it changed anything; a dry run changes nothing and records nothing. The scheduler
applies the rules periodically (``retention/scheduled.py``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update

from modelyard.core import audit
from modelyard.core.operations import Done, OperationContext, OperationSet
from modelyard.errors import NotFound
from modelyard.retention import rules as stored
from modelyard.retention.models import (
    ApplyRetention,
    AuditPrune,
    DeleteRetentionRule,
    ListRetentionRules,
    RetentionReport,
    RetentionRule,
    RetentionRuleList,
    RuleOutcome,
    SetRetentionRule,
)
from modelyard.retention.runs import Budget, Listing, apply_rule
from modelyard.storage.db.inserts import dialect_insert
from modelyard.storage.db.tables import retention_rules
from modelyard.tracking import operations as tracking
from modelyard.tracking.models import EnsureWorkspace

ops = OperationSet("retention")
# Rules belong to the workspace they are set in, and a pass applies that workspace's.


def _rule_event(rule: RetentionRule) -> dict[str, Any]:
    return {
        "rule_id": rule.id,
        "workspace": rule.workspace,
        "kind": rule.kind,
        "scope": rule.scope or None,
        "older_than_ms": rule.older_than_ms,
    }


@ops.write("PUT", "/retention/rules", permission="retention:admin", audit="retention.rule.set")
def set_rule(ctx: OperationContext, req: SetRetentionRule) -> RetentionRule:
    """Set how old a kind of thing (of one experiment or pipeline, or all) may grow: a new
    rule, or the period of the rule for the same things changed."""
    workspace = ctx.workspace
    ctx.call(tracking.ensure_workspace, EnsureWorkspace(name=workspace))
    stored.check_scope(ctx.conn, req, workspace)
    key = {"workspace": workspace, "kind": req.kind, "scope": req.scope}
    before = stored.rule_row(ctx.conn, **key)
    if before is not None and before["older_than_ms"] == req.older_than_ms:
        return stored.rule_from_row(before)
    now = ctx.now_ms()
    changes = {"older_than_ms": req.older_than_ms, "updated_at": now, "updated_by": ctx.actor.name}
    if before is None:
        row = {**key, **changes, "created_at": now, "created_by": ctx.actor.name}
        # A concurrent writer may have made the same rule meanwhile: then this sets its period.
        inserted = ctx.conn.execute(
            dialect_insert(ctx.conn, retention_rules)
            .on_conflict_do_nothing()
            .returning(retention_rules.c.id),
            row,
        ).first()
        if inserted is None:
            before = stored.rule_row(ctx.conn, **key)
    if before is not None:
        ctx.conn.execute(
            update(retention_rules).where(retention_rules.c.id == before["id"]).values(changes)
        )
    after = stored.rule_row(ctx.conn, **key)
    assert after is not None
    rule = stored.rule_from_row(after)
    ctx.work.record("retention_rule", str(rule.id), before=before, after=after)
    ctx.work.emit("retention.rule.set", f"retention/rules/{rule.id}", _rule_event(rule))
    return rule


@ops.read("/retention/rules", permission="retention:read")
def list_rules(ctx: OperationContext, req: ListRetentionRules) -> RetentionRuleList:
    """The workspace's retention rules: those on runs first, the audit log's last."""
    return RetentionRuleList(rules=stored.rules_of(ctx.conn, ctx.workspace))


@ops.write(
    "DELETE",
    "/retention/rules/{rule_id}",
    permission="retention:admin",
    audit="retention.rule.deleted",
)
def delete_rule(ctx: OperationContext, req: DeleteRetentionRule) -> Done:
    """Delete a rule: what it would have deleted stays, until another rule covers it."""
    c = retention_rules.c
    before = ctx.conn.execute(select(retention_rules).where(c.id == req.rule_id)).mappings().first()
    if before is None:
        raise NotFound(
            f"retention rule {req.rule_id} does not exist: `modelyard retention list` shows "
            "the rules and their ids",
            details={"kind": "retention rule", "id": str(req.rule_id)},
        )
    ctx.conn.execute(delete(retention_rules).where(c.id == req.rule_id))
    rule = stored.rule_from_row(before)
    ctx.work.record("retention_rule", str(rule.id), before=dict(before))
    ctx.work.emit("retention.rule.deleted", f"retention/rules/{rule.id}", _rule_event(rule))
    return Done()


def _prune_audit(
    ctx: OperationContext, rule: RetentionRule, cutoff: int, dry_run: bool
) -> RuleOutcome:
    plan = audit.plan_prune(ctx.conn, before=cutoff)
    outcome = RuleOutcome(rule=rule, cutoff=cutoff, deleted=0, kept=0, more=False)
    if plan is None:
        return outcome
    pruned = AuditPrune.model_validate(plan.anchor())
    if plan.problem is not None:
        return outcome.model_copy(update={"problem": plan.problem})
    if not dry_run:
        audit.prune(ctx.conn, plan)
        # The anchor the chain now starts from, in the chain itself (core/audit.py).
        ctx.work.record(
            audit.ANCHOR_KIND,
            audit.anchor_target(plan.through_seq),
            after={**plan.anchor(), "rule_id": rule.id, "cutoff": cutoff},
        )
    return outcome.model_copy(
        update={"deleted": plan.count, "audit": pruned, "more": plan.count >= audit.MAX_PRUNE}
    )


@ops.write("POST", "/retention/apply", permission="retention:admin", audit="retention.applied")
def apply_retention(ctx: OperationContext, req: ApplyRetention) -> RetentionReport:
    """Apply the workspace's rules now: delete old runs nothing keeps (at most ``limit``)
    and prune old audit records; ``dry_run`` lists what would go and why the rest stays."""
    workspace = ctx.workspace
    now = ctx.now_ms()
    budget, listing = Budget(left=req.limit), Listing()
    outcomes = []
    for rule in stored.rules_of(ctx.conn, workspace):
        cutoff = now - rule.older_than_ms
        if rule.kind == "audit":
            outcomes.append(_prune_audit(ctx, rule, cutoff, req.dry_run))
        else:
            outcomes.append(
                apply_rule(ctx, rule, cutoff, dry_run=req.dry_run, budget=budget, listing=listing)
            )
    report = RetentionReport(
        dry_run=req.dry_run,
        rules=outcomes,
        deleted=listing.deleted,
        kept=listing.kept,
        truncated=listing.truncated,
        more=any(o.more for o in outcomes),
    )
    if not req.dry_run and (report.deleted_runs or report.pruned_records):
        # Each run.deleted record says why, even when the caller did not.
        acted = [o.rule for o in outcomes if o.deleted]
        ctx.work.default_reason("retention: " + "; ".join(r.describe() for r in acted))
        summary = {
            "workspace": workspace,
            "runs_deleted": report.deleted_runs,
            "audit_records_pruned": report.pruned_records,
            "by_rule": {str(o.rule.id): o.deleted for o in outcomes if o.deleted},
            "more": report.more,
        }
        ctx.work.record("retention", workspace, after=summary)
        ctx.work.emit("retention.applied", f"retention/{workspace}", summary)
    return report


OPERATIONS = ops.operations
