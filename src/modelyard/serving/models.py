"""Endpoints, deployments and rollouts as users and the REST API see them.

An endpoint is a stable address; its deployments are model versions run by scoring workers.
``traffic`` says which share of live requests each deployment answers (the shares add up to
100); ``mirror`` says which share of live requests is also copied to a deployment whose
answers are logged and never returned. A rollout moves traffic to one deployment step by
step and rolls back when that deployment's error rate or p99 latency crosses a bound.
"""

from __future__ import annotations

import itertools
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, field_validator

from modelyard.core.fields import NUMBER_ONLY, Count, Description, name_field, number, whole
from modelyard.core.operations import Model, Request
from modelyard.errors import InvalidInput
from modelyard.serving import limits

# DNS labels: an endpoint and a deployment become Kubernetes Services and Deployments.
_DNS_LABEL = r"^[a-z][a-z0-9\-]{0,62}$"
_DNS_RULE = "lowercase letters, digits and '-', starting with a letter, at most 63 characters"
EndpointName = Annotated[
    str, name_field(_DNS_LABEL, max_length=63, rule=_DNS_RULE, example="churn")
]
DeploymentName = Annotated[
    str, name_field(_DNS_LABEL, max_length=63, rule=_DNS_RULE, example="blue")
]
Share = Annotated[int, whole(ge=0, le=100)]
Port = Annotated[int, whole(ge=1024, le=65535)]
Workers = Annotated[int, limits.WORKERS.field()]
FIRST_PORT = 7100  # endpoints without a port get the lowest free one from here


class Batching(Model):
    """How a scoring worker batches concurrent requests into one predict call.

    The one place these defaults and bounds are written: the scoring server, the
    supervisor's deployments and the CLI options all read them from here.
    """

    max_batch_size: Annotated[int, limits.MAX_BATCH_SIZE.field()] = int(
        limits.MAX_BATCH_SIZE.default
    )
    max_wait_ms: Annotated[float, limits.MAX_WAIT_MS.field()] = limits.MAX_WAIT_MS.default


class DeploymentConfig(Batching):
    """How a deployment's scoring workers run."""

    # Share of requests written to the inference log (inputs, outputs, latency).
    sample_rate: Annotated[float, limits.SAMPLE_RATE.field()] = limits.SAMPLE_RATE.default

    @property
    def batching(self) -> Batching:
        return Batching(max_batch_size=self.max_batch_size, max_wait_ms=self.max_wait_ms)


class Deployment(Model):
    endpoint: str
    name: str
    model: str
    version: int
    model_uri: str
    environment_hash: str | None
    workers: int
    config: DeploymentConfig
    created_at: int
    updated_at: int
    created_by: str

    @property
    def ref(self) -> str:
        return f"{self.endpoint}/{self.name}"

    @property
    def version_uri(self) -> str:
        return f"models:/{self.model}/{self.version}"


class RolloutState(StrEnum):
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    SUCCEEDED = "SUCCEEDED"
    ROLLED_BACK = "ROLLED_BACK"
    ABORTED = "ABORTED"

    @property
    def active(self) -> bool:
        return self in (RolloutState.RUNNING, RolloutState.PAUSED)


class RolloutEvent(Model):
    at: int
    action: str  # started, step, paused, resumed, rolled_back, succeeded, aborted
    traffic: dict[str, int]
    detail: str | None = None
    observed: dict[str, float] | None = None


class Rollout(Model):
    id: str
    endpoint: str
    target: str
    steps: list[int]
    interval_ms: int
    max_error_rate: float | None
    max_p99_ms: float | None
    initial_traffic: dict[str, int]
    state: RolloutState
    step_index: int
    next_at: int | None
    history: list[RolloutEvent]
    outcome: str | None
    created_at: int
    updated_at: int
    created_by: str

    @property
    def step_started_at(self) -> int:
        """When the current step's traffic took effect (the window its health is judged on)."""
        steps = [e.at for e in self.history if e.action in ("started", "step", "resumed")]
        return steps[-1] if steps else self.created_at


class Endpoint(Model):
    name: str
    description: str | None
    port: int
    traffic: dict[str, int]
    mirror: dict[str, int]
    deployments: list[Deployment] = Field(default_factory=list)
    rollout: Rollout | None = None
    created_at: int
    updated_at: int
    created_by: str


class LiveDeployment(Model):
    """A deployment as the supervisor on this machine runs it."""

    # ready, starting or restarting; "not running" when no supervisor runs it.
    state: str
    url: str | None = None
    pid: int | None = None
    model: str | None = None
    workers: int | None = None
    restarts: int = 0
    last_exit: int | None = None


