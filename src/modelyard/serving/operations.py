"""Serving operations: endpoints, their deployments, traffic splits and rollouts.

This is the desired state. A supervisor (``serving/supervisor.py``) reads it and makes the
processes on this machine match, so a restarted supervisor restores every endpoint.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, insert, select, update

from modelyard.core.operations import Done, OperationContext, OperationSet
from modelyard.errors import AlreadyExists, Conflict, InvalidInput, NotFound
from modelyard.registry import operations as registry_ops
from modelyard.registry.models import ResolveModelUri
from modelyard.serving import traffic as splits
from modelyard.serving.models import (
    FIRST_PORT,
    AdvanceRollout,
    CreateDeployment,
    CreateEndpoint,
    DeleteDeployment,
    DeleteEndpoint,
    Deployment,
    DeploymentConfig,
    DeploymentList,
    Endpoint,
    EndpointList,
    GetDeployment,
    GetEndpoint,
    GetRollout,
    ListDeployments,
    ListEndpoints,
    Rollout,
    RolloutCommand,
    RolloutEvent,
    RolloutState,
    SetTraffic,
    StartRollout,
    UpdateDeployment,
)
from modelyard.storage.db.inserts import insert_if_absent
from modelyard.storage.db.tables import deployments, endpoints, rollouts

ops = OperationSet("serving")

_ACTIVE = [RolloutState.RUNNING.value, RolloutState.PAUSED.value]


def _endpoint_row(ctx: OperationContext, name: str, *, lock: bool = False) -> Any:
    query = select(endpoints).where(endpoints.c.name == name)
    row = ctx.conn.execute(query.with_for_update() if lock else query).mappings().first()
    if row is None:
        raise NotFound.of("endpoint", name)
    return row


def _deployment(row: Any) -> Deployment:
    return Deployment.model_validate(
        {**dict(row), "config": DeploymentConfig.model_validate(row["config"] or {})}
    )


def _deployments(ctx: OperationContext, endpoint: str | None = None) -> list[Deployment]:
    query = select(deployments).order_by(deployments.c.endpoint, deployments.c.name)
    if endpoint is not None:
        query = query.where(deployments.c.endpoint == endpoint)
    return [_deployment(r) for r in ctx.conn.execute(query).mappings()]


def _deployment_row(ctx: OperationContext, endpoint: str, name: str) -> Any:
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


def _rollout(row: Any) -> Rollout:
    return Rollout.model_validate(dict(row))


def _active_rollout(ctx: OperationContext, endpoint: str) -> Rollout | None:
    row = (
        ctx.conn.execute(
            select(rollouts)
            .where(rollouts.c.endpoint == endpoint, rollouts.c.state.in_(_ACTIVE))
            .order_by(rollouts.c.created_at.desc())
        )
        .mappings()
        .first()
    )
    return None if row is None else _rollout(row)


def _latest_rollout(ctx: OperationContext, endpoint: str) -> Rollout | None:
    row = (
        ctx.conn.execute(
            select(rollouts)
            .where(rollouts.c.endpoint == endpoint)
            .order_by(rollouts.c.created_at.desc(), rollouts.c.id)
        )
        .mappings()
        .first()
    )
    return None if row is None else _rollout(row)


def _endpoint(ctx: OperationContext, row: Any) -> Endpoint:
    return Endpoint(
        name=row["name"],
        description=row["description"],
        port=row["port"],
        traffic=row["traffic"] or {},
        mirror=row["mirror"] or {},
        deployments=_deployments(ctx, row["name"]),
        rollout=_latest_rollout(ctx, row["name"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        created_by=row["created_by"],
    )


def _free_port(ctx: OperationContext) -> int:
    taken = {p for (p,) in ctx.conn.execute(select(endpoints.c.port)) if p is not None}
    port = FIRST_PORT
    while port in taken:
        port += 1
    return port


@ops.write("POST", "/endpoints", permission="serving:write", audit="endpoint.created")
def create_endpoint(ctx: OperationContext, req: CreateEndpoint) -> Endpoint:
    """Create an endpoint: a stable address whose traffic is split between deployments."""
    if req.port is not None:
        owner = ctx.conn.execute(
            select(endpoints.c.name).where(endpoints.c.port == req.port)
        ).scalar()
        if owner is not None and owner != req.name:
            raise Conflict(
                f"port {req.port} belongs to endpoint '{owner}': pick another port",
                details={"port": req.port, "endpoint": owner},
            )
    now = ctx.now_ms()
    row: dict[str, Any] = {
        "name": req.name,
        "description": req.description,
        "port": req.port if req.port is not None else _free_port(ctx),
        "traffic": {},
        "mirror": {},
        "created_at": now,
        "updated_at": now,
        "created_by": ctx.actor.name,
    }
    # The name key decides between concurrent creators (a second one gets 409, not a 500).
    if not insert_if_absent(ctx.conn, endpoints, row):
        raise AlreadyExists(f"endpoint '{req.name}' already exists", details={"id": req.name})
    ctx.work.record("endpoint", req.name, after=row)
    ctx.work.emit("endpoint.created", req.name, {"endpoint": req.name, "port": row["port"]})
    return _endpoint(ctx, row)


@ops.read("/endpoints/{name}", permission="serving:read")
def get_endpoint(ctx: OperationContext, req: GetEndpoint) -> Endpoint:
    """An endpoint with its deployments, traffic, mirror and latest rollout."""
    return _endpoint(ctx, _endpoint_row(ctx, req.name))


@ops.read("/endpoints", permission="serving:read")
def list_endpoints(ctx: OperationContext, req: ListEndpoints) -> EndpointList:
    """Every endpoint, by name."""
    rows = ctx.conn.execute(select(endpoints).order_by(endpoints.c.name)).mappings()
    return EndpointList(endpoints=[_endpoint(ctx, r) for r in rows])


@ops.write("DELETE", "/endpoints/{name}", permission="serving:delete", audit="endpoint.deleted")
def delete_endpoint(ctx: OperationContext, req: DeleteEndpoint) -> Done:
    """Delete an endpoint and its deployments (refused while a rollout runs)."""
    row = _endpoint_row(ctx, req.name, lock=True)
    active = _active_rollout(ctx, req.name)
    if active is not None:
        raise Conflict(
            f"a rollout to '{active.target}' is {active.state.value.lower()} on '{req.name}': "
            "abort it first",
            details={"rollout": active.id},
        )
    for deployment in _deployments(ctx, req.name):
        _forget_deployment(ctx, deployment)
    ctx.conn.execute(delete(rollouts).where(rollouts.c.endpoint == req.name))
    ctx.conn.execute(delete(endpoints).where(endpoints.c.name == req.name))
    ctx.work.record("endpoint", req.name, before=dict(row))
    ctx.work.emit("endpoint.deleted", req.name, {"endpoint": req.name})
    return Done()


def _resolve(ctx: OperationContext, uri: str) -> tuple[str, int, str | None]:
    version = registry_ops.resolve_uri.handler(ctx, ResolveModelUri(uri=uri))
    return version.model, version.version, version.environment_hash


def _set_traffic(
    ctx: OperationContext,
    endpoint: str,
    before: Any,
    traffic: dict[str, int],
    mirror: dict[str, int],
    why: str,
) -> None:
    old = {"traffic": before["traffic"] or {}, "mirror": before["mirror"] or {}}
    new = {"traffic": traffic, "mirror": mirror}
    if old == new:
        return
    ctx.conn.execute(
        update(endpoints)
        .where(endpoints.c.name == endpoint)
        .values(traffic=traffic, mirror=mirror, updated_at=ctx.now_ms())
    )
    ctx.work.record("endpoint", endpoint, before=old, after=new)
    ctx.work.emit("endpoint.traffic.changed", endpoint, {"endpoint": endpoint, "why": why, **new})


@ops.write(
    "POST",
    "/endpoints/{endpoint}/deployments",
    permission="serving:write",
    audit="deployment.created",
)
def create_deployment(ctx: OperationContext, req: CreateDeployment) -> Deployment:
    """Deploy a model version on an endpoint; an alias is resolved (and pinned) now.

    The first deployment of an endpoint without traffic gets all of it.
    """
    endpoint = _endpoint_row(ctx, req.endpoint, lock=True)
    exists = ctx.conn.execute(
        select(deployments.c.name).where(
            deployments.c.endpoint == req.endpoint, deployments.c.name == req.name
        )
    ).first()
    if exists is not None:
        raise AlreadyExists(
            f"endpoint '{req.endpoint}' already has a deployment '{req.name}': update it or "
            "pick another name",
            details={"id": f"{req.endpoint}/{req.name}"},
        )
    model, version, environment = _resolve(ctx, req.model_uri)
    now = ctx.now_ms()
    row = {
        "endpoint": req.endpoint,
        "name": req.name,
        "model": model,
        "version": version,
        "model_uri": req.model_uri,
        "environment_hash": environment,
        "workers": req.workers,
        "config": req.config.model_dump(mode="json"),
        "created_at": now,
        "updated_at": now,
        "created_by": ctx.actor.name,
    }
    ctx.conn.execute(insert(deployments).values(row))
    ref = f"{req.endpoint}/{req.name}"
    ctx.work.record("deployment", ref, after=row)
    ctx.work.emit(
        "deployment.created",
        ref,
        {"endpoint": req.endpoint, "deployment": req.name, "model": model, "version": version},
    )
    if not splits.live(endpoint["traffic"] or {}):
        _set_traffic(
            ctx, req.endpoint, endpoint, {req.name: 100}, endpoint["mirror"] or {}, "first"
        )
    return _deployment(row)


@ops.write(
    "PATCH",
    "/endpoints/{endpoint}/deployments/{name}",
    permission="serving:write",
    audit="deployment.updated",
)
def update_deployment(ctx: OperationContext, req: UpdateDeployment) -> Deployment:
    """Change a deployment's model version, workers or batching; its workers restart."""
    _endpoint_row(ctx, req.endpoint, lock=True)
    row = _deployment_row(ctx, req.endpoint, req.name)
    values: dict[str, Any] = {}
    if req.model_uri is not None:
        model, version, environment = _resolve(ctx, req.model_uri)
        values.update(
            model=model, version=version, model_uri=req.model_uri, environment_hash=environment
        )
    if req.workers is not None:
        values["workers"] = req.workers
    if req.config is not None:
        values["config"] = req.config.model_dump(mode="json")
    changed = {k: v for k, v in values.items() if row[k] != v}
    if not changed:
        return _deployment(row)
    changed["updated_at"] = ctx.now_ms()
    ctx.conn.execute(
        update(deployments)
        .where(deployments.c.endpoint == req.endpoint, deployments.c.name == req.name)
        .values(changed)
    )
    ref = f"{req.endpoint}/{req.name}"
    ctx.work.record(
        "deployment",
        ref,
        before={k: row[k] for k in changed if k != "updated_at"},
        after=changed,
    )
    ctx.work.emit(
        "deployment.updated",
        ref,
        {"endpoint": req.endpoint, "deployment": req.name, "changed": sorted(changed)},
    )
    return _deployment(_deployment_row(ctx, req.endpoint, req.name))


