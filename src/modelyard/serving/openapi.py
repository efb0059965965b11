"""The scoring server's OpenAPI document (``GET /openapi.json``), built from what it serves.

The request bodies come from the model's signature (``input_schemas.py``), the header names
from ``headers.py``, the request id's bounds from the inference log that checks them, the
body limit from the app's own, and the error body from the model the REST server documents
too. Every status the app answers is declared with the body it answers it with; a test runs
schemathesis against the app to hold it to that (``tests/integration/test_scoring_openapi.py``).
"""

from __future__ import annotations

from typing import Any

from modelyard import __version__
from modelyard.core.error_body import ErrorBody
from modelyard.errors import (
    BackendUnavailable,
    InvalidInput,
    ModelyardError,
    NotFound,
    PayloadTooLarge,
    UnprocessableInput,
)
from modelyard.registry.loading import INPUT_ERRORS
from modelyard.serving import headers
from modelyard.serving.inference_log import MAX_REQUEST_ID
from modelyard.serving.input_schemas import Schema, request_content
from modelyard.serving.inputs import UnsupportedMediaType
from modelyard.serving.metrics import CONTENT_TYPE

OPENAPI_VERSION = "3.1.0"
_REF = "#/components/schemas/{model}"
# What ``str.isprintable`` refuses among the characters an HTTP header can carry (Latin-1);
# JSON text may hold more that it refuses, which the server answers with a 400.
_PRINTABLE = "^[^\\x00-\\x1f\\x7f-\\xa0\\xad]*$"
_REQUEST_ID: Schema = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_REQUEST_ID,
    "pattern": _PRINTABLE,
}


def _header_name(name: str) -> str:
    """``x-request-id`` -> ``X-Request-Id``: header names are case-insensitive; this is how
    the documentation spells them."""
    return "-".join(part.capitalize() for part in name.split("-"))


def _names(errors: tuple[type[Exception], ...]) -> str:
    return ", ".join(e.__name__ for e in errors[:-1]) + f" or {errors[-1].__name__}"


def _ref(name: str) -> Schema:
    return {"$ref": _REF.format(model=name)}


def _json(schema: Schema) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _error(error: type[ModelyardError], why: str, *, request_id: bool) -> dict[str, Any]:
    """A response answering the error body; ``request_id`` when it carries the header."""
    response: dict[str, Any] = {
        "description": f"`{error.code}`: {why}",
        "content": _json(_ref("ErrorBody")),
    }
    if request_id:
        response["headers"] = {_header_name(headers.REQUEST_ID): _request_id_header()}
    return response


def _request_id_header() -> dict[str, Any]:
    return {
        "description": "the client's request id, or a new one: send it with the ground truth",
        "required": True,
        "schema": {"type": "string"},
    }


def _components() -> dict[str, Any]:
    error = ErrorBody.model_json_schema(ref_template=_REF)
    schemas: dict[str, Any] = {**error.pop("$defs", {}), "ErrorBody": error}
    schemas["Predictions"] = {
        "type": "object",
        "properties": {
            "predictions": {
                "type": "array",
                "description": "one entry per input row, in order; NaN is null",
            }
        },
        "required": ["predictions"],
        "additionalProperties": False,
    }
    entry = {
        "type": "object",
        "properties": {
            "request_id": {**_REQUEST_ID, "description": "an answer's X-Request-Id"},
            "ground_truth": {"description": "any JSON value, stored as JSON text"},
        },
        "required": ["request_id", "ground_truth"],
        "additionalProperties": False,
    }
    schemas["FeedbackEntry"] = entry
    schemas["FeedbackAccepted"] = {
        "type": "object",
        "properties": {"accepted": {"type": "integer", "minimum": 1}},
        "required": ["accepted"],
        "additionalProperties": False,
    }
    return schemas


def _status(value: str) -> Schema:
    return {
        "type": "object",
        "properties": {"status": {"const": value}},
        "required": ["status"],
        "additionalProperties": False,
    }


