"""Request bodies to model inputs: every accepted format, and what each bad variant answers."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelyard.errors import InvalidInput
from modelyard.serving.inputs import UnsupportedMediaType, media_type, parse_body

TABLE = {
    "type": "dataframe",
    "columns": [
        {"name": "a", "type": "integer", "dtype": "int64"},
        {"name": "b", "type": "float", "dtype": "float64"},
    ],
}
ARRAY = {"type": "ndarray", "dtype": "float64", "kind": "float", "shape": [-1, 2]}
FRAME = pd.DataFrame({"a": [1, 3], "b": [2.0, 4.0]})
ROWS = [[1, 2.0], [3, 4.0]]
RECORDS = [{"a": 1, "b": 2.0}, {"a": 3, "b": 4.0}]


def parse(payload: Any, signature: dict[str, Any] | None = TABLE) -> Any:
    body = json.dumps(payload).encode()
    parsed = parse_body(body, "application/json; charset=utf-8", signature)
    return parsed


@pytest.mark.parametrize(
    "payload",
    [
        RECORDS,
        {"columns": ["a", "b"], "data": ROWS},
        {"columns": ["a", "b"], "data": ROWS, "index": [0, 1]},
        {"dataframe_records": RECORDS},
        {"dataframe_split": {"columns": ["a", "b"], "data": ROWS}},
        {"instances": RECORDS},
        {"instances": ROWS},
        {"inputs": ROWS},
        {"inputs": {"a": [1, 3], "b": [2.0, 4.0]}},
        ROWS,
    ],
)
def test_json_formats_give_the_table_the_signature_names(payload: Any) -> None:
    parsed = parse(payload)
    assert parsed.rows == 2
    pd.testing.assert_frame_equal(parsed.data, FRAME, check_dtype=False)


@pytest.mark.parametrize(
    "payload",
    [
        RECORDS,
        {"columns": ["a", "b"], "data": ROWS},
        {"instances": ROWS},
        {"inputs": {"a": [1, 3], "b": [2.0, 4.0]}},
    ],
)
def test_an_array_signature_gets_an_array(payload: Any) -> None:
    parsed = parse(payload, ARRAY)
    assert isinstance(parsed.data, np.ndarray)
    assert parsed.data.tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_without_a_signature_records_are_a_table_and_lists_an_array() -> None:
    assert isinstance(parse(RECORDS, None).data, pd.DataFrame)
    assert isinstance(parse({"columns": ["a", "b"], "data": ROWS}, None).data, pd.DataFrame)
    instances = parse({"instances": ROWS}, None)
    assert isinstance(instances.data, np.ndarray)
    assert instances.data.shape == (2, 2)
    flat = parse({"instances": [1.0, 2.0, 3.0]}, None)
    assert flat.rows == 3
    assert isinstance(parse({"dataframe_split": {"data": ROWS}}, None).data, np.ndarray)


def test_a_table_signature_with_other_widths_keeps_the_array() -> None:
    assert isinstance(parse({"instances": [[1, 2, 3]]}).data, np.ndarray)


def test_columns_the_signature_does_not_name_are_dropped() -> None:
    parsed = parse([{"a": 1, "b": 2.0, "extra": "x"}])
    assert list(parsed.data.columns) == ["a", "b"]


def test_csv() -> None:
    parsed = parse_body(b"a,b\n1,2.0\n3,4.0\n", "text/csv", TABLE)
    pd.testing.assert_frame_equal(parsed.data, FRAME)
    as_array = parse_body(b"a,b\n1,2.0\n", "text/csv; charset=utf-8", ARRAY)
    assert as_array.data.tolist() == [[1.0, 2.0]]


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"", "empty"),
        (b"  \n", "empty"),
        (b"[{", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"42", "JSON int"),
        (b"[]", "no rows"),
        (b'{"instances": []}', "no rows"),
        (b'[{"a": 1}, [1, 2]]', "mixes records"),
        (b"[[1, 2], [3]]", "rectangular"),
        (b'{"unknown": 1}', r"unknown key\(s\) \['unknown'\]"),
        (b'{"instances": [[1]], "inputs": [[1]]}', "keys"),
        (b'{"instances": [[1]], "params": {}}', r"unknown key\(s\) \['params'\]"),
        (b"{}", "keys"),
        (b'{"instances": 3}', "must be a list"),
        (b'{"dataframe_records": [1, 2]}', "list of records"),
        (b'{"dataframe_split": [1]}', "dataframe_split"),
        (b'{"dataframe_split": {"rows": []}}', "dataframe_split"),
        (b'{"columns": ["a"], "data": [1, 2]}', "list of rows"),
        (b'{"columns": ["a"], "data": []}', "no rows"),
        (b'{"columns": "a", "data": [[1]]}', "column names"),
        (b'{"columns": ["a", "b"], "data": [[1, 2], [3]]}', "row 1 has 1 values for 2 columns"),
        (b'{"inputs": {"a": 1}}', "lists of values"),
        (b'{"inputs": {}}', "lists of values"),
        (b'{"inputs": {"a": [1, 2], "b": [1]}}', "same number"),
    ],
)
def test_malformed_json_is_invalid_input(body: bytes, match: str) -> None:
    with pytest.raises(InvalidInput, match=match) as caught:
        parse_body(body, "application/json", TABLE)
    assert caught.value.http_status == 400


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"", "empty"),
        (b"a,b\n", "no rows"),
        (b"a,b\n1,2\n3,4,5,6\n", r"row 3 \(the header is row 1\) has 4 fields"),
        (b"a,b\n1\n3,4\n", r"row 2 \(the header is row 1\) has 1 fields"),
        (b'a,b\n"1,2\n', "fields"),
    ],
)
def test_bad_csv_is_invalid_input(body: bytes, match: str) -> None:
    with pytest.raises(InvalidInput, match=match):
        parse_body(body, "text/csv", TABLE)


def test_other_content_types_are_unsupported() -> None:
    with pytest.raises(UnsupportedMediaType) as caught:
        parse_body(b"a=1", "application/x-www-form-urlencoded", TABLE)
    assert caught.value.http_status == 415
    assert caught.value.details == {"content_type": "application/x-www-form-urlencoded"}


def test_media_type() -> None:
    assert media_type(None) == "application/json"
    assert media_type("Text/CSV; charset=utf-8") == "text/csv"


@pytest.mark.parametrize(
    "payload",
    [RECORDS, {"columns": ["a", "b"], "data": ROWS}, ROWS, {"dataframe_records": RECORDS}],
)
def test_rows_of_numbers_take_the_fast_path_already_checked(payload: Any) -> None:
    from modelyard.registry.signatures import check_input

    parsed = parse(payload)
    assert parsed.checked
    # Exactly what the signature check would have produced: names, order and dtypes.
    pd.testing.assert_frame_equal(parsed.data, check_input(TABLE, FRAME))
    assert str(parsed.data["a"].dtype) == "int64"
    floats = {"type": "dataframe", "columns": [{"name": "b", "type": "float"}]}
    assert parse([{"b": 1}, {"b": 2.5}], floats).checked


@pytest.mark.parametrize(
    "payload",
    [
        [{"a": 1.5, "b": 2.0}],  # not an integer: the check names column a
        [{"a": None, "b": 2.0}],  # a null in an integer column
        [{"a": True, "b": 2.0}],  # a bool is not a number here
        [{"a": "1", "b": 2.0}],  # a string
        [{"b": 2.0}],  # a missing column
        [{"a": 1, "b": 2.0, "c": 3}],  # extra columns are fine: the fast path ignores them
        {"columns": ["b", "a"], "data": [[2.0, 1]]},  # another order
    ],
)
def test_anything_unusual_takes_the_general_path(payload: Any) -> None:
    from modelyard.registry.signatures import check_input

    parsed = parse(payload)
    if isinstance(payload, list) and "c" in payload[0]:
        assert parsed.checked
        assert list(parsed.data.columns) == ["a", "b"]
        return
    assert not parsed.checked
    if isinstance(payload, dict):
        assert list(check_input(TABLE, parsed.data).columns) == ["a", "b"]
        return
    with pytest.raises(InvalidInput):
        check_input(TABLE, parsed.data)


def test_no_fast_path_without_a_numeric_table_signature() -> None:
    assert not parse(RECORDS, None).checked
    assert not parse(ROWS, ARRAY).checked
    text = {"type": "dataframe", "columns": [{"name": "a", "type": "string"}]}
    assert not parse([{"a": "x"}], text).checked


def test_csv_reads_the_signatures_strings_as_text_and_leaves_bad_floats_to_its_check() -> None:
    signature = {
        "type": "dataframe",
        "columns": [
            {"name": "code", "type": "string", "dtype": "object"},
            {"name": "x", "type": "float", "dtype": "float64"},
        ],
    }
    parsed = parse_body(b"code,x\n007,1\n2020-01-01,2.5\n", "text/csv", signature)
    assert parsed.data["code"].tolist() == ["007", "2020-01-01"]
    assert parsed.data["x"].tolist() == [1.0, 2.5]
    untyped = parse_body(b"code,x\n007,high\n", "text/csv", signature)
    assert untyped.data["x"].tolist() == ["high"]  # the signature check names 'x' next
