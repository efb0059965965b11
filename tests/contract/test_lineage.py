"""Lineage queries behave the same on every backend: from a file a pipeline read, through its
steps and the version registered from one, to the endpoint serving it, and back."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

import modelyard
from modelyard.client.client import Client
from modelyard.errors import InvalidInput, NotFound
from modelyard.lineage.models import LineageGraph
from modelyard.pipelines.runner import run_pipeline
from modelyard.tracking.models import RunStatus
from tests.contract.conftest import Store


@modelyard.step
def prepare(path: str) -> pd.DataFrame:
    modelyard.log_input(path, name="customers")
    return pd.read_csv(path)


@modelyard.step
def train(data: pd.DataFrame) -> dict:
    return {"mean": float(data.x.mean())}


@modelyard.pipeline
def churn_training(path: str):
    return train(prepare(path=path))


@dataclass
class Deployed:
    digest: str
    pipeline_run: str
    prepare: str
    train: str
    prepared: str  # the manifest of prepare's output


def _deploy(client: Client, folder: Path) -> Deployed:
    """Run the pipeline on a file in ``folder`` (the working folder), register its model
    as churn@champion and deploy that on the endpoint churn."""
    table = folder / "customers.csv"
    pd.DataFrame({"x": [1.0, 2.0, 4.0], "y": [0, 1, 1]}).to_csv(table, index=False)
    result = run_pipeline(
        churn_training,
        backend=client.backend,
        params={"path": str(table)},
        staging_root=folder / "stage",
    )
    assert result.status == RunStatus.FINISHED, result.steps
    version = client.registry.register("churn", f"pipelines:/{result.run_id}/train/output")
    client.registry.set_alias("churn", "champion", version.version)
    client.serving.create_endpoint("churn")
    client.serving.create_deployment("churn", "blue", "models:/churn@champion")
    return Deployed(
        digest=hashlib.sha256(table.read_bytes()).hexdigest(),
        pipeline_run=result.run_id,
        prepare=result.steps["prepare"].run_id,
        train=result.steps["train"].run_id,
        prepared=result.steps["prepare"].outputs["output"].manifest,
    )


@pytest.fixture
def deployed(store: Store, tmp_path: Path) -> Deployed:
    return _deploy(store.client, tmp_path)


@pytest.fixture(scope="module")
def shared(module_store: Store) -> tuple[Client, Deployed]:
    """The tests that only query share one deployed store per backend."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(module_store.root)  # the file it reads is in the working folder
        return module_store.client, _deploy(module_store.client, module_store.root)


def _edges(graph: LineageGraph) -> set[tuple[str, str, str]]:
    return {(e.src, e.dst, e.role) for e in graph.edges}


def _node(graph: LineageGraph, node_id: str) -> dict[str, object]:
    node = next(n for n in graph.nodes if n.id == node_id)
    return node.model_dump()


def test_a_version_s_upstream_reaches_the_dataset_through_its_step_runs(
    shared: tuple[Client, Deployed],
) -> None:
    client, deployed = shared
    graph = client.lineage("models:/churn@champion", direction="upstream")
    assert graph.root == "model_version:churn/1"
    d = deployed
    assert _edges(graph) == {
        (f"step_run:{d.train}", "model_version:churn/1", "registered"),
        (f"artifact:{d.prepared}", f"step_run:{d.train}", "input:data"),
        (f"pipeline_run:{d.pipeline_run}", f"step_run:{d.train}", "step"),
        (f"step_run:{d.prepare}", f"artifact:{d.prepared}", "output:output"),
        (f"pipeline_run:{d.pipeline_run}", f"step_run:{d.prepare}", "step"),
        (f"dataset:{d.digest}", f"step_run:{d.prepare}", "input:customers"),
    }
    dataset = _node(graph, f"dataset:{d.digest}")
    assert dataset["label"] == "customers"
    assert dataset["distance"] == 4
    assert dataset["attributes"]["content_hash"] == d.digest  # type: ignore[index]
    assert dataset["uri"] == f"datasets:/{d.digest}"
    train_node = _node(graph, f"step_run:{d.train}")
    assert (train_node["label"], train_node["status"]) == ("train", "FINISHED")
    assert train_node["attributes"]["pipeline_run_id"] == d.pipeline_run  # type: ignore[index]
    assert _node(graph, f"pipeline_run:{d.pipeline_run}")["label"] == "churn_training"
    # Upstream only: the deployment is downstream of the version.
    assert not any(n.kind in ("deployment", "endpoint") for n in graph.nodes)
    assert not graph.truncated


