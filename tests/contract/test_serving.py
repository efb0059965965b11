"""Endpoints, deployments, traffic and rollouts behave the same on every backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelyard.client.client import Client
from modelyard.errors import AlreadyExists, Conflict, InvalidInput, NotFound
from modelyard.serving.models import FIRST_PORT, DeploymentConfig, Observation, RolloutState
from tests.contract.conftest import Store


@pytest.fixture
def registered(client: Client, tmp_path: Path) -> Client:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.bin").write_bytes(b"weights")
    for _ in range(3):
        client.registry.register("churn", folder)
    client.registry.set_alias("churn", "champion", 2)
    return client


def _audit_records(store: Store) -> list[tuple[str, str]]:
    """(action, target kind) of every audit record, oldest first."""
    from sqlalchemy import select

    from modelyard.storage.db.tables import audit_records

    a = audit_records.c
    with store.local.db.read() as conn:
        rows = conn.execute(select(a.action, a.target_kind).order_by(a.seq))
        return [(action, kind) for action, kind in rows]


def _audit_actions(store: Store) -> list[str]:
    return [action for action, _ in _audit_records(store)]


def _event_types(store: Store) -> list[str]:
    from sqlalchemy import select

    from modelyard.storage.db.tables import outbox

    with store.local.db.read() as conn:
        return list(conn.execute(select(outbox.c.type).order_by(outbox.c.seq)).scalars())


def test_endpoints_get_ports_and_first_deployments_get_all_traffic(
    registered: Client, store: Store
) -> None:
    serving = registered.serving
    churn = serving.create_endpoint("churn", description="churn scores")
    assert churn.port == FIRST_PORT
    assert serving.create_endpoint("fraud").port == FIRST_PORT + 1
    assert serving.create_endpoint("pinned", port=9123).port == 9123
    with pytest.raises(Conflict, match="port 9123 belongs to endpoint 'pinned'"):
        serving.create_endpoint("other", port=9123)
    with pytest.raises(AlreadyExists):
        serving.create_endpoint("churn")
    with pytest.raises(InvalidInput, match="name"):
        serving.create_endpoint("Not_A_DNS_Name")

    blue = serving.create_deployment("churn", "blue", "models:/churn@champion", workers=2)
    assert (blue.model, blue.version, blue.model_uri) == ("churn", 2, "models:/churn@champion")
    assert blue.workers == 2
    assert serving.endpoint("churn").traffic == {"blue": 100}
    green = serving.create_deployment(
        "churn", "green", "models:/churn/3", config=DeploymentConfig(max_batch_size=8)
    )
    assert green.config.max_batch_size == 8
    assert serving.endpoint("churn").traffic == {"blue": 100}  # only the first takes it all
    assert [d.name for d in serving.deployments("churn")] == ["blue", "green"]
    assert [e.name for e in serving.endpoints()] == ["churn", "fraud", "pinned"]
    with pytest.raises(AlreadyExists):
        serving.create_deployment("churn", "blue", "models:/churn/1")
    with pytest.raises(NotFound, match="no version 9"):
        serving.create_deployment("churn", "red", "models:/churn/9")
    with pytest.raises(NotFound, match="endpoint 'nope'"):
        serving.create_deployment("nope", "red", "models:/churn/1")
    records = _audit_records(store)
    assert records.count(("deployment.created", "deployment")) == 2
    # The first deployment's share of the traffic is part of creating it, recorded with it.
    assert ("deployment.created", "endpoint") in records
    assert "endpoint.traffic.changed" in _event_types(store)


def test_traffic_splits_are_checked(registered: Client) -> None:
    serving = registered.serving
    serving.create_endpoint("churn")
    serving.create_deployment("churn", "blue", "models:/churn/1")
    serving.create_deployment("churn", "green", "models:/churn/2")
    serving.create_deployment("churn", "shadow", "models:/churn/3")
    split = serving.set_traffic(
        "churn", {"blue": 90, "green": 10}, mirror={"shadow": 20}, reason="canary"
    )
    assert (split.traffic, split.mirror) == ({"blue": 90, "green": 10}, {"shadow": 20})
    # Without mirror=, the mirror stays as it is.
    assert serving.set_traffic("churn", {"blue": 50, "green": 50}).mirror == {"shadow": 20}
    with pytest.raises(InvalidInput, match="add up to 95, not 100"):
        serving.set_traffic("churn", {"blue": 90, "green": 5})
    with pytest.raises(InvalidInput, match="no deployment 'red'"):
        serving.set_traffic("churn", {"blue": 90, "red": 10})
    with pytest.raises(InvalidInput, match="already answers live traffic"):
        serving.set_traffic("churn", {"blue": 90, "green": 10}, mirror={"green": 10})
    with pytest.raises(InvalidInput):
        serving.set_traffic("churn", {"blue": 101})


def test_deployments_in_use_are_protected(registered: Client) -> None:
    serving = registered.serving
    serving.create_endpoint("churn")
    serving.create_deployment("churn", "blue", "models:/churn/1")
    serving.create_deployment("churn", "green", "models:/churn/3")
    with pytest.raises(Conflict, match="churn/blue has 100% of the traffic"):
        serving.delete_deployment("churn", "blue")
    # The registry refuses to delete a version a deployment serves, naming it.
    with pytest.raises(Conflict, match="deployed as churn/green"):
        registered.registry.delete_version("churn", 3)
    serving.set_traffic("churn", {"blue": 100}, mirror={"green": 5})
    with pytest.raises(Conflict, match="a 5% mirror"):
        serving.delete_deployment("churn", "green")
    serving.set_traffic("churn", {"blue": 100}, mirror={})
    serving.delete_deployment("churn", "green", reason="not needed")
    with pytest.raises(NotFound):
        serving.deployment("churn", "green")
    registered.registry.delete_version("churn", 3)
    updated = serving.update_deployment("churn", "blue", model_uri="models:/churn@champion")
    assert updated.version == 2
    assert serving.update_deployment("churn", "blue", workers=3).workers == 3
    serving.delete_endpoint("churn", reason="retired")
    with pytest.raises(NotFound):
        serving.endpoint("churn")
    assert serving.deployments() == []


def _rollout_endpoint(client: Client) -> None:
    serving = client.serving
    serving.create_endpoint("churn")
    serving.create_deployment("churn", "blue", "models:/churn/1")
    serving.create_deployment("churn", "green", "models:/churn/2")


HEALTHY = Observation(requests=100, errors=0, p99_ms=12.0)


def test_a_rollout_steps_to_the_target_and_succeeds(registered: Client) -> None:
    _rollout_endpoint(registered)
    serving = registered.serving
    rollout = serving.start_rollout(
        "churn", "green", [10, 50, 100], interval_ms=0, max_error_rate=0.01, max_p99_ms=50
    )
    assert rollout.state == RolloutState.RUNNING
    assert serving.endpoint("churn").traffic == {"blue": 90, "green": 10}
    with pytest.raises(Conflict, match="owns its traffic"):
        serving.set_traffic("churn", {"blue": 100})
    with pytest.raises(Conflict, match="already running"):
        serving.start_rollout("churn", "green", [20])
    # Too little evidence: the step holds.
    thin = Observation(requests=3, errors=0, p99_ms=1.0)
    assert serving.advance_rollout("churn", rollout.id, thin).step_index == 0
    stepped = serving.advance_rollout("churn", rollout.id, HEALTHY)
    assert stepped.step_index == 1
    assert serving.endpoint("churn").traffic == {"blue": 50, "green": 50}
    serving.advance_rollout("churn", rollout.id, HEALTHY)
    assert serving.endpoint("churn").traffic == {"blue": 0, "green": 100}
    done = serving.advance_rollout("churn", rollout.id, HEALTHY)
    assert done.state == RolloutState.SUCCEEDED
    assert [e.action for e in done.history] == ["started", "step", "step", "succeeded"]
    assert serving.rollout("churn").state == RolloutState.SUCCEEDED
    with pytest.raises(Conflict, match="is not running"):
        serving.advance_rollout("churn", rollout.id, HEALTHY)
    serving.set_traffic("churn", {"green": 100})  # a finished rollout gives traffic back


@pytest.mark.parametrize(
    ("observed", "why"),
    [
        (Observation(requests=100, errors=5, p99_ms=10.0), "error rate 5.00%"),
        (Observation(requests=100, errors=0, p99_ms=80.0), "p99 latency 80.0 ms"),
    ],
)
def test_a_rollout_rolls_back_when_a_bound_is_crossed(
    registered: Client, observed: Observation, why: str
) -> None:
    _rollout_endpoint(registered)
    serving = registered.serving
    rollout = serving.start_rollout(
        "churn", "green", [10, 100], interval_ms=3_600_000, max_error_rate=0.01, max_p99_ms=50
    )
    # Healthy and the interval is not up: nothing changes.
    assert serving.advance_rollout("churn", rollout.id, HEALTHY).step_index == 0
    back = serving.advance_rollout("churn", rollout.id, observed)
    assert back.state == RolloutState.ROLLED_BACK
    assert back.outcome is not None
    assert why in back.outcome
    assert serving.endpoint("churn").traffic == {"blue": 100}


def test_pause_resume_and_abort(registered: Client, store: Store) -> None:
    _rollout_endpoint(registered)
    serving = registered.serving
    serving.set_traffic("churn", {"blue": 80, "green": 20})
    with pytest.raises(InvalidInput, match="already has 20%"):
        serving.start_rollout("churn", "green", [10, 100])
    with pytest.raises(InvalidInput, match="steps must increase"):
        serving.start_rollout("churn", "green", [50, 30])
    with pytest.raises(Conflict, match="no rollout is running"):
        serving.pause_rollout("churn")
    rollout = serving.start_rollout("churn", "green", [60, 100], interval_ms=0)
    assert serving.endpoint("churn").traffic == {"blue": 40, "green": 60}
    paused = serving.pause_rollout("churn", reason="investigating")
    assert paused.state == RolloutState.PAUSED
    assert serving.advance_rollout("churn", rollout.id, HEALTHY).step_index == 0
    with pytest.raises(Conflict, match="abort it first"):
        serving.delete_endpoint("churn")
    assert serving.resume_rollout("churn").state == RolloutState.RUNNING
    aborted = serving.abort_rollout("churn", reason="wrong model")
    assert aborted.state == RolloutState.ABORTED
    assert serving.endpoint("churn").traffic == {"blue": 80, "green": 20}
    assert {"rollout.started", "rollout.paused", "rollout.resumed", "rollout.aborted"} <= set(
        _audit_actions(store)
    )


def test_a_rollout_needs_traffic_to_move(registered: Client) -> None:
    serving = registered.serving
    serving.create_endpoint("churn")
    serving.create_deployment("churn", "blue", "models:/churn/1")
    with pytest.raises(InvalidInput, match="the only deployment with traffic"):
        serving.start_rollout("churn", "blue", [100])
    with pytest.raises(NotFound, match="no deployment 'green'"):
        serving.start_rollout("churn", "green", [10])
    with pytest.raises(NotFound, match="has had no rollout"):
        serving.rollout("churn")
