"""``AuditClient``: the audit log as a tool. Reach it as ``Client().audit``.

Query it (``records``, every page in turn), verify its hash chain (``verify``, with a
signed checkpoint to show rewrites made before it), publish a signed checkpoint of its
tip (``checkpoint``), and export it for a compliance system (``export``: JSON Lines or
CSV, with each record's hashes so the export can be checked on its own).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import IO, Any, Literal

from modelyard.core.backend import Backend
from modelyard.core.checkpoints import check_signature
from modelyard.governance import operations as ops
from modelyard.governance.models import (
    MAX_PAGE,
    AuditRecord,
    AuditVerdict,
    Checkpoint,
    CreateCheckpoint,
    ListAuditRecords,
    VerifyAudit,
)

ExportFormat = Literal["jsonl", "csv"]
CSV_COLUMNS = list(AuditRecord.model_fields)


class AuditClient:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def records(
        self,
        *,
        target: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        since: int | None = None,
        until: int | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> Iterator[AuditRecord]:
        """The matching records in chain order (newest first if asked), page by page;
        at most ``limit`` of them (all when None)."""
        after, left = 0, limit
        while left is None or left > 0:
            page_size = MAX_PAGE if left is None else min(left, MAX_PAGE)
            request = ListAuditRecords(
                target=target,
                actor=actor,
                action=action,
                since=since,
                until=until,
                after=after,
                limit=page_size,
                newest_first=newest_first,
            )
            page = self.backend.call(ops.list_audit_records, request)
            yield from page.records
            if left is not None:
                left -= len(page.records)
            if page.next is None:
                return
            after = page.next

    def verify(
        self, checkpoint: dict[str, Any] | None = None, *, trusted_key: bytes | None = None
    ) -> AuditVerdict:
        """Walk the chain; with a checkpoint (as read from its file), check its signature
        here (made by ``trusted_key`` when given) and that the log of its workspace still
        holds its tip."""
        if checkpoint is None:
            return self.backend.call(ops.verify_audit, VerifyAudit())
        check_signature(checkpoint, trusted_key)
        request = VerifyAudit(checkpoint_seq=checkpoint["seq"], checkpoint_hash=checkpoint["hash"])
        # A checkpoint is of one workspace's chain (signed with it): verified against that.
        where = str(checkpoint.get("workspace", "default"))
        return self.backend.call(ops.verify_audit, request, workspace=where)

    def checkpoint(self, *, reason: str | None = None) -> Checkpoint:
        """Sign the chain's tip with the store's key (the server's, for a remote store)."""
        return self.backend.call(ops.create_checkpoint, CreateCheckpoint(), reason=reason)

    def export(self, out: IO[str], format: ExportFormat = "jsonl", **filters: Any) -> int:
        """Write the matching records to ``out``; returns how many."""
        count = 0
        if format == "csv":
            writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS)
            writer.writeheader()
        for record in self.records(**filters):
            row = record.model_dump(mode="json")
            if format == "csv":
                for key in ("before", "after"):
                    row[key] = "" if row[key] is None else json.dumps(row[key], sort_keys=True)
                writer.writerow(row)
            else:
                out.write(json.dumps(row, sort_keys=True) + "\n")
            count += 1
        return count
