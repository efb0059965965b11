"""Rollout operations: move an endpoint's traffic to one deployment step by step.

A rollout owns its endpoint's traffic while it is active. Users start, pause, resume and
abort it; the supervisor's controller ticks it (``advance_rollout``) with the target's
observed health, and the rules of ``rollout_rules.py`` decide what each command and each
tick does. Every change is audited and evented, its traffic change included.
"""

from __future__ import annotations

import uuid
from typing import Any, assert_never

from sqlalchemy import insert, update

from modelyard.core.operations import OperationContext, OperationSet
from modelyard.errors import Conflict, InvalidInput, NotFound
from modelyard.serving import records
from modelyard.serving import traffic as splits
from modelyard.serving.models import (
    AdvanceRollout,
    GetRollout,
    Rollout,
    RolloutCommand,
    RolloutEvent,
    RolloutState,
    StartRollout,
)
from modelyard.serving.rollout_rules import (
    COMMANDS,
    Command,
    Hold,
    RollBack,
    Step,
    Succeed,
    Tick,
    decide,
)
from modelyard.storage.db.tables import rollouts

ops = OperationSet("serving")

_FINISHED_ACTIONS = {
    RolloutState.ROLLED_BACK: "rolled_back",
    RolloutState.ABORTED: "aborted",
    RolloutState.SUCCEEDED: "succeeded",
}


def _history_event(
    ctx: OperationContext,
    action: str,
    traffic: dict[str, int],
    detail: str | None = None,
    observed: dict[str, float] | None = None,
) -> RolloutEvent:
    return RolloutEvent(
        at=ctx.now_ms(), action=action, traffic=traffic, detail=detail, observed=observed
    )


def _save(ctx: OperationContext, rollout: Rollout, action: str) -> Rollout:
    """Store the rollout's new state, with its audit record and its ``rollout.<action>``."""
    rollout = rollout.model_copy(update={"updated_at": ctx.now_ms()})
    values = rollout.model_dump(mode="json", exclude={"id", "created_at", "created_by"})
    ctx.conn.execute(update(rollouts).where(rollouts.c.id == rollout.id).values(values))
    subject = f"{rollout.endpoint}/{rollout.id}"
    ctx.work.record("rollout", subject, after={"state": rollout.state.value, "step": action})
    ctx.work.emit(
        f"rollout.{action}",
        subject,
        {
            "endpoint": rollout.endpoint,
            "rollout": rollout.id,
            "target": rollout.target,
            "state": rollout.state.value,
            "traffic": rollout.history[-1].traffic if rollout.history else {},
            "outcome": rollout.outcome,
        },
    )
    return rollout


def _refuse_if_active(ctx: OperationContext, endpoint: str) -> None:
    active = records.active_rollout(ctx, endpoint)
    if active is not None:
        raise Conflict(
            f"a rollout to '{active.target}' is already {active.state.value.lower()} on "
            f"'{endpoint}'",
            details={"rollout": active.id},
        )


@ops.write(
    "POST",
    "/endpoints/{endpoint}/rollouts",
    permission="serving:write",
    audit="rollout.started",
    guard=records.traffic_guard(
        lambda req: (
            f"roll {req.endpoint} out to {req.target} in steps "
            + "/".join(str(s) for s in req.steps)
            + "%"
        ),
    ),
)
def start_rollout(ctx: OperationContext, req: StartRollout) -> Rollout:
    """Move traffic to ``target`` step by step; the first step takes effect now."""
    row = records.endpoint_row(ctx, req.endpoint, lock=True)
    _refuse_if_active(ctx, req.endpoint)
    records.deployment_row(ctx, req.endpoint, req.target)
    initial = splits.live(row["traffic"] or {})
    current = initial.get(req.target, 0)
    if not {n for n in initial if n != req.target}:
        raise InvalidInput(
            f"'{req.target}' is the only deployment with traffic on '{req.endpoint}': "
            "a rollout moves traffic from other deployments to it"
        )
    if req.steps[0] <= current:
        raise InvalidInput(
            f"'{req.target}' already has {current}%: the first step must be above that",
            details={"current": current},
        )
    now = ctx.now_ms()
    traffic = splits.shift(initial, req.target, req.steps[0])
    mirror = {k: v for k, v in (row["mirror"] or {}).items() if k != req.target}
    rollout = Rollout(
        id=uuid.uuid4().hex,
        endpoint=req.endpoint,
        target=req.target,
        steps=req.steps,
        interval_ms=req.interval_ms,
        max_error_rate=req.max_error_rate,
        max_p99_ms=req.max_p99_ms,
        initial_traffic=initial,
        state=RolloutState.RUNNING,
        step_index=0,
        next_at=now + req.interval_ms,
        history=[_history_event(ctx, "started", traffic)],
        outcome=None,
        created_at=now,
        updated_at=now,
        created_by=ctx.actor.name,
    )
    ctx.conn.execute(insert(rollouts).values(rollout.model_dump(mode="json")))
    records.write_traffic(ctx, req.endpoint, row, traffic, mirror, f"rollout {rollout.id} started")
    subject = f"{req.endpoint}/{rollout.id}"
    ctx.work.record("rollout", subject, after={"state": rollout.state.value})
    ctx.work.emit(
        "rollout.started",
        subject,
        {"endpoint": req.endpoint, "rollout": rollout.id, "target": req.target},
    )
    return rollout


@ops.read("/endpoints/{endpoint}/rollout", permission="serving:read")
def get_rollout(ctx: OperationContext, req: GetRollout) -> Rollout:
    """The endpoint's latest rollout (running, paused or finished)."""
    records.endpoint_row(ctx, req.endpoint)
    found = records.latest_rollout(ctx, req.endpoint)
    if found is None:
        raise NotFound(
            f"endpoint '{req.endpoint}' has had no rollout",
            details={"kind": "rollout", "id": req.endpoint},
        )
    return found


