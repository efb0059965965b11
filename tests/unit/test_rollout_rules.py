"""The rollout lifecycle's rules: what each tick and each command decides, and in what order."""

from __future__ import annotations

from typing import Any

import pytest

from modelyard.serving.models import Observation, Rollout, RolloutState
from modelyard.serving.rollout_rules import (
    COMMANDS,
    TICK_RULES,
    Hold,
    RollBack,
    Step,
    Succeed,
    Tick,
    decide,
)

NOW = 1_000_000


def rollout(**changes: Any) -> Rollout:
    values: dict[str, Any] = {
        "id": "r1",
        "endpoint": "churn",
        "target": "green",
        "steps": [10, 50, 100],
        "interval_ms": 60_000,
        "max_error_rate": 0.05,
        "max_p99_ms": 50.0,
        "initial_traffic": {"blue": 100},
        "state": RolloutState.RUNNING,
        "step_index": 0,
        "next_at": NOW,
        "history": [],
        "outcome": None,
        "created_at": 0,
        "updated_at": 0,
        "created_by": "ana",
    }
    values.update(changes)
    return Rollout.model_validate(values)


def tick(requests: int = 100, errors: int = 0, p99_ms: float | None = 10.0, **kw: Any) -> Tick:
    return Tick(
        now=kw.get("now", NOW),
        observed=Observation(requests=requests, errors=errors, p99_ms=p99_ms),
        min_requests=kw.get("min_requests", 20),
    )


def test_a_healthy_step_whose_interval_is_up_moves_on() -> None:
    assert decide(rollout(), tick()) == Step(1)


def test_the_last_healthy_step_succeeds() -> None:
    assert decide(rollout(step_index=2), tick()) == Succeed()


def test_a_breached_error_rate_rolls_back_even_before_the_interval_is_up() -> None:
    decision = decide(rollout(next_at=NOW + 10_000), tick(requests=100, errors=10))
    assert isinstance(decision, RollBack)
    assert "error rate 10.00% over 100 requests is above 5.00%" in decision.reason


def test_a_breached_p99_rolls_back() -> None:
    decision = decide(rollout(), tick(p99_ms=80.0))
    assert decision == RollBack("p99 latency 80.0 ms is above 50 ms")


def test_too_few_requests_neither_roll_back_nor_step() -> None:
    assert decide(rollout(), tick(requests=5, errors=5)) == Hold()


def test_an_unbounded_rollout_steps_on_time_without_evidence() -> None:
    unbounded = rollout(max_error_rate=None, max_p99_ms=None)
    assert decide(unbounded, tick(requests=0)) == Step(1)


def test_a_step_holds_until_its_interval_is_up() -> None:
    assert decide(rollout(next_at=NOW + 1), tick()) == Hold()


def test_a_paused_rollout_neither_steps_nor_rolls_back() -> None:
    paused = rollout(state=RolloutState.PAUSED, next_at=None)
    assert decide(paused, tick(errors=100)) == Hold()


def test_every_tick_rule_says_what_it_guards_and_why() -> None:
    for rule in TICK_RULES:
        assert rule.why
        assert len(rule.transition) == 2
    # Safety first: the rollback rule is consulted before any rule that waits or steps.
    names = [type(rule).__name__ for rule in TICK_RULES]
    assert names.index("RollBackOnABreachedBound") < names.index("WaitOutTheInterval")


@pytest.mark.parametrize(
    ("command", "state", "changes"),
    [
        ("pause", RolloutState.RUNNING, True),
        ("pause", RolloutState.PAUSED, False),
        ("resume", RolloutState.PAUSED, True),
        ("resume", RolloutState.RUNNING, False),
        ("abort", RolloutState.RUNNING, True),
        ("abort", RolloutState.PAUSED, True),
        ("abort", RolloutState.SUCCEEDED, False),
    ],
)
def test_commands_change_only_what_they_move(
    command: str, state: RolloutState, changes: bool
) -> None:
    assert COMMANDS[command].applies_to(rollout(state=state)) is changes