@ops.read("/endpoints/{endpoint}/deployments/{name}", permission="serving:read")
def get_deployment(ctx: OperationContext, req: GetDeployment) -> Deployment:
    """One deployment."""
    return _deployment(_deployment_row(ctx, req.endpoint, req.name))


@ops.read("/deployments", permission="serving:read")
def list_deployments(ctx: OperationContext, req: ListDeployments) -> DeploymentList:
    """Every deployment, or an endpoint's."""
    if req.endpoint is not None:
        _endpoint_row(ctx, req.endpoint)
    return DeploymentList(deployments=_deployments(ctx, req.endpoint))


def _forget_deployment(ctx: OperationContext, deployment: Deployment) -> None:
    ctx.conn.execute(
        delete(deployments).where(
            deployments.c.endpoint == deployment.endpoint,
            deployments.c.name == deployment.name,
        )
    )
    ctx.work.record(
        "deployment",
        deployment.ref,
        before=deployment.model_dump(mode="json"),
    )
    ctx.work.emit(
        "deployment.deleted",
        deployment.ref,
        {
            "endpoint": deployment.endpoint,
            "deployment": deployment.name,
            "model": deployment.model,
            "version": deployment.version,
        },
    )


@ops.write(
    "DELETE",
    "/endpoints/{endpoint}/deployments/{name}",
    permission="serving:delete",
    audit="deployment.deleted",
)
def delete_deployment(ctx: OperationContext, req: DeleteDeployment) -> Done:
    """Delete a deployment that has no traffic share and no mirror (move traffic first)."""
    endpoint = _endpoint_row(ctx, req.endpoint, lock=True)
    deployment = _deployment(_deployment_row(ctx, req.endpoint, req.name))
    share = (endpoint["traffic"] or {}).get(req.name, 0)
    mirrored = (endpoint["mirror"] or {}).get(req.name, 0)
    if share or mirrored:
        what = f"{share}% of the traffic" if share else f"a {mirrored}% mirror"
        raise Conflict(
            f"{deployment.ref} has {what}: move it to other deployments first "
            f"(modelyard endpoint traffic {req.endpoint} ...)",
            details={"traffic": share, "mirror": mirrored},
        )
    active = _active_rollout(ctx, req.endpoint)
    if active is not None and active.target == req.name:
        raise Conflict(
            f"a rollout to {deployment.ref} is {active.state.value.lower()}: abort it first",
            details={"rollout": active.id},
        )
    _forget_deployment(ctx, deployment)
    traffic = {k: v for k, v in (endpoint["traffic"] or {}).items() if k != req.name}
    mirror = {k: v for k, v in (endpoint["mirror"] or {}).items() if k != req.name}
    _set_traffic(ctx, req.endpoint, endpoint, traffic, mirror, "deployment deleted")
    return Done()