def _require_active(ctx: OperationContext, endpoint: str) -> tuple[Any, Rollout]:
    row = records.endpoint_row(ctx, endpoint, lock=True)
    active = records.active_rollout(ctx, endpoint)
    if active is None:
        raise Conflict(f"no rollout is running on '{endpoint}'", details={"endpoint": endpoint})
    return row, active


def _finish(
    ctx: OperationContext,
    row: Any,
    rollout: Rollout,
    state: RolloutState,
    traffic: dict[str, int],
    outcome: str,
    observed: dict[str, float] | None = None,
) -> Rollout:
    action = _FINISHED_ACTIONS[state]
    records.write_traffic(ctx, rollout.endpoint, row, traffic, row["mirror"] or {}, outcome)
    event = _history_event(ctx, action, traffic, outcome, observed)
    done = rollout.model_copy(
        update={
            "state": state,
            "next_at": None,
            "outcome": outcome,
            "history": [*rollout.history, event],
        }
    )
    return _save(ctx, done, action)


def _command(ctx: OperationContext, endpoint: str, command: Command) -> Rollout:
    """Apply a user's command to the endpoint's active rollout, as its rule says."""
    row, rollout = _require_active(ctx, endpoint)
    if not command.applies_to(rollout):
        return rollout
    if command.to == RolloutState.ABORTED:
        return _finish(
            ctx, row, rollout, RolloutState.ABORTED, rollout.initial_traffic, "aborted by a user"
        )
    # Pausing stops the clock; resuming restarts the current step's health window.
    next_at = None if command.to == RolloutState.PAUSED else ctx.now_ms() + rollout.interval_ms
    action = {"pause": "paused", "resume": "resumed"}[command.name]
    event = _history_event(ctx, action, row["traffic"] or {})
    changed = rollout.model_copy(
        update={"state": command.to, "next_at": next_at, "history": [*rollout.history, event]}
    )
    return _save(ctx, changed, action)


@ops.write(
    "POST",
    "/endpoints/{endpoint}/rollout/pause",
    permission="serving:write",
    audit="rollout.paused",
    idempotent=True,
)
def pause_rollout(ctx: OperationContext, req: RolloutCommand) -> Rollout:
    """Hold the current step: no further steps and no automatic rollback until resumed."""
    return _command(ctx, req.endpoint, COMMANDS["pause"])


@ops.write(
    "POST",
    "/endpoints/{endpoint}/rollout/resume",
    permission="serving:write",
    audit="rollout.resumed",
    idempotent=True,
)
def resume_rollout(ctx: OperationContext, req: RolloutCommand) -> Rollout:
    """Continue a paused rollout; the current step's health window starts again."""
    return _command(ctx, req.endpoint, COMMANDS["resume"])


@ops.write(
    "POST",
    "/endpoints/{endpoint}/rollout/abort",
    permission="serving:write",
    audit="rollout.aborted",
)
def abort_rollout(ctx: OperationContext, req: RolloutCommand) -> Rollout:
    """Stop the rollout and give the traffic back as it was before it started."""
    return _command(ctx, req.endpoint, COMMANDS["abort"])


@ops.write(
    "POST",
    "/endpoints/{endpoint}/rollout/advance",
    permission="serving:operate",
    audit="rollout.advanced",
)
def advance_rollout(ctx: OperationContext, req: AdvanceRollout) -> Rollout:
    """One controller tick: roll back on a breached bound, else step once the interval is up.

    Steps wait for ``min_requests`` in the window when a bound is set: a step is not
    judged healthy on no evidence.
    """
    row = records.endpoint_row(ctx, req.endpoint, lock=True)
    rollout = records.active_rollout(ctx, req.endpoint)
    if rollout is None or rollout.id != req.rollout_id:
        raise Conflict(
            f"rollout {req.rollout_id} is not running on '{req.endpoint}'",
            details={"rollout": req.rollout_id},
        )
    observed = req.observed.as_dict()
    decision = decide(rollout, Tick(ctx.now_ms(), req.observed, req.min_requests))
    match decision:
        case Hold():
            return rollout
        case RollBack(reason=reason):
            back = rollout.initial_traffic
            return _finish(
                ctx,
                row,
                rollout,
                RolloutState.ROLLED_BACK,
                back,
                f"rolled back: {reason}",
                observed,
            )
        case Succeed():
            outcome = f"{rollout.target} has {rollout.steps[-1]}% of the traffic"
            final = row["traffic"] or {}
            return _finish(ctx, row, rollout, RolloutState.SUCCEEDED, final, outcome, observed)
        case Step(index=index):
            return _step(ctx, req.endpoint, row, rollout, index, observed)
    assert_never(decision)


def _step(
    ctx: OperationContext,
    endpoint: str,
    row: Any,
    rollout: Rollout,
    index: int,
    observed: dict[str, float],
) -> Rollout:
    traffic = splits.shift(rollout.initial_traffic, rollout.target, rollout.steps[index])
    records.write_traffic(ctx, endpoint, row, traffic, row["mirror"] or {}, f"rollout step {index}")
    event = _history_event(
        ctx, "step", traffic, f"step {index + 1} of {len(rollout.steps)}", observed
    )
    stepped = rollout.model_copy(
        update={
            "step_index": index,
            "next_at": ctx.now_ms() + rollout.interval_ms,
            "history": [*rollout.history, event],
        }
    )
    return _save(ctx, stepped, "step")


OPERATIONS = ops.operations