class LiveEndpoint(Model):
    """What the supervisor on this machine last reported for an endpoint.

    ``supervised`` is false, and ``reason`` says why, when no supervisor runs it; then
    every deployment is "not running". ``routing`` is the router's view: the split it
    applies, the deployments it sends to, and the last minute's requests, errors and
    latency per deployment.
    """

    supervised: bool
    reason: str | None = None
    supervisor_pid: int | None = None
    reported_at: int | None = None
    url: str | None = None
    # Why the router does not listen (its port is taken, say); the supervisor retries.
    router_error: str | None = None
    routing: dict[str, Any] | None = None
    deployments: dict[str, LiveDeployment] = Field(default_factory=dict)


class EndpointList(Model):
    endpoints: list[Endpoint]


class DeploymentList(Model):
    deployments: list[Deployment]


class CreateEndpoint(Request):
    name: EndpointName
    description: Description | None = None
    port: Port | None = None


class GetEndpoint(Request):
    name: EndpointName


class ListEndpoints(Request):
    pass


class DeleteEndpoint(Request):
    name: EndpointName


class CreateDeployment(Request):
    endpoint: EndpointName
    name: DeploymentName
    model_uri: Annotated[str, Field(min_length=1, max_length=1100)]
    workers: Workers = int(limits.WORKERS.default)
    config: DeploymentConfig = Field(default_factory=DeploymentConfig)


class UpdateDeployment(Request):
    endpoint: EndpointName
    name: DeploymentName
    model_uri: Annotated[str, Field(min_length=1, max_length=1100)] | None = None
    workers: Workers | None = None
    config: DeploymentConfig | None = None


class GetDeployment(Request):
    endpoint: EndpointName
    name: DeploymentName


class ListDeployments(Request):
    endpoint: EndpointName | None = None


class DeleteDeployment(Request):
    endpoint: EndpointName
    name: DeploymentName


class SetTraffic(Request):
    endpoint: EndpointName
    traffic: Annotated[dict[DeploymentName, Share], Field(max_length=100)]
    # None keeps the current mirror.
    mirror: Annotated[dict[DeploymentName, Share], Field(max_length=100)] | None = None


class StartRollout(Request):
    endpoint: EndpointName
    target: DeploymentName
    steps: Annotated[list[Annotated[int, whole(ge=1, le=100)]], Field(min_length=1, max_length=20)]
    interval_ms: Annotated[int, whole(ge=0, le=7 * 24 * 3600 * 1000)] = 60_000
    max_error_rate: Annotated[float, NUMBER_ONLY, number(ge=0, le=1)] | None = None
    max_p99_ms: Annotated[float, NUMBER_ONLY, number(gt=0, le=3_600_000)] | None = None

    @field_validator("steps")
    @classmethod
    def _increasing(cls, steps: list[int]) -> list[int]:
        if any(b <= a for a, b in itertools.pairwise(steps)):
            raise ValueError("steps must increase, e.g. 10,50,100")
        return steps


class GetRollout(Request):
    endpoint: EndpointName


class RolloutCommand(Request):
    endpoint: EndpointName


class Observation(Model):
    """The target deployment's live health over the current step, as the router saw it."""

    requests: Count
    errors: Count
    p99_ms: Annotated[float, NUMBER_ONLY, number(ge=0)] | None = None

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    def as_dict(self) -> dict[str, float]:
        found: dict[str, float] = {
            "requests": self.requests,
            "errors": self.errors,
            "error_rate": self.error_rate,
        }
        if self.p99_ms is not None:
            found["p99_ms"] = self.p99_ms
        return found


class AdvanceRollout(Request):
    """One tick of the rollout controller: judge the target's health, then step or roll back."""

    endpoint: EndpointName
    rollout_id: Annotated[str, Field(min_length=1, max_length=32)]
    observed: Observation
    min_requests: Annotated[int, whole(ge=0, le=1_000_000_000)] = 20


def parse_shares(items: list[str], what: str) -> dict[str, int]:
    """``["blue=90", "green=10"]`` as ``{"blue": 90, "green": 10}``."""

    shares: dict[str, int] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not value.strip().isdigit():
            raise InvalidInput(
                f"{what} '{item}': write DEPLOYMENT=PERCENT, e.g. blue=90 green=10",
                details={"item": item},
            )
        if name in shares:
            raise InvalidInput(f"{what}: '{name}' is given twice", details={"item": item})
        shares[name.strip()] = int(value)
    return shares
