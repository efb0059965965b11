"""One REST route per operation, derived from its declaration.

A route reads the path parameters, the query string (GET/DELETE) or the JSON body, validates
them into the operation's request model, runs the operation on the server's backend in a
worker thread, and returns the response model as JSON. No route is written by hand.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from fastapi import FastAPI, Request, Response
from starlette.concurrency import run_in_threadpool

from modelyard.core.backend import LocalBackend
from modelyard.core.http_api import API_PREFIX, REASON_HEADER, USER_HEADER
from modelyard.core.operations import Operation
from modelyard.core.unit_of_work import Actor
from modelyard.errors import InvalidInput

Endpoint = Callable[[Request], Awaitable[Response]]


async def _read_json(request: Request) -> dict[str, Any]:
    body = await request.body()
    if not body:
        return {}
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise InvalidInput(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidInput("the request body must be a JSON object")
    return data


def actor_of(request: Request, default: Actor) -> Actor:
    """The caller: until auth is configured, the user the client says it is."""
    name = request.headers.get(USER_HEADER)
    return Actor(name) if name else default


def _endpoint(op: Operation[Any, Any], backend: LocalBackend) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        if op.method in ("GET", "DELETE"):
            data: dict[str, Any] = dict(request.query_params)
        else:
            data = await _read_json(request)
        data.update(request.path_params)
        parsed = op.parse(data)
        result = await run_in_threadpool(
            backend.call,
            op,
            parsed,
            reason=request.headers.get(REASON_HEADER),
            actor=actor_of(request, backend.actor),
        )
        return Response(result.model_dump_json(by_alias=True), media_type="application/json")

    endpoint.__name__ = op.name.replace(".", "_")
    return endpoint


def _openapi_extra(op: Operation[Any, Any]) -> dict[str, Any]:
    schema = op.request.model_json_schema(by_alias=True)
    fields = {k: v for k, v in schema.get("properties", {}).items() if k not in op.path_params}
    required = set(schema.get("required", []))
    params: list[dict[str, Any]] = [
        {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
        for p in op.path_params
    ]
    extra: dict[str, Any] = {}
    if op.method in ("GET", "DELETE"):
        params += [
            {"name": k, "in": "query", "required": k in required, "schema": v}
            for k, v in fields.items()
        ]
    else:
        body = {**schema, "properties": fields}
        body["required"] = [r for r in schema.get("required", []) if r in fields]
        extra["requestBody"] = {"content": {"application/json": {"schema": body}}}
    extra["parameters"] = params
    extra["x-modelyard-permission"] = op.permission
    if op.audit:
        extra["x-modelyard-audit-action"] = op.audit
    return extra


def mount_operations(
    app: FastAPI, operations: Iterable[Operation[Any, Any]], backend: LocalBackend
) -> None:
    """Add one route per operation under ``/api/v1``."""
    for op in operations:
        app.add_api_route(
            API_PREFIX + op.path,
            _endpoint(op, backend),
            methods=[op.method],
            name=op.name,
            summary=op.summary,
            response_model=op.response,
            openapi_extra=_openapi_extra(op),
            tags=[op.name.split(".")[0]],
        )
