"""Tracking operations: each one declared once (DESIGN invariant 2).

Handlers receive an ``OperationContext``: reads get a read transaction, changes get a unit
of work whose audit records and outbox events commit with them.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

from sqlalchemy import Connection, insert, select, update

from modelyard.core.operations import Done, OperationContext, OperationSet
from modelyard.errors import AlreadyExists, Conflict, InvalidInput, NotFound
from modelyard.storage.artifacts import normalize_artifact_path
from modelyard.storage.db.inserts import dialect_insert, insert_if_absent
from modelyard.storage.db.tables import (
    experiments,
    latest_metrics,
    metrics,
    run_artifacts,
    run_inputs,
    run_params,
    run_tags,
    runs,
    workspaces,
)
from modelyard.tracking import records, search
from modelyard.tracking.filter import parse_filter, parse_order_by
from modelyard.tracking.models import (
    Artifact,
    ArtifactList,
    CreateExperiment,
    CreateRun,
    DeleteRun,
    EnsureExperiment,
    EnsureWorkspace,
    Experiment,
    ExperimentList,
    FindExperiment,
    GetExperiment,
    GetMetricHistory,
    GetRun,
    ListArtifacts,
    ListExperiments,
    ListWorkspaces,
    LogArtifact,
    LogBatch,
    LogInput,
    Metric,
    MetricHistory,
    Run,
    RunPage,
    RunStatus,
    SearchRuns,
    UpdateRun,
    Workspace,
    WorkspaceList,
)

ops = OperationSet("tracking")
DEFAULT_WORKSPACE = "default"


def new_id() -> str:
    return uuid.uuid4().hex


@ops.write(
    "PUT",
    "/workspaces/{name}",
    permission="workspaces:write",
    audit="workspace.created",
    idempotent=True,
    server_wide=True,
)
def ensure_workspace(ctx: OperationContext, req: EnsureWorkspace) -> Workspace:
    """Create a workspace unless it exists (concurrent callers all get the one workspace)."""
    row = {"name": req.name, "created_at": ctx.now_ms()}
    if insert_if_absent(ctx.conn, workspaces, row):
        ctx.work.record("workspace", req.name, after=row)
        ctx.work.emit("workspace.created", req.name, {"workspace": req.name})
        return Workspace.model_validate(row)
    found = ctx.conn.execute(select(workspaces).where(workspaces.c.name == req.name)).mappings()
    return Workspace.model_validate(dict(found.one()))


@ops.read("/workspaces", permission="workspaces:read", server_wide=True)
def list_workspaces(ctx: OperationContext, req: ListWorkspaces) -> WorkspaceList:
    """The workspaces, by name: every one for a server admin or an embedded owner, those
    they are a member of for the others."""
    rows = ctx.conn.execute(select(workspaces).order_by(workspaces.c.name)).mappings()
    found = [Workspace.model_validate(dict(r)) for r in rows]
    if ctx.actor.authenticated and not ctx.actor.admin:
        found = [w for w in found if ctx.actor.role_in(w.name) is not None]
    return WorkspaceList(workspaces=found)


def _experiment_row(ctx: OperationContext, workspace: str, name: str) -> Any:
    query = select(experiments).where(
        experiments.c.workspace == workspace, experiments.c.name == name
    )
    return ctx.conn.execute(query).mappings().first()


def _insert_experiment(
    ctx: OperationContext, req: CreateExperiment | EnsureExperiment
) -> tuple[dict[str, Any], bool]:
    """The experiment's row, inserted unless one of that name exists: (row, inserted)."""
    workspace = req.workspace or ctx.workspace
    ctx.call(ensure_workspace, EnsureWorkspace(name=workspace))
    now = ctx.now_ms()
    row: dict[str, Any] = {
        "id": new_id(),
        "workspace": workspace,
        "name": req.name,
        "description": req.description,
        "tags": req.tags,
        "lifecycle": "active",
        "created_at": now,
        "updated_at": now,
    }
    # The (workspace, name) key decides between concurrent creators, on every backend.
    if not insert_if_absent(ctx.conn, experiments, row):
        return dict(_experiment_row(ctx, workspace, req.name)), False
    ctx.work.record("experiment", row["id"], after=row)
    ctx.work.emit(
        "experiment.created",
        row["id"],
        {"experiment_id": row["id"], "workspace": workspace, "name": req.name},
    )
    return row, True


