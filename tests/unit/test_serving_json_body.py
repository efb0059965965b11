"""The scoring server's JSON reader: what it refuses, where it says the value is, and that
everything else reads exactly as ``json.loads`` reads it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelyard.errors import InvalidInput
from modelyard.serving.json_body import MAX_DEPTH, RefusedValue, load_json, render_path


def nested(depth: int, inner: str = "1") -> bytes:
    return ("[" * depth + inner + "]" * depth).encode()


def test_nesting_up_to_the_limit_reads_and_one_more_level_is_refused() -> None:
    assert load_json(nested(MAX_DEPTH)) == json.loads(nested(MAX_DEPTH))
    with pytest.raises(RefusedValue, match=f"more than {MAX_DEPTH} levels") as refused:
        load_json(nested(MAX_DEPTH + 1))
    assert refused.value.path == (0,) * MAX_DEPTH
    assert refused.value.details == {"path": "[0][0][0][0][0][0]..."}


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 5_000, 200_000])
def test_the_path_is_the_same_whether_json_or_the_check_finds_the_depth(depth: int) -> None:
    body = b'{"x": [1, {"k\\"]": ' + nested(depth) + b"}]}"
    with pytest.raises(RefusedValue) as refused:
        load_json(body)
    assert refused.value.path[:4] == ("x", 1, 'k"]', 0)
    assert len(refused.value.path) == MAX_DEPTH


@pytest.mark.parametrize(
    ("body", "path", "match"),
    [
        (b"[1, 2, 1e400]", (2,), "64-bit float"),
        (b'{"a": [-Infinity]}', ("a", 0), "64-bit float"),
        (b"1e999", (), "64-bit float"),
        (b'[{"a": 9223372036854775808}]', (0, "a"), "64-bit integer"),
        (b'[{"a": -9223372036854775809, "b": "x"}]', (0, "a"), "64-bit integer"),
        (b'[0, {"a": [1, ' + b"7" * 5000 + b"]}]", (1, "a", 1), "64-bit integer"),
    ],
)
def test_numbers_out_of_range_are_refused_with_their_path(
    body: bytes, path: tuple[Any, ...], match: str
) -> None:
    with pytest.raises(RefusedValue, match=match) as refused:
        load_json(body)
    assert refused.value.path == path
    assert refused.value.http_status == 400


def test_the_edges_of_the_ranges_and_nan_are_accepted() -> None:
    value = load_json(b"[9223372036854775807, -9223372036854775808, 1.7976931348623157e308, NaN]")
    assert value[:3] == [2**63 - 1, -(2**63), 1.7976931348623157e308]


def test_a_bytearray_is_released_once_read() -> None:
    body = bytearray(b'{"a": [1, 2]}')
    assert load_json(body) == {"a": [1, 2]}
    assert body == bytearray()


def test_what_is_not_json_says_so() -> None:
    with pytest.raises(InvalidInput, match="not valid JSON"):
        load_json(b"[1,")
    with pytest.raises(InvalidInput, match="not valid JSON"):
        load_json(b'["\xff"]')


def test_render_path() -> None:
    assert render_path(()) == "$"
    assert render_path((3, "a")) == '[3]["a"]'


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=30,
)


@given(JSON_VALUES)
def test_values_within_the_limits_read_as_json_reads_them(value: Any) -> None:
    body = json.dumps(value).encode()
    assert load_json(bytearray(body)) == json.loads(body)
