"""Where a lineage query starts: a URI, resolved to the node it names now.

``models:/NAME@ALIAS`` and ``models:/NAME/latest`` are resolved by the registry's own
``resolve_uri``, so lineage and loading agree on which version a URI means.
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from modelyard.core.operations import OperationContext
from modelyard.errors import InvalidInput, NotFound
from modelyard.lineage.links import Key, run_kinds
from modelyard.lineage.models import NodeKind
from modelyard.registry import operations as registry
from modelyard.registry.models import ResolveModelUri
from modelyard.storage.db.tables import (
    deployments,
    endpoints,
    lineage_edges,
    pipeline_runs,
    run_inputs,
    runs,
    step_runs,
)

FORMS = (
    "models:/NAME/VERSION, models:/NAME@ALIAS, runs:/RUN_ID, pipelines:/PIPELINE_RUN_ID, "
    "pipelines:/PIPELINE_RUN_ID/STEP, datasets:/DIGEST, artifacts:/SHA256, endpoints:/NAME "
    "or endpoints:/NAME/DEPLOYMENT"
)


def _missing(uri: str, what: str) -> NotFound:
    return NotFound(f"'{uri}' names no {what}", details={"kind": what, "uri": uri})


def _run(conn: Connection, uri: str, run_id: str) -> Key:
    if conn.execute(select(runs.c.id).where(runs.c.id == run_id)).first() is None:
        raise _missing(uri, "run")
    return Key(run_kinds(conn, [run_id])[run_id], run_id)


def _pipeline_run(conn: Connection, uri: str, rest: str) -> Key:
    run_id, _, step = rest.partition("/")
    pr = pipeline_runs.c
    if conn.execute(select(pr.run_id).where(pr.run_id == run_id)).first() is None:
        raise _missing(uri, "pipeline run")
    if not step:
        return Key(NodeKind.pipeline_run, run_id)
    sr = step_runs.c
    # A step's node name is its run's name; a retried pipeline may record it more than
    # once (a failure, then a resumed run's copy): the latest is the one that counts.
    found = conn.execute(
        select(sr.run_id)
        .join(runs, runs.c.id == sr.run_id)
        .where(sr.pipeline_run_id == run_id, runs.c.name == step)
        .order_by(sr.ended_at.desc())
        .limit(1)
    ).scalar()
    if found is None:
        raise _missing(uri, "step run")
    return Key(NodeKind.step_run, found)


def _hash(conn: Connection, uri: str, kind: NodeKind, digest: str) -> Key:
    if kind == NodeKind.dataset:
        query = select(run_inputs.c.run_id).where(run_inputs.c.digest == digest)
    else:
        le = lineage_edges.c
        query = select(le.id).where(
            ((le.src_kind == "blob") & (le.src_id == digest))
            | ((le.dst_kind == "blob") & (le.dst_id == digest))
        )
    if conn.execute(query.limit(1)).first() is None:
        raise _missing(uri, kind.value.replace("_", " "))
    return Key(kind, digest)


def _endpoint(conn: Connection, uri: str, rest: str) -> Key:
    name, _, deployment = rest.partition("/")
    if not deployment:
        if conn.execute(select(endpoints.c.name).where(endpoints.c.name == name)).first() is None:
            raise _missing(uri, "endpoint")
        return Key(NodeKind.endpoint, name)
    d = deployments.c
    if conn.execute(select(d.name).where(d.endpoint == name, d.name == deployment)).first() is None:
        raise _missing(uri, "deployment")
    return Key(NodeKind.deployment, rest)


def resolve(ctx: OperationContext, uri: str) -> Key:
    """The node ``uri`` names; NotFound naming the URI when it names nothing recorded."""
    scheme, sep, rest = uri.partition(":/")
    rest = rest.strip("/") if sep else ""
    if not rest:
        raise InvalidInput(f"'{uri}' is not a lineage start: use {FORMS}", details={"uri": uri})
    if scheme == "models":
        try:
            version = ctx.call(registry.resolve_uri, ResolveModelUri(uri=uri))
        except NotFound as exc:
            raise NotFound(f"'{uri}': {exc.message}", details={**exc.details, "uri": uri}) from None
        return Key(NodeKind.model_version, f"{version.model}/{version.version}")
    if scheme == "runs":
        return _run(ctx.conn, uri, rest)
    if scheme == "pipelines":
        return _pipeline_run(ctx.conn, uri, rest)
    if scheme == "datasets":
        return _hash(ctx.conn, uri, NodeKind.dataset, rest)
    if scheme == "artifacts":
        return _hash(ctx.conn, uri, NodeKind.artifact, rest)
    if scheme == "endpoints":
        return _endpoint(ctx.conn, uri, rest)
    raise InvalidInput(f"'{uri}' is not a lineage start: use {FORMS}", details={"uri": uri})
