"""The audit log: append-only records, each hash-chained to the one before it.

A record's hash covers its content and its predecessor's hash, so editing, deleting or
reordering any record breaks every hash after it; ``verify_chain`` finds the first break.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
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


@dataclass(frozen=True, slots=True)
class ChainReport:
    """Result of checking the chain: ``broken_at`` is the first bad ``seq`` or None."""

    checked: int
    broken_at: int | None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.broken_at is None


def verify_records(rows: Iterable[dict[str, Any]]) -> ChainReport:
    """Check a sequence of records ordered by ``seq``."""
    prev = GENESIS_HASH
    checked = 0
    for row in rows:
        if row["prev_hash"] != prev:
            return ChainReport(checked, row["seq"], "does not link to the record before it")
        if record_hash(row) != row["hash"]:
            return ChainReport(checked, row["seq"], "its content does not match its hash")
        prev = row["hash"]
        checked += 1
    return ChainReport(checked, None)


def verify_chain(conn: Connection) -> ChainReport:
    """Walk the whole audit log in order and report the first tampered record, if any.

    The walk alone cannot see records removed from the end, so the last record must also be
    the tip that writers advanced (``audit_chain_head``).
    """
    rows = [
        dict(r)
        for r in conn.execute(select(audit_records).order_by(audit_records.c.seq)).mappings()
    ]
    report = verify_records(rows)
    if not report.ok:
        return report
    tip = conn.execute(
        select(audit_chain_head.c.seq, audit_chain_head.c.hash).where(audit_chain_head.c.id == 1)
    ).one()
    last_seq, last_hash = (rows[-1]["seq"], rows[-1]["hash"]) if rows else (0, GENESIS_HASH)
    if (tip.seq, tip.hash) != (last_seq, last_hash):
        return ChainReport(
            report.checked, last_seq + 1, f"records after seq {last_seq} are missing"
        )
    return report
