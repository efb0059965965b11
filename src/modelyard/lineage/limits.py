"""How far one lineage query may walk, written once for the request model and the CLI."""

from __future__ import annotations

from modelyard.core.bounds import Bound

# Hops from the start node; a pipeline's data reaches an endpoint in about eight.
DEPTH = Bound(default=10, ge=1, le=50)
# Nodes in one answer: past it the graph is cut and says so (``truncated``).
MAX_NODES = Bound(default=500, ge=1, le=5000)
# Runs whose events one page of the OpenLineage export holds.
EXPORT_PAGE = Bound(default=200, ge=1, le=1000)
