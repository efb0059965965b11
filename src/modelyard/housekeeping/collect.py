"""The gc itself: list, then read references, then delete what is old and unnamed.

The order is what makes it safe beside writers. An uploader stores a blob, then commits the
row naming it. gc lists the store first and reads the references after, so a row committed
before that read is seen; a row committed later names a blob stored (or re-stored, or
claimed through ``HEAD``) recently, which the grace period keeps out of the candidates, and
``delete_if_older`` checks each blob's time again at the moment it deletes it, so one
re-stored since the listing is spared.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from sqlalchemy import Connection

from modelyard.housekeeping import limits
from modelyard.housekeeping.models import CollectedBlob, GarbageReport
from modelyard.housekeeping.reachability import live_blobs
from modelyard.storage.artifacts import BlobStore

log = logging.getLogger(__name__)


def collect_garbage(
    conn: Connection,
    blobs: BlobStore,
    *,
    min_age_seconds: int,
    dry_run: bool,
    now: Callable[[], float] = time.time,
    other_workspaces: Callable[[], Iterable[Connection]] | None = None,
) -> GarbageReport:
    """Delete (or with ``dry_run`` only count) blobs nothing names, older than the grace.

    Every workspace shares the one blob store: what any workspace's records name is live
    (``other_workspaces`` reads each database besides ``conn``'s)."""
    # Blob times are the store's wall clock, not the operation's (injectable) clock.
    cutoff = now() - min_age_seconds
    stored = stored_bytes = 0
    candidates = {}
    for blob in blobs.list_blobs():
        stored += 1
        stored_bytes += blob.size
        if blob.modified < cutoff:
            candidates[blob.sha256] = blob.size
    live = live_blobs(conn, blobs)  # after the listing: see the module docstring
    for other in other_workspaces() if other_workspaces is not None else ():
        live |= live_blobs(other, blobs)
    doomed = sorted(sha for sha in candidates if sha not in live)
    deleted = freed = spared = 0
    if not dry_run:
        for sha256 in doomed:
            if blobs.delete_if_older(sha256, cutoff):
                deleted += 1
                freed += candidates[sha256]
            else:
                spared += 1
    log.info(
        "gc of %s: %d stored, %d old enough, %d unreferenced, %d deleted (%d bytes)",
        blobs.root,
        stored,
        len(candidates),
        len(doomed),
        deleted,
        freed,
    )
    return GarbageReport(
        dry_run=dry_run,
        min_age_seconds=min_age_seconds,
        stored=stored,
        stored_bytes=stored_bytes,
        candidates=len(candidates),
        live=len(candidates) - len(doomed),
        unreferenced=len(doomed),
        unreferenced_bytes=sum(candidates[sha] for sha in doomed),
        deleted=deleted,
        bytes_freed=freed,
        spared=spared,
        blobs=[CollectedBlob(sha256=sha, size=candidates[sha]) for sha in doomed[: limits.LISTED]],
        truncated=len(doomed) > limits.LISTED,
    )
