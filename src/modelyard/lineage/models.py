"""Requests and answers of the lineage operations."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field

from modelyard.core.fields import Label, ShortText, TimestampMs
from modelyard.core.operations import Model, Request
from modelyard.lineage import limits


class Direction(StrEnum):
    upstream = "upstream"
    downstream = "downstream"
    both = "both"


class NodeKind(StrEnum):
    """What a lineage node is; data flows dataset/artifact -> runs -> versions -> endpoints."""

    dataset = "dataset"  # a dataset a run read (``log_input``), by its content digest
    artifact = "artifact"  # a stored step output, by the SHA-256 of its manifest
    run = "run"
    pipeline_run = "pipeline_run"
    step_run = "step_run"
    model_version = "model_version"
    deployment = "deployment"
    endpoint = "endpoint"


class GetLineage(Request):
    uri: Annotated[
        Label,
        Field(
            min_length=1,
            description="models:/NAME/VERSION (or @ALIAS, /latest), runs:/RUN_ID, "
            "pipelines:/PIPELINE_RUN_ID[/STEP], datasets:/DIGEST, artifacts:/SHA256, "
            "endpoints:/NAME[/DEPLOYMENT]",
            examples=["models:/churn/3"],
        ),
    ]
    direction: Direction = Direction.both
    depth: Annotated[int, limits.DEPTH.field()] = int(limits.DEPTH.default)
    max_nodes: Annotated[int, limits.MAX_NODES.field()] = int(limits.MAX_NODES.default)


class LineageNode(Model):
    id: str  # KIND:KEY, what edges name
    kind: NodeKind
    key: str  # a run id, NAME/VERSION, a digest...
    label: str
    uri: str  # a start point for another query
    distance: int  # hops from the start node
    status: str | None = None
    created_at: int | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)


class LineageEdge(Model):
    """``src`` fed ``dst``: data flows from src to dst."""

    src: str
    dst: str
    role: str  # input:NAME, output:NAME, step, cache, registered, deployed, serves


class LineageGraph(Model):
    root: str
    direction: Direction
    depth: int
    nodes: list[LineageNode]
    edges: list[LineageEdge]
    truncated: bool = False  # the node budget cut the walk short


class ListRunEvents(Request):
    since: TimestampMs | None = None
    until: TimestampMs | None = None
    namespace: Annotated[ShortText, Field(min_length=1)] = "modelyard"
    max_results: Annotated[int, limits.EXPORT_PAGE.field()] = int(limits.EXPORT_PAGE.default)
    page_token: Annotated[str, Field(max_length=100)] | None = None


class RunEventPage(Model):
    """OpenLineage run events (JSON objects), oldest run first."""

    events: list[dict[str, Any]]
    next_page_token: str | None = None
