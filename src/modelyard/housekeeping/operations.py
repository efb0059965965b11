"""The gc operation: one declaration for the Python API, ``POST /gc`` and ``modelyard gc``.

It runs where the blob store is (in process for an embedded store, on the server for a
remote one), needs ``store:admin`` (a server admin), and a real run is audited as
``store.gc`` with its counts and bytes; a dry run changes nothing and records nothing.
"""

from __future__ import annotations

from modelyard.core.operations import OperationContext, OperationSet
from modelyard.housekeeping.collect import collect_garbage
from modelyard.housekeeping.models import CollectGarbage, GarbageReport

ops = OperationSet("housekeeping", server_wide=True)


@ops.write(
    "POST",
    "/gc",
    permission="store:admin",
    audit="store.gc",
    without_event="deleting blobs no record names changes nothing a subscriber follows; "
    "the audit record keeps the counts",
)
def collect(ctx: OperationContext, req: CollectGarbage) -> GarbageReport:
    """Delete blobs no record names that are older than ``min_age_seconds``."""
    report = collect_garbage(
        ctx.conn,
        ctx.blobs,
        min_age_seconds=req.min_age_seconds,
        dry_run=req.dry_run,
        other_workspaces=ctx.other_workspaces,
    )
    if not req.dry_run:
        counts = report.model_dump(mode="json", exclude={"blobs", "truncated", "dry_run"})
        ctx.work.record("artifact_store", "blobs", after={"root": ctx.blobs.root, **counts})
    return report


OPERATIONS = ops.operations
