"""The fixed parts of the REST API that the server and the remote client must agree on."""

from __future__ import annotations

API_PREFIX = "/api/v1"
# HTTP header names are case-insensitive; these are the spellings we send.
USER_HEADER = "X-Modelyard-User"
REASON_HEADER = "X-Modelyard-Reason"
# The workspace a request acts in (``default`` when absent).
WORKSPACE_HEADER = "X-Modelyard-Workspace"
