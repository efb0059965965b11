"""Lineage operations: the graph around a node, and the run history as OpenLineage events.

Both are reads over what other areas record; lineage writes nothing of its own.
"""

from __future__ import annotations

from modelyard.core.operations import OperationContext, OperationSet
from modelyard.lineage import nodes, openlineage, start
from modelyard.lineage.models import (
    GetLineage,
    LineageEdge,
    LineageGraph,
    ListRunEvents,
    RunEventPage,
)
from modelyard.lineage.walk import walk

ops = OperationSet("lineage")


@ops.read("/lineage", permission="lineage:read")
def get_lineage(ctx: OperationContext, req: GetLineage) -> LineageGraph:
    """The lineage graph around a model version, run, step, dataset or endpoint."""
    root = start.resolve(ctx, req.uri)
    found = walk(ctx.conn, root, req.direction, req.depth, req.max_nodes)
    edges = [
        LineageEdge(src=src, dst=dst, role=role)
        for src, dst, role in sorted({(k.src.id, k.dst.id, k.role) for k in found.links})
    ]
    return LineageGraph(
        root=root.id,
        direction=req.direction,
        depth=req.depth,
        nodes=nodes.describe(ctx.conn, found.distances, found.links),
        edges=edges,
        truncated=found.truncated,
    )


@ops.read("/lineage/openlineage-events", permission="lineage:read")
def list_run_events(ctx: OperationContext, req: ListRunEvents) -> RunEventPage:
    """Runs, pipeline runs and step runs as OpenLineage run events (START, then COMPLETE,
    FAIL or ABORT), oldest run first."""
    return openlineage.run_events(ctx.conn, req)


OPERATIONS = ops.operations