@ops.write(
    "PUT",
    "/endpoints/{endpoint}/traffic",
    permission="serving:write",
    audit="endpoint.traffic.changed",
)
def set_traffic(ctx: OperationContext, req: SetTraffic) -> Endpoint:
    """Split live traffic between deployments (shares add up to 100) and set the mirror."""
    row = _endpoint_row(ctx, req.endpoint, lock=True)
    active = _active_rollout(ctx, req.endpoint)
    if active is not None:
        raise Conflict(
            f"a rollout to '{active.target}' is {active.state.value.lower()} on "
            f"'{req.endpoint}' and owns its traffic: abort it first "
            f"(modelyard rollout abort {req.endpoint})",
            details={"rollout": active.id},
        )
    mirror = dict(row["mirror"] or {}) if req.mirror is None else splits.live(req.mirror)
    traffic = dict(req.traffic)
    names = [d.name for d in _deployments(ctx, req.endpoint)]
    splits.check_split(traffic, mirror, names)
    _set_traffic(ctx, req.endpoint, row, traffic, mirror, "set")
    return _endpoint(ctx, _endpoint_row(ctx, req.endpoint))


def _event(
    ctx: OperationContext,
    action: str,
    traffic: dict[str, int],
    detail: str | None = None,
    observed: dict[str, float] | None = None,
) -> dict[str, Any]:
    return RolloutEvent(
        at=ctx.now_ms(), action=action, traffic=traffic, detail=detail, observed=observed
    ).model_dump(mode="json")


