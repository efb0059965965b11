"""Retention rules as stored: one row per (workspace, kind, scope), converted in one place."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, RowMapping, select

from modelyard.errors import NotFound
from modelyard.retention.models import RetentionRule, SetRetentionRule
from modelyard.storage.db.tables import experiments, pipeline_definitions, retention_rules

# Rules of these kinds delete runs; the audit rule is applied after them, last in a pass,
# so the audit chain's tip is locked only for the moment before the pass commits.
RUN_KINDS = ("runs", "pipeline_runs")


def rule_from_row(row: RowMapping | dict[str, Any]) -> RetentionRule:
    scope = row["scope"] or None
    return RetentionRule(
        id=row["id"],
        workspace=row["workspace"],
        kind=row["kind"],
        experiment=scope if row["kind"] == "runs" else None,
        pipeline=scope if row["kind"] == "pipeline_runs" else None,
        older_than_ms=row["older_than_ms"],
        created_at=row["created_at"],
        created_by=row["created_by"],
        updated_at=row["updated_at"],
        updated_by=row["updated_by"],
    )


def rules_of(conn: Connection, workspace: str) -> list[RetentionRule]:
    """The workspace's rules: those that delete runs first, the audit rule last."""
    rows = conn.execute(
        select(retention_rules)
        .where(retention_rules.c.workspace == workspace)
        .order_by(retention_rules.c.id)
    ).mappings()
    found = [rule_from_row(r) for r in rows]
    return sorted(found, key=lambda rule: rule.kind not in RUN_KINDS)


def rule_row(conn: Connection, *, workspace: str, kind: str, scope: str) -> dict[str, Any] | None:
    row = (
        conn.execute(
            select(retention_rules).where(
                retention_rules.c.workspace == workspace,
                retention_rules.c.kind == kind,
                retention_rules.c.scope == scope,
            )
        )
        .mappings()
        .first()
    )
    return None if row is None else dict(row)


def check_scope(conn: Connection, req: SetRetentionRule, workspace: str) -> None:
    """A rule for one experiment or pipeline names one that exists: a misspelt name would
    make a rule that never deletes anything."""
    if req.experiment is not None:
        found = conn.execute(
            select(experiments.c.id).where(
                experiments.c.workspace == workspace, experiments.c.name == req.experiment
            )
        ).first()
        if found is None:
            raise NotFound(
                f"experiment '{req.experiment}' does not exist in workspace '{workspace}': "
                "check its name (`modelyard experiments list`), or leave --experiment out "
                "for a rule on every experiment",
                details={"kind": "experiment", "id": req.experiment},
            )
    if req.pipeline is not None:
        found = conn.execute(
            select(pipeline_definitions.c.name).where(pipeline_definitions.c.name == req.pipeline)
        ).first()
        if found is None:
            raise NotFound(
                f"pipeline '{req.pipeline}' has never run here: check its name (`modelyard "
                "pipeline list`), or leave --pipeline out for a rule on every pipeline",
                details={"kind": "pipeline", "id": req.pipeline},
            )
