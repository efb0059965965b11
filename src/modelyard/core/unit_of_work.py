"""The unit of work: a change, its audit records and its events commit together or not at all.

Area code receives a ``UnitOfWork`` for every mutating operation, does its writes on
``uow.conn``, and says what it changed with ``record`` and what happened with ``emit``. The
audit rows (hash-chained) and outbox rows are written in the same transaction just before
it commits (DESIGN invariant 3).

The audit action is not the handler's to choose: a unit of work is opened *for* a declared
operation and every record it keeps carries that operation's declared action (DESIGN
invariant 2). An operation that runs another one inside its transaction (a pipeline run
creating its experiment) does so through ``acting``, so that part is recorded under the
inner operation's own declared action.

Every action that records a change also emits at least one lifecycle event, unless its
operation declares why it emits none (``EventPolicy.without_event``): a change nobody can
subscribe to is a bug that fails the transaction in tests, not a silent gap.
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
    """Who makes a change: a user name, or a service account once auth is on.

    ``authenticated`` is true only for an actor a token proved (a server with auth on);
    ``admin`` is that user's server-wide admin flag.
    """

    name: str
    authenticated: bool = False
    admin: bool = False
    # (workspace, role level) pairs of an authenticated user: see ``core/roles.py``.
    roles: tuple[tuple[str, int], ...] = ()

    def role_in(self, workspace: str) -> int | None:
        return next((level for ws, level in self.roles if ws == workspace), None)


@dataclass(frozen=True, slots=True)
class ActionPolicy:
    """What a unit of work records for one declared operation.

    ``action`` names every audit record the operation keeps; ``without_event`` is the
    declared reason it emits no lifecycle event, or None when it must emit one.
    """

    action: str
    without_event: str | None = None


class MissingEvent(RuntimeError):
    """An operation recorded a change but emitted no event and declared no reason (a bug)."""


@dataclass(slots=True)
class _Change:
    action: str
    target_kind: str
    target_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str | None


@dataclass(slots=True)
class _Event:
    type: str
    subject: str
    payload: dict[str, Any]


@dataclass
class UnitOfWork:
    """One write transaction for one declared operation, plus what it must record."""

    conn: Connection
    actor: Actor
    reason: str | None
    policy: ActionPolicy
    clock: Clock = system_clock_ms
    _changes: list[_Change] = field(default_factory=list)
    _events: list[_Event] = field(default_factory=list)
    _acting: list[ActionPolicy] = field(default_factory=list)
    _silent_by_declaration: set[str] = field(default_factory=set)
    _evented: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.policy.without_event is not None:
            self._silent_by_declaration.add(self.policy.action)

    def now_ms(self) -> int:
        return self.clock()

    def default_reason(self, reason: str) -> None:
        """Give this change's records ``reason`` if the caller gave none (an operation whose
        records would otherwise say nothing of why, such as a retention pass), including the
        records already made."""
        if self.reason is None:
            self.reason = reason
        for change in self._changes:
            if change.reason is None:
                change.reason = reason

    @property
    def action(self) -> str:
        """The declared action that records made now carry."""
        return (self._acting[-1] if self._acting else self.policy).action

    @contextmanager
    def acting(self, policy: ActionPolicy) -> Iterator[None]:
        """Record under another declared operation's action while it runs inside this one."""
        self._acting.append(policy)
        if policy.without_event is not None:
            self._silent_by_declaration.add(policy.action)
        try:
            yield
        finally:
            self._acting.pop()

    def record(
        self,
        target_kind: str,
        target_id: str,
        *,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
    ) -> None:
        """Note a change for the audit log (written when the transaction commits), under the
        declared action of the operation running now."""
        self._changes.append(
            _Change(self.action, target_kind, target_id, before, after, self.reason)
        )

    @contextmanager
    def explained(self, reason: str) -> Iterator[None]:
        """Records made in the block carry ``reason`` instead of the operation's (a change
        an approval makes says who asked for it and why)."""
        outer, self.reason = self.reason, reason
        try:
            yield
        finally:
            self.reason = outer

    def emit(self, event_type: str, subject: str, payload: dict[str, Any]) -> None:
        """Queue a lifecycle event in the outbox, committed with the change."""
        self._events.append(_Event(event_type, subject, payload))
        self._evented.add(self.action)

    @property
    def recorded(self) -> bool:
        return bool(self._changes)

    def _check_events(self) -> None:
        silent = sorted(
            {c.action for c in self._changes} - self._evented - self._silent_by_declaration
        )
        if silent:
            raise MissingEvent(
                f"{', '.join(silent)} recorded a change but emitted no event: emit one, or "
                "declare why the operation has none (without_event=...)"
            )

    def _write_records(self) -> None:
        self._check_events()
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
                    "reason": change.reason,
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
    db: Database,
    actor: Actor,
    policy: ActionPolicy,
    *,
    reason: str | None = None,
    clock: Clock = system_clock_ms,
) -> Iterator[UnitOfWork]:
    """Open a write transaction for one declared operation; on normal exit write its audit
    and outbox rows, then commit."""
    with db.write() as conn:
        uow = UnitOfWork(conn=conn, actor=actor, reason=reason, policy=policy, clock=clock)
        yield uow
        uow._write_records()
