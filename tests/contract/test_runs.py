"""Runs, params, tags and metrics behave the same on every backend."""

from __future__ import annotations

import math

import pytest

from modelyard.client.client import Client
from modelyard.errors import Conflict, InvalidInput, NotFound
from modelyard.tracking.models import DatasetInput, Metric, RunStatus, Source


@pytest.fixture
def experiment_id(client: Client) -> str:
    return client.create_experiment("exp").id


def test_create_run_records_attributes(client: Client, experiment_id: str) -> None:
    source = Source(commit="a" * 40, dirty=True, entry_point="train.py")
    run = client.create_run(
        experiment_id,
        name="first",
        tags={"team": "ds"},
        description="baseline",
        source=source,
        start_time=1_700_000_000_000,
    )
    assert run.status == RunStatus.RUNNING
    assert run.name == "first"
    assert run.user == "tester"
    assert run.tags == {"team": "ds"}
    assert run.source == source
    assert run.start_time == 1_700_000_000_000
    assert run.end_time is None
    assert client.get_run(run.id) == run


def test_run_gets_a_generated_name(client: Client, experiment_id: str) -> None:
    run = client.create_run(experiment_id)
    assert run.name == f"run-{run.id[:8]}"


def test_unknown_run_and_experiment_are_not_found(client: Client, experiment_id: str) -> None:
    with pytest.raises(NotFound, match="abc123"):
        client.get_run("abc123")
    with pytest.raises(NotFound, match="nope"):
        client.create_run("nope")
    with pytest.raises(NotFound, match="abc123"):
        client.log_metric("abc123", "m", 1.0)


def test_terminate_sets_status_and_end_time(client: Client, experiment_id: str) -> None:
    run = client.create_run(experiment_id)
    ended = client.set_terminated(run.id, RunStatus.FAILED, failure="Traceback: boom")
    assert ended.status == RunStatus.FAILED
    assert ended.end_time is not None
    assert ended.end_time >= ended.start_time
    assert ended.failure == "Traceback: boom"


def test_finished_run_cannot_go_back_to_running(client: Client, experiment_id: str) -> None:
    run = client.create_run(experiment_id)
    client.set_terminated(run.id)
    with pytest.raises(Conflict, match="FINISHED"):
        client.set_terminated(run.id, RunStatus.RUNNING)


def test_nested_runs_point_to_parent(client: Client, experiment_id: str) -> None:
    parent = client.create_run(experiment_id)
    child = client.create_run(experiment_id, parent_run_id=parent.id)
    assert child.parent_run_id == parent.id
    page = client.search_runs([experiment_id], f"parent_run_id = '{parent.id}'")
    assert [r.id for r in page.runs] == [child.id]


def test_nested_run_must_share_the_parents_experiment(client: Client, experiment_id: str) -> None:
    parent = client.create_run(experiment_id)
    other = client.create_experiment("other")
    with pytest.raises(InvalidInput, match="parent"):
        client.create_run(other.id, parent_run_id=parent.id)


def test_params_are_immutable(client: Client, experiment_id: str) -> None:
    run = client.create_run(experiment_id)
    client.log_batch(run.id, params={"lr": 0.1, "depth": 3})
    client.log_param(run.id, "lr", "0.1")  # the same value again is fine
    with pytest.raises(Conflict, match=r"lr.*0\.1.*0\.2"):
        client.log_param(run.id, "lr", 0.2)
    assert client.get_run(run.id).params == {"lr": "0.1", "depth": "3"}


def test_rejected_batch_changes_nothing(client: Client, experiment_id: str) -> None:
    run = client.create_run(experiment_id)
    client.log_param(run.id, "lr", "0.1")
    with pytest.raises(Conflict):
        client.log_batch(
            run.id,
            metrics=[{"key": "m", "value": 1.0}],
            params={"lr": "0.5", "new": "x"},
            tags={"t": "v"},
        )
    stored = client.get_run(run.id)
    assert stored.params == {"lr": "0.1"}
    assert stored.tags == {}
    assert stored.metrics == {}


