"""The OpenLineage export is the same on every backend, and every event it writes is one
the OpenLineage project's own Python models (``openlineage-python``, generated from the
spec) rebuild to the same JSON: the same fields, facet schema URLs and UUID run ids."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pandas as pd
from openlineage.client import event_v2 as ol
from openlineage.client.facet_v2 import (
    dataset_version_dataset,
    error_message_run,
    parent_run,
    schema_dataset,
)
from openlineage.client.serde import Serde

from modelyard.client.client import Client
from modelyard.client.datasets import describe_dataset
from modelyard.lineage import operations as ops
from modelyard.lineage.models import ListRunEvents
from modelyard.pipelines.runner import run_pipeline
from modelyard.tracking.models import RunStatus
from tests.contract.test_lineage import churn_training


def _run_facet(name: str, facet: dict[str, Any]) -> Any:
    producer = facet["_producer"]
    if name == "parent":
        return parent_run.ParentRunFacet(
            run=parent_run.Run(runId=facet["run"]["runId"]),
            job=parent_run.Job(namespace=facet["job"]["namespace"], name=facet["job"]["name"]),
            producer=producer,
        )
    assert name == "errorMessage", name
    return error_message_run.ErrorMessageRunFacet(
        message=facet["message"],
        programmingLanguage=facet["programmingLanguage"],
        producer=producer,
    )


def _dataset_facet(name: str, facet: dict[str, Any]) -> Any:
    producer = facet["_producer"]
    if name == "version":
        return dataset_version_dataset.DatasetVersionDatasetFacet(
            datasetVersion=facet["datasetVersion"], producer=producer
        )
    assert name == "schema", name
    fields = [schema_dataset.SchemaDatasetFacetFields(**f) for f in facet["fields"]]
    return schema_dataset.SchemaDatasetFacet(fields=fields, producer=producer)


def _datasets(kind: type[Any], items: list[dict[str, Any]]) -> list[Any]:
    return [
        kind(
            namespace=d.pop("namespace"),
            name=d.pop("name"),
            facets={k: _dataset_facet(k, f) for k, f in d.pop("facets").items()},
            **({} if not d else {"unexpected": d}),  # any other key fails here
        )
        for d in (dict(item) for item in items)
    ]


def rebuilt(event: dict[str, Any]) -> dict[str, Any]:
    """``event`` rebuilt with the OpenLineage models (their validators check the run id is a
    UUID and the time a date-time) and serialized again."""
    rest = dict(event)
    model = ol.RunEvent(
        eventType=ol.RunState(rest.pop("eventType")),
        eventTime=rest.pop("eventTime"),
        run=ol.Run(
            runId=rest["run"]["runId"],
            facets={k: _run_facet(k, f) for k, f in rest.pop("run")["facets"].items()},
        ),
        job=ol.Job(namespace=rest["job"]["namespace"], name=rest.pop("job")["name"]),
        inputs=_datasets(ol.InputDataset, rest.pop("inputs")),
        outputs=_datasets(ol.OutputDataset, rest.pop("outputs")),
        producer=rest.pop("producer"),
    )
    assert rest.pop("schemaURL") == model.schemaURL
    assert rest == {}, f"fields the spec does not have: {sorted(rest)}"
    return dict(Serde.to_dict(model))


_FACET_MAPS = {"facets", "inputFacets", "outputFacets"}


def _without_empty_facets(value: Any) -> Any:
    # The models add an empty facet map wherever one may stand, and an empty list of nested
    # fields to each schema field; an absent one means the same.
    if isinstance(value, dict):
        return {
            k: _without_empty_facets(v)
            for k, v in value.items()
            if not (k in _FACET_MAPS and v == {}) and not (k == "fields" and v == [])
        }
    if isinstance(value, list):
        return [_without_empty_facets(v) for v in value]
    return value


def test_events_validate_and_each_run_starts_before_it_ends(client: Client, tmp_path: Path) -> None:
    table = tmp_path / "customers.csv"
    pd.DataFrame({"x": [1.0, 2.0], "y": [0, 1]}).to_csv(table, index=False)
    result = run_pipeline(
        churn_training,
        backend=client.backend,
        params={"path": str(table)},
        staging_root=tmp_path / "stage",
    )
    assert result.status == RunStatus.FINISHED
    client.registry.register("churn", f"pipelines:/{result.run_id}/train/output")
    experiment = client.get_or_create_experiment("manual")
    failed = client.create_run(experiment.id, name="broken")
    client.log_input(failed.id, describe_dataset(pd.DataFrame({"a": [1]}), name="frame"))
    client.set_terminated(failed.id, RunStatus.FAILED, failure="ValueError: no")
    killed = client.create_run(experiment.id, name="stopped")
    client.set_terminated(killed.id, RunStatus.KILLED)
    running = client.create_run(experiment.id, name="going")

    events = list(client.lineage.events())
    for event in events:
        assert _without_empty_facets(rebuilt(event)) == _without_empty_facets(event)

    by_run: dict[str, list[str]] = {}
    for event in events:
        by_run.setdefault(event["run"]["runId"], []).append(event["eventType"])
    ids = {
        "pipeline": result.run_id,
        "prepare": result.steps["prepare"].run_id,
        "train": result.steps["train"].run_id,
        "failed": failed.id,
        "killed": killed.id,
        "running": running.id,
    }
    assert {k: by_run[str(uuid.UUID(v))] for k, v in ids.items()} == {
        "pipeline": ["START", "COMPLETE"],
        "prepare": ["START", "COMPLETE"],
        "train": ["START", "COMPLETE"],
        "failed": ["START", "FAIL"],
        "killed": ["START", "ABORT"],
        "running": ["START"],
    }

    def end_of(run_id: str) -> dict[str, Any]:
        rid = str(uuid.UUID(run_id))
        return next(e for e in events if e["run"]["runId"] == rid and e["eventType"] != "START")

    prepare, train = end_of(ids["prepare"]), end_of(ids["train"])
    assert prepare["job"] == {"namespace": "modelyard", "name": "churn_training.prepare"}
    assert prepare["run"]["facets"]["parent"]["run"]["runId"] == str(uuid.UUID(result.run_id))
    [read] = prepare["inputs"]
    assert read["name"] == str(table)
    assert read["facets"]["version"]["datasetVersion"] == describe_dataset(table).digest
    # A step's output is the next step's input: the same dataset by its content hash.
    assert prepare["outputs"][0]["name"] == train["inputs"][0]["name"]
    assert train["outputs"][-1]["name"] == "models/churn/1"
    assert end_of(failed.id)["run"]["facets"]["errorMessage"]["message"] == "ValueError: no"
    assert end_of(failed.id)["inputs"][0]["facets"]["schema"]["fields"] == [
        {"name": "a", "type": "int64"}
    ]

    # Pages, a window of start times and a namespace of one's own.
    page = client.backend.call(ops.list_run_events, ListRunEvents(max_results=1))
    assert page.next_page_token is not None
    assert {e["run"]["runId"] for e in page.events} == {events[0]["run"]["runId"]}
    later = list(client.lineage.events(since=running.start_time, namespace="team"))
    assert str(uuid.UUID(running.id)) in {e["run"]["runId"] for e in later}
    assert str(uuid.UUID(result.run_id)) not in {e["run"]["runId"] for e in later}
    assert {e["job"]["namespace"] for e in later} == {"team"}
    first_start = client.get_run(result.run_id).start_time
    assert list(client.lineage.events(until=first_start)) == []
