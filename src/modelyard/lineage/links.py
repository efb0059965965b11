"""The links between lineage nodes, read from where each area records them.

Nothing is copied into a lineage table: a step's inputs and outputs are ``lineage_edges``
(written by pipelines), a run's datasets are ``run_inputs`` (tracking), a version's source
run is ``model_versions.run_id`` (registry), a deployment's version and endpoint are its
row (serving), and a step belongs to its pipeline run by ``step_runs``. Each function
answers for a whole frontier at once: one query per kind of link, not one per node.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import NamedTuple

from sqlalchemy import Connection, select

from modelyard.lineage.models import NodeKind
from modelyard.storage.db.tables import (
    deployments,
    lineage_edges,
    model_versions,
    pipeline_runs,
    run_inputs,
    step_runs,
)

# A version deleted from the registry is hidden from every read; lineage hides it too.
_DELETED = "DELETED"
RUN_KINDS = frozenset({NodeKind.run, NodeKind.pipeline_run, NodeKind.step_run})


class Key(NamedTuple):
    kind: NodeKind
    key: str

    @property
    def id(self) -> str:
        return f"{self.kind.value}:{self.key}"


class Link(NamedTuple):
    """``src`` fed ``dst`` (in the direction data flows)."""

    src: Key
    dst: Key
    role: str


def run_kinds(conn: Connection, ids: Iterable[str]) -> dict[str, NodeKind]:
    """Whether each run is a pipeline run, a step run or a plain run."""
    ids = set(ids)
    if not ids:
        return {}
    kinds = dict.fromkeys(ids, NodeKind.run)
    for (rid,) in conn.execute(select(step_runs.c.run_id).where(step_runs.c.run_id.in_(ids))):
        kinds[rid] = NodeKind.step_run
    pr = pipeline_runs.c
    for (rid,) in conn.execute(select(pr.run_id).where(pr.run_id.in_(ids))):
        kinds[rid] = NodeKind.pipeline_run
    return kinds


def _by_kind(frontier: Iterable[Key]) -> dict[NodeKind, set[str]]:
    grouped: dict[NodeKind, set[str]] = defaultdict(set)
    for node in frontier:
        grouped[NodeKind.run if node.kind in RUN_KINDS else node.kind].add(node.key)
    return grouped


class _Runs:
    """Collects run ids met while reading links and names their kind in one go at the end
    (a lineage edge says "run" for a step run; a version's run may be either)."""

    def __init__(self) -> None:
        self.pending: list[tuple[str | None, str | None, Key | None, Key | None, str]] = []

    def add(self, src: Key | str, dst: Key | str, role: str) -> None:
        self.pending.append(
            (
                src if isinstance(src, str) else None,
                dst if isinstance(dst, str) else None,
                src if isinstance(src, Key) else None,
                dst if isinstance(dst, Key) else None,
                role,
            )
        )

    def links(self, conn: Connection) -> list[Link]:
        ids = {i for s, d, *_ in self.pending for i in (s, d) if i is not None}
        kinds = run_kinds(conn, ids)
        out = []
        for src_id, dst_id, src, dst, role in self.pending:
            src = src or Key(kinds[src_id or ""], src_id or "")
            dst = dst or Key(kinds[dst_id or ""], dst_id or "")
            out.append(Link(src, dst, role))
        return out


def _edge_node(kind: str, ident: str) -> Key | str:
    """A node named by a ``lineage_edges`` row: a run id (kind decided later) or a Key."""
    if kind == "run":
        return ident
    return Key(NodeKind.artifact, ident)


def upstream(conn: Connection, frontier: Iterable[Key]) -> list[Link]:
    """Every link into a node of ``frontier``."""
    grouped = _by_kind(frontier)
    runs = _Runs()
    d, mv, le, ri, sr = deployments.c, model_versions.c, lineage_edges.c, run_inputs.c, step_runs.c
    if names := grouped.get(NodeKind.endpoint):
        for endpoint, name in conn.execute(select(d.endpoint, d.name).where(d.endpoint.in_(names))):
            runs.add(
                Key(NodeKind.deployment, f"{endpoint}/{name}"),
                Key(NodeKind.endpoint, endpoint),
                "serves",
            )
    if keys := grouped.get(NodeKind.deployment):
        endpoints = {k.split("/", 1)[0] for k in keys}
        for endpoint, name, model, version in conn.execute(
            select(d.endpoint, d.name, d.model, d.version).where(d.endpoint.in_(endpoints))
        ):
            if f"{endpoint}/{name}" in keys:
                runs.add(
                    Key(NodeKind.model_version, f"{model}/{version}"),
                    Key(NodeKind.deployment, f"{endpoint}/{name}"),
                    "deployed",
                )
    if keys := grouped.get(NodeKind.model_version):
        models = {k.rsplit("/", 1)[0] for k in keys}
        for model, version, run_id in conn.execute(
            select(mv.model, mv.version, mv.run_id).where(
                mv.model.in_(models), mv.run_id.is_not(None)
            )
        ):
            if f"{model}/{version}" in keys:
                runs.add(run_id, Key(NodeKind.model_version, f"{model}/{version}"), "registered")
    if ids := grouped.get(NodeKind.run):
        for run_id, name, digest in conn.execute(
            select(ri.run_id, ri.name, ri.digest).where(ri.run_id.in_(ids))
        ):
            runs.add(Key(NodeKind.dataset, digest), run_id, f"input:{name}")
        for src_kind, src_id, dst_id, role in conn.execute(
            select(le.src_kind, le.src_id, le.dst_id, le.role).where(
                le.dst_kind == "run", le.dst_id.in_(ids)
            )
        ):
            runs.add(_edge_node(src_kind, src_id), dst_id, role)
        for run_id, pipeline_run_id, cached_from in conn.execute(
            select(sr.run_id, sr.pipeline_run_id, sr.cached_from).where(sr.run_id.in_(ids))
        ):
            runs.add(Key(NodeKind.pipeline_run, pipeline_run_id), run_id, "step")
            if cached_from is not None:
                runs.add(cached_from, run_id, "cache")
    if shas := grouped.get(NodeKind.artifact):
        for src_kind, src_id, dst_id, role in conn.execute(
            select(le.src_kind, le.src_id, le.dst_id, le.role).where(
                le.dst_kind == "blob", le.dst_id.in_(shas)
            )
        ):
            runs.add(_edge_node(src_kind, src_id), Key(NodeKind.artifact, dst_id), role)
    return runs.links(conn)


def downstream(conn: Connection, frontier: Iterable[Key]) -> list[Link]:
    """Every link out of a node of ``frontier``."""
    grouped = _by_kind(frontier)
    runs = _Runs()
    d, mv, le, ri, sr = deployments.c, model_versions.c, lineage_edges.c, run_inputs.c, step_runs.c
    if digests := grouped.get(NodeKind.dataset):
        for run_id, name, digest in conn.execute(
            select(ri.run_id, ri.name, ri.digest).where(ri.digest.in_(digests))
        ):
            runs.add(Key(NodeKind.dataset, digest), run_id, f"input:{name}")
    if shas := grouped.get(NodeKind.artifact):
        for src_id, dst_kind, dst_id, role in conn.execute(
            select(le.src_id, le.dst_kind, le.dst_id, le.role).where(
                le.src_kind == "blob", le.src_id.in_(shas)
            )
        ):
            runs.add(Key(NodeKind.artifact, src_id), _edge_node(dst_kind, dst_id), role)
    if ids := grouped.get(NodeKind.run):
        for src_id, dst_kind, dst_id, role in conn.execute(
            select(le.src_id, le.dst_kind, le.dst_id, le.role).where(
                le.src_kind == "run", le.src_id.in_(ids)
            )
        ):
            runs.add(src_id, _edge_node(dst_kind, dst_id), role)
        for model, version, run_id in conn.execute(
            select(mv.model, mv.version, mv.run_id).where(mv.run_id.in_(ids), mv.status != _DELETED)
        ):
            runs.add(run_id, Key(NodeKind.model_version, f"{model}/{version}"), "registered")
        for run_id, pipeline_run_id in conn.execute(
            select(sr.run_id, sr.pipeline_run_id).where(sr.pipeline_run_id.in_(ids))
        ):
            runs.add(Key(NodeKind.pipeline_run, pipeline_run_id), run_id, "step")
        for run_id, cached_from in conn.execute(
            select(sr.run_id, sr.cached_from).where(sr.cached_from.in_(ids))
        ):
            runs.add(cached_from, run_id, "cache")
    if keys := grouped.get(NodeKind.model_version):
        models = {k.rsplit("/", 1)[0] for k in keys}
        for endpoint, name, model, version in conn.execute(
            select(d.endpoint, d.name, d.model, d.version).where(d.model.in_(models))
        ):
            if f"{model}/{version}" in keys:
                runs.add(
                    Key(NodeKind.model_version, f"{model}/{version}"),
                    Key(NodeKind.deployment, f"{endpoint}/{name}"),
                    "deployed",
                )
    if keys := grouped.get(NodeKind.deployment):
        for key in keys:
            endpoint = key.split("/", 1)[0]
            runs.add(Key(NodeKind.deployment, key), Key(NodeKind.endpoint, endpoint), "serves")
    return runs.links(conn)