@ops.write("POST", "/experiments", permission="experiments:write", audit="experiment.created")
def create_experiment(ctx: OperationContext, req: CreateExperiment) -> Experiment:
    """Create an experiment in a workspace; names are unique per workspace."""
    row, inserted = _insert_experiment(ctx, req)
    if not inserted:
        raise AlreadyExists(
            f"experiment '{req.name}' already exists in workspace '{row['workspace']}' "
            f"(id {row['id']})",
            details={"id": row["id"]},
        )
    return Experiment.model_validate(row)


@ops.write(
    "PUT",
    "/experiments-by-name/{name}",
    permission="experiments:write",
    audit="experiment.created",
    idempotent=True,
)
def ensure_experiment(ctx: OperationContext, req: EnsureExperiment) -> Experiment:
    """Get an experiment by name, creating it if it does not exist (race-free)."""
    row, _ = _insert_experiment(ctx, req)
    return Experiment.model_validate(row)


@ops.read("/experiments/{experiment_id}", permission="experiments:read")
def get_experiment(ctx: OperationContext, req: GetExperiment) -> Experiment:
    """Get an experiment by id."""
    return records.experiment_from_row(records.get_experiment_row(ctx.conn, req.experiment_id))


@ops.read("/experiments-by-name", permission="experiments:read")
def find_experiment(ctx: OperationContext, req: FindExperiment) -> Experiment:
    """Get an experiment by its name in a workspace."""
    workspace = req.workspace or ctx.workspace
    row = _experiment_row(ctx, workspace, req.name)
    if row is None:
        raise NotFound(
            f"experiment '{req.name}' does not exist in workspace '{workspace}'",
            details={"kind": "experiment", "id": req.name},
        )
    return records.experiment_from_row(row)


@ops.read("/experiments", permission="experiments:read")
def list_experiments(ctx: OperationContext, req: ListExperiments) -> ExperimentList:
    """List the experiments of a workspace, oldest first."""
    query = select(experiments).order_by(experiments.c.created_at, experiments.c.name)
    if req.workspace:
        query = query.where(experiments.c.workspace == req.workspace)
    rows = ctx.conn.execute(query).mappings()
    return ExperimentList(experiments=[records.experiment_from_row(r) for r in rows])


@ops.write("POST", "/runs", permission="runs:write", audit="run.created")
def create_run(ctx: OperationContext, req: CreateRun) -> Run:
    """Start a run in an experiment (nested when ``parent_run_id`` is given)."""
    records.get_experiment_row(ctx.conn, req.experiment_id)
    if req.parent_run_id is not None:
        parent = records.get_run_row(ctx.conn, req.parent_run_id)
        if parent["experiment_id"] != req.experiment_id:
            raise InvalidInput(
                f"parent run '{req.parent_run_id}' belongs to another experiment; "
                "a nested run must be in its parent's experiment"
            )
    run_id = new_id()
    start = req.start_time if req.start_time is not None else ctx.now_ms()
    row: dict[str, Any] = {
        "id": run_id,
        "experiment_id": req.experiment_id,
        "name": req.name or f"run-{run_id[:8]}",
        "status": req.status.value,
        "start_time": start,
        "end_time": None,
        "user": ctx.actor.name,
        "description": req.description,
        "parent_run_id": req.parent_run_id,
        "source_commit": req.source.commit,
        "source_dirty": req.source.dirty,
        "source_entry_point": req.source.entry_point,
        "environment_hash": req.environment_hash,
        "failure": None,
        "lifecycle": "active",
    }
    ctx.conn.execute(insert(runs).values(row))
    if req.tags:
        ctx.conn.execute(
            insert(run_tags),
            [{"run_id": run_id, "key": k, "value": v} for k, v in req.tags.items()],
        )
    ctx.work.record("run", run_id, after={**row, "tags": req.tags})
    ctx.work.emit("run.started", run_id, {"run_id": run_id, "experiment_id": req.experiment_id})
    return records.load_run(ctx.conn, run_id)


