"""What a lineage node shows: a label, its status and time, and the facts that identify it
(a dataset's digest, a run's name, a version's flavor...), read in one query per kind."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, select

from modelyard.lineage.links import RUN_KINDS, Key, Link
from modelyard.lineage.models import LineageNode, NodeKind
from modelyard.storage.db.tables import (
    deployments,
    endpoints,
    model_versions,
    pipeline_runs,
    run_inputs,
    runs,
    step_runs,
)


def uri_of(node: Key) -> str:
    """The URI that starts a query at ``node`` (``start.resolve`` reads it back)."""
    prefix = {
        NodeKind.dataset: "datasets:/",
        NodeKind.artifact: "artifacts:/",
        NodeKind.model_version: "models:/",
        NodeKind.deployment: "endpoints:/",
        NodeKind.endpoint: "endpoints:/",
    }.get(node.kind, "runs:/")
    return prefix + node.key


def _datasets(conn: Connection, digests: set[str]) -> dict[str, dict[str, Any]]:
    ri = run_inputs.c
    found: dict[str, dict[str, Any]] = {}
    rows = conn.execute(
        select(ri.digest, ri.name, ri.source, ri.row_count, ri.created_at)
        .where(ri.digest.in_(digests))
        .order_by(ri.created_at)
    )
    for digest, name, source, rows_, created in rows:
        # The first read names the dataset; later reads may call it otherwise.
        found.setdefault(
            digest,
            {"label": name, "created_at": created, "source": source, "rows": rows_},
        )
    return found


def _runs(conn: Connection, ids: set[str]) -> dict[str, dict[str, Any]]:
    r, sr, pr = runs.c, step_runs.c, pipeline_runs.c
    found: dict[str, dict[str, Any]] = {}
    for rid, name, status, start, end, experiment, lifecycle in conn.execute(
        select(
            r.id, r.name, r.status, r.start_time, r.end_time, r.experiment_id, r.lifecycle
        ).where(r.id.in_(ids))
    ):
        found[rid] = {
            "label": name,
            "status": status,
            "created_at": start,
            "end_time": end,
            "experiment_id": experiment,
            **({"lifecycle": lifecycle} if lifecycle != "active" else {}),
        }
    for rid, step, cache_hit, pipeline_run in conn.execute(
        select(sr.run_id, sr.step, sr.cache_hit, sr.pipeline_run_id).where(sr.run_id.in_(ids))
    ):
        found[rid].update(step=step, cache_hit=cache_hit, pipeline_run_id=pipeline_run)
    for rid, pipeline, definition_hash in conn.execute(
        select(pr.run_id, pr.pipeline, pr.definition_hash).where(pr.run_id.in_(ids))
    ):
        found[rid].update(label=pipeline, pipeline=pipeline, definition_hash=definition_hash)
    return found


def _versions(conn: Connection, keys: set[str]) -> dict[str, dict[str, Any]]:
    mv = model_versions.c
    models = {k.rsplit("/", 1)[0] for k in keys}
    found = {}
    for model, version, status, flavor, source, created in conn.execute(
        select(mv.model, mv.version, mv.status, mv.flavor, mv.source, mv.created_at).where(
            mv.model.in_(models)
        )
    ):
        if (key := f"{model}/{version}") in keys:
            found[key] = {
                "label": f"{model} v{version}",
                "status": status,
                "created_at": created,
                "flavor": flavor,
                "source": source,
            }
    return found


def _deployments(conn: Connection, keys: set[str]) -> dict[str, dict[str, Any]]:
    d = deployments.c
    found = {}
    for endpoint, name, uri, workers, created in conn.execute(
        select(d.endpoint, d.name, d.model_uri, d.workers, d.created_at).where(
            d.endpoint.in_({k.split("/", 1)[0] for k in keys})
        )
    ):
        if (key := f"{endpoint}/{name}") in keys:
            found[key] = {
                "label": key,
                "created_at": created,
                "model_uri": uri,
                "workers": workers,
            }
    return found


def _endpoints(conn: Connection, names: set[str]) -> dict[str, dict[str, Any]]:
    e = endpoints.c
    return {
        name: {"label": name, "created_at": created, "port": port, "traffic": traffic}
        for name, port, traffic, created in conn.execute(
            select(e.name, e.port, e.traffic, e.created_at).where(e.name.in_(names))
        )
    }


def _artifacts(shas: set[str], links: Iterable[Link]) -> dict[str, dict[str, Any]]:
    # An artifact has no row of its own: its names are the outputs that produced it.
    outputs: dict[str, set[str]] = defaultdict(set)
    for link in links:
        if link.dst.kind == NodeKind.artifact and link.role.startswith("output:"):
            outputs[link.dst.key].add(link.role.removeprefix("output:"))
    return {
        sha: {
            "label": "/".join(sorted(outputs[sha])) or sha[:12],
            "outputs": sorted(outputs[sha]),
        }
        for sha in shas
    }


def describe(
    conn: Connection, distances: dict[Key, int], links: Iterable[Link]
) -> list[LineageNode]:
    """The nodes of a walk with what each shows, nearest the start first."""
    grouped: dict[NodeKind, set[str]] = defaultdict(set)
    for node in distances:
        grouped[NodeKind.run if node.kind in RUN_KINDS else node.kind].add(node.key)
    facts = {
        NodeKind.dataset: _datasets(conn, grouped[NodeKind.dataset]),
        NodeKind.artifact: _artifacts(grouped[NodeKind.artifact], links),
        NodeKind.run: _runs(conn, grouped[NodeKind.run]),
        NodeKind.model_version: _versions(conn, grouped[NodeKind.model_version]),
        NodeKind.deployment: _deployments(conn, grouped[NodeKind.deployment]),
        NodeKind.endpoint: _endpoints(conn, grouped[NodeKind.endpoint]),
    }
    nodes = []
    for node, distance in distances.items():
        kind = NodeKind.run if node.kind in RUN_KINDS else node.kind
        attributes = dict(facts[kind].get(node.key, {}))
        label = attributes.pop("label", node.key)
        status = attributes.pop("status", None)
        created = attributes.pop("created_at", None)
        if node.kind in (NodeKind.dataset, NodeKind.artifact):
            attributes["content_hash"] = node.key  # what identifies the exact data
        nodes.append(
            LineageNode(
                id=node.id,
                kind=node.kind,
                key=node.key,
                label=label,
                uri=uri_of(node),
                distance=distance,
                status=status,
                created_at=created,
                attributes=attributes,
            )
        )
    order = list(NodeKind)
    nodes.sort(key=lambda n: (n.distance, order.index(n.kind), n.key))
    return nodes