def test_a_dataset_s_downstream_reaches_the_endpoint(shared: tuple[Client, Deployed]) -> None:
    client, deployed = shared
    graph = client.lineage(f"datasets:/{deployed.digest}", direction="downstream")
    assert {
        ("model_version:churn/1", "deployment:churn/blue", "deployed"),
        ("deployment:churn/blue", "endpoint:churn", "serves"),
        (f"step_run:{deployed.train}", "model_version:churn/1", "registered"),
    } <= _edges(graph)
    endpoint = _node(graph, "endpoint:churn")
    assert endpoint["distance"] == 6
    assert endpoint["uri"] == "endpoints:/churn"
    # Downstream only: the pipeline run is upstream of its steps.
    assert not any(n.kind == "pipeline_run" for n in graph.nodes)


def test_every_node_s_uri_starts_a_query_at_it(shared: tuple[Client, Deployed]) -> None:
    client, deployed = shared
    graph = client.lineage("endpoints:/churn", direction="upstream")
    assert f"dataset:{deployed.digest}" in {n.id for n in graph.nodes}
    for node in graph.nodes:
        assert client.lineage(node.uri, depth=1).root == node.id
    step = client.lineage(f"pipelines:/{deployed.pipeline_run}/train", depth=1)
    assert step.root == f"step_run:{deployed.train}"


def test_depth_and_the_node_budget_bound_the_walk(shared: tuple[Client, Deployed]) -> None:
    client, deployed = shared
    near = client.lineage("models:/churn/1", depth=1)
    assert {n.id for n in near.nodes} == {
        "model_version:churn/1",
        f"step_run:{deployed.train}",
        "deployment:churn/blue",
    }
    assert not near.truncated
    cut = client.lineage("models:/churn/1", max_nodes=2)
    assert len(cut.nodes) == 2
    assert cut.truncated
    assert all(e.src in {n.id for n in cut.nodes} for e in cut.edges)


def test_a_cache_hit_leads_to_the_step_run_that_computed_it(
    client: Client, deployed: Deployed, tmp_path: Path
) -> None:
    again = run_pipeline(
        churn_training,
        backend=client.backend,
        params={"path": str(tmp_path / "customers.csv")},
        staging_root=tmp_path / "stage",
    )
    copy = again.steps["train"]
    assert copy.cache_hit
    graph = client.lineage(f"runs:/{copy.run_id}", direction="upstream", depth=1)
    assert (f"step_run:{deployed.train}", f"step_run:{copy.run_id}", "cache") in _edges(graph)


def test_a_tracked_run_s_datasets_and_versions(client: Client, tmp_path: Path) -> None:
    experiment = client.get_or_create_experiment("manual")
    run = client.create_run(experiment.id, name="by-hand")
    frame = pd.DataFrame({"a": [1, 2]})
    from modelyard.client.datasets import describe_dataset

    dataset = describe_dataset(frame, name="frame")
    client.log_input(run.id, dataset)
    model = tmp_path / "model.bin"
    model.write_bytes(b"weights")
    client.log_artifact(run.id, model)
    client.registry.register("manual", f"runs:/{run.id}/model.bin")
    graph = client.lineage("models:/manual/latest", direction="upstream")
    assert _edges(graph) == {
        (f"dataset:{dataset.digest}", f"run:{run.id}", "input:frame"),
        (f"run:{run.id}", "model_version:manual/1", "registered"),
    }
    assert _node(graph, f"run:{run.id}")["kind"] == "run"


@pytest.mark.parametrize(
    ("uri", "names"),
    [
        ("models:/nobody/1", "model 'nobody'"),
        ("models:/churn/9", "no version 9"),
        ("models:/churn@nope", "no alias 'nope'"),
        ("runs:/0123456789abcdef", "no run"),
        ("pipelines:/0123456789abcdef", "no pipeline run"),
        ("datasets:/" + "0" * 64, "no dataset"),
        ("artifacts:/" + "0" * 64, "no artifact"),
        ("endpoints:/nowhere", "no endpoint"),
        ("endpoints:/churn/red", "no deployment"),
    ],
)
def test_an_unknown_start_is_404_naming_it(
    shared: tuple[Client, Deployed], uri: str, names: str
) -> None:
    client, _ = shared
    with pytest.raises(NotFound) as caught:
        client.lineage(uri)
    assert uri in caught.value.message
    assert names in caught.value.message


def test_a_bad_uri_direction_or_depth_is_400(client: Client) -> None:
    with pytest.raises(InvalidInput, match="is not a lineage start: use models:/NAME/VERSION"):
        client.lineage("s3://bucket/key")
    with pytest.raises(InvalidInput, match="direction"):
        client.lineage("runs:/abc", direction="sideways")
    for depth in (0, 51):
        with pytest.raises(InvalidInput, match="depth"):
            client.lineage("runs:/abc", depth=depth)
