"""The unit of work: a change, its audit records and its events commit together or not at all.

Area code receives a ``UnitOfWork`` for every mutating operation, does its writes on
``uow.conn``, and says what it changed with ``record`` and what happened with ``emit``. The
audit rows (hash-chained) and outbox rows are written in the same transaction just before
it commits (DESIGN invariant 3).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, insert, select, update

from modelyard.core.audit import record_hash
from modelyard.storage.db.database import Database
from modelyard.storage.db.tables import audit_chain_head, audit_records, outbox

Clock = Callable[[], int]


def system_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class Actor:
    """Who makes a change: a user name, or a service account once auth is on."""

    name: str


@dataclass(slots=True)
class _Change:
    action: str
    target_kind: str
    target_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


@dataclass(slots=True)
class _Event:
    type: str
    subject: str
    payload: dict[str, Any]


@dataclass
class UnitOfWork:
    """One write transaction plus what it must record when it commits."""

    conn: Connection
    actor: Actor
    reason: str | None
    clock: Clock = system_clock_ms
    _changes: list[_Change] = field(default_factory=list)
    _events: list[_Event] = field(default_factory=list)

    def now_ms(self) -> int:
        return self.clock()

    def record(
        self,
        action: str,
        target_kind: str,
        target_id: str,
        *,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
    ) -> None:
        """Note a change for the audit log (written when the transaction commits)."""
        self._changes.append(_Change(action, target_kind, target_id, before, after))

    def emit(self, event_type: str, subject: str, payload: dict[str, Any]) -> None:
        """Queue a lifecycle event in the outbox, committed with the change."""
        self._events.append(_Event(event_type, subject, payload))

    @property
    def recorded(self) -> bool:
        return bool(self._changes)

    def _write_records(self) -> None:
        now = self.now_ms()
        if self._changes:
            # Lock the chain tip: concurrent PostgreSQL transactions queue here so the chain
            # stays linear; on SQLite BEGIN IMMEDIATE already made us the only writer.
            tip = self.conn.execute(
                select(audit_chain_head.c.seq, audit_chain_head.c.hash)
                .where(audit_chain_head.c.id == 1)
                .with_for_update()
            ).one()
            seq, prev = int(tip.seq), str(tip.hash)
            rows = []
            for change in self._changes:
                seq += 1
                row: dict[str, Any] = {
                    "seq": seq,
                    "at": now,
                    "actor": self.actor.name,
                    "action": change.action,
                    "target_kind": change.target_kind,
                    "target_id": change.target_id,
                    "reason": self.reason,
                    "before": change.before,
                    "after": change.after,
                    "prev_hash": prev,
                }
                row["hash"] = prev = record_hash(row)
                rows.append(row)
            self.conn.execute(insert(audit_records), rows)
            self.conn.execute(
                update(audit_chain_head)
                .where(audit_chain_head.c.id == 1)
                .values(seq=seq, hash=prev)
            )
        if self._events:
            self.conn.execute(
                insert(outbox),
                [
                    {
                        "event_id": str(uuid.uuid4()),
                        "type": e.type,
                        "subject": e.subject,
                        "payload": e.payload,
                        "created_at": now,
                        "delivered_at": None,
                        "attempts": 0,
                    }
                    for e in self._events
                ],
            )


@contextmanager
def unit_of_work(
    db: Database, actor: Actor, *, reason: str | None = None, clock: Clock = system_clock_ms
) -> Iterator[UnitOfWork]:
    """Open a write transaction; on normal exit write audit + outbox rows, then commit."""
    with db.write() as conn:
        uow = UnitOfWork(conn=conn, actor=actor, reason=reason, clock=clock)
        yield uow
        uow._write_records()
