"""Runs as OpenLineage 2 run events, for Marquez or any other OpenLineage consumer.

Each run that has started gives a START event at its start time and, once it has ended, a
COMPLETE (finished), FAIL (failed) or ABORT (killed; a skipped step is recorded killed)
event at its end time. The job is the run's experiment, pipeline, or ``PIPELINE.NODE`` for a
step; a step or nested run names its parent in the ``parent`` facet. Inputs are the
datasets a run read and the artifacts a step consumed; outputs are the artifacts a step
produced and the model versions registered from the run. Every dataset carries its content
hash in the ``version`` facet.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select

import modelyard
from modelyard.errors import InvalidInput
from modelyard.lineage.models import ListRunEvents, RunEventPage
from modelyard.storage.db.tables import (
    experiments,
    lineage_edges,
    model_versions,
    pipeline_runs,
    run_inputs,
    runs,
    step_runs,
)

PRODUCER = f"urn:modelyard:{modelyard.__version__}"
SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
_FACETS = "https://openlineage.io/spec/facets/"
PARENT_FACET = _FACETS + "1-2-0/ParentRunFacet.json#/$defs/ParentRunFacet"
ERROR_FACET = _FACETS + "1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet"
VERSION_FACET = _FACETS + "1-0-1/DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet"
SCHEMA_FACET = _FACETS + "1-2-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet"
# Ids that are not UUIDs (runs imported from elsewhere) map to one by this namespace.
_RUN_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:modelyard:run")

_TERMINAL = {"FINISHED": "COMPLETE", "FAILED": "FAIL", "KILLED": "ABORT"}


def run_uuid(run_id: str) -> str:
    """The OpenLineage runId of a run: its id when that is a UUID (as Modelyard gives them),
    otherwise a UUID derived from it, the same on every export."""
    try:
        return str(uuid.UUID(hex=run_id))
    except ValueError:
        return str(uuid.uuid5(_RUN_NAMESPACE, run_id))


def event_time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def _facet(schema_url: str, **fields: Any) -> dict[str, Any]:
    return {"_producer": PRODUCER, "_schemaURL": schema_url, **fields}


def _dataset(namespace: str, name: str, digest: str, schema: Any = None) -> dict[str, Any]:
    facets: dict[str, Any] = {"version": _facet(VERSION_FACET, datasetVersion=digest)}
    columns = schema.get("columns") if isinstance(schema, dict) else None
    if isinstance(columns, list):
        fields = [{"name": str(c.get("name")), "type": str(c.get("type"))} for c in columns]
        facets["schema"] = _facet(SCHEMA_FACET, fields=fields)
    return {"namespace": namespace, "name": name, "facets": facets}


def _page(conn: Connection, req: ListRunEvents) -> tuple[list[Any], str | None]:
    try:
        offset = int(req.page_token or 0)
    except ValueError:
        raise InvalidInput(f"page token '{req.page_token}' is not one this export gave") from None
    r = runs.c
    query = (
        select(r.id, r.name, r.status, r.start_time, r.end_time, r.failure, r.parent_run_id)
        .add_columns(experiments.c.name.label("experiment"))
        .join(experiments, experiments.c.id == r.experiment_id)
        .where(r.lifecycle == "active", r.status != "SCHEDULED")
        .order_by(r.start_time, r.id)
    )
    if req.since is not None:
        query = query.where(r.start_time >= req.since)
    if req.until is not None:
        query = query.where(r.start_time < req.until)
    rows = list(conn.execute(query.offset(offset).limit(req.max_results + 1)).all())
    more = len(rows) > req.max_results
    rows = rows[: req.max_results]
    return rows, str(offset + len(rows)) if more else None


def _jobs(conn: Connection, rows: list[Any]) -> dict[str, str]:
    """The job name of each run: its pipeline, ``PIPELINE.NODE`` for a step, otherwise its
    experiment."""
    ids = {row.id for row in rows} | {row.parent_run_id for row in rows if row.parent_run_id}
    pr, sr = pipeline_runs.c, step_runs.c
    pipelines = dict(conn.execute(select(pr.run_id, pr.pipeline).where(pr.run_id.in_(ids))).all())
    steps = dict(
        conn.execute(select(sr.run_id, sr.pipeline_run_id).where(sr.run_id.in_(ids))).all()
    )
    missing = {p for p in steps.values() if p not in pipelines}
    pipelines.update(
        conn.execute(select(pr.run_id, pr.pipeline).where(pr.run_id.in_(missing))).all()
    )
    names = dict(conn.execute(select(runs.c.id, runs.c.name).where(runs.c.id.in_(ids))).all())
    experiment_of = dict(
        conn.execute(
            select(runs.c.id, experiments.c.name)
            .join(experiments, experiments.c.id == runs.c.experiment_id)
            .where(runs.c.id.in_(ids))
        ).all()
    )
    jobs = {}
    for rid in ids:
        if rid in pipelines:
            jobs[rid] = pipelines[rid]
        elif rid in steps:
            jobs[rid] = f"{pipelines.get(steps[rid], 'pipeline')}.{names.get(rid, rid)}"
        else:
            jobs[rid] = experiment_of.get(rid, "default")
    return jobs


def _datasets(
    conn: Connection, namespace: str, ids: set[str]
) -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
    inputs: dict[str, list[Any]] = defaultdict(list)
    outputs: dict[str, list[Any]] = defaultdict(list)
    ri, le, mv = run_inputs.c, lineage_edges.c, model_versions.c
    for run_id, name, digest, source, schema in conn.execute(
        select(ri.run_id, ri.name, ri.digest, ri.source, ri.schema)
        .where(ri.run_id.in_(ids))
        .order_by(ri.created_at, ri.name)
    ):
        inputs[run_id].append(_dataset(namespace, source or name, digest, schema))
    for src_id, dst_id, dst_kind, src_kind in conn.execute(
        select(le.src_id, le.dst_id, le.dst_kind, le.src_kind)
        .where(
            ((le.dst_kind == "run") & le.dst_id.in_(ids))
            | ((le.src_kind == "run") & le.src_id.in_(ids))
        )
        .order_by(le.id)
    ):
        # Content-addressed: an artifact's name is its hash, so a producer's output and a
        # consumer's input are the same dataset to the consumer of these events.
        if dst_kind == "run" and src_kind == "blob":
            inputs[dst_id].append(_dataset(namespace, f"artifacts/{src_id}", src_id))
        elif src_kind == "run" and dst_kind == "blob":
            outputs[src_id].append(_dataset(namespace, f"artifacts/{dst_id}", dst_id))
    for run_id, model, version, manifest in conn.execute(
        select(mv.run_id, mv.model, mv.version, mv.manifest)
        .where(mv.run_id.in_(ids), mv.status != "DELETED")
        .order_by(mv.model, mv.version)
    ):
        outputs[run_id].append(_dataset(namespace, f"models/{model}/{version}", manifest))
    return inputs, outputs


def run_events(conn: Connection, req: ListRunEvents) -> RunEventPage:
    """One page of runs as their OpenLineage events, START before the run's end event."""
    rows, token = _page(conn, req)
    jobs = _jobs(conn, rows)
    inputs, outputs = _datasets(conn, req.namespace, {row.id for row in rows})
    events = []
    for row in rows:
        job = {"namespace": req.namespace, "name": jobs[row.id]}
        facets: dict[str, Any] = {}
        if row.parent_run_id:
            facets["parent"] = _facet(
                PARENT_FACET,
                run={"runId": run_uuid(row.parent_run_id)},
                job={"namespace": req.namespace, "name": jobs[row.parent_run_id]},
            )
        run = {"runId": run_uuid(row.id), "facets": facets}
        common = {"producer": PRODUCER, "schemaURL": SCHEMA_URL, "job": job}
        events.append(
            {
                "eventType": "START",
                "eventTime": event_time(row.start_time),
                "run": run,
                "inputs": inputs.get(row.id, []),
                "outputs": [],
                **common,
            }
        )
        end = _TERMINAL.get(row.status)
        if end is None or row.end_time is None:
            continue  # still running: its end is for a later export
        end_facets = dict(facets)
        if end == "FAIL" and row.failure:
            end_facets["errorMessage"] = _facet(
                ERROR_FACET, message=row.failure, programmingLanguage="python"
            )
        events.append(
            {
                "eventType": end,
                "eventTime": event_time(row.end_time),
                "run": {"runId": run["runId"], "facets": end_facets},
                "inputs": inputs.get(row.id, []),
                "outputs": outputs.get(row.id, []),
                **common,
            }
        )
    return RunEventPage(events=events, next_page_token=token)