def insert_run(
    ctx: OperationContext,
    *,
    experiment_id: str,
    name: str,
    status: RunStatus,
    start_time: int,
    end_time: int | None,
    parent_run_id: str | None = None,
    failure: str | None = None,
    tags: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    metrics: list[Metric] | None = None,
    environment_hash: str | None = None,
) -> str:
    """Record a whole run in one pass, for callers that know its outcome (pipeline steps).

    Unlike create_run + log_batch + update_run, it reads nothing back: a pipeline records a
    step run per step, and the re-reads were most of the cost.
    """
    run_id = new_id()
    row: dict[str, Any] = {
        "id": run_id,
        "experiment_id": experiment_id,
        "name": name,
        "status": status.value,
        "start_time": start_time,
        "end_time": end_time,
        "user": ctx.actor.name,
        "description": None,
        "parent_run_id": parent_run_id,
        "source_commit": None,
        "source_dirty": None,
        "source_entry_point": None,
        "environment_hash": environment_hash,
        "failure": failure,
        "lifecycle": "active",
    }
    ctx.conn.execute(insert(runs).values(row))
    if tags:
        ctx.conn.execute(
            insert(run_tags), [{"run_id": run_id, "key": k, "value": v} for k, v in tags.items()]
        )
    if params:
        ctx.conn.execute(
            insert(run_params),
            [{"run_id": run_id, "key": k, "value": v} for k, v in params.items()],
        )
    if metrics:
        _write_metrics(ctx, run_id, metrics)
    ctx.work.record(
        "run",
        run_id,
        after={**row, "tags": tags or {}, "params": params or {}, "metrics": len(metrics or [])},
    )
    if status.terminal:
        ctx.work.emit(
            f"run.{status.value.lower()}",
            run_id,
            {"run_id": run_id, "experiment_id": experiment_id},
        )
    return run_id


@ops.read("/runs/{run_id}", permission="runs:read")
def get_run(ctx: OperationContext, req: GetRun) -> Run:
    """Get a run with its params, tags, latest metrics and inputs."""
    return records.load_run(ctx.conn, req.run_id)


@ops.write("PATCH", "/runs/{run_id}", permission="runs:write", audit="run.updated")
def update_run(ctx: OperationContext, req: UpdateRun) -> Run:
    """Change a run's status, end time, name or description."""
    row = records.get_run_row(ctx.conn, req.run_id)
    changes: dict[str, Any] = {}
    if req.status is not None and req.status.value != row["status"]:
        if RunStatus(row["status"]).terminal and not req.status.terminal:
            raise Conflict(
                f"run '{req.run_id}' is {row['status']}; a finished run cannot be set "
                f"back to {req.status.value}"
            )
        changes["status"] = req.status.value
        if req.status.terminal:
            changes["end_time"] = req.end_time if req.end_time is not None else ctx.now_ms()
    elif req.end_time is not None:
        changes["end_time"] = req.end_time
    for name in ("failure", "name", "description"):
        value = getattr(req, name)
        if value is not None and value != row[name]:
            changes[name] = value
    if changes:
        ctx.conn.execute(update(runs).where(runs.c.id == req.run_id).values(changes))
        ctx.work.record("run", req.run_id, before={k: row[k] for k in changes}, after=changes)
        ended = "status" in changes and req.status is not None and req.status.terminal
        ctx.work.emit(
            f"run.{req.status.value.lower()}" if ended and req.status else "run.updated",
            req.run_id,
            {"run_id": req.run_id, "experiment_id": row["experiment_id"], **changes},
        )
    return records.load_run(ctx.conn, req.run_id)


@ops.write("DELETE", "/runs/{run_id}", permission="runs:delete", audit="run.deleted")
def delete_run(ctx: OperationContext, req: DeleteRun) -> Done:
    """Delete a run: it leaves searches and listings; its records stay for the audit."""
    row = records.get_run_row(ctx.conn, req.run_id)
    ctx.conn.execute(update(runs).where(runs.c.id == req.run_id).values(lifecycle="deleted"))
    ctx.work.record(
        "run",
        req.run_id,
        before={"lifecycle": row["lifecycle"]},
        after={"lifecycle": "deleted"},
    )
    ctx.work.emit("run.deleted", req.run_id, {"run_id": req.run_id})
    return Done()


def _write_params(ctx: OperationContext, run_id: str, params: dict[str, str]) -> dict[str, str]:
    """Insert new params; the same value again is a no-op, a different one a conflict."""
    existing = dict(
        ctx.conn.execute(
            select(run_params.c.key, run_params.c.value).where(
                run_params.c.run_id == run_id, run_params.c.key.in_(list(params))
            )
        ).all()
    )
    for key, value in params.items():
        if key in existing and existing[key] != value:
            raise Conflict(
                f"param '{key}' of run '{run_id}' is already '{existing[key]}' and cannot be "
                f"changed to '{value}': params are immutable, log it under another name or "
                "start a new run",
                details={"key": key, "old": existing[key], "new": value},
            )
    new = {k: v for k, v in params.items() if k not in existing}
    if new:
        ctx.conn.execute(
            insert(run_params), [{"run_id": run_id, "key": k, "value": v} for k, v in new.items()]
        )
    return new


