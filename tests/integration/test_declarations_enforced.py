"""What an operation declares is what runs (DESIGN invariant 2).

The audit action recorded is the declared one (a handler cannot pick another), an operation
run inside another records under its own declaration, a change without an event is refused
unless the operation declares why it has none, and the declared permission is checked once,
by the backend, before any handler runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import Field
from sqlalchemy import func, select

from modelyard.core.backend import LocalBackend, open_local_backend
from modelyard.core.operations import Done, OperationContext, OperationSet, Request
from modelyard.core.unit_of_work import Actor, MissingEvent
from modelyard.errors import PermissionDenied
from modelyard.server.app import ALL_OPERATIONS
from modelyard.storage.db.tables import audit_records, outbox
from tests.conftest import make_settings

ops = OperationSet("probe")


class Touch(Request):
    target: str = Field(default="t1", max_length=20)


@ops.write("POST", "/inner", permission="probe:write", audit="probe.inner.done")
def inner(ctx: OperationContext, req: Touch) -> Done:
    ctx.work.record("probe", req.target, after={"by": "inner"})
    ctx.work.emit("probe.inner.done", req.target, {})
    return Done()


@ops.write("POST", "/outer", permission="probe:write", audit="probe.outer.done")
def outer(ctx: OperationContext, req: Touch) -> Done:
    ctx.work.record("probe", req.target, after={"by": "outer"})
    ctx.call(inner, Touch(target="nested"))
    ctx.work.emit("probe.outer.done", req.target, {})
    return Done()


@ops.write("POST", "/silent", permission="probe:write", audit="probe.silent")
def silent(ctx: OperationContext, req: Touch) -> Done:
    ctx.work.record("probe", req.target)
    return Done()


@ops.write(
    "POST",
    "/quiet",
    permission="probe:write",
    audit="probe.quiet",
    without_event="a probe that says why it emits none",
)
def quiet(ctx: OperationContext, req: Touch) -> Done:
    ctx.work.record("probe", req.target)
    return Done()


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[LocalBackend]:
    opened = open_local_backend(make_settings(tmp_path))
    try:
        yield opened
    finally:
        opened.close()


def _records(backend: LocalBackend) -> list[tuple[str, str]]:
    with backend.db.read() as conn:
        a = audit_records.c
        rows = conn.execute(select(a.action, a.target_id).order_by(a.seq))
        return [(action, target) for action, target in rows]


def _event_count(backend: LocalBackend) -> int:
    with backend.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(outbox)).scalar_one())


def test_records_carry_the_declared_action_and_nested_operations_their_own(
    backend: LocalBackend,
) -> None:
    backend.call(outer, Touch(target="t1"))
    assert _records(backend) == [("probe.outer.done", "t1"), ("probe.inner.done", "nested")]


def test_a_change_without_an_event_is_refused_and_leaves_no_trace(backend: LocalBackend) -> None:
    with pytest.raises(MissingEvent, match=r"probe\.silent"):
        backend.call(silent, Touch())
    assert _records(backend) == []
    assert _event_count(backend) == 0


def test_an_operation_that_declares_why_it_has_no_event_records_its_change(
    backend: LocalBackend,
) -> None:
    backend.call(quiet, Touch())
    assert _records(backend) == [("probe.quiet", "t1")]
    assert _event_count(backend) == 0


class DenyWrites:
    def __init__(self) -> None:
        self.asked: list[tuple[str, str, str]] = []

    def check(
        self, actor: Actor, permission: str, operation: str, workspace: str = "default"
    ) -> None:
        self.asked.append((actor.name, permission, operation))
        if permission.endswith(":write"):
            raise PermissionDenied(f"{actor.name} may not {permission}")


def test_the_backend_checks_the_declared_permission_before_the_handler_runs(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path)
    check = DenyWrites()
    opened = open_local_backend(settings)
    backend = LocalBackend(opened.db, opened.blobs, actor=Actor("eve"), permissions=check)
    try:
        with pytest.raises(PermissionDenied, match="probe:write"):
            backend.call(outer, Touch())
        assert check.asked == [("eve", "probe:write", "probe.outer")]
        assert _records(backend) == []
    finally:
        backend.close()


def test_every_silent_operation_is_on_the_documented_list() -> None:
    documented = (Path(__file__).parents[2] / "docs" / "architecture.md").read_text()
    silent_ops = [op for op in ALL_OPERATIONS if op.without_event is not None]
    assert silent_ops, "the exceptions list would be empty: drop this test's premise"
    for op in silent_ops:
        assert f"`{op.audit}`" in documented, f"{op.audit} emits no event but is not documented"
