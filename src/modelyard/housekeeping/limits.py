"""The gc grace period, written once for the request model, the settings and the CLI."""

from __future__ import annotations

from modelyard.config import DEFAULT_GC_MIN_AGE_SECONDS
from modelyard.core.bounds import Bound

# Seconds a blob must have gone unstored and unclaimed before gc may take it. An uploader
# stores a blob, then commits the row naming it; the grace period is how long that may take.
# The CLI's default is the setting MODELYARD_GC_MIN_AGE_SECONDS, which defaults to this.
MIN_AGE_SECONDS = Bound(default=DEFAULT_GC_MIN_AGE_SECONDS, ge=0, le=366 * 24 * 3600)
# Blobs one answer lists by hash (the counts and bytes cover all of them).
LISTED = 1000
