"""The audit log as users and the REST API see it: records, queries, verdicts, checkpoints."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, model_validator

from modelyard.core.fields import Count, Sha256, ShortText, TimestampMs, whole
from modelyard.core.operations import Model, Request

MAX_PAGE = 1000
DEFAULT_PAGE = 100


class AuditRecord(Model):
    """One change: who did what to which target, when and why, and its place in the chain."""

    seq: int
    at: int
    actor: str
    action: str
    target_kind: str
    target_id: str
    reason: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    prev_hash: str
    hash: str


class ListAuditRecords(Request):
    """Records in chain order, filtered; ``after`` continues from the previous page."""

    target: Annotated[str, Field(max_length=600)] | None = Field(
        default=None,
        description="models:/NAME, models:/NAME/VERSION, models:/NAME@ALIAS, runs:/ID, "
        "endpoints:/NAME, environments:/NAME, pipelines:/NAME, ...",
        examples=["models:/churn"],
    )
    actor: ShortText | None = None
    action: Annotated[str, Field(max_length=100)] | None = Field(
        default=None,
        description="an action, or a prefix ending in '*' (model.*)",
        examples=["model.alias.*"],
    )
    since: TimestampMs | None = Field(default=None, description="from this time (ms), inclusive")
    until: TimestampMs | None = Field(default=None, description="before this time (ms)")
    after: Count = Field(default=0, description="only records with a seq above this one")
    limit: Annotated[int, whole(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE
    newest_first: bool = Field(
        default=False, strict=True, description="the newest records first (after then counts down)"
    )


class AuditPage(Model):
    records: list[AuditRecord]
    # The ``after`` that fetches the next page; None when this was the last one.
    next: int | None = None


class VerifyAudit(Request):
    """Walk the chain; with a checkpoint's seq and hash, also check the log still has it."""

    checkpoint_seq: Count | None = None
    checkpoint_hash: Sha256 | None = None

    @model_validator(mode="after")
    def _together(self) -> VerifyAudit:
        if (self.checkpoint_seq is None) != (self.checkpoint_hash is None):
            raise ValueError("checkpoint_seq and checkpoint_hash go together: give both")
        return self


class CheckpointVerdict(Model):
    seq: int
    matches: bool
    reason: str | None = None
    pruned: bool = Field(
        default=False,
        description="The checkpoint's record was pruned by retention, with records after it: "
        "what it signed can no longer be checked (a checkpoint at or after the prune can)",
    )


class PrunedPrefix(Model):
    """The records retention deleted from the start of the chain, as the log records it."""

    through_seq: int = Field(description="Records up to this seq were pruned")
    through_hash: str = Field(description="The hash of the last pruned record")
    recorded_seq: int = Field(description="The record of the change that pruned them")
    at: int
    actor: str
    action: str


class AuditVerdict(Model):
    """``ok`` when every record is intact and linked (and the checkpoint, if given, holds
    or was pruned); ``pruned`` says where a pruned log starts."""

    ok: bool
    checked: int
    broken_at: int | None = None
    reason: str | None = None
    tip_seq: int
    tip_hash: str
    checkpoint: CheckpointVerdict | None = None
    pruned: PrunedPrefix | None = None


class CreateCheckpoint(Request):
    pass


class Checkpoint(Model):
    """The chain's tip at ``at``, signed (see ``core/checkpoints.py``)."""

    format: str
    seq: int
    hash: str
    at: int
    store: str
    created_by: str
    # Whose chain: each workspace keeps its own (checkpoints made before workspaces: default).
    workspace: str = "default"
    key_id: str
    public_key: str
    signature: str
