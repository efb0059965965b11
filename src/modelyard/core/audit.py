"""The audit log: append-only records, each hash-chained to the one before it.

A record's hash covers its content and its predecessor's hash, so editing, deleting or
reordering any record breaks every hash after it; ``verify_chain`` finds the first break.

Retention may delete the oldest records (``plan_prune``, ``prune``), never any other: the
chain then starts after record N, and the change that deleted them records a *prune
anchor* in the chain itself, a record whose target is ``audit`` ``pruned-through/N`` and
whose ``after`` holds N and the hash of record N. ``verify_chain`` starts from the latest
anchor the log holds, so the remaining records verify as before and the report says what
was pruned, when and by whom; records missing from the start that no anchor accounts for
are reported as deleted, as a gap anywhere else is. An anchor is an audit record like any
other: forging one means appending a record, which a checkpoint taken later shows.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection, delete, func, select

from modelyard.storage.db.tables import audit_chain_head, audit_records

GENESIS_HASH = "0" * 64

_HASHED_FIELDS = (
    "seq",
    "at",
    "actor",
    "action",
    "target_kind",
    "target_id",
    "reason",
    "before",
    "after",
    "prev_hash",
)


def record_hash(record: dict[str, Any]) -> str:
    """SHA-256 of the record's canonical JSON (sorted keys, no whitespace)."""
    body = {name: record.get(name) for name in _HASHED_FIELDS}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


# Records read per query while walking the chain: memory stays flat however long it is.
_WALK_BATCH = 1000

# The target of a prune anchor: kind ``audit``, id ``pruned-through/<seq>``.
ANCHOR_KIND = "audit"
_ANCHOR_PREFIX = "pruned-through/"


def anchor_target(through_seq: int) -> str:
    """The target id of the record anchoring a chain pruned through ``through_seq``."""
    return f"{_ANCHOR_PREFIX}{through_seq}"


@dataclass(frozen=True, slots=True)
class PruneAnchor:
    """Where a pruned chain starts: records up to ``through_seq`` (the last of them hashed
    ``through_hash``) were deleted by the change recorded at ``recorded_seq``."""

    through_seq: int
    through_hash: str
    recorded_seq: int
    at: int
    actor: str
    action: str


@dataclass(frozen=True, slots=True)
class ChainReport:
    """Result of checking the chain: ``broken_at`` is the first bad ``seq`` or None.

    ``tip_seq`` and ``tip_hash`` are the last record walked (0 and the genesis hash for an
    empty log); ``reason`` says what is wrong with the record at ``broken_at``; ``anchor``
    says which records retention pruned, if it pruned any.
    """

    checked: int
    broken_at: int | None
    reason: str | None = None
    tip_seq: int = 0
    tip_hash: str = GENESIS_HASH
    anchor: PruneAnchor | None = None

    @property
    def ok(self) -> bool:
        return self.broken_at is None


def verify_records(
    rows: Iterable[dict[str, Any]], *, start: tuple[int, str] = (0, GENESIS_HASH)
) -> ChainReport:
    """Check a sequence of records ordered by ``seq``, naming the first one that is wrong.

    An edited record no longer matches its hash. A deleted one leaves a gap in ``seq``
    (and the next record links to a hash that is no longer there). Records moved out of
    order, or one whose hash was recomputed after an edit, break the link of the record
    that follows the change. ``start`` is the ``seq`` and hash the first record follows:
    the genesis, or for a pruned log its anchor's ``through_seq`` and ``through_hash``.
    """
    prev_seq, prev = start
    checked = 0
    for row in rows:
        wrong = _what_is_wrong(row, prev_seq, prev)
        if wrong is not None:
            return ChainReport(checked, row["seq"], wrong, prev_seq, prev)
        prev_seq, prev = row["seq"], row["hash"]
        checked += 1
    return ChainReport(checked, None, None, prev_seq, prev)


def _what_is_wrong(row: dict[str, Any], prev_seq: int, prev_hash: str) -> str | None:
    seq = row["seq"]
    linked = row["prev_hash"] == prev_hash
    if record_hash(row) != row["hash"]:
        if linked:
            return "its content does not match its hash: the record was edited"
        # A record's seq is part of what its hash covers, so one moved to another place
        # fails both: its content (the new seq) and its link (the old predecessor).
        return (
            "neither its content nor its link to the record before it match: records "
            "were reordered, or this one was replaced"
        )
    if seq != prev_seq + 1:
        missing = f"{prev_seq + 1}" if seq == prev_seq + 2 else f"{prev_seq + 1} to {seq - 1}"
        return f"the record(s) before it (seq {missing}) are missing: deleted"
    if not linked:
        return (
            f"it does not link to record {prev_seq}: that record was rewritten with a "
            "recomputed hash, or records were reordered"
        )
    return None


def _walk(conn: Connection, upto: int | None, after: int = 0) -> Iterator[dict[str, Any]]:
    while True:
        query = select(audit_records).where(audit_records.c.seq > after)
        if upto is not None:
            query = query.where(audit_records.c.seq <= upto)
        rows = [
            dict(r)
            for r in conn.execute(query.order_by(audit_records.c.seq).limit(_WALK_BATCH)).mappings()
        ]
        yield from rows
        if len(rows) < _WALK_BATCH:
            return
        after = rows[-1]["seq"]


