"""The audit log: append-only records, each hash-chained to the one before it.

A record's hash covers its content and its predecessor's hash, so editing, deleting or
reordering any record breaks every hash after it; ``verify_chain`` finds the first break.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

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


@dataclass(frozen=True, slots=True)
class ChainReport:
    """Result of checking the chain: ``broken_at`` is the first bad ``seq`` or None.

    ``tip_seq`` and ``tip_hash`` are the last record walked (0 and the genesis hash for an
    empty log); ``reason`` says what is wrong with the record at ``broken_at``.
    """

    checked: int
    broken_at: int | None
    reason: str | None = None
    tip_seq: int = 0
    tip_hash: str = GENESIS_HASH

    @property
    def ok(self) -> bool:
        return self.broken_at is None


def verify_records(rows: Iterable[dict[str, Any]]) -> ChainReport:
    """Check a sequence of records ordered by ``seq``, naming the first one that is wrong.

    An edited record no longer matches its hash. A deleted one leaves a gap in ``seq``
    (and the next record links to a hash that is no longer there). Records moved out of
    order, or one whose hash was recomputed after an edit, break the link of the record
    that follows the change.
    """
    prev_seq, prev = 0, GENESIS_HASH
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


def _walk(conn: Connection, upto: int | None) -> Iterator[dict[str, Any]]:
    after = 0
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


def verify_chain(conn: Connection, *, upto: int | None = None) -> ChainReport:
    """Walk the audit log in order (up to ``upto``, or whole) and report the first
    tampered record, if any.

    The walk alone cannot see records removed from the end, so a whole walk's last record
    must also be the tip that writers advanced (``audit_chain_head``).
    """
    report = verify_records(_walk(conn, upto))
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
        )
    return report
