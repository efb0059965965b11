"""The JSON body of every error an HTTP app of Modelyard answers, as a schema.

``{"error": {"code", "message", "details"}}`` (DESIGN.md, invariant 7): the REST server and
the scoring server both document it from these models, so the two documents cannot drift.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorDetail(BaseModel):
    code: str = Field(description="stable, machine-readable: invalid_input, not_found, ...")
    message: str = Field(description="one sentence for a person: what was wrong, what to do")
    details: dict[str, Any] = Field(description="the fields and values the message names")


class ErrorBody(BaseModel):
    """Every error the API answers: a 4xx the caller can fix, or a 503 to retry."""

    error: ErrorDetail
