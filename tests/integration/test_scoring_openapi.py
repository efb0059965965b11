"""The scoring server's OpenAPI document is valid, follows the signature, and the server
keeps to it.

Two servers: a scikit-learn model with a signature (iris, plus an integer column) and
one without. schemathesis sends every operation of each schema-valid and schema-breaking
requests (bounded and derandomized, so a run is repeatable): no request may get a 5xx, a
status the document does not declare, or a body or header that breaks it; and a request
the document calls invalid must be refused. A scoring app serves one lifespan, so each
case gets a fresh app (loading the small model takes milliseconds).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import schemathesis
from openapi_spec_validator import validate
from schemathesis import GenerationMode

from modelyard.registry.flavors import save_model
from modelyard.serving.server import build_app, plan_inference_log, plan_source
from tests.integration.keeps_to_its_document import CHECKS, fuzz
from tests.integration.scoring_app import run_app

pytestmark = [
    pytest.mark.slow,
    # The unsigned model was fitted on an array; its inputs come as frames with names.
    pytest.mark.filterwarnings("ignore:X has feature names:UserWarning"),
]

EXAMPLES = 12  # per operation and mode: the file runs in about 20 s
SIGNED, UNSIGNED = "signed", "unsigned"
INTEGER_COLUMN = "wide petals"


@cache
def _model_dir(kind: str) -> Path:
    """A small iris classifier, saved with a signature (``signed``) or without."""
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    x, y = load_iris(return_X_y=True, as_frame=True)
    x[INTEGER_COLUMN] = (x["petal width (cm)"] > 1).astype("int64")
    folder = Path(tempfile.mkdtemp(prefix=f"modelyard-scoring-openapi-{kind}-")) / "model"
    if kind == SIGNED:
        save_model(LogisticRegression(max_iter=500).fit(x, y), folder, sample=x.head())
    else:
        save_model(LogisticRegression(max_iter=500).fit(x.to_numpy(), y), folder)
    return folder


def _app(kind: str) -> Any:
    """A fresh scoring app; the signed one keeps an inference log, so /feedback is 202."""
    config = plan_source(_model_dir(kind))
    if kind == SIGNED:
        root = tempfile.mkdtemp(prefix="modelyard-scoring-openapi-log-")
        log = plan_inference_log(config.model, sample_rate=0.5, root=root)
        config = config.model_copy(update={"inference_log": log})
    return build_app(config)


def _document(kind: str) -> dict[str, Any]:
    found: dict[str, Any] = {}

    async def fetch(client: httpx.AsyncClient) -> None:
        response = await client.get("/openapi.json")
        assert response.status_code == 200
        found.update(response.json())

    run_app(_app(kind), fetch)
    return found


@pytest.fixture(scope="module")
def documents() -> dict[str, dict[str, Any]]:
    return {kind: _document(kind) for kind in (SIGNED, UNSIGNED)}


@pytest.mark.parametrize("kind", [SIGNED, UNSIGNED])
def test_the_document_is_valid_openapi_3_1(documents: dict[str, dict[str, Any]], kind: str) -> None:
    document = documents[kind]
    validate(document)
    assert document["openapi"].startswith("3.1")
    assert set(document["paths"]) == {
        "/invocations",
        "/feedback",
        "/healthz",
        "/readyz",
        "/ping",
        "/health",
        "/metrics",
    }


def test_the_request_body_follows_the_signature(documents: dict[str, dict[str, Any]]) -> None:
    body = documents[SIGNED]["paths"]["/invocations"]["post"]["requestBody"]
    assert set(body["content"]) == {"application/json", "text/csv"}
    shapes = body["content"]["application/json"]["schema"]["anyOf"]
    titles = [shape["title"] for shape in shapes]
    assert titles == [
        "records or rows",
        "split",
        "instances",
        "inputs",
        "dataframe_records",
        "dataframe_split",
    ]
    record = shapes[0]["anyOf"][0]["items"]
    assert record["required"] == [
        "sepal length (cm)",
        "sepal width (cm)",
        "petal length (cm)",
        "petal width (cm)",
        INTEGER_COLUMN,
    ]
    assert record["properties"]["sepal length (cm)"]["type"] == ["number", "null"]
    assert record["properties"][INTEGER_COLUMN]["type"] == "integer"
    row = shapes[0]["anyOf"][1]["items"]
    assert (row["minItems"], row["maxItems"]) == (5, 5)
    unsigned = documents[UNSIGNED]["paths"]["/invocations"]["post"]["requestBody"]
    record = unsigned["content"]["application/json"]["schema"]["anyOf"][0]["anyOf"][0]["items"]
    assert "required" not in record


def test_every_status_is_declared_with_the_error_body(
    documents: dict[str, dict[str, Any]],
) -> None:
    responses = documents[SIGNED]["paths"]["/invocations"]["post"]["responses"]
    assert set(responses) == {"200", "400", "413", "415", "422", "500", "503"}
    for status, response in responses.items():
        if status != "200":
            schema = response["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorBody"}, status
        # Every answer but a 413 (refused before the app reads the request) has the id.
        assert ("X-Request-Id" in response.get("headers", {})) == (status != "413"), status
    ids = documents[SIGNED]["paths"]["/invocations"]["post"]["parameters"][0]
    assert (ids["name"], ids["in"], ids["schema"]["maxLength"]) == ("X-Request-Id", "header", 200)


def _valid_bodies() -> list[tuple[Any, str]]:
    """A few iris rows in every shape the document names, as (body, media type)."""
    from sklearn.datasets import load_iris

    x = load_iris(as_frame=True).data.head(3)
    x[INTEGER_COLUMN] = (x["petal width (cm)"] > 1).astype("int64")
    records = x.to_dict(orient="records")
    rows = x.to_numpy().tolist()
    split = {"columns": list(x.columns), "data": rows}
    columns = {name: x[name].tolist() for name in x.columns}
    bodies: list[Any] = [
        records,
        rows,
        split,
        {"data": rows},
        {"instances": records},
        {"instances": rows},
        {"inputs": rows},
        {"inputs": columns},
        {"dataframe_records": records},
        {"dataframe_split": split},
    ]
    return [(body, "application/json") for body in bodies] + [(x.to_csv(index=False), "text/csv")]


@pytest.mark.parametrize("kind", [SIGNED, UNSIGNED])
def test_every_shape_the_document_names_predicts_as_it_says(
    documents: dict[str, dict[str, Any]], kind: str
) -> None:
    """Generated requests are mostly refused (random values); these are the valid ones."""
    content = documents[kind]["paths"]["/invocations"]["post"]["requestBody"]["content"]
    operation = schemathesis.openapi.from_asgi("/openapi.json", _app(kind)).find_operation_by_label(
        "POST /invocations"
    )
    assert operation is not None
    for body, media_type in _valid_bodies():
        jsonschema.validate(body, content[media_type]["schema"])
        case = operation.Case(body=body, media_type=media_type, headers={"X-Request-Id": "r-1"})
        response = case.call_and_validate(checks=CHECKS)
        assert response.status_code == 200, (body, response.text)
        assert response.json() == {"predictions": [0, 0, 0]}


def _cases() -> list[tuple[str, str, GenerationMode]]:
    cases = []
    for kind in (SIGNED, UNSIGNED):
        schema = schemathesis.openapi.from_dict(_document(kind))
        for result in schema.get_all_operations():
            operation = result.ok()
            cases.append((kind, operation.label, GenerationMode.POSITIVE))
            if operation.body or operation.headers:
                # Schema-breaking requests need something to break: a header or a body.
                cases.append((kind, operation.label, GenerationMode.NEGATIVE))
    return cases


CASES = _cases()


def _fuzz(kind: str, label: str, mode: GenerationMode) -> Callable[[], None]:
    app = _app(kind)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operation = schema.find_operation_by_label(label)
    assert operation is not None, label

    return fuzz(operation, mode, EXAMPLES)


@pytest.mark.parametrize(
    ("kind", "label", "mode"),
    CASES,
    ids=[f"{kind}-{mode.value}-{label}" for kind, label, mode in CASES],
)
def test_the_server_keeps_to_its_document(kind: str, label: str, mode: GenerationMode) -> None:
    _fuzz(kind, label, mode)()
