"""One REST route per operation, derived from its declaration.

A route reads the path parameters, the query string (GET/DELETE) or the JSON body, validates
them into the operation's request model, runs the operation on the server's backend in a
worker thread, and returns the response model as JSON. No route is written by hand.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from fastapi import FastAPI, Request, Response
from starlette.concurrency import run_in_threadpool

from modelyard.core.backend import LocalBackend
from modelyard.core.fields import MAX_DESCRIPTION_LENGTH
from modelyard.core.http_api import API_PREFIX, REASON_HEADER
from modelyard.core.operations import MAX_DEPTH, Operation
from modelyard.errors import InvalidInput
from modelyard.server.auth import Gate, header_value
from modelyard.server.openapi import RequestSchemas, operation_responses

Endpoint = Callable[[Request], Awaitable[Response]]


async def _read_json(request: Request) -> dict[str, Any]:
    body = await request.body()
    if not body:
        return {}
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise InvalidInput(f"the request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise InvalidInput(
            f"the request body nests too deeply: at most {MAX_DEPTH} levels are accepted"
        ) from None
    if not isinstance(data, dict):
        raise InvalidInput("the request body must be a JSON object")
    return data


def _scalar_types(op: Operation[Any, Any]) -> dict[str, str]:
    """The JSON type of each top-level field that takes an integer, a number or a boolean."""
    found = {}
    for name, prop in op.request.model_json_schema(by_alias=True)["properties"].items():
        kinds = [prop.get("type")] + [branch.get("type") for branch in prop.get("anyOf", [])]
        for kind in ("integer", "number", "boolean"):
            if kind in kinds:
                found[name] = kind
    return found


_NUMBER = re.compile(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")


def _from_url(value: str, kind: str | None) -> Any:
    """A path or query value as the JSON value it spells (request fields are strict: the
    JSON ``true`` is no integer, so neither is a URL's "5" until it is read as one)."""
    if kind == "integer" and re.fullmatch(r"-?\d+", value):
        return int(value)
    if kind == "number" and _NUMBER.match(value):
        return float(value)
    if kind == "boolean" and value in ("true", "false"):
        return value == "true"
    return value


def _endpoint(op: Operation[Any, Any], backend: LocalBackend, gate: Gate) -> Endpoint:
    scalars = _scalar_types(op)

    async def endpoint(request: Request) -> Response:
        if op.method in ("GET", "DELETE"):
            data: dict[str, Any] = {
                k: _from_url(v, scalars.get(k)) for k, v in request.query_params.items()
            }
        else:
            data = await _read_json(request)
        data.update({k: _from_url(v, scalars.get(k)) for k, v in request.path_params.items()})
        # Who asks comes first: a caller without a token learns nothing from validation.
        actor = gate.allow(request, op.permission, op.name)
        parsed = op.parse(data)
        result = await run_in_threadpool(
            backend.call,
            op,
            parsed,
            reason=header_value(request, REASON_HEADER, MAX_DESCRIPTION_LENGTH),
            actor=actor,
            workspace=gate.workspace(request),
        )
        return Response(result.model_dump_json(by_alias=True), media_type="application/json")

    endpoint.__name__ = op.name.replace(".", "_")
    return endpoint


def mount_operations(
    app: FastAPI, operations: Iterable[Operation[Any, Any]], backend: LocalBackend, gate: Gate
) -> None:
    """Add one route per operation under ``/api/v1``, documented from its declaration."""
    schemas = RequestSchemas()
    for op in operations:
        app.add_api_route(
            API_PREFIX + op.path,
            _endpoint(op, backend, gate),
            methods=[op.method],
            name=op.name,
            summary=op.summary,
            response_model=op.response,
            responses=operation_responses(op),
            openapi_extra=schemas.operation(op),
            tags=[op.name.split(".")[0]],
        )
    schemas.install(app)