def test_tags_can_be_overwritten(client: Client, experiment_id: str) -> None:
    run = client.create_run(experiment_id, tags={"stage": "dev"})
    client.set_tag(run.id, "stage", "prod")
    client.set_tag(run.id, "owner", "ana")
    assert client.get_run(run.id).tags == {"stage": "prod", "owner": "ana"}


@pytest.mark.parametrize("key", ["", "a//b", "../x", "/lead", "bad$char", "x" * 251, "a/./b"])
def test_invalid_metric_names_are_refused(client: Client, experiment_id: str, key: str) -> None:
    run = client.create_run(experiment_id)
    with pytest.raises(InvalidInput, match="metric name"):
        client.log_metric(run.id, key, 1.0)


def test_metric_history_and_latest_value(client: Client, experiment_id: str) -> None:
    run = client.create_run(experiment_id)
    client.log_batch(
        run.id,
        metrics=[
            Metric(key="loss", value=1.0 / (s + 1), step=s, timestamp=1000 + s) for s in range(5)
        ],
    )
    # An older step logged later does not become the latest value.
    client.log_metric(run.id, "loss", 9.0, step=1, timestamp=5000)
    history = client.get_metric_history(run.id, "loss")
    assert [(m.step, m.value) for m in history] == [
        (0, 1.0),
        (1, 0.5),
        (1, 9.0),
        (2, 1 / 3),
        (3, 0.25),
        (4, 0.2),
    ]
    assert client.get_run(run.id).metrics == {"loss": 0.2}


def test_nan_and_infinities_round_trip(client: Client, experiment_id: str) -> None:
    run = client.create_run(experiment_id)
    client.log_batch(
        run.id,
        metrics=[
            {"key": "nan", "value": float("nan")},
            {"key": "pinf", "value": float("inf")},
            {"key": "ninf", "value": float("-inf")},
        ],
    )
    stored = client.get_run(run.id).metrics
    assert math.isnan(stored["nan"])
    assert stored["pinf"] == float("inf")
    assert stored["ninf"] == float("-inf")
    [nan] = client.get_metric_history(run.id, "nan")
    assert math.isnan(nan.value)


def test_boolean_metric_is_refused(client: Client, experiment_id: str) -> None:
    run = client.create_run(experiment_id)
    with pytest.raises(InvalidInput, match="boolean"):
        client.log_metric(run.id, "flag", True)


def test_inputs_are_recorded_once(client: Client, experiment_id: str) -> None:
    run = client.create_run(experiment_id)
    dataset = DatasetInput(
        name="train",
        digest="d" * 64,
        source="s3://data/train.parquet",
        schema={"columns": [{"name": "x", "type": "float64"}]},
        row_count=100,
        context="training",
    )
    client.log_input(run.id, dataset)
    client.log_input(run.id, dataset)
    assert client.get_run(run.id).inputs == [dataset]


def test_deleted_run_disappears(client: Client, experiment_id: str) -> None:
    keep = client.create_run(experiment_id)
    gone = client.create_run(experiment_id)
    client.delete_run(gone.id, reason="bad data")
    with pytest.raises(NotFound):
        client.get_run(gone.id)
    assert [r.id for r in client.search_runs([experiment_id]).runs] == [keep.id]
    deleted = client.search_runs([experiment_id], include_deleted=True).runs
    assert {r.id for r in deleted} == {keep.id, gone.id}


def test_step_must_fit_64_bits(client: Client, experiment_id: str) -> None:
    run = client.create_run(experiment_id)
    with pytest.raises(InvalidInput, match="step"):
        client.log_metric(run.id, "m", 1.0, step=2**70)
    client.log_metric(run.id, "m", 2.0, step=2**63 - 1)
    assert client.get_run(run.id).metrics == {"m": 2.0}