def _save_rollout(ctx: OperationContext, rollout: Rollout, action: str) -> Rollout:
    rollout = rollout.model_copy(update={"updated_at": ctx.now_ms()})
    values = rollout.model_dump(mode="json", exclude={"id", "created_at", "created_by"})
    ctx.conn.execute(update(rollouts).where(rollouts.c.id == rollout.id).values(values))
    subject = f"{rollout.endpoint}/{rollout.id}"
    ctx.work.record("rollout", subject, after={"state": rollout.state.value, "step": action})
    ctx.work.emit(
        f"rollout.{action}",
        subject,
        {
            "endpoint": rollout.endpoint,
            "rollout": rollout.id,
            "target": rollout.target,
            "state": rollout.state.value,
            "traffic": rollout.history[-1].traffic if rollout.history else {},
        },
    )
    return rollout


@ops.write(
    "POST", "/endpoints/{endpoint}/rollouts", permission="serving:write", audit="rollout.started"
)
def start_rollout(ctx: OperationContext, req: StartRollout) -> Rollout:
    """Move traffic to ``target`` step by step; the first step takes effect now."""
    row = _endpoint_row(ctx, req.endpoint, lock=True)
    active = _active_rollout(ctx, req.endpoint)
    if active is not None:
        raise Conflict(
            f"a rollout to '{active.target}' is already {active.state.value.lower()} on "
            f"'{req.endpoint}'",
            details={"rollout": active.id},
        )
    _deployment_row(ctx, req.endpoint, req.target)
    initial = splits.live(row["traffic"] or {})
    current = initial.get(req.target, 0)
    if not {n for n in initial if n != req.target}:
        raise InvalidInput(
            f"'{req.target}' is the only deployment with traffic on '{req.endpoint}': "
            "a rollout moves traffic from other deployments to it"
        )
    if req.steps[0] <= current:
        raise InvalidInput(
            f"'{req.target}' already has {current}%: the first step must be above that",
            details={"current": current},
        )
    now = ctx.now_ms()
    traffic = splits.shift(initial, req.target, req.steps[0])
    mirror = {k: v for k, v in (row["mirror"] or {}).items() if k != req.target}
    rollout = Rollout(
        id=uuid.uuid4().hex,
        endpoint=req.endpoint,
        target=req.target,
        steps=req.steps,
        interval_ms=req.interval_ms,
        max_error_rate=req.max_error_rate,
        max_p99_ms=req.max_p99_ms,
        initial_traffic=initial,
        state=RolloutState.RUNNING,
        step_index=0,
        next_at=now + req.interval_ms,
        history=[],
        outcome=None,
        created_at=now,
        updated_at=now,
        created_by=ctx.actor.name,
    )
    rollout.history.append(RolloutEvent.model_validate(_event(ctx, "started", traffic)))
    ctx.conn.execute(insert(rollouts).values(rollout.model_dump(mode="json")))
    _set_traffic(ctx, req.endpoint, row, traffic, mirror, f"rollout {rollout.id} started")
    ctx.work.record("rollout", f"{req.endpoint}/{rollout.id}", after={"state": rollout.state.value})
    ctx.work.emit(
        "rollout.started",
        f"{req.endpoint}/{rollout.id}",
        {"endpoint": req.endpoint, "rollout": rollout.id, "target": req.target},
    )
    return rollout


