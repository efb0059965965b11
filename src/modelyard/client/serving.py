"""Endpoints and deployments from Python: ``Client().serving.create_deployment(...)``."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any

from modelyard.core.backend import Backend
from modelyard.serving import history, rollouts
from modelyard.serving import operations as ops
from modelyard.serving.history import EndpointHistory, GetEndpointHistory
from modelyard.serving.models import (
    AdvanceRollout,
    CreateDeployment,
    CreateEndpoint,
    DeleteDeployment,
    DeleteEndpoint,
    Deployment,
    DeploymentConfig,
    Endpoint,
    GetDeployment,
    GetEndpoint,
    GetRollout,
    ListDeployments,
    ListEndpoints,
    Observation,
    Rollout,
    RolloutCommand,
    SetTraffic,
    StartRollout,
    UpdateDeployment,
)


class ServingClient:
    """The desired state of endpoints; ``modelyard supervisor`` makes this machine match it."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    def create_endpoint(
        self,
        name: str,
        *,
        port: int | None = None,
        description: str | None = None,
        reason: str | None = None,
    ) -> Endpoint:
        request = CreateEndpoint(name=name, port=port, description=description)
        return self._backend.call(ops.create_endpoint, request, reason=reason)

    def endpoint(self, name: str) -> Endpoint:
        return self._backend.call(ops.get_endpoint, GetEndpoint(name=name))

    def endpoints(self) -> builtins.list[Endpoint]:
        return self._backend.call(ops.list_endpoints, ListEndpoints()).endpoints

    def endpoint_history(
        self, name: str, *, at: int | None = None, limit: int | None = None
    ) -> EndpointHistory:
        """Which versions served which shares of ``name``'s traffic, from its audit records;
        ``at`` (ms since the epoch) for the one state in force then, ``limit`` for the newest
        states only (default as ``GetEndpointHistory`` says)."""
        given = {} if limit is None else {"limit": limit}
        request = GetEndpointHistory(endpoint=name, at=at, **given)
        return self._backend.call(history.endpoint_history, request)

    def delete_endpoint(self, name: str, *, reason: str | None = None) -> None:
        self._backend.call(ops.delete_endpoint, DeleteEndpoint(name=name), reason=reason)

    def create_deployment(
        self,
        endpoint: str,
        name: str,
        model_uri: str,
        *,
        workers: int | None = None,
        config: DeploymentConfig | None = None,
        reason: str | None = None,
    ) -> Deployment:
        """Deploy ``model_uri`` (an alias is pinned to the version it names now); workers
        and config default as ``CreateDeployment`` says."""
        given: dict[str, Any] = {"workers": workers, "config": config}
        request = CreateDeployment(
            endpoint=endpoint,
            name=name,
            model_uri=model_uri,
            **{k: v for k, v in given.items() if v is not None},
        )
        return self._backend.call(ops.create_deployment, request, reason=reason)

    def update_deployment(
        self,
        endpoint: str,
        name: str,
        *,
        model_uri: str | None = None,
        workers: int | None = None,
        config: DeploymentConfig | None = None,
        reason: str | None = None,
    ) -> Deployment:
        request = UpdateDeployment(
            endpoint=endpoint, name=name, model_uri=model_uri, workers=workers, config=config
        )
        return self._backend.call(ops.update_deployment, request, reason=reason)

    def deployment(self, endpoint: str, name: str) -> Deployment:
        return self._backend.call(ops.get_deployment, GetDeployment(endpoint=endpoint, name=name))

    def deployments(self, endpoint: str | None = None) -> builtins.list[Deployment]:
        request = ListDeployments(endpoint=endpoint)
        return self._backend.call(ops.list_deployments, request).deployments

    def delete_deployment(self, endpoint: str, name: str, *, reason: str | None = None) -> None:
        request = DeleteDeployment(endpoint=endpoint, name=name)
        self._backend.call(ops.delete_deployment, request, reason=reason)

    def set_traffic(
        self,
        endpoint: str,
        traffic: Mapping[str, int],
        *,
        mirror: Mapping[str, int] | None = None,
        reason: str | None = None,
    ) -> Endpoint:
        request = SetTraffic(
            endpoint=endpoint,
            traffic=dict(traffic),
            mirror=None if mirror is None else dict(mirror),
        )
        return self._backend.call(ops.set_traffic, request, reason=reason)

    def start_rollout(
        self,
        endpoint: str,
        target: str,
        steps: builtins.list[int],
        *,
        interval_ms: int = 60_000,
        max_error_rate: float | None = None,
        max_p99_ms: float | None = None,
        reason: str | None = None,
    ) -> Rollout:
        request = StartRollout(
            endpoint=endpoint,
            target=target,
            steps=steps,
            interval_ms=interval_ms,
            max_error_rate=max_error_rate,
            max_p99_ms=max_p99_ms,
        )
        return self._backend.call(rollouts.start_rollout, request, reason=reason)

    def rollout(self, endpoint: str) -> Rollout:
        return self._backend.call(rollouts.get_rollout, GetRollout(endpoint=endpoint))

    def pause_rollout(self, endpoint: str, *, reason: str | None = None) -> Rollout:
        request = RolloutCommand(endpoint=endpoint)
        return self._backend.call(rollouts.pause_rollout, request, reason=reason)

    def resume_rollout(self, endpoint: str, *, reason: str | None = None) -> Rollout:
        request = RolloutCommand(endpoint=endpoint)
        return self._backend.call(rollouts.resume_rollout, request, reason=reason)

    def abort_rollout(self, endpoint: str, *, reason: str | None = None) -> Rollout:
        request = RolloutCommand(endpoint=endpoint)
        return self._backend.call(rollouts.abort_rollout, request, reason=reason)

    def advance_rollout(
        self, endpoint: str, rollout_id: str, observed: Observation, *, min_requests: int = 20
    ) -> Rollout:
        """One rollout-controller tick (the supervisor calls this; users need not)."""
        request = AdvanceRollout(
            endpoint=endpoint, rollout_id=rollout_id, observed=observed, min_requests=min_requests
        )
        return self._backend.call(rollouts.advance_rollout, request)
