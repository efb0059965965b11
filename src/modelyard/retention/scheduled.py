"""Retention as the scheduler's periodic job: a bounded pass every interval, and one per
poll while a backlog lasts.

A pass is one write transaction deleting at most ``limit`` runs (and pruning at most
``core.audit.MAX_PRUNE`` audit records), so a store with years of runs to delete is worked
through in short transactions between which writers get the lock. A pass that stopped at
its limit makes the next poll run another; one that finished waits for the interval.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from modelyard.core.backend import Backend
from modelyard.errors import ModelyardError
from modelyard.retention import limits
from modelyard.retention import operations as ops
from modelyard.retention.models import ApplyRetention, ListRetentionRules, RetentionReport

log = logging.getLogger(__name__)

# The reason on the audit records of what a scheduled pass deletes.
REASON = "retention rules, applied by the scheduler"


class RetentionJob:
    """Applies the retention rules through ``backend`` every ``every_seconds`` (0: never)."""

    def __init__(
        self,
        backend: Backend,
        *,
        every_seconds: float,
        limit: int = int(limits.PER_PASS.default),
        on_pass: Callable[[RetentionReport], None] | None = None,
    ) -> None:
        self.backend = backend
        self.every_ms = int(every_seconds * 1000)
        self.limit = limit
        self.on_pass = on_pass
        self.next_at = 0  # due at the first poll

    def tick(self, now_ms: int) -> RetentionReport | None:
        """Run a pass if one is due at ``now_ms``; the report, or None if none ran."""
        if self.every_ms <= 0 or now_ms < self.next_at:
            return None
        self.next_at = now_ms + self.every_ms
        try:
            # A read first: a store without rules never takes the write lock for them.
            if not self.backend.call(ops.list_rules, ListRetentionRules()).rules:
                return None
            request = ApplyRetention(limit=self.limit)
            report = self.backend.call(ops.apply_retention, request, reason=REASON)
        except ModelyardError as exc:  # not allowed, the store is away: try next interval
            log.warning("retention pass failed: %s", exc.message)
            return None
        if report.more:
            self.next_at = now_ms  # a backlog: the next poll runs the next pass
        if report.deleted_runs or report.pruned_records:
            log.info(
                "retention: %d runs deleted, %d audit records pruned%s",
                report.deleted_runs,
                report.pruned_records,
                " (more to do)" if report.more else "",
            )
        for outcome in report.rules:
            if outcome.problem:
                log.error("retention rule %d: %s", outcome.rule.id, outcome.problem)
        if self.on_pass is not None:
            self.on_pass(report)
        return report