def _invocations(signature: dict[str, Any] | None, max_request_bytes: int) -> dict[str, Any]:
    request_id = {
        "name": _header_name(headers.REQUEST_ID),
        "in": "header",
        "required": False,
        "description": "your id for the request (a new one when absent), for feedback later",
        "schema": _REQUEST_ID,
    }
    mirror = {
        "name": _header_name(headers.MIRROR),
        "in": "header",
        "required": False,
        "description": "`1` on a copy the endpoint router sent to a mirror: logged as mirrored",
        "schema": {"type": "string"},
    }
    columns = (
        ", ".join(c["name"] for c in signature["columns"])
        if signature is not None and signature.get("type") == "dataframe"
        else None
    )
    summary = "Predict on rows" + (f" with the columns {columns}" if columns else "")
    return {
        "post": {
            "summary": summary,
            "operationId": "invocations",
            "parameters": [request_id, mirror],
            "requestBody": {
                "required": True,
                "description": f"at most {max_request_bytes} bytes",
                "content": request_content(signature, max_request_bytes),
            },
            "responses": {
                "200": {
                    "description": "the predictions",
                    "headers": {_header_name(headers.REQUEST_ID): _request_id_header()},
                    "content": _json(_ref("Predictions")),
                },
                "400": _error(
                    InvalidInput,
                    "the body does not parse, has an unknown shape, or the request id is "
                    f"not 1 to {MAX_REQUEST_ID} printable characters",
                    request_id=True,
                ),
                # Refused before the app reads the request: no request id yet.
                "413": _error(
                    PayloadTooLarge, f"the body is over {max_request_bytes} bytes", request_id=False
                ),
                "415": _error(
                    UnsupportedMediaType,
                    "a content type other than JSON or CSV",
                    request_id=True,
                ),
                "422": _error(
                    UnprocessableInput,
                    "the signature refuses the input (a missing column, a wrong type), or the "
                    f"model raised {_names(INPUT_ERRORS)} on it",
                    request_id=True,
                ),
                "500": _error(
                    ModelyardError, "the model raised another error (logged)", request_id=True
                ),
                "503": _error(
                    BackendUnavailable,
                    "the model failed to load, or is still loading",
                    request_id=True,
                ),
            },
        }
    }


def _feedback(max_request_bytes: int) -> dict[str, Any]:
    entries = {"type": "array", "items": _ref("FeedbackEntry"), "minItems": 1}
    return {
        "post": {
            "summary": "Record the ground truth of earlier requests, by their request ids",
            "operationId": "feedback",
            "requestBody": {
                "required": True,
                "description": f"at most {max_request_bytes} bytes",
                "content": _json({"anyOf": [_ref("FeedbackEntry"), entries]}),
            },
            "responses": {
                "202": {
                    "description": "queued for the inference log",
                    "content": _json(_ref("FeedbackAccepted")),
                },
                "400": _error(
                    InvalidInput, "the body is not an entry or a list of them", request_id=False
                ),
                "404": _error(NotFound, "this server keeps no inference log", request_id=False),
                "413": _error(
                    PayloadTooLarge, f"the body is over {max_request_bytes} bytes", request_id=False
                ),
                "503": _error(
                    BackendUnavailable,
                    "the queue is full: `details` say how many entries were accepted",
                    request_id=False,
                ),
            },
        }
    }


def _readiness(operation_id: str, summary: str) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "operationId": operation_id,
            "responses": {
                "200": {"description": "the model is loaded", "content": _json(_status("ready"))},
                "503": _error(
                    BackendUnavailable, "loading, or failed to load (why)", request_id=False
                ),
            },
        }
    }


def scoring_document(
    signature: dict[str, Any] | None, *, model: dict[str, str], max_request_bytes: int
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of a scoring server for a model with ``signature``.

    ``model`` is the served version's labels (name, version, uri), as the metrics have them.
    """
    name = model.get("name") or "a model"
    version = f" version {model['version']}" if model.get("version") else ""
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": f"Modelyard scoring server: {name}{version}",
            "version": __version__,
            "description": (
                "Scores one model version. Every answer of /invocations carries "
                f"{_header_name(headers.REQUEST_ID)}. "
                + (
                    "The model has no signature: the body goes to it as read."
                    if signature is None
                    else ""
                )
            ).strip(),
            "x-modelyard-model": dict(model),
        },
        "paths": {
            "/invocations": _invocations(signature, max_request_bytes),
            "/feedback": _feedback(max_request_bytes),
            "/healthz": {
                "get": {
                    "summary": "Alive, also while the model loads",
                    "operationId": "healthz",
                    "responses": {
                        "200": {"description": "the process runs", "content": _json(_status("ok"))}
                    },
                }
            },
            "/readyz": _readiness("readyz", "Ready once the model is loaded"),
            "/ping": _readiness("ping", "MLflow's name for /readyz"),
            "/health": _readiness("health", "MLflow's name for /readyz"),
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "operationId": "metrics",
                    "responses": {
                        "200": {
                            "description": "the Prometheus text format",
                            "content": {CONTENT_TYPE.split(";")[0]: {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
        },
        "components": {"schemas": _components()},
    }
