"""Tracking's domain models: experiments, runs, metrics, params, tags, inputs, artifacts.

These are the shapes users see in Python and in JSON; the tables behind them live in
``modelyard.storage.db.tables`` and ``records.py`` converts one into the other.
"""

from __future__ import annotations

import functools
import math
import re
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, Field, field_validator

from modelyard.core.fields import (
    INT64_MAX,
    INT64_MIN,
    MAX_ENTRIES,
    Count,
    Description,
    Flag,
    Int64,
    JsonObject,
    Label,
    Sha256,
    ShortText,
    Text,
    TimestampMs,
    WorkspaceName,
    name_field,
    whole,
)
from modelyard.core.operations import Model, Request
from modelyard.errors import InvalidInput

MAX_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
MAX_BATCH_METRICS = 10_000
MAX_BATCH_PARAMS = 1_000
MAX_BATCH_TAGS = 1_000
MAX_SEARCH_RESULTS = 10_000
MAX_FILTER_LENGTH = 10_000

_KEY = re.compile(r"^[A-Za-z0-9_\-./ :]+$")


class RunStatus(StrEnum):
    SCHEDULED = "SCHEDULED"
    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    @property
    def terminal(self) -> bool:
        return self in (RunStatus.FINISHED, RunStatus.FAILED, RunStatus.KILLED)


@functools.lru_cache(maxsize=4096)
def validate_key(key: str, kind: str = "key") -> str:
    """Check a metric, param or tag key; the message says what is allowed.

    Cached: a batch logs the same few keys thousands of times, and only valid keys are
    remembered (an invalid key raises, which is never cached).
    """
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidInput(
            f"invalid {kind} '{key}': must be 1 to {MAX_KEY_LENGTH} characters",
            details={"key": key},
        )
    if not _KEY.match(key):
        raise InvalidInput(
            f"invalid {kind} '{key}': use only letters, digits, spaces and _ - . / :",
            details={"key": key},
        )
    if key.startswith("/") or any(part in ("", "..", ".") for part in key.split("/")):
        raise InvalidInput(
            f"invalid {kind} '{key}': no leading '/', empty, '.' or '..' path segments",
            details={"key": key},
        )
    return key


def _metric_key(key: str) -> str:
    return validate_key(key, "metric name")


def _param_key(key: str) -> str:
    return validate_key(key, "param name")


def _tag_key(key: str) -> str:
    return validate_key(key, "tag name")


# The length is checked by validate_key (its message names the kind of key); the schema
# still states it.
_KEY_BOUND = Field(
    json_schema_extra={"minLength": 1, "maxLength": MAX_KEY_LENGTH, "pattern": _KEY.pattern}
)
MetricKey = Annotated[str, _KEY_BOUND, AfterValidator(_metric_key)]
ParamKey = Annotated[str, _KEY_BOUND, AfterValidator(_param_key)]
TagKey = Annotated[str, _KEY_BOUND, AfterValidator(_tag_key)]
ParamValue = Annotated[str, Field(max_length=MAX_PARAM_VALUE_LENGTH)]
TagValue = Annotated[str, Field(max_length=MAX_TAG_VALUE_LENGTH)]
Id = Annotated[
    str,
    name_field(
        r"^[A-Za-z0-9_\-]+$",
        max_length=64,
        rule="letters, digits, '_' and '-' (an id as Modelyard gives it)",
        example="3f2a9c1e0b7d4e6f8a5b2c1d0e9f8a7b",
    ),
]


def check_step(step: int, key: str) -> int:
    """A metric step must be an integer that fits the store's 64-bit column."""
    if isinstance(step, bool) or not isinstance(step, int) or not INT64_MIN <= step <= INT64_MAX:
        raise InvalidInput(
            f"metric '{key}': step must be an integer between {INT64_MIN} and {INT64_MAX}, "
            f"got {step!r}"
        )
    return step


class Metric(Model):
    """One metric measurement. ``timestamp`` is epoch milliseconds."""

    # Each field is bounded by its own validator, so a batch of thousands is not walked
    # again for what a store cannot keep (core/operations.py).
    __storable__: ClassVar[bool] = True

    key: MetricKey
    value: float
    step: Int64 = 0
    timestamp: Int64 | None = None

    @field_validator("value", mode="before")
    @classmethod
    def _accept_numbers(cls, v: Any) -> Any:
        # bool is an int subclass; a logged True is almost always a mistake.
        if isinstance(v, bool):
            raise ValueError("a metric value must be a number, not a boolean")
        return v

    @property
    def is_nan(self) -> bool:
        return math.isnan(self.value)