def _anchor_from(row: Any) -> PruneAnchor | None:
    after = row.after if isinstance(row.after, dict) else {}
    through, digest = after.get("through_seq"), after.get("through_hash")
    if not isinstance(through, int) or not isinstance(digest, str):
        return None  # not an anchor any more: the walk shows the edit
    return PruneAnchor(through, digest, int(row.seq), int(row.at), row.actor, row.action)


def find_anchor(conn: Connection) -> PruneAnchor | None:
    """The prune anchor the log starts from: the latest one it holds, when records are
    missing from its start; None for a log that starts at record 1 (or is empty)."""
    first = conn.execute(select(func.min(audit_records.c.seq))).scalar()
    if first is None or first <= 1:
        return None
    c = audit_records.c
    row = conn.execute(
        select(c.seq, c.at, c.actor, c.action, c.after)
        .where(c.target_kind == ANCHOR_KIND, c.target_id.startswith(_ANCHOR_PREFIX))
        .order_by(c.seq.desc())
        .limit(1)
    ).first()
    anchor = None if row is None else _anchor_from(row)
    if anchor is None or anchor.through_seq >= first:
        # No prune accounts for the missing start (or one claims records that are still
        # there): the walk from the genesis names them as deleted.
        return None
    return anchor


def verify_chain(conn: Connection, *, upto: int | None = None) -> ChainReport:
    """Walk the audit log in order (up to ``upto``, or whole) and report the first
    tampered record, if any.

    A pruned log is walked from its anchor (``find_anchor``): a gap between the anchor and
    the first record left is reported as deleted records. The walk alone cannot see
    records removed from the end, so a whole walk's last record must also be the tip that
    writers advanced (``audit_chain_head``).
    """
    anchor = find_anchor(conn)
    start = (anchor.through_seq, anchor.through_hash) if anchor else (0, GENESIS_HASH)
    report = replace(verify_records(_walk(conn, upto), start=start), anchor=anchor)
    if not report.ok or upto is not None:
        return report
    tip = conn.execute(
        select(audit_chain_head.c.seq, audit_chain_head.c.hash).where(audit_chain_head.c.id == 1)
    ).one_or_none()
    if tip is None:  # no change was ever recorded
        return report
    if (tip.seq, tip.hash) != (report.tip_seq, report.tip_hash):
        return ChainReport(
            report.checked,
            report.tip_seq + 1,
            f"the log ends at seq {report.tip_seq} but writers advanced it to {tip.seq}: "
            "the last records were deleted",
            report.tip_seq,
            report.tip_hash,
            anchor,
        )
    return report


# Records one prune deletes at most: one transaction stays short however long the log is.
MAX_PRUNE = 5000


@dataclass(frozen=True, slots=True)
class PrunePlan:
    """The oldest records retention may delete: ``first_seq`` to ``through_seq``.

    ``problem`` says why none may go although some are old enough: the records to delete
    do not verify, and deleting them would destroy the evidence (verify first).
    """

    first_seq: int
    through_seq: int
    through_hash: str
    count: int
    newest_at: int
    problem: str | None = None

    def anchor(self) -> dict[str, Any]:
        """What the prune anchor record states (its ``after``)."""
        return {
            "through_seq": self.through_seq,
            "through_hash": self.through_hash,
            "first_seq": self.first_seq,
            "records": self.count,
            "newest_at": self.newest_at,
        }


def plan_prune(conn: Connection, *, before: int, limit: int = MAX_PRUNE) -> PrunePlan | None:
    """The start of the chain that is older than ``before`` (ms): records from the first one
    up to the last before the first that is not that old, at most ``limit``. None when the
    first record is not old enough.

    Locks the chain tip first, so concurrent prunes (and writers, whose records come after)
    queue behind this transaction and each plans on what the one before left. The records
    are checked from the current anchor before any is offered for deletion.
    """
    conn.execute(select(audit_chain_head.c.seq).where(audit_chain_head.c.id == 1).with_for_update())
    anchor = find_anchor(conn)
    start = (anchor.through_seq, anchor.through_hash) if anchor else (0, GENESIS_HASH)
    rows = [
        dict(r)
        for r in conn.execute(
            select(audit_records).order_by(audit_records.c.seq).limit(limit)
        ).mappings()
    ]
    old: list[dict[str, Any]] = []
    for row in rows:
        if row["at"] >= before:
            break
        old.append(row)
    if not old:
        return None
    last = old[-1]
    plan = PrunePlan(old[0]["seq"], last["seq"], last["hash"], len(old), last["at"])
    report = verify_records(old, start=start)
    if not report.ok:
        return replace(
            plan,
            problem=f"the audit chain is broken at record {report.broken_at} ({report.reason}): "
            "nothing is pruned until `modelyard audit verify` passes",
        )
    return plan


def prune(conn: Connection, plan: PrunePlan) -> None:
    """Delete the records ``plan`` names. The caller records ``plan.anchor()`` as the
    change of target ``ANCHOR_KIND`` ``anchor_target(plan.through_seq)`` in the same
    transaction: without it the chain reads as deleted from the start."""
    if plan.problem is not None:
        raise RuntimeError(f"a chain that does not verify is never pruned: {plan.problem}")
    c = audit_records.c
    conn.execute(delete(audit_records).where(c.seq >= plan.first_seq, c.seq <= plan.through_seq))