@ops.read("/endpoints/{endpoint}/rollout", permission="serving:read")
def get_rollout(ctx: OperationContext, req: GetRollout) -> Rollout:
    """The endpoint's latest rollout (running, paused or finished)."""
    _endpoint_row(ctx, req.endpoint)
    found = _latest_rollout(ctx, req.endpoint)
    if found is None:
        raise NotFound(
            f"endpoint '{req.endpoint}' has had no rollout",
            details={"kind": "rollout", "id": req.endpoint},
        )
    return found


def _require_active(ctx: OperationContext, endpoint: str) -> tuple[Any, Rollout]:
    row = _endpoint_row(ctx, endpoint, lock=True)
    active = _active_rollout(ctx, endpoint)
    if active is None:
        raise Conflict(f"no rollout is running on '{endpoint}'", details={"endpoint": endpoint})
    return row, active


def _finish(
    ctx: OperationContext,
    row: Any,
    rollout: Rollout,
    state: RolloutState,
    traffic: dict[str, int],
    outcome: str,
    observed: dict[str, float] | None = None,
) -> Rollout:
    action = {
        RolloutState.ROLLED_BACK: "rolled_back",
        RolloutState.ABORTED: "aborted",
        RolloutState.SUCCEEDED: "succeeded",
    }[state]
    _set_traffic(ctx, rollout.endpoint, row, traffic, row["mirror"] or {}, outcome)
    event = RolloutEvent.model_validate(_event(ctx, action, traffic, outcome, observed))
    done = rollout.model_copy(
        update={
            "state": state,
            "next_at": None,
            "outcome": outcome,
            "history": [*rollout.history, event],
        }
    )
    return _save_rollout(ctx, done, action)


def _hold_or_run(
    ctx: OperationContext,
    row: Any,
    rollout: Rollout,
    state: RolloutState,
    next_at: int | None,
    action: str,
) -> Rollout:
    event = RolloutEvent.model_validate(_event(ctx, action, row["traffic"] or {}))
    changed = rollout.model_copy(
        update={"state": state, "next_at": next_at, "history": [*rollout.history, event]}
    )
    return _save_rollout(ctx, changed, action)


@ops.write(
    "POST",
    "/endpoints/{endpoint}/rollout/pause",
    permission="serving:write",
    audit="rollout.paused",
    idempotent=True,
)
def pause_rollout(ctx: OperationContext, req: RolloutCommand) -> Rollout:
    """Hold the current step: no further steps and no automatic rollback until resumed."""
    row, rollout = _require_active(ctx, req.endpoint)
    if rollout.state == RolloutState.PAUSED:
        return rollout
    return _hold_or_run(ctx, row, rollout, RolloutState.PAUSED, None, "paused")


