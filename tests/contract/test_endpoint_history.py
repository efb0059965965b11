"""An endpoint's history is told from its audit records, the same on every backend.

The backend's clock is a fake the test moves, so every change has its own instant and the
test asks about the instants between them without sleeping.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from modelyard.client.client import Client
from modelyard.errors import InvalidInput, NotFound
from modelyard.serving.history import EndpointState
from modelyard.serving.models import Observation
from tests.contract.conftest import Store

HEALTHY = Observation(requests=100, errors=0, p99_ms=10.0)
FAILING = Observation(requests=100, errors=9, p99_ms=10.0)


@dataclass
class SteppedClock:
    """Milliseconds that move only when the test says (a second per change)."""

    now: int

    def __call__(self) -> int:
        return self.now

    def tick(self) -> None:
        self.now += 1000


@pytest.fixture
def clock(store: Store, tmp_path: Path) -> SteppedClock:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.bin").write_bytes(b"weights")
    for _ in range(3):
        store.client.registry.register("churn", folder)
    store.client.registry.set_alias("churn", "champion", 1)
    # The server's own backend for REST: its clock stamps the records.
    fake = SteppedClock(store.local.clock())
    store.local.clock = fake
    return fake


def _shares(state: EndpointState) -> dict[str, tuple[int, int, int]]:
    """{deployment: (version, traffic, mirror)}."""
    return {d.name: (d.version, d.traffic, d.mirror) for d in state.deployments}


def _at(client: Client, ms: int) -> EndpointState:
    answer = client.serving.endpoint_history("churn", at=ms)
    assert answer.at == ms
    assert len(answer.states) == 1
    return answer.states[0]


def _live_a_life(client: Client, clock: SteppedClock) -> None:
    """Create, deploy v1, add v2, 90/10, 50/50, roll back, mirror, delete, re-point, delete."""
    serving = client.serving
    steps: list[Callable[[], object]] = [
        lambda: serving.create_endpoint("churn", reason="new endpoint"),
        lambda: serving.create_deployment("churn", "blue", "models:/churn@champion"),
        lambda: serving.create_deployment("churn", "green", "models:/churn/2"),
        lambda: serving.start_rollout(
            "churn", "green", [10, 50, 100], interval_ms=0, max_error_rate=0.05
        ),
        lambda: serving.advance_rollout("churn", serving.rollout("churn").id, HEALTHY),
        lambda: serving.advance_rollout("churn", serving.rollout("churn").id, FAILING),
        lambda: serving.set_traffic("churn", {"blue": 100}, mirror={"green": 20}, reason="shadow"),
        lambda: serving.set_traffic("churn", {"blue": 100}, mirror={}),
        lambda: serving.delete_deployment("churn", "green", reason="lost"),
        # The alias moves: blue still serves the version it was pinned to...
        lambda: client.registry.set_alias("churn", "champion", 3),
        # ...until it is deployed again, when the alias resolves anew.
        lambda: serving.update_deployment("churn", "blue", model_uri="models:/churn@champion"),
        lambda: serving.update_deployment("churn", "blue", workers=2),  # serves the same
        lambda: serving.delete_endpoint("churn", reason="retired"),
    ]
    for step in steps:
        clock.tick()
        step()


EXPECTED = [
    ("endpoint.created", "new endpoint", True, {}),
    ("deployment.created", None, True, {"blue": (1, 100, 0)}),
    ("deployment.created", None, True, {"blue": (1, 100, 0), "green": (2, 0, 0)}),
    ("rollout.started", None, True, {"blue": (1, 90, 0), "green": (2, 10, 0)}),
    ("rollout.advanced", None, True, {"blue": (1, 50, 0), "green": (2, 50, 0)}),
    ("rollout.advanced", None, True, {"blue": (1, 100, 0), "green": (2, 0, 0)}),
    ("endpoint.traffic.changed", "shadow", True, {"blue": (1, 100, 0), "green": (2, 0, 20)}),
    ("endpoint.traffic.changed", None, True, {"blue": (1, 100, 0), "green": (2, 0, 0)}),
    ("deployment.deleted", "lost", True, {"blue": (1, 100, 0)}),
    ("deployment.updated", None, True, {"blue": (3, 100, 0)}),
    ("endpoint.deleted", "retired", False, {}),
]


def test_the_timeline_replays_every_change_that_moved_what_served(
    client: Client, clock: SteppedClock
) -> None:
    _live_a_life(client, clock)
    history = client.serving.endpoint_history("churn")
    assert (history.endpoint, history.at, history.truncated) == ("churn", None, False)
    got = [(s.action, s.reason, s.exists, _shares(s)) for s in history.states]
    assert got == EXPECTED
    states = history.states
    assert all(s.actor == "tester" for s in states)
    assert [s.until for s in states] == [s.since for s in states[1:]] + [None]
    assert states[1].deployments[0].model_uri == "models:/churn@champion"
    assert states[1].deployments[0].model == "churn"
    assert states[5].detail is not None
    assert states[5].detail.startswith("rolled back: error rate 9.00%")
    assert states[1].detail == "first"
    # Between any two changes, the one before is in force, with its own until.
    for state in states:
        assert _at(client, state.since) == state
        if state.until is not None:
            assert _at(client, (state.since + state.until) // 2) == state
            assert _at(client, state.until - 1) == state


def test_a_deleted_endpoint_answers_by_name_and_a_new_one_continues_its_history(
    client: Client, clock: SteppedClock
) -> None:
    _live_a_life(client, clock)
    deleted = client.serving.endpoint_history("churn").states[-1]
    clock.tick()
    gone = _at(client, clock.now)
    assert (gone.exists, gone.deployments, gone.action, gone.reason) == (
        False,
        [],
        "endpoint.deleted",
        "retired",
    )
    assert gone.since == deleted.since
    with pytest.raises(NotFound):
        client.serving.endpoint("churn")  # today's state has no churn at all
    client.serving.create_endpoint("churn")
    clock.tick()
    client.serving.create_deployment("churn", "red", "models:/churn/2")
    again = client.serving.endpoint_history("churn").states
    assert [s.action for s in again[-3:]] == [
        "endpoint.deleted",
        "endpoint.created",
        "deployment.created",
    ]
    assert _shares(again[-1]) == {"red": (2, 100, 0)}
    assert _at(client, deleted.since) == again[-3]


def test_the_records_themselves_carry_the_resolved_version_and_why_traffic_moved(
    client: Client, clock: SteppedClock, store: Store
) -> None:
    from sqlalchemy import select

    from modelyard.storage.db.tables import audit_records

    _live_a_life(client, clock)
    a = audit_records.c
    with store.local.db.read() as conn:
        rows = conn.execute(
            select(a.action, a.target_kind, a.target_id, a.after).order_by(a.seq)
        ).all()
    created = [
        r.after for r in rows if (r.action, r.target_id) == ("deployment.created", "churn/blue")
    ]
    assert [(c["model_uri"], c["version"]) for c in created] == [("models:/churn@champion", 1)]
    moves = [r.after for r in rows if r.target_kind == "endpoint" and r.after and "why" in r.after]
    assert any(m["why"].startswith("rolled back:") for m in moves)
    assert {m["why"] for m in moves} >= {"first", "set", "rollout step 1"}


def test_limit_keeps_the_newest_states(client: Client, clock: SteppedClock) -> None:
    _live_a_life(client, clock)
    newest = client.serving.endpoint_history("churn", limit=2)
    assert newest.truncated
    assert [s.action for s in newest.states] == ["deployment.updated", "endpoint.deleted"]
    whole = client.serving.endpoint_history("churn", limit=len(EXPECTED))
    assert not whole.truncated
    assert len(whole.states) == len(EXPECTED)


def test_bad_questions_get_clear_answers(client: Client, clock: SteppedClock) -> None:
    serving = client.serving
    with pytest.raises(NotFound, match="endpoint 'nope' has no history"):
        serving.endpoint_history("nope")
    clock.tick()
    serving.create_endpoint("churn")
    created = clock.now
    with pytest.raises(NotFound, match=r"did not exist at .*: tester first created it at"):
        serving.endpoint_history("churn", at=created - 1)
    with pytest.raises(InvalidInput, match="is in the future"):
        serving.endpoint_history("churn", at=clock.now + 1)
    assert _at(client, clock.now).exists
    for at in (-1, "soon", 2**63):
        with pytest.raises(InvalidInput, match="at"):
            serving.endpoint_history("churn", at=at)  # type: ignore[arg-type]
    for limit in (0, 1001, True):
        with pytest.raises(InvalidInput, match="limit"):
            serving.endpoint_history("churn", limit=limit)
    with pytest.raises(InvalidInput, match="name"):
        serving.endpoint_history("Not_A_Name")
