"""The serving tables, read and written in one place for endpoints and rollouts alike.

Rows become ``Endpoint``, ``Deployment`` and ``Rollout`` here, and a traffic change is
written here with its audit record and its ``endpoint.traffic.changed`` event, whichever
operation makes it (a user setting a split, a first deployment taking all traffic, a
rollout step).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select, update

from modelyard.core.guards import Guard, ProtectedKind
from modelyard.core.operations import OperationContext
from modelyard.errors import NotFound
from modelyard.serving.models import Deployment, DeploymentConfig, Endpoint, Rollout, RolloutState
from modelyard.storage.db.tables import deployments, endpoints, rollouts

ACTIVE_STATES = [RolloutState.RUNNING.value, RolloutState.PAUSED.value]


def traffic_guard(describe: Callable[[Any], str]) -> Guard:
    """The declaration of a change to an endpoint's traffic, which a rule can protect."""
    return Guard(ProtectedKind.TRAFFIC, lambda req: req.endpoint, describe)


def endpoint_row(ctx: OperationContext, name: str, *, lock: bool = False) -> Any:
    """The endpoint's row; ``lock`` serialises changes to one endpoint on PostgreSQL."""
    query = select(endpoints).where(endpoints.c.name == name)
    row = ctx.conn.execute(query.with_for_update() if lock else query).mappings().first()
    if row is None:
        raise NotFound.of("endpoint", name)
    return row


def deployment_from_row(row: Any) -> Deployment:
    return Deployment.model_validate(
        {**dict(row), "config": DeploymentConfig.model_validate(row["config"] or {})}
    )


def deployments_of(ctx: OperationContext, endpoint: str | None = None) -> list[Deployment]:
    """Every deployment, or an endpoint's, by endpoint then name."""
    query = select(deployments).order_by(deployments.c.endpoint, deployments.c.name)
    if endpoint is not None:
        query = query.where(deployments.c.endpoint == endpoint)
    return [deployment_from_row(r) for r in ctx.conn.execute(query).mappings()]


def deployment_row(ctx: OperationContext, endpoint: str, name: str) -> Any:
    row = (
        ctx.conn.execute(
            select(deployments).where(
                deployments.c.endpoint == endpoint, deployments.c.name == name
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(
            f"endpoint '{endpoint}' has no deployment '{name}'",
            details={"kind": "deployment", "id": f"{endpoint}/{name}"},
        )
    return row


def rollout_from_row(row: Any) -> Rollout:
    return Rollout.model_validate(dict(row))


def active_rollout(ctx: OperationContext, endpoint: str) -> Rollout | None:
    """The endpoint's running or paused rollout, if any."""
    row = (
        ctx.conn.execute(
            select(rollouts)
            .where(rollouts.c.endpoint == endpoint, rollouts.c.state.in_(ACTIVE_STATES))
            .order_by(rollouts.c.created_at.desc())
        )
        .mappings()
        .first()
    )
    return None if row is None else rollout_from_row(row)


def latest_rollout(ctx: OperationContext, endpoint: str) -> Rollout | None:
    """The endpoint's newest rollout, active or finished."""
    row = (
        ctx.conn.execute(
            select(rollouts)
            .where(rollouts.c.endpoint == endpoint)
            .order_by(rollouts.c.created_at.desc(), rollouts.c.id)
        )
        .mappings()
        .first()
    )
    return None if row is None else rollout_from_row(row)


def endpoint_from_row(ctx: OperationContext, row: Any) -> Endpoint:
    """The endpoint with its deployments and latest rollout."""
    return Endpoint(
        name=row["name"],
        description=row["description"],
        port=row["port"],
        traffic=row["traffic"] or {},
        mirror=row["mirror"] or {},
        deployments=deployments_of(ctx, row["name"]),
        rollout=latest_rollout(ctx, row["name"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        created_by=row["created_by"],
    )


def write_traffic(
    ctx: OperationContext,
    endpoint: str,
    before: Any,
    traffic: dict[str, int],
    mirror: dict[str, int],
    why: str,
) -> None:
    """Store a new split and mirror (nothing when unchanged), audited and evented."""
    old = {"traffic": before["traffic"] or {}, "mirror": before["mirror"] or {}}
    new = {"traffic": traffic, "mirror": mirror}
    if old == new:
        return
    ctx.conn.execute(
        update(endpoints)
        .where(endpoints.c.name == endpoint)
        .values(traffic=traffic, mirror=mirror, updated_at=ctx.now_ms())
    )
    # Why the split moved (a rollout's step or rollback, a deleted deployment) is part of the
    # record, so the endpoint's history can say it without the events (serving/history.py).
    ctx.work.record("endpoint", endpoint, before=old, after={**new, "why": why})
    ctx.work.emit("endpoint.traffic.changed", endpoint, {"endpoint": endpoint, "why": why, **new})
