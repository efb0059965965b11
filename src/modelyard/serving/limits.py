"""The defaults and ranges of how scoring workers run, written once.

``DeploymentConfig`` and the scoring server's options validate them, the supervisor passes
them on, and ``modelyard serve`` and ``modelyard deployment create`` offer them as options.
"""

from __future__ import annotations

from modelyard.core.bounds import Bound

# Rows in one predict call; 1 switches batching off.
MAX_BATCH_SIZE = Bound(default=32, ge=1, le=4096)
# The longest a request waits for others to batch with, in milliseconds.
MAX_WAIT_MS = Bound(default=2.0, ge=0, le=1000)
# The share of requests written to a deployment's inference log.
SAMPLE_RATE = Bound(default=0.1, ge=0, le=1)
# Scoring worker processes of one server.
WORKERS = Bound(default=1, ge=1, le=64)
# States of an endpoint's history in one answer (the newest ones).
HISTORY_STATES = Bound(default=100, ge=1, le=1000)
