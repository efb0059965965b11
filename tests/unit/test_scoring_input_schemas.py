"""The request schemas follow the signature: what they call valid is what the server reads."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from modelyard.serving.input_schemas import json_body_schema

TABLE = {
    "type": "dataframe",
    "columns": [
        {"name": "age", "type": "integer", "dtype": "int64"},
        {"name": "score", "type": "float", "dtype": "float64"},
        {"name": "plan", "type": "string", "dtype": "object"},
        {"name": "active", "type": "boolean", "dtype": "bool"},
    ],
}
ARRAY = {"type": "ndarray", "dtype": "float64", "kind": "float", "shape": [-1, 2]}


def _valid(signature: dict[str, Any] | None, body: Any) -> bool:
    return jsonschema.Draft202012Validator(json_body_schema(signature)).is_valid(body)


@pytest.mark.parametrize(
    "body",
    [
        [{"age": 3, "score": 0.5, "plan": "pro", "active": True}],
        [{"age": 3, "score": None, "plan": None, "active": False, "extra": [1]}],
        [[3, 0.5, "pro", True]],
        {"columns": ["plan", "age", "score", "active", "x"], "data": [[1, 2, 3, 4, 5]]},
        {"data": [[3, 0.5, "pro", True]]},
        {"instances": [[3, 0.5, "pro", True]]},
        {"inputs": {"age": [3], "score": [0.5], "plan": ["pro"], "active": [True]}},
        {"dataframe_records": [{"age": 3, "score": 1, "plan": "a", "active": True}]},
        {"dataframe_split": {"columns": ["age", "score", "plan", "active"], "data": [[1]]}},
    ],
)
def test_a_table_signature_takes_every_shape_with_its_columns(body: Any) -> None:
    assert _valid(TABLE, body)


@pytest.mark.parametrize(
    "body",
    [
        [{"age": 3, "score": 0.5, "plan": "pro"}],  # a column missing
        [{"age": 3.5, "score": 0.5, "plan": "pro", "active": True}],  # not an integer
        [{"age": None, "score": 0.5, "plan": "pro", "active": True}],  # null integer
        [{"age": 3, "score": "x", "plan": "pro", "active": True}],
        [{"age": 3, "score": 0.5, "plan": "pro", "active": "yes"}],
        [{"age": 2**63, "score": 0.5, "plan": "pro", "active": True}],  # beyond int64
        [[3, 0.5, "pro"]],  # a short row
        [],
        {"columns": ["age"], "data": [[3]]},  # columns missing from the split
        {"instances": [], "inputs": []},
        {"records": []},
        "a,b\n1,2",
    ],
)
def test_a_table_signature_refuses_what_the_server_refuses(body: Any) -> None:
    assert not _valid(TABLE, body)


def test_an_array_signature_takes_rows_of_its_shape() -> None:
    assert _valid(ARRAY, [[1.0, 2]])
    assert _valid(ARRAY, {"instances": [[1.0, 2.0], [3.0, 4.0]]})
    assert not _valid(ARRAY, [[1.0, 2.0, 3.0]])
    assert not _valid(ARRAY, [[1.0, None]])  # a typed array holds no null


def test_without_a_signature_any_records_or_rows_are_taken() -> None:
    assert _valid(None, [{"anything": [1, {"nested": True}]}])
    assert _valid(None, [[1, "a"], [2]])
    assert _valid(None, [1, 2, 3])
    assert not _valid(None, {"unknown": 1})
    assert not _valid(None, [])