@ops.write(
    "POST",
    "/endpoints/{endpoint}/rollout/resume",
    permission="serving:write",
    audit="rollout.resumed",
    idempotent=True,
)
def resume_rollout(ctx: OperationContext, req: RolloutCommand) -> Rollout:
    """Continue a paused rollout; the current step's health window starts again."""
    row, rollout = _require_active(ctx, req.endpoint)
    if rollout.state == RolloutState.RUNNING:
        return rollout
    next_at = ctx.now_ms() + rollout.interval_ms
    return _hold_or_run(ctx, row, rollout, RolloutState.RUNNING, next_at, "resumed")


@ops.write(
    "POST",
    "/endpoints/{endpoint}/rollout/abort",
    permission="serving:write",
    audit="rollout.aborted",
)
def abort_rollout(ctx: OperationContext, req: RolloutCommand) -> Rollout:
    """Stop the rollout and give the traffic back as it was before it started."""
    row, rollout = _require_active(ctx, req.endpoint)
    return _finish(
        ctx, row, rollout, RolloutState.ABORTED, rollout.initial_traffic, "aborted by a user"
    )


def _breach(rollout: Rollout, req: AdvanceRollout) -> str | None:
    seen = req.observed
    if seen.requests < max(req.min_requests, 1):
        return None
    if rollout.max_error_rate is not None and seen.error_rate > rollout.max_error_rate:
        return (
            f"error rate {seen.error_rate:.2%} over {seen.requests} requests is above "
            f"{rollout.max_error_rate:.2%}"
        )
    if (
        rollout.max_p99_ms is not None
        and seen.p99_ms is not None
        and seen.p99_ms > rollout.max_p99_ms
    ):
        return f"p99 latency {seen.p99_ms:.1f} ms is above {rollout.max_p99_ms:g} ms"
    return None


@ops.write(
    "POST",
    "/endpoints/{endpoint}/rollout/advance",
    permission="serving:operate",
    audit="rollout.advanced",
)
def advance_rollout(ctx: OperationContext, req: AdvanceRollout) -> Rollout:
    """One controller tick: roll back on a breached bound, else step once the interval is up.

    Steps wait for ``min_requests`` in the window when a bound is set: a step is not
    judged healthy on no evidence.
    """
    row = _endpoint_row(ctx, req.endpoint, lock=True)
    rollout = _active_rollout(ctx, req.endpoint)
    if rollout is None or rollout.id != req.rollout_id:
        raise Conflict(
            f"rollout {req.rollout_id} is not running on '{req.endpoint}'",
            details={"rollout": req.rollout_id},
        )
    if rollout.state != RolloutState.RUNNING:
        return rollout
    observed = req.observed.as_dict()
    breach = _breach(rollout, req)
    if breach is not None:
        return _finish(
            ctx,
            row,
            rollout,
            RolloutState.ROLLED_BACK,
            rollout.initial_traffic,
            f"rolled back: {breach}",
            observed,
        )
    now = ctx.now_ms()
    bounded = rollout.max_error_rate is not None or rollout.max_p99_ms is not None
    if rollout.next_at is None or now < rollout.next_at:
        return rollout
    if bounded and req.observed.requests < req.min_requests:
        return rollout  # not enough evidence yet: keep the step
    last = rollout.step_index + 1 >= len(rollout.steps)
    if last:
        final = row["traffic"] or {}
        return _finish(
            ctx,
            row,
            rollout,
            RolloutState.SUCCEEDED,
            final,
            f"{rollout.target} has {rollout.steps[-1]}% of the traffic",
            observed,
        )
    index = rollout.step_index + 1
    traffic = splits.shift(rollout.initial_traffic, rollout.target, rollout.steps[index])
    _set_traffic(ctx, req.endpoint, row, traffic, row["mirror"] or {}, f"rollout step {index}")
    event = RolloutEvent.model_validate(
        _event(ctx, "step", traffic, f"step {index + 1} of {len(rollout.steps)}", observed)
    )
    stepped = rollout.model_copy(
        update={
            "step_index": index,
            "next_at": now + rollout.interval_ms,
            "history": [*rollout.history, event],
        }
    )
    return _save_rollout(ctx, stepped, "step")


OPERATIONS = ops.operations
