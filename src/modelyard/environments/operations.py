"""Environment operations: each one declared once (DESIGN invariant 2).

Registering is idempotent on content: the server computes the hash from the Python version
and the lock, and when the latest version of that name already has it, that version is the
answer and nothing is written. Otherwise the next version is created, with its audit record
and its ``environment.registered`` event in the same transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, insert, select
from sqlalchemy.exc import IntegrityError

from modelyard.core.operations import OperationContext, OperationSet
from modelyard.environments import records
from modelyard.environments.hashing import environment_hash, normalize_lock
from modelyard.environments.models import (
    Environment,
    EnvironmentList,
    FindEnvironmentByHash,
    GetEnvironment,
    ListEnvironments,
    RegisterEnvironment,
)
from modelyard.errors import Conflict, InvalidInput, NotFound
from modelyard.storage.db.tables import environments

ops = OperationSet("environments")

# Concurrent registrations of one name race for the next version number (PostgreSQL; SQLite
# writers queue): the loser of the primary key sees the winner's row and tries the next
# number, or returns that row if its content is the same. Each lost attempt is one insert.
_REGISTER_ATTEMPTS = 50


@ops.write(
    "POST",
    "/environments",
    permission="environments:write",
    audit="environment.registered",
    idempotent=True,
)
def register_environment(ctx: OperationContext, req: RegisterEnvironment) -> Environment:
    """Register an environment: the latest version if its content is the same, else a new one."""
    if req.requirements and not req.lock:
        raise InvalidInput(
            f"environment '{req.name}' lists requirements but no lock: resolve the "
            "requirements into a lock first (EnvironmentsClient.create and "
            "`modelyard env create` do)"
        )
    # Normalised again: an in-process caller may build the request without validation.
    lock = normalize_lock(req.lock)
    digest = environment_hash(req.python, lock)
    for _ in range(_REGISTER_ATTEMPTS):
        latest = records.latest_row(ctx.conn, req.name)
        if latest is not None and latest["hash"] == digest:
            return records.environment_from_row(latest)
        row: dict[str, Any] = {
            "name": req.name,
            "version": 1 if latest is None else int(latest["version"]) + 1,
            "hash": digest,
            "python": req.python,
            "requirements": req.requirements,
            "lock": lock,
            "source": req.source,
            "description": req.description,
            "created_at": ctx.now_ms(),
            "created_by": ctx.actor.name,
        }
        try:
            with ctx.conn.begin_nested():
                ctx.conn.execute(insert(environments).values(row))
        except IntegrityError:
            continue
        ref = f"{req.name}:{row['version']}"
        ctx.work.record("environment", ref, after=row)
        ctx.work.emit(
            "environment.registered",
            ref,
            {k: row[k] for k in ("name", "version", "hash", "python", "source")},
        )
        return records.environment_from_row(row)
    raise Conflict(
        f"environment '{req.name}' is being registered by other writers at the same time; retry"
    )


@ops.read("/environments/{name}", permission="environments:read")
def get_environment(ctx: OperationContext, req: GetEnvironment) -> Environment:
    """Get an environment by name: its latest version, or the one asked for."""
    latest = records.latest_row(ctx.conn, req.name)
    if latest is None:
        raise NotFound.of("environment", req.name)
    if req.version is None or req.version == latest["version"]:
        return records.environment_from_row(latest)
    row = records.version_row(ctx.conn, req.name, req.version)
    if row is None:
        raise NotFound(
            f"environment '{req.name}' has no version {req.version} "
            f"(its versions are 1 to {latest['version']})",
            details={"kind": "environment", "id": f"{req.name}:{req.version}"},
        )
    return records.environment_from_row(row)


@ops.read("/environments-by-hash/{hash}", permission="environments:read")
def find_environment_by_hash(ctx: OperationContext, req: FindEnvironmentByHash) -> Environment:
    """Get the environment with a content hash (the first registered, if several share it)."""
    e = environments.c
    query = (
        select(environments)
        .where(e.hash == req.hash)
        .order_by(e.created_at, e.name, e.version)
        .limit(1)
    )
    row = ctx.conn.execute(query).mappings().first()
    if row is None:
        raise NotFound(
            f"no environment has hash '{req.hash}'",
            details={"kind": "environment", "id": req.hash},
        )
    return records.environment_from_row(row)


@ops.read("/environments", permission="environments:read")
def list_environments(ctx: OperationContext, req: ListEnvironments) -> EnvironmentList:
    """The latest version of every environment by name, or every version of one name."""
    e = environments.c
    if req.name is not None:
        query = select(environments).where(e.name == req.name).order_by(e.version)
        rows = list(ctx.conn.execute(query).mappings())
        if not rows:
            raise NotFound.of("environment", req.name)
    else:
        latest = select(e.name, func.max(e.version).label("version")).group_by(e.name).subquery()
        query = (
            select(environments)
            .join(latest, and_(e.name == latest.c.name, e.version == latest.c.version))
            .order_by(e.name)
        )
        rows = list(ctx.conn.execute(query).mappings())
    return EnvironmentList(environments=[records.environment_from_row(r) for r in rows])


OPERATIONS = ops.operations
