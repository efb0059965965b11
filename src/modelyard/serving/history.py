"""An endpoint's history: which model version served which share of traffic, and when.

Told from the audit log, not from the endpoint's rows: every change to an endpoint, its
deployments, its traffic or its mirror is recorded in the same transaction as itself, so
replaying those records in chain order gives the endpoint's state at any instant, also
after the endpoint was deleted. A deployment record names the version its model URI
resolved to when it was deployed (an alias is pinned then), so an alias that moved later
does not rewrite what served.

The records replayed, by target kind:

- ``endpoint``: created (``after`` is the row, with its empty split), deleted (no
  ``after``), or a split changed (``after`` holds ``traffic`` and ``mirror``; written by
  ``records.write_traffic`` for a user's split, a first deployment and every rollout move);
- ``deployment`` (``ENDPOINT/NAME``): created (``after`` is the row: model, version, URI),
  updated (``after`` holds the fields that changed), deleted (no ``after``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

from sqlalchemy import and_, or_, select

from modelyard.core.fields import TimestampMs
from modelyard.core.operations import Model, OperationContext, OperationSet, Request
from modelyard.errors import InvalidInput, NotFound
from modelyard.serving import limits
from modelyard.serving.models import EndpointName
from modelyard.storage.db.tables import audit_records

ops = OperationSet("serving")

# What a deployment record says about what it serves; the rest (workers, batching) does
# not change which version answers.
_SERVED = ("model", "version", "model_uri")


class GetEndpointHistory(Request):
    endpoint: EndpointName
    # Milliseconds since the epoch; None for the whole timeline.
    at: TimestampMs | None = None
    limit: Annotated[int, limits.HISTORY_STATES.field()] = int(limits.HISTORY_STATES.default)


class ServedDeployment(Model):
    """A deployment as it stood in one state: the version it served and its shares."""

    name: str
    model: str
    version: int
    model_uri: str  # as given; ``version`` is what it resolved to when deployed
    traffic: int  # percent of live requests it answered
    mirror: int  # percent of live requests copied to it (answers logged, never returned)


class EndpointState(Model):
    """What the endpoint served from ``since`` until ``until`` (None: still in force)."""

    since: int
    until: int | None
    seq: int  # the audit record that began it, for `verify_chain` and the raw log
    actor: str
    action: str
    reason: str | None  # the actor's own words (--reason)
    # Why the split moved, as the change recorded it ("rolled back: error rate ..."); None
    # for changes that moved no traffic and for records written before it was kept.
    detail: str | None
    exists: bool  # false from the endpoint's deletion until it is created again
    deployments: list[ServedDeployment]


class EndpointHistory(Model):
    """States oldest first; with ``at``, only the one in force then."""

    endpoint: str
    at: int | None
    states: list[EndpointState]
    truncated: bool  # older states were left off (``limit``)


@dataclass
class _Served:
    exists: bool = False
    deployments: dict[str, dict[str, Any]] = field(default_factory=dict)
    traffic: dict[str, int] = field(default_factory=dict)
    mirror: dict[str, int] = field(default_factory=dict)

    def listed(self) -> list[ServedDeployment]:
        return [
            ServedDeployment(
                name=name,
                model=served["model"],
                version=served["version"],
                model_uri=served["model_uri"],
                traffic=self.traffic.get(name, 0),
                mirror=self.mirror.get(name, 0),
            )
            for name, served in sorted(self.deployments.items())
        ]


def _apply_endpoint(state: _Served, before: Any, after: Any) -> _Served:
    if after is None:
        return _Served()  # deleted, and its deployments with it
    if before is None:
        return _Served(
            exists=True,
            traffic=dict(after.get("traffic") or {}),
            mirror=dict(after.get("mirror") or {}),
        )
    if "traffic" in after:
        state.traffic = dict(after["traffic"] or {})
    if "mirror" in after:
        state.mirror = dict(after["mirror"] or {})
    return state


def _apply(state: _Served, record: Mapping[str, Any]) -> _Served:
    before, after = record["before"], record["after"]
    if record["target_kind"] == "endpoint":
        return _apply_endpoint(state, before, after)
    name = str(record["target_id"]).partition("/")[2]
    if after is None:
        state.deployments.pop(name, None)
    elif before is None:
        state.deployments[name] = {k: after[k] for k in _SERVED}
    else:
        # An update records only the fields that changed: the others still serve as before.
        served = {k: after[k] for k in _SERVED if k in after}
        state.deployments[name] = {**state.deployments.get(name, {}), **served}
    return state


def _why(record: Mapping[str, Any]) -> str | None:
    after = record["after"]
    if record["target_kind"] != "endpoint" or not isinstance(after, dict):
        return None
    why = after.get("why")
    return why if isinstance(why, str) else None


def _change(record: Mapping[str, Any]) -> tuple[Any, ...]:
    # Records of one transaction share their time, actor, action and reason: one change.
    # Two transactions alike in all four within one millisecond read as one change, which
    # no instant (in milliseconds) could tell apart anyway.
    return (record["at"], record["actor"], record["action"], record["reason"])


def replay(records: Iterable[Mapping[str, Any]]) -> list[EndpointState]:
    """The states an endpoint went through, from its records in chain order.

    A change that leaves what is served as it was (a deployment's workers) starts no state.
    """
    state = _Served()
    states: list[EndpointState] = []
    for _, change in itertools.groupby(records, key=_change):
        first, *rest = change
        detail = None
        for record in (first, *rest):
            state = _apply(state, record)
            detail = _why(record) or detail
        served = state.listed()
        if states and (states[-1].exists, states[-1].deployments) == (state.exists, served):
            continue
        states.append(
            EndpointState(
                since=first["at"],
                until=None,
                seq=first["seq"],
                actor=first["actor"],
                action=first["action"],
                reason=first["reason"],
                detail=detail,
                exists=state.exists,
                deployments=served,
            )
        )
    for earlier, later in itertools.pairwise(states):
        earlier.until = later.since
    return states


def _records(ctx: OperationContext, endpoint: str) -> list[Any]:
    a = audit_records.c
    # Endpoint and deployment names are DNS labels: no LIKE wildcard can be in them.
    query = (
        select(audit_records)
        .where(
            or_(
                and_(a.target_kind == "endpoint", a.target_id == endpoint),
                and_(a.target_kind == "deployment", a.target_id.like(f"{endpoint}/%")),
            )
        )
        .order_by(a.seq)
    )
    return list(ctx.conn.execute(query).mappings())


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")


def _in_force(states: list[EndpointState], endpoint: str, at: int) -> EndpointState:
    found = [s for s in states if s.since <= at]
    if not found:
        first = states[0]
        raise NotFound(
            f"endpoint '{endpoint}' did not exist at {_iso(at)}: {first.actor} first created "
            f"it at {_iso(first.since)}",
            details={"kind": "endpoint", "id": endpoint, "at": at, "first": first.since},
        )
    return found[-1]


@ops.read("/endpoints/{endpoint}/history", permission="serving:read")
def endpoint_history(ctx: OperationContext, req: GetEndpointHistory) -> EndpointHistory:
    """Which model versions served which shares of an endpoint's traffic, and when.

    With ``at``, the one state in force then: a deleted endpoint answers with the state its
    deletion began (no deployments, ``exists`` false, who deleted it and why); an instant
    before its first record is NotFound. Without ``at``, the newest ``limit`` states.
    """
    now = ctx.now_ms()
    if req.at is not None and req.at > now:
        raise InvalidInput(
            f"at {req.at} ({_iso(req.at)}) is in the future: the history tells what served "
            f"up to now ({_iso(now)})",
            details={"at": req.at, "now": now},
        )
    states = replay(_records(ctx, req.endpoint))
    if not states:
        raise NotFound(
            f"endpoint '{req.endpoint}' has no history: no audit record names it",
            details={"kind": "endpoint", "id": req.endpoint},
        )
    if req.at is not None:
        state = _in_force(states, req.endpoint, req.at)
        return EndpointHistory(endpoint=req.endpoint, at=req.at, states=[state], truncated=False)
    return EndpointHistory(
        endpoint=req.endpoint,
        at=None,
        states=states[-req.limit :],
        truncated=len(states) > req.limit,
    )


OPERATIONS = ops.operations