def _write_tags(ctx: OperationContext, run_id: str, tags: dict[str, str]) -> None:
    stmt = dialect_insert(ctx.conn, run_tags)
    ctx.conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["run_id", "key"], set_={"value": stmt.excluded.value}
        ),
        [{"run_id": run_id, "key": k, "value": v} for k, v in tags.items()],
    )


_METRIC_COLUMNS = ("run_id", "key", "value", "is_nan", "step", "timestamp")


def _insert_metric_rows(conn: Connection, rows: list[tuple[Any, ...]]) -> None:
    """One driver-level executemany: a batch of thousands of metrics is the hot path, and
    SQLAlchemy's per-row parameter processing would cost more than SQLite's insert."""
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = (
        f"INSERT INTO metrics ({', '.join(_METRIC_COLUMNS)}) "
        f"VALUES ({', '.join([mark] * len(_METRIC_COLUMNS))})"
    )
    conn.exec_driver_sql(sql, rows)


def _write_metrics(ctx: OperationContext, run_id: str, batch: list[Metric]) -> None:
    now = ctx.now_ms()
    rows: list[tuple[Any, ...]] = []
    latest: dict[str, tuple[Any, ...]] = {}
    isnan = math.isnan
    for m in batch:
        value = m.value
        nan = isnan(value)
        # SQLite turns a NaN REAL into NULL; the flag keeps it and the value stays 0.
        row = (
            run_id,
            m.key,
            0.0 if nan else value,
            nan,
            m.step,
            now if m.timestamp is None else m.timestamp,
        )
        rows.append(row)
        best = latest.get(m.key)
        if best is None or (row[4], row[5]) >= (best[4], best[5]):
            latest[m.key] = row
    _insert_metric_rows(ctx.conn, rows)
    stmt = dialect_insert(ctx.conn, latest_metrics)
    current = latest_metrics.c
    newer = (stmt.excluded.step > current.step) | (
        (stmt.excluded.step == current.step) & (stmt.excluded.timestamp >= current.timestamp)
    )
    ctx.conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["run_id", "key"],
            set_={
                "value": stmt.excluded.value,
                "is_nan": stmt.excluded.is_nan,
                "step": stmt.excluded.step,
                "timestamp": stmt.excluded.timestamp,
            },
            where=newer,
        ),
        [dict(zip(_METRIC_COLUMNS, row, strict=True)) for row in latest.values()],
    )


@ops.write(
    "POST",
    "/runs/{run_id}/batch",
    permission="runs:write",
    audit="run.logged",
    without_event="metrics, params and tags arrive thousands of times per run; the run's "
    "own run.started and run.finished/failed/killed events announce it",
)
def log_batch(ctx: OperationContext, req: LogBatch) -> Done:
    """Log metrics, params and tags to a run in one transaction."""
    records.get_run_row(ctx.conn, req.run_id)
    new_params = _write_params(ctx, req.run_id, req.params) if req.params else {}
    if req.tags:
        _write_tags(ctx, req.run_id, req.tags)
    if req.metrics:
        _write_metrics(ctx, req.run_id, req.metrics)
    if new_params or req.tags or req.metrics:
        ctx.work.record(
            "run",
            req.run_id,
            after={
                "params": new_params,
                "tags": req.tags,
                "metrics": len(req.metrics),
                "metric_keys": sorted({m.key for m in req.metrics}),
            },
        )
    return Done()


@ops.read("/runs/{run_id}/metric-history", permission="runs:read")
def get_metric_history(ctx: OperationContext, req: GetMetricHistory) -> MetricHistory:
    """Every logged value of one metric of a run, by step then time."""
    records.get_run_row(ctx.conn, req.run_id)
    m = metrics.c
    rows = ctx.conn.execute(
        select(m.key, m.value, m.is_nan, m.step, m.timestamp)
        .where(m.run_id == req.run_id, m.key == req.key)
        .order_by(m.step, m.timestamp, m.id)
    )
    return MetricHistory(
        metrics=[
            Metric(
                key=r.key,
                value=records.NAN if r.is_nan else r.value,
                step=r.step,
                timestamp=r.timestamp,
            )
            for r in rows
        ]
    )


