"""The OpenAPI document, derived from the operations' declarations.

FastAPI documents what it validates itself; our routes validate through the operations'
own request models, so each route's parameters and body are described here from that
model: path and query parameters with their bounds, a JSON body whose nested models live in
``components/schemas`` (as ``<Name>-Input``, beside FastAPI's response models), and every
status an operation can answer with the one error body. ``install`` adds the collected
request schemas to the document FastAPI builds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from modelyard.core.error_body import ErrorBody
from modelyard.core.operations import Operation

REF_TEMPLATE = "#/components/schemas/{model}-Input"


_WHY = {
    202: "The change is protected: it became an approval request (details.approval), "
    "made when an approver approves it.",
    400: "The request breaks a rule: a field out of bounds, a name that is not allowed.",
    401: "With auth on: no token, or one that is unknown, revoked or expired.",
    403: "With auth on: the caller lacks the permission the operation needs.",
    404: "Something the request names does not exist.",
    409: "The change conflicts with stored state.",
    413: "The request body is larger than the server accepts.",
    503: "The store cannot be reached; retry later.",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for FastAPI: each status with the error body."""
    return {status: {"model": ErrorBody, "description": _WHY[status]} for status in statuses}


def operation_responses(op: Operation[Any, Any]) -> dict[int | str, dict[str, Any]]:
    """What an operation can answer besides 200: reads cannot conflict; with auth on, any
    operation may answer 401 (no or a bad token) or 403 (a permission the caller lacks)."""
    statuses = (400, 401, 403, 404, 409, 413, 503) if op.writes else (400, 401, 403, 404, 413, 503)
    if op.guard is not None:
        statuses = (202, *statuses)
    return error_responses(*statuses)


class RequestSchemas:
    """The request models' schemas, shared by every route, for ``components/schemas``."""

    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {}

    def of(self, model: type[BaseModel]) -> dict[str, Any]:
        """``model``'s schema with its nested models moved to the components."""
        schema = model.model_json_schema(by_alias=True, ref_template=REF_TEMPLATE)
        for name, definition in schema.pop("$defs", {}).items():
            key = f"{name}-Input"
            known = self.schemas.setdefault(key, definition)
            if known != definition:
                raise TypeError(f"two request models are named {name}: rename one")
        return schema

    def operation(self, op: Operation[Any, Any]) -> dict[str, Any]:
        """``openapi_extra`` for ``op``: its parameters or body, permission and audit."""
        schema = self.of(op.request)
        properties = schema.get("properties", {})
        required = set(schema.get("required", []))
        params: list[dict[str, Any]] = [
            {"name": p, "in": "path", "required": True, "schema": properties[p]}
            for p in op.path_params
        ]
        fields = {k: v for k, v in properties.items() if k not in op.path_params}
        extra: dict[str, Any] = {}
        if op.method in ("GET", "DELETE"):
            params += [
                {"name": k, "in": "query", "required": k in required, "schema": v}
                for k, v in fields.items()
            ]
        else:
            body = {**schema, "properties": fields}
            body["required"] = [r for r in schema.get("required", []) if r in fields]
            if not body["required"]:
                del body["required"]
            extra["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": body}},
            }
        extra["parameters"] = params
        extra["x-modelyard-permission"] = op.permission
        if op.audit:
            extra["x-modelyard-audit-action"] = op.audit
        return extra

    def install(self, app: FastAPI) -> None:
        """Make ``app.openapi()`` include the request schemas (built once, then cached)."""
        build: Callable[[], dict[str, Any]] = app.openapi

        def openapi() -> dict[str, Any]:
            if app.openapi_schema is None:
                document = build()
                document.setdefault("components", {}).setdefault("schemas", {}).update(self.schemas)
                app.openapi_schema = document
            return app.openapi_schema

        app.openapi = openapi  # type: ignore[method-assign]
