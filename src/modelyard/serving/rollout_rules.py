"""The rules of a rollout's lifecycle, each a small class that says what it guards and why.

A rollout is RUNNING or PAUSED while it owns its endpoint's traffic, and ends SUCCEEDED,
ROLLED_BACK or ABORTED. Two kinds of rules move it:

* ``COMMANDS``: what a user may ask of it (pause, resume, abort), from which states, and
  what each does when the rollout is already where the command would take it.
* ``TICK_RULES``: what one controller tick decides, as an ordered list; the first rule
  with an opinion decides (Prefect's orchestration rules have the same shape). Safety
  comes first: a breached bound rolls back before any waiting or stepping is considered.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

from modelyard.serving.models import Observation, Rollout, RolloutState

RUNNING, PAUSED = RolloutState.RUNNING, RolloutState.PAUSED


# What a user may ask -----------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """A user's command: the states it moves a rollout from, to where, and why it exists."""

    name: Literal["pause", "resume", "abort"]
    moves: frozenset[RolloutState]
    to: RolloutState
    # Already there: the command answers the rollout as it is (so a retry is harmless).
    settled: frozenset[RolloutState]
    why: str

    def applies_to(self, rollout: Rollout) -> bool:
        """True when the command changes the rollout; False when it is already settled."""
        return rollout.state in self.moves and rollout.state not in self.settled


PAUSE = Command(
    "pause",
    moves=frozenset({RUNNING, PAUSED}),
    to=PAUSED,
    settled=frozenset({PAUSED}),
    why="hold the current step: no further steps and no automatic rollback until resumed",
)
RESUME = Command(
    "resume",
    moves=frozenset({RUNNING, PAUSED}),
    to=RUNNING,
    settled=frozenset({RUNNING}),
    why="continue from the current step; its health window starts again",
)
ABORT = Command(
    "abort",
    moves=frozenset({RUNNING, PAUSED}),
    to=RolloutState.ABORTED,
    settled=frozenset(),
    why="stop, and give the traffic back as it was before the rollout started",
)
COMMANDS = {c.name: c for c in (PAUSE, RESUME, ABORT)}


# What a controller tick decides ------------------------------------------------------------


@dataclass(frozen=True)
class Tick:
    """What the controller saw: the time, and the target's health over the current step."""

    now: int
    observed: Observation
    min_requests: int


@dataclass(frozen=True)
class Hold:
    """Keep the current step."""


@dataclass(frozen=True)
class RollBack:
    """Give the traffic back as it was before the rollout, saying which bound broke."""

    reason: str


@dataclass(frozen=True)
class Succeed:
    """The target holds its last step's share: the rollout is done."""


@dataclass(frozen=True)
class Step:
    """Move to step ``index`` (0-based) of the rollout's steps."""

    index: int


Decision = Hold | RollBack | Succeed | Step


def _bounded(rollout: Rollout) -> bool:
    return rollout.max_error_rate is not None or rollout.max_p99_ms is not None


class TickRule(ABC):
    """One rule of a tick: the transition it makes, why, and when it has an opinion."""

    transition: ClassVar[tuple[RolloutState, RolloutState]]
    why: ClassVar[str]

    @abstractmethod
    def decide(self, rollout: Rollout, tick: Tick) -> Decision | None:
        """A decision, or None to leave it to the next rule."""


class OnlyRunningRolloutsMove(TickRule):
    transition = (PAUSED, PAUSED)
    why = "a paused rollout is held by a user: the controller neither steps nor rolls back"

    def decide(self, rollout: Rollout, tick: Tick) -> Decision | None:
        return None if rollout.state == RUNNING else Hold()


class RollBackOnABreachedBound(TickRule):
    transition = (RUNNING, RolloutState.ROLLED_BACK)
    why = "an error rate or p99 latency over its bound is the rollout's reason to undo itself"

    def decide(self, rollout: Rollout, tick: Tick) -> Decision | None:
        seen = tick.observed
        if seen.requests < max(tick.min_requests, 1):
            return None  # too few requests to call the target unhealthy
        if rollout.max_error_rate is not None and seen.error_rate > rollout.max_error_rate:
            return RollBack(
                f"error rate {seen.error_rate:.2%} over {seen.requests} requests is above "
                f"{rollout.max_error_rate:.2%}"
            )
        if (
            rollout.max_p99_ms is not None
            and seen.p99_ms is not None
            and seen.p99_ms > rollout.max_p99_ms
        ):
            return RollBack(f"p99 latency {seen.p99_ms:.1f} ms is above {rollout.max_p99_ms:g} ms")
        return None


class WaitOutTheInterval(TickRule):
    transition = (RUNNING, RUNNING)
    why = "each step holds for the rollout's interval before the next"

    def decide(self, rollout: Rollout, tick: Tick) -> Decision | None:
        if rollout.next_at is None or tick.now < rollout.next_at:
            return Hold()
        return None


class WaitForEvidence(TickRule):
    transition = (RUNNING, RUNNING)
    why = "a step with bounds is not judged healthy on fewer than min_requests requests"

    def decide(self, rollout: Rollout, tick: Tick) -> Decision | None:
        if _bounded(rollout) and tick.observed.requests < tick.min_requests:
            return Hold()
        return None


class SucceedAfterTheLastStep(TickRule):
    transition = (RUNNING, RolloutState.SUCCEEDED)
    why = "the last step held healthy for its interval: the target keeps its share"

    def decide(self, rollout: Rollout, tick: Tick) -> Decision | None:
        return Succeed() if rollout.step_index + 1 >= len(rollout.steps) else None


class TakeTheNextStep(TickRule):
    transition = (RUNNING, RUNNING)
    why = "the current step held healthy for its interval: move more traffic to the target"

    def decide(self, rollout: Rollout, tick: Tick) -> Decision | None:
        return Step(rollout.step_index + 1)


TICK_RULES: Sequence[TickRule] = (
    OnlyRunningRolloutsMove(),
    RollBackOnABreachedBound(),
    WaitOutTheInterval(),
    WaitForEvidence(),
    SucceedAfterTheLastStep(),
    TakeTheNextStep(),
)


def decide(rollout: Rollout, tick: Tick, rules: Sequence[TickRule] = TICK_RULES) -> Decision:
    """What one tick does to ``rollout``: the first rule's decision (the last always has one)."""
    for rule in rules:
        decision = rule.decide(rollout, tick)
        if decision is not None:
            return decision
    return Hold()
