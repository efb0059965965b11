"""Request and answer of garbage collection."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from modelyard.core.fields import Count, Flag, Sha256
from modelyard.core.operations import Model, Request
from modelyard.housekeeping import limits


class CollectGarbage(Request):
    dry_run: Flag = Field(
        default=False, description="Count and list what would be deleted; delete nothing"
    )
    min_age_seconds: Annotated[int, limits.MIN_AGE_SECONDS.field()] = Field(
        default=int(limits.MIN_AGE_SECONDS.default),
        description="Only blobs stored (or re-stored, or claimed) longer ago than this may "
        "be deleted: the time an uploader has to commit the record that names its blob",
    )


class CollectedBlob(Model):
    sha256: Sha256
    size: Count


class GarbageReport(Model):
    dry_run: bool
    min_age_seconds: int
    stored: Count = Field(description="Blobs in the store when gc listed it")
    stored_bytes: Count
    candidates: Count = Field(description="Stored blobs older than min_age_seconds")
    live: Count = Field(description="Candidates a record still names (kept)")
    unreferenced: Count = Field(description="Candidates nothing names: deleted, or would be")
    unreferenced_bytes: Count
    deleted: Count
    bytes_freed: Count
    spared: Count = Field(
        description="Unreferenced candidates stored or claimed again while gc ran (kept)"
    )
    blobs: list[CollectedBlob] = Field(
        description=f"The unreferenced candidates by hash, the first {limits.LISTED}"
    )
    truncated: bool = Field(description="Whether `blobs` stops short of `unreferenced`")
