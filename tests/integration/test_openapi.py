"""The REST server's OpenAPI document is valid and complete, and the server keeps to it.

The document must validate as OpenAPI, every ``$ref`` must resolve, every field of every
request must state its bounds (a string its length, an integer its range, a list or a
mapping its size), and every status a route answers must be declared with the error body.
Then schemathesis sends every operation schema-valid and schema-breaking requests (bounded
and derandomized, so a run is repeatable), with an admin's token to a server with auth on:
no request may get a 5xx, a response the document does not describe, or a 2xx for data the
document says is invalid.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from openapi_spec_validator import validate
from schemathesis import GenerationMode

from modelyard.client.client import Client
from modelyard.config import Settings
from modelyard.core.backend import open_local_backend
from modelyard.server.app import create_app
from tests.integration.keeps_to_its_document import fuzz

pytestmark = pytest.mark.slow

EXAMPLES = 8


def _app() -> tuple[Any, dict[str, str]]:
    """A server with auth on, on a fresh store holding what the document's examples name,
    and the headers of its admin's requests."""
    root = Path(tempfile.mkdtemp(prefix="modelyard-openapi-"))
    store = Settings(uri=f"sqlite:///{root / 'm.db'}", artifact_root=str(root / "art"))
    backend = open_local_backend(store)
    client = Client(settings=store, backend=backend)
    weights = root / "weights.txt"
    weights.write_text("w")
    for _ in range(2):
        client.registry.register("churn-model", str(weights), allow_outside_cwd=True)
    client.registry.set_alias("churn-model", "champion", 1)
    client.get_or_create_experiment("churn")
    client.serving.create_endpoint("churn")
    client.serving.create_deployment("churn", "blue", "models:/churn-model/1")
    client.accounts.create_user("fuzzer", admin=True)
    token = client.accounts.create_token(user="fuzzer", expires_in_days=None).token
    return create_app(backend, store, auth=True), {"Authorization": f"Bearer {token}"}


APP, HEADERS = _app()
SCHEMA = schemathesis.openapi.from_asgi("/openapi.json", APP)
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]
# Schema-breaking requests need something to break: a parameter or a body.
WITH_INPUT = {
    f"{method.upper()} {path}"
    for path, methods in APP.openapi()["paths"].items()
    for method, spec in methods.items()
    if spec.get("parameters") or "requestBody" in spec
}
CASES = [(op, GenerationMode.POSITIVE) for op in OPERATIONS] + [
    (op, GenerationMode.NEGATIVE) for op in OPERATIONS if op.label in WITH_INPUT
]


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return dict(APP.openapi())


def test_the_document_is_valid_openapi(document: dict[str, Any]) -> None:
    validate(document)


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    missing = sorted({r for r in _refs(document) if r.split("/")[-1] not in schemas})
    assert missing == []


def _unbounded(schema: dict[str, Any], where: str, schemas: dict[str, Any]) -> Iterator[str]:
    """Every place in ``schema`` that accepts values without a stated bound."""
    if "$ref" in schema:
        name = schema["$ref"].split("/")[-1]
        yield from _unbounded(schemas[name], f"{where}<{name}>", schemas)
        return
    for key in ("anyOf", "oneOf", "allOf"):
        for branch in schema.get(key, []):
            yield from _unbounded(branch, where, schemas)
    kind = schema.get("type")
    if kind == "string" and "enum" not in schema and "maxLength" not in schema:
        yield f"{where}: a string without maxLength"
    if kind == "integer" and ("minimum" not in schema or "maximum" not in schema):
        yield f"{where}: an integer without minimum and maximum"
    if kind == "array":
        if "maxItems" not in schema:
            yield f"{where}: an array without maxItems"
        yield from _unbounded(schema.get("items", {}), f"{where}[]", schemas)
    if kind == "object":
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            if "maxProperties" not in schema:
                yield f"{where}: a mapping without maxProperties"
            yield from _unbounded(extra, f"{where}.*", schemas)
            if "propertyNames" in schema:
                yield from _unbounded(schema["propertyNames"], f"{where}.<key>", schemas)
        for name, prop in schema.get("properties", {}).items():
            yield from _unbounded(prop, f"{where}.{name}", schemas)


def test_every_request_field_states_its_bounds(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    found = []
    for path, methods in document["paths"].items():
        for method, spec in methods.items():
            where = f"{method.upper()} {path}"
            for param in spec.get("parameters", []):
                found += _unbounded(param["schema"], f"{where} {param['name']}", schemas)
            body = spec.get("requestBody", {}).get("content", {}).get("application/json")
            if body is not None:
                found += _unbounded(body["schema"], f"{where} body", schemas)
    assert found == []


def test_every_operation_declares_its_errors_with_the_error_body(
    document: dict[str, Any],
) -> None:
    for path, methods in document["paths"].items():
        for method, spec in methods.items():
            if "x-modelyard-permission" not in spec:
                continue  # health routes answer 200 or 503, nothing a caller could fix
            responses = spec["responses"]
            assert "400" in responses, f"{method.upper()} {path}"
            body = responses["400"]["content"]["application/json"]["schema"]
            assert body == {"$ref": "#/components/schemas/ErrorBody"}


@pytest.mark.parametrize(
    ("operation", "mode"), CASES, ids=[f"{mode.value}-{op.label}" for op, mode in CASES]
)
def test_the_server_keeps_to_its_document(operation: Any, mode: GenerationMode) -> None:
    fuzz(operation, mode, EXAMPLES, HEADERS)()
