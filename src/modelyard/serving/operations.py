"""Serving operations: endpoints, their deployments and traffic splits.

This is the desired state. A supervisor (``serving/supervisor.py``) reads it and makes the
processes on this machine match, so a restarted supervisor restores every endpoint.
Rollouts, which move the traffic step by step, are ``serving/rollouts.py``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select, update

from modelyard.core.operations import Done, OperationContext, OperationSet
from modelyard.errors import AlreadyExists, Conflict
from modelyard.registry import operations as registry_ops
from modelyard.registry.models import ResolveModelUri
from modelyard.serving import records
from modelyard.serving import traffic as splits
from modelyard.serving.models import (
    FIRST_PORT,
    CreateDeployment,
    CreateEndpoint,
    DeleteDeployment,
    DeleteEndpoint,
    Deployment,
    DeploymentList,
    Endpoint,
    EndpointList,
    GetDeployment,
    GetEndpoint,
    ListDeployments,
    ListEndpoints,
    SetTraffic,
    UpdateDeployment,
)
from modelyard.storage.db.inserts import insert_if_absent
from modelyard.storage.db.tables import deployments, endpoints, rollouts

ops = OperationSet("serving")


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
    return records.endpoint_from_row(ctx, row)


@ops.read("/endpoints/{name}", permission="serving:read")
def get_endpoint(ctx: OperationContext, req: GetEndpoint) -> Endpoint:
    """An endpoint with its deployments, traffic, mirror and latest rollout."""
    return records.endpoint_from_row(ctx, records.endpoint_row(ctx, req.name))


@ops.read("/endpoints", permission="serving:read")
def list_endpoints(ctx: OperationContext, req: ListEndpoints) -> EndpointList:
    """Every endpoint, by name."""
    rows = ctx.conn.execute(select(endpoints).order_by(endpoints.c.name)).mappings()
    return EndpointList(endpoints=[records.endpoint_from_row(ctx, r) for r in rows])


@ops.write("DELETE", "/endpoints/{name}", permission="serving:delete", audit="endpoint.deleted")
def delete_endpoint(ctx: OperationContext, req: DeleteEndpoint) -> Done:
    """Delete an endpoint and its deployments (refused while a rollout runs)."""
    row = records.endpoint_row(ctx, req.name, lock=True)
    active = records.active_rollout(ctx, req.name)
    if active is not None:
        raise Conflict(
            f"a rollout to '{active.target}' is {active.state.value.lower()} on '{req.name}': "
            "abort it first",
            details={"rollout": active.id},
        )
    for deployment in records.deployments_of(ctx, req.name):
        _forget_deployment(ctx, deployment)
    ctx.conn.execute(delete(rollouts).where(rollouts.c.endpoint == req.name))
    ctx.conn.execute(delete(endpoints).where(endpoints.c.name == req.name))
    ctx.work.record("endpoint", req.name, before=dict(row))
    ctx.work.emit("endpoint.deleted", req.name, {"endpoint": req.name})
    return Done()


def _resolve(ctx: OperationContext, uri: str) -> tuple[str, int, str | None]:
    version = registry_ops.resolve_uri.handler(ctx, ResolveModelUri(uri=uri))
    return version.model, version.version, version.environment_hash


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
    endpoint = records.endpoint_row(ctx, req.endpoint, lock=True)
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
        records.write_traffic(
            ctx, req.endpoint, endpoint, {req.name: 100}, endpoint["mirror"] or {}, "first"
        )
    return records.deployment_from_row(row)


@ops.write(
    "PATCH",
    "/endpoints/{endpoint}/deployments/{name}",
    permission="serving:write",
    audit="deployment.updated",
)
def update_deployment(ctx: OperationContext, req: UpdateDeployment) -> Deployment:
    """Change a deployment's model version, workers or batching; its workers restart."""
    records.endpoint_row(ctx, req.endpoint, lock=True)
    row = records.deployment_row(ctx, req.endpoint, req.name)
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
        return records.deployment_from_row(row)
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
    return records.deployment_from_row(records.deployment_row(ctx, req.endpoint, req.name))


@ops.read("/endpoints/{endpoint}/deployments/{name}", permission="serving:read")
def get_deployment(ctx: OperationContext, req: GetDeployment) -> Deployment:
    """One deployment."""
    return records.deployment_from_row(records.deployment_row(ctx, req.endpoint, req.name))


@ops.read("/deployments", permission="serving:read")
def list_deployments(ctx: OperationContext, req: ListDeployments) -> DeploymentList:
    """Every deployment, or an endpoint's."""
    if req.endpoint is not None:
        records.endpoint_row(ctx, req.endpoint)
    return DeploymentList(deployments=records.deployments_of(ctx, req.endpoint))


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
    endpoint = records.endpoint_row(ctx, req.endpoint, lock=True)
    deployment = records.deployment_from_row(records.deployment_row(ctx, req.endpoint, req.name))
    share = (endpoint["traffic"] or {}).get(req.name, 0)
    mirrored = (endpoint["mirror"] or {}).get(req.name, 0)
    if share or mirrored:
        what = f"{share}% of the traffic" if share else f"a {mirrored}% mirror"
        raise Conflict(
            f"{deployment.ref} has {what}: move it to other deployments first "
            f"(modelyard endpoint traffic {req.endpoint} ...)",
            details={"traffic": share, "mirror": mirrored},
        )
    active = records.active_rollout(ctx, req.endpoint)
    if active is not None and active.target == req.name:
        raise Conflict(
            f"a rollout to {deployment.ref} is {active.state.value.lower()}: abort it first",
            details={"rollout": active.id},
        )
    _forget_deployment(ctx, deployment)
    traffic = {k: v for k, v in (endpoint["traffic"] or {}).items() if k != req.name}
    mirror = {k: v for k, v in (endpoint["mirror"] or {}).items() if k != req.name}
    records.write_traffic(ctx, req.endpoint, endpoint, traffic, mirror, "deployment deleted")
    return Done()


@ops.write(
    "PUT",
    "/endpoints/{endpoint}/traffic",
    permission="serving:write",
    audit="endpoint.traffic.changed",
    guard=records.traffic_guard(
        lambda req: (
            f"set the traffic of {req.endpoint} to "
            + (", ".join(f"{k} {v}%" for k, v in req.traffic.items()) or "nothing")
            + ("" if req.mirror is None else f" (mirror {req.mirror})")
        ),
    ),
)
def set_traffic(ctx: OperationContext, req: SetTraffic) -> Endpoint:
    """Split live traffic between deployments (shares add up to 100) and set the mirror."""
    row = records.endpoint_row(ctx, req.endpoint, lock=True)
    active = records.active_rollout(ctx, req.endpoint)
    if active is not None:
        raise Conflict(
            f"a rollout to '{active.target}' is {active.state.value.lower()} on "
            f"'{req.endpoint}' and owns its traffic: abort it first "
            f"(modelyard rollout abort {req.endpoint})",
            details={"rollout": active.id},
        )
    mirror = dict(row["mirror"] or {}) if req.mirror is None else splits.live(req.mirror)
    traffic = dict(req.traffic)
    names = [d.name for d in records.deployments_of(ctx, req.endpoint)]
    splits.check_split(traffic, mirror, names)
    records.write_traffic(ctx, req.endpoint, row, traffic, mirror, "set")
    return records.endpoint_from_row(ctx, records.endpoint_row(ctx, req.endpoint))


OPERATIONS = ops.operations
