"""Pipeline records as users and the REST API see them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from modelyard.core.fields import (
    MAX_ENTRIES,
    MAX_LOG_LENGTH,
    Count,
    Flag,
    JsonObject,
    Label,
    Sha256,
    ShortText,
    Text,
    TimestampMs,
    VersionNumber,
    WorkspaceName,
    name_field,
    whole,
)
from modelyard.core.operations import Model, Request
from modelyard.tracking.models import DatasetInput, Id, Metric, RunStatus

StepStatus = Literal["FINISHED", "FAILED", "SKIPPED"]
PIPELINE_NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$"
PipelineName = Annotated[
    str,
    name_field(
        PIPELINE_NAME_PATTERN,
        max_length=200,
        rule="letters, digits, '_', '.' and '-', starting with a letter, a digit or '_'",
        example="train",
    ),
]
ExecutorSpec = Annotated[str, Field(min_length=1, max_length=250, examples=["processes:4"])]
OutputName = Annotated[
    str,
    name_field(
        r"^[A-Za-z_][A-Za-z0-9_-]*$",
        max_length=250,
        rule="letters, digits, '_' and '-', starting with a letter or '_'",
        example="model",
    ),
]


class StepOutputInfo(Model):
    manifest: Sha256
    size: Count
    materializer: ShortText


class StartPipelineRun(Request):
    pipeline: PipelineName
    definition: JsonObject
    definition_hash: Sha256
    params: JsonObject = Field(default_factory=dict)
    executor: ExecutorSpec = "inline"
    source: Label | None = None
    workspace: WorkspaceName | None = None
    # The registered version (``train:3``) whose code snapshot runs, if it is one.
    registered: Annotated[str, Field(max_length=220)] | None = None


class PipelineRunRef(Model):
    run_id: str
    experiment_id: str
    pipeline: str


class CacheLookup(Request):
    cache_key: Sha256
    step: ShortText


class CachedStep(Model):
    run_id: str  # the step run that computed the outputs (never a cached copy of them)
    outputs: dict[str, StepOutputInfo]


class CacheAnswer(Model):
    hit: CachedStep | None = None
    previous_key_parts: dict[str, Any] | None = None
    previous_status: str | None = None
    stale_run_id: str | None = None


class RecordStepRun(Request):
    pipeline_run_id: Id
    node: ShortText
    step: ShortText
    status: StepStatus
    cache_key: Sha256 | None = None
    key_parts: JsonObject | None = None
    cache_hit: Flag = False
    cached_from: Id | None = None
    cache_reason: Text | None = None
    attempts: Annotated[int, whole(ge=0, le=1_000_000)] = 0
    environment_hash: Sha256 | None = None
    params: JsonObject = Field(default_factory=dict)
    inputs: Annotated[dict[ShortText, Sha256], Field(max_length=MAX_ENTRIES)] = Field(
        default_factory=dict
    )
    outputs: Annotated[dict[OutputName, StepOutputInfo], Field(max_length=MAX_ENTRIES)] = Field(
        default_factory=dict
    )
    metrics: Annotated[list[Metric], Field(max_length=MAX_ENTRIES)] = Field(default_factory=list)
    # The datasets the step read (``modelyard.log_input`` in the step): its run's inputs.
    datasets: Annotated[list[DatasetInput], Field(max_length=MAX_ENTRIES)] = Field(
        default_factory=list
    )
    started_at: TimestampMs | None = None
    ended_at: TimestampMs | None = None
    error: Text | None = None
    log: Annotated[str, Field(max_length=MAX_LOG_LENGTH)] | None = None


class StepRunInfo(Model):
    run_id: str
    node: str
    status: str
    cache_hit: bool
    cached_from: str | None
    cache_reason: str | None
    attempts: int
    environment_hash: str | None
    outputs: dict[str, StepOutputInfo]
    started_at: int | None
    ended_at: int | None
    error: str | None = None


class FinishPipelineRun(Request):
    run_id: Id
    status: RunStatus
    failure: Text | None = None


class GetPipelineRun(Request):
    run_id: Id


class PipelineRunInfo(Model):
    run_id: str
    pipeline: str
    definition_hash: str
    params: dict[str, Any]
    executor: str
    status: RunStatus
    start_time: int
    end_time: int | None
    failure: str | None
    steps: list[StepRunInfo]


class ListPipelineRuns(Request):
    pipeline: PipelineName
    max_results: Annotated[int, whole(ge=1, le=1000)] = 20


class PipelineRunList(Model):
    runs: list[PipelineRunInfo]


class ListPipelines(Request):
    pass


class PipelineSummary(Model):
    name: str
    definition_hash: str
    runs: int
    last_run_id: str | None
    last_status: str | None
    last_start: int | None


class PipelineList(Model):
    pipelines: list[PipelineSummary]


class GetPipeline(Request):
    name: PipelineName


class PipelineInfo(Model):
    name: str
    definition_hash: str
    definition: dict[str, Any]
    source: str | None
    created_at: int


# Registered pipelines ------------------------------------------------------------------------

# In the snapshot: "flows/train.py:train", "pipeline.yaml" or "package.module:train".
PipelineEntry = Annotated[str, Field(min_length=1, max_length=1000)]


class RegisterPipeline(Request):
    """A pipeline's code snapshot (a manifest of its files) and how to load it from there."""

    name: PipelineName
    snapshot: Sha256
    entry: PipelineEntry
    definition: JsonObject
    definition_hash: Sha256
    description: Annotated[str, Field(max_length=10_000)] | None = None


class PipelineVersion(Model):
    name: str
    version: int
    snapshot: str
    entry: str
    definition: dict[str, Any]
    definition_hash: str
    description: str | None
    created_at: int
    created_by: str

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.version}"


class GetPipelineVersion(Request):
    name: PipelineName
    version: VersionNumber


class ListPipelineVersions(Request):
    name: PipelineName


class PipelineVersionList(Model):
    versions: list[PipelineVersion]


class ResolvePipelineRef(Request):
    """``NAME`` (its latest registered version) or ``NAME:VERSION``."""

    ref: Annotated[str, Field(min_length=1, max_length=220)]
