"""Audit operations: query the log, verify its chain, checkpoint its tip (DESIGN invariant 3).

Reading the log is ``audit:read`` (admins, and approvers for their workspace, once roles
exist); a checkpoint is ``audit:write`` and is itself an audited change with an event, so
subscribers learn each published tip.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from modelyard.core.audit import PruneAnchor, verify_chain
from modelyard.core.operations import OperationContext, OperationSet
from modelyard.errors import InvalidInput
from modelyard.governance.models import (
    AuditPage,
    AuditRecord,
    AuditVerdict,
    Checkpoint,
    CheckpointVerdict,
    CreateCheckpoint,
    ListAuditRecords,
    PrunedPrefix,
    VerifyAudit,
)
from modelyard.governance.targets import escape_like, parse_target
from modelyard.storage.db.tables import audit_chain_head, audit_records

ops = OperationSet("governance")


@ops.read("/audit/records", permission="audit:read")
def list_audit_records(ctx: OperationContext, req: ListAuditRecords) -> AuditPage:
    """Audit records in chain order (or newest first), filtered by target, actor, action
    and time; a page at most ``limit`` long, with the ``after`` of the next one."""
    c = audit_records.c
    query = select(audit_records)
    if req.target is not None:
        query = query.where(parse_target(req.target).condition())
    if req.actor is not None:
        query = query.where(c.actor == req.actor)
    if req.action is not None:
        if req.action.endswith("*"):
            prefix = escape_like(req.action[:-1]) + "%"
            query = query.where(c.action.like(prefix, escape="\\"))
        elif "*" in req.action:
            raise InvalidInput(
                f"action '{req.action}': '*' may only end a prefix, e.g. model.alias.*",
                details={"action": req.action},
            )
        else:
            query = query.where(c.action == req.action)
    if req.since is not None:
        query = query.where(c.at >= req.since)
    if req.until is not None:
        query = query.where(c.at < req.until)
    if req.newest_first:
        if req.after:
            query = query.where(c.seq < req.after)
        query = query.order_by(c.seq.desc())
    else:
        query = query.where(c.seq > req.after).order_by(c.seq)
    # One more than asked: whether there is a next page, without counting them all.
    rows = ctx.conn.execute(query.limit(req.limit + 1)).mappings().all()
    records = [AuditRecord.model_validate(dict(r)) for r in rows[: req.limit]]
    more = len(rows) > req.limit
    return AuditPage(records=records, next=records[-1].seq if more else None)


@ops.read("/audit/verify", permission="audit:read")
def verify_audit(ctx: OperationContext, req: VerifyAudit) -> AuditVerdict:
    """Walk the whole chain: the first record whose content, link or order was changed,
    and with a checkpoint, whether the log still holds the tip it signed. A log retention
    pruned is walked from where it starts now, and the verdict says what was pruned."""
    report = verify_chain(ctx.conn)
    checkpoint = None
    if req.checkpoint_seq is not None and req.checkpoint_hash is not None:
        checkpoint = _check_checkpoint(ctx, req.checkpoint_seq, req.checkpoint_hash, report.anchor)
    anchor = report.anchor
    pruned = None if anchor is None else PrunedPrefix.model_validate(anchor, from_attributes=True)
    return AuditVerdict(
        ok=report.ok and (checkpoint is None or checkpoint.matches or checkpoint.pruned),
        checked=report.checked,
        broken_at=report.broken_at,
        reason=report.reason,
        tip_seq=report.tip_seq,
        tip_hash=report.tip_hash,
        checkpoint=checkpoint,
        pruned=pruned,
    )


def _check_checkpoint(
    ctx: OperationContext, seq: int, digest: str, anchor: PruneAnchor | None
) -> CheckpointVerdict:
    if seq == 0:  # a checkpoint of an empty log holds whatever came after it
        return CheckpointVerdict(seq=0, matches=True)
    stored = ctx.conn.execute(
        select(audit_records.c.hash).where(audit_records.c.seq == seq)
    ).scalar_one_or_none()
    if stored is None and anchor is not None and seq == anchor.through_seq:
        # The last pruned record: the anchor kept its hash, and the log links to it.
        stored = anchor.through_hash
    elif stored is None and anchor is not None and seq < anchor.through_seq:
        return CheckpointVerdict(
            seq=seq,
            matches=False,
            pruned=True,
            reason=f"record {seq} was pruned by retention with every record up to "
            f"{anchor.through_seq} (recorded at seq {anchor.recorded_seq}): what the "
            "checkpoint signed can no longer be checked; one at or after that seq can",
        )
    if stored is None:
        return CheckpointVerdict(
            seq=seq, matches=False, reason=f"the log has no record {seq}: it was deleted"
        )
    if stored != digest:
        return CheckpointVerdict(
            seq=seq,
            matches=False,
            reason=f"record {seq} no longer has the checkpoint's hash: the log up to it was "
            "rewritten after the checkpoint was made",
        )
    # The hash at seq covers every record before it; walking up to it shows where.
    upto = verify_chain(ctx.conn, upto=seq)
    if not upto.ok:
        return CheckpointVerdict(seq=seq, matches=False, reason=upto.reason)
    return CheckpointVerdict(seq=seq, matches=True)


@ops.write(
    "POST",
    "/audit/checkpoints",
    permission="audit:write",
    audit="audit.checkpointed",
)
def create_checkpoint(ctx: OperationContext, req: CreateCheckpoint) -> Checkpoint:
    """Sign the chain's tip with the store's key and keep it outside the database."""
    if ctx.signer is None:
        raise InvalidInput("this backend keeps no signing key: make checkpoints on the server")
    tip = ctx.conn.execute(
        select(audit_chain_head.c.seq, audit_chain_head.c.hash).where(audit_chain_head.c.id == 1)
    ).one()
    payload: dict[str, Any] = {
        "seq": int(tip.seq),
        "hash": tip.hash,
        "at": ctx.now_ms(),
        "created_by": ctx.actor.name,
        "workspace": ctx.workspace,
    }
    signed = ctx.signer.sign(payload)
    ctx.signer.publish(signed)
    summary = {k: signed[k] for k in ("seq", "hash", "at", "key_id")}
    ctx.work.record("audit", f"checkpoint/{tip.seq}", after=summary)
    ctx.work.emit("audit.checkpointed", f"audit/checkpoints/{tip.seq}", summary)
    return Checkpoint.model_validate(signed)


OPERATIONS = ops.operations