class Source(Model):
    """Where a run's code came from."""

    commit: Annotated[str, Field(max_length=64)] | None = None
    dirty: Flag | None = None
    entry_point: Label | None = None


class DatasetInput(Model):
    """A dataset a run read: its content hash identifies the exact version."""

    name: Annotated[str, Field(min_length=1, max_length=250)]
    digest: Annotated[str, Field(min_length=1, max_length=64)]
    source: Label | None = None
    schema_: JsonObject | None = Field(default=None, alias="schema")
    row_count: Count | None = None
    context: str | None = Field(default=None, max_length=64)


class Artifact(Model):
    path: str
    sha256: str
    size: int
    created_at: int


class Workspace(Model):
    name: str
    created_at: int


class WorkspaceList(Model):
    workspaces: list[Workspace]


class Experiment(Model):
    id: str
    workspace: str
    name: str
    description: str | None
    tags: dict[str, str]
    lifecycle: str
    created_at: int
    updated_at: int


class Run(Model):
    id: str
    experiment_id: str
    name: str
    status: RunStatus
    start_time: int
    end_time: int | None
    user: str
    description: str | None
    parent_run_id: str | None
    source: Source
    environment_hash: str | None
    failure: str | None
    lifecycle: str
    params: dict[str, str] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    metrics: dict[str, float] = Field(default_factory=dict)
    inputs: list[DatasetInput] = Field(default_factory=list)


class ExperimentList(Model):
    experiments: list[Experiment]


class RunPage(Model):
    runs: list[Run]
    next_page_token: str | None = None


class MetricHistory(Model):
    metrics: list[Metric]


class ArtifactList(Model):
    artifacts: list[Artifact]


# Requests -------------------------------------------------------------------------------


ExperimentName = Annotated[str, Field(min_length=1, max_length=250)]


class EnsureWorkspace(Request):
    name: WorkspaceName


class ListWorkspaces(Request):
    pass


RunTags = Annotated[dict[TagKey, TagValue], Field(max_length=MAX_BATCH_TAGS)]


class CreateExperiment(Request):
    name: ExperimentName
    workspace: WorkspaceName | None = None
    description: Description | None = None
    tags: RunTags = Field(default_factory=dict)


class EnsureExperiment(CreateExperiment):
    """The experiment ``name``, created with these fields if it does not exist yet."""


class GetExperiment(Request):
    experiment_id: Id


class FindExperiment(Request):
    name: ExperimentName
    workspace: WorkspaceName | None = None


class ListExperiments(Request):
    workspace: WorkspaceName | None = None


class CreateRun(Request):
    experiment_id: Id
    name: ShortText | None = None
    start_time: TimestampMs | None = None
    status: RunStatus = RunStatus.RUNNING
    description: Description | None = None
    parent_run_id: Id | None = None
    tags: RunTags = Field(default_factory=dict)
    source: Source = Field(default_factory=Source)
    environment_hash: Sha256 | None = None


class GetRun(Request):
    run_id: Id


class UpdateRun(Request):
    run_id: Id
    status: RunStatus | None = None
    end_time: TimestampMs | None = None
    failure: Text | None = None
    name: Annotated[str, Field(min_length=1, max_length=250)] | None = None
    description: Description | None = None


class DeleteRun(Request):
    run_id: Id


class LogBatch(Request):
    run_id: Id
    metrics: Annotated[list[Metric], Field(max_length=MAX_BATCH_METRICS)] = Field(
        default_factory=list
    )
    params: Annotated[dict[ParamKey, ParamValue], Field(max_length=MAX_BATCH_PARAMS)] = Field(
        default_factory=dict
    )
    tags: Annotated[dict[TagKey, TagValue], Field(max_length=MAX_BATCH_TAGS)] = Field(
        default_factory=dict
    )


class GetMetricHistory(Request):
    run_id: Id
    key: MetricKey


class SearchRuns(Request):
    experiment_ids: Annotated[list[Id], Field(min_length=1, max_length=MAX_ENTRIES)]
    filter: Annotated[str, Field(max_length=MAX_FILTER_LENGTH)] | None = None
    order_by: Annotated[list[Label], Field(max_length=100)] = Field(default_factory=list)
    max_results: Annotated[int, whole(ge=1, le=MAX_SEARCH_RESULTS)] = 100
    page_token: Annotated[str, Field(max_length=100)] | None = None
    include_deleted: Flag = False


class LogInput(Request):
    run_id: Id
    dataset: DatasetInput


class LogArtifact(Request):
    run_id: Id
    path: Annotated[str, Field(min_length=1, max_length=1000)]
    sha256: Sha256
    size: Count


class ListArtifacts(Request):
    run_id: Id
    prefix: Label | None = None