@ops.read("/runs/search", method="POST", permission="runs:read")
def search_runs(ctx: OperationContext, req: SearchRuns) -> RunPage:
    """Search runs of experiments with a filter, an order and pages."""
    expr = parse_filter(req.filter)
    order = parse_order_by(req.order_by)
    offset = search.decode_page_token(req.page_token)
    query = select(runs).where(runs.c.experiment_id.in_(req.experiment_ids))
    if not req.include_deleted:
        query = query.where(runs.c.lifecycle == "active")
    if expr is not None:
        query = query.where(search.condition_for(expr))
    query = search.apply_order(query, order).offset(offset).limit(req.max_results + 1)
    rows = list(ctx.conn.execute(query).mappings())
    more = len(rows) > req.max_results
    page = rows[: req.max_results]
    token = search.encode_page_token(offset + len(page)) if more else None
    return RunPage(runs=records.load_runs(ctx.conn, page), next_page_token=token)


@ops.write(
    "POST",
    "/runs/{run_id}/inputs",
    permission="runs:write",
    audit="run.input.logged",
    idempotent=True,
    without_event="a dataset read is part of a run in progress, announced by its run's "
    "events; lineage is asked of the records",
)
def log_input(ctx: OperationContext, req: LogInput) -> Done:
    """Record a dataset a run read; the same dataset twice is recorded once."""
    records.get_run_row(ctx.conn, req.run_id)
    d = req.dataset
    inserted = insert_if_absent(
        ctx.conn,
        run_inputs,
        {
            "run_id": req.run_id,
            "name": d.name,
            "digest": d.digest,
            "source": d.source,
            "schema": d.schema_,
            "row_count": d.row_count,
            "context": d.context,
            "created_at": ctx.now_ms(),
        },
    )
    if inserted:
        ctx.work.record("run", req.run_id, after=d.model_dump(mode="json", by_alias=True))
    return Done()


@ops.write(
    "POST",
    "/runs/{run_id}/artifacts",
    permission="runs:write",
    audit="run.artifact.logged",
    idempotent=True,
    without_event="an artifact is part of a run in progress, announced by its run's events",
)
def log_artifact(ctx: OperationContext, req: LogArtifact) -> Artifact:
    """Index an uploaded blob under a path of a run (the blob must already be stored)."""
    records.get_run_row(ctx.conn, req.run_id)
    path = normalize_artifact_path(req.path)
    if not ctx.blobs.exists(req.sha256):
        raise InvalidInput(
            f"blob {req.sha256} is not in the artifact store: upload the content first"
        )
    row = {
        "run_id": req.run_id,
        "path": path,
        "sha256": req.sha256,
        "size": req.size,
        "created_at": ctx.now_ms(),
    }
    previous = (
        ctx.conn.execute(
            select(run_artifacts).where(
                run_artifacts.c.run_id == req.run_id, run_artifacts.c.path == path
            )
        )
        .mappings()
        .first()
    )
    if previous is not None and previous["sha256"] == req.sha256:
        return Artifact.model_validate(dict(previous))
    stmt = dialect_insert(ctx.conn, run_artifacts)
    ctx.conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["run_id", "path"],
            set_={"sha256": req.sha256, "size": req.size, "created_at": row["created_at"]},
        ),
        row,
    )
    ctx.work.record(
        "run",
        req.run_id,
        before=None if previous is None else {"path": path, "sha256": previous["sha256"]},
        after={"path": path, "sha256": req.sha256, "size": req.size},
    )
    return Artifact.model_validate(row)


@ops.read("/runs/{run_id}/artifacts", permission="runs:read")
def list_artifacts(ctx: OperationContext, req: ListArtifacts) -> ArtifactList:
    """List a run's artifacts, optionally under a folder prefix."""
    records.get_run_row(ctx.conn, req.run_id)
    query = select(run_artifacts).where(run_artifacts.c.run_id == req.run_id)
    if req.prefix:
        prefix = normalize_artifact_path(req.prefix)
        query = query.where(
            (run_artifacts.c.path == prefix) | run_artifacts.c.path.startswith(prefix + "/")
        )
    rows = ctx.conn.execute(query.order_by(run_artifacts.c.path)).mappings()
    return ArtifactList(artifacts=[Artifact.model_validate(dict(r)) for r in rows])


OPERATIONS = ops.operations
