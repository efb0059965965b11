"""``Client().lineage``: the lineage graph around a node, and OpenLineage run events."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from modelyard.config import Settings
from modelyard.core.backend import Backend
from modelyard.lineage import limits
from modelyard.lineage import operations as ops
from modelyard.lineage.models import Direction, GetLineage, LineageGraph, ListRunEvents


class LineageClient:
    """Call it for a graph: ``client.lineage("models:/churn@champion", direction="upstream")``."""

    def __init__(self, backend: Backend, settings: Settings) -> None:
        self._backend = backend
        self._settings = settings

    def __call__(
        self,
        uri: str,
        *,
        direction: Direction | str = Direction.both,
        depth: int = int(limits.DEPTH.default),
        max_nodes: int = int(limits.MAX_NODES.default),
    ) -> LineageGraph:
        """The datasets, runs, steps, versions, deployments and endpoints linked to ``uri``
        (``models:/NAME/VERSION`` or ``@ALIAS``, ``runs:/ID``, ``pipelines:/ID[/STEP]``,
        ``datasets:/DIGEST``, ``artifacts:/SHA256``, ``endpoints:/NAME[/DEPLOYMENT]``)."""
        request = GetLineage(uri=uri, direction=direction, depth=depth, max_nodes=max_nodes)
        return self._backend.call(ops.get_lineage, request)

    def events(
        self,
        *,
        since: int | None = None,
        until: int | None = None,
        namespace: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """OpenLineage run events of the runs started in [since, until) (epoch ms), oldest
        run first, each START before its COMPLETE, FAIL or ABORT; fetched a page at a time."""
        token = None
        while True:
            page = self._backend.call(
                ops.list_run_events,
                ListRunEvents(
                    since=since,
                    until=until,
                    namespace=namespace or self._settings.openlineage_namespace,
                    page_token=token,
                ),
            )
            yield from page.events
            token = page.next_page_token
            if token is None:
                return
