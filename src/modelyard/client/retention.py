"""``RetentionClient``: retention rules and passes on any backend. Reach it as
``Client().retention``."""

from __future__ import annotations

from modelyard.core.backend import Backend
from modelyard.retention import operations as ops
from modelyard.retention.models import (
    ApplyRetention,
    DeleteRetentionRule,
    ListRetentionRules,
    RetentionKind,
    RetentionReport,
    RetentionRule,
    SetRetentionRule,
)


class RetentionClient:
    """Set, list and delete the rules of what may go once old; apply them now."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    def set(
        self,
        kind: RetentionKind,
        *,
        older_than_ms: int,
        experiment: str | None = None,
        pipeline: str | None = None,
        reason: str | None = None,
    ) -> RetentionRule:
        """Delete ``kind`` (``runs``, ``pipeline_runs`` or ``audit``) once it ended (or was
        written) more than ``older_than_ms`` ago; ``experiment`` or ``pipeline`` narrows a
        rule to one. Setting a rule for the same things again changes its period."""
        request = SetRetentionRule(
            kind=kind, older_than_ms=older_than_ms, experiment=experiment, pipeline=pipeline
        )
        return self._backend.call(ops.set_rule, request, reason=reason)

    def list(self) -> list[RetentionRule]:
        return self._backend.call(ops.list_rules, ListRetentionRules()).rules

    def delete(self, rule_id: int, *, reason: str | None = None) -> None:
        self._backend.call(ops.delete_rule, DeleteRetentionRule(rule_id=rule_id), reason=reason)

    def apply(
        self, *, dry_run: bool = False, limit: int | None = None, reason: str | None = None
    ) -> RetentionReport:
        """One pass of every rule: at most ``limit`` runs deleted (the answer's ``more``
        says whether another pass has more to do); ``dry_run`` deletes nothing and says
        what would go and why the rest is kept."""
        request = ApplyRetention(dry_run=dry_run, **({} if limit is None else {"limit": limit}))
        return self._backend.call(ops.apply_retention, request, reason=reason)
