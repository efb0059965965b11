"""Schemathesis over one operation of an OpenAPI document: what both servers' tests share.

The checks are the ones a server must pass to keep to its document: no 5xx, only declared
statuses, content types and headers, bodies matching their schemas, and requests that
break the schema refused. (``positive_data_acceptance`` is not among them: a request can
match the schema and still be refused for what it names, such as a run that does not
exist.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


def fuzz(
    operation: Any, mode: GenerationMode, examples: int, headers: dict[str, str] | None = None
) -> Callable[[], None]:
    """A test that sends ``examples`` generated requests (derandomized, so a failure
    repeats) to ``operation`` and checks each answer against the document; ``headers``
    go with every request (a token, for a server with auth on)."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    return run
