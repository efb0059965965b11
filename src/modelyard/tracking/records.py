"""Rows to domain models: the one place tracking's tables become pydantic objects."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, RowMapping, select

from modelyard.errors import NotFound
from modelyard.storage.db.tables import (
    experiments,
    latest_metrics,
    run_inputs,
    run_params,
    run_tags,
    runs,
)
from modelyard.tracking.models import DatasetInput, Experiment, Run, RunStatus, Source

NAN = float("nan")


def experiment_from_row(row: RowMapping) -> Experiment:
    return Experiment(
        id=row["id"],
        workspace=row["workspace"],
        name=row["name"],
        description=row["description"],
        tags=row["tags"] or {},
        lifecycle=row["lifecycle"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def get_experiment_row(conn: Connection, experiment_id: str) -> RowMapping:
    row = conn.execute(select(experiments).where(experiments.c.id == experiment_id)).mappings()
    found = row.first()
    if found is None:
        raise NotFound.of("experiment", experiment_id)
    return found


def get_run_row(
    conn: Connection, run_id: str, *, include_deleted: bool = False, share_lock: bool = False
) -> RowMapping:
    """The run's row; NotFound if there is none (or it is deleted, unless asked for).

    ``share_lock`` holds the row against deletion until the transaction ends (PostgreSQL;
    SQLite has one writer at a time): a record that names the run (a model version) is
    then never committed beside a retention pass deleting it.
    """
    query = select(runs).where(runs.c.id == run_id)
    if share_lock:
        query = query.with_for_update(read=True)
    found = conn.execute(query).mappings().first()
    if found is None or (found["lifecycle"] == "deleted" and not include_deleted):
        raise NotFound.of("run", run_id)
    return found


def _run_from_row(row: RowMapping, extras: dict[str, dict[str, Any]]) -> Run:
    return Run(
        id=row["id"],
        experiment_id=row["experiment_id"],
        name=row["name"],
        status=RunStatus(row["status"]),
        start_time=row["start_time"],
        end_time=row["end_time"],
        user=row["user"],
        description=row["description"],
        parent_run_id=row["parent_run_id"],
        source=Source(
            commit=row["source_commit"],
            dirty=row["source_dirty"],
            entry_point=row["source_entry_point"],
        ),
        environment_hash=row["environment_hash"],
        failure=row["failure"],
        lifecycle=row["lifecycle"],
        params=extras["params"].get(row["id"], {}),
        tags=extras["tags"].get(row["id"], {}),
        metrics=extras["metrics"].get(row["id"], {}),
        inputs=extras["inputs"].get(row["id"], []),
    )


def load_runs(conn: Connection, rows: Sequence[RowMapping]) -> list[Run]:
    """Build full runs for a page of run rows with one query per child table."""
    ids = [r["id"] for r in rows]
    extras: dict[str, dict[str, Any]] = {
        "params": defaultdict(dict),
        "tags": defaultdict(dict),
        "metrics": defaultdict(dict),
        "inputs": defaultdict(list),
    }
    if ids:
        for table, name in ((run_params, "params"), (run_tags, "tags")):
            query = select(table.c.run_id, table.c.key, table.c.value)
            for run_id, key, value in conn.execute(query.where(table.c.run_id.in_(ids))):
                extras[name][run_id][key] = value
        lm = latest_metrics.c
        latest = select(lm.run_id, lm.key, lm.value, lm.is_nan).where(lm.run_id.in_(ids))
        for m in conn.execute(latest):
            extras["metrics"][m.run_id][m.key] = NAN if m.is_nan else m.value
        ri = run_inputs.c
        inputs = select(run_inputs).where(ri.run_id.in_(ids)).order_by(ri.created_at)
        for r in conn.execute(inputs).mappings():
            extras["inputs"][r["run_id"]].append(
                DatasetInput(
                    name=r["name"],
                    digest=r["digest"],
                    source=r["source"],
                    schema=r["schema"],
                    row_count=r["row_count"],
                    context=r["context"],
                )
            )
    return [_run_from_row(r, extras) for r in rows]


def load_run(conn: Connection, run_id: str, *, share_lock: bool = False) -> Run:
    return load_runs(conn, [get_run_row(conn, run_id, share_lock=share_lock)])[0]
