"""The bounds of retention: written once for the request models, the settings and the CLI."""

from __future__ import annotations

from modelyard.core.bounds import Bound

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
# How old something must be before a rule may take it: at least an hour (nothing younger
# is "old"), at most a century.
OLDER_THAN_MS = Bound(default=90 * DAY_MS, ge=HOUR_MS, le=36_525 * DAY_MS)
# Runs one pass deletes at most: a pass is one write transaction, and a backlog of
# millions must not hold the write lock for long. The scheduler's next pass goes on.
PER_PASS = Bound(default=500, ge=1, le=10_000)
# Candidates one pass looks at, kept ones included: bounds a pass whose oldest candidates
# are all kept (it says ``more``, and the next pass looks again).
MAX_EXAMINED = 10_000
# Items one answer lists (the counts cover all of them).
LISTED = 1000


def describe_period(ms: int) -> str:
    """``7776000000`` -> ``90 days``: a period as a person says it."""
    for unit, size in (("day", DAY_MS), ("hour", HOUR_MS)):
        if ms % size == 0:
            count = ms // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{ms} ms"
