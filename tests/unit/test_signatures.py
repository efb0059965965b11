"""Signatures: inferred from a sample, and every rule ``check_input`` applies on predict."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelyard.errors import InvalidInput
from modelyard.registry.signatures import check_input, infer_signature


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": [30, 41],
            "income": [1.5, 2.5],
            "member": [True, False],
            "city": ["Oslo", "Lima"],
            "joined": pd.to_datetime(["2024-01-01", "2025-02-03"]),
        }
    )


def _types(signature: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["type"] for c in signature["columns"]}


def test_infers_a_dataframe_signature(frame: pd.DataFrame) -> None:
    signature = infer_signature(frame)
    assert signature["type"] == "dataframe"
    assert _types(signature) == {
        "age": "integer",
        "income": "float",
        "member": "boolean",
        "city": "string",
        "joined": "datetime",
    }
    assert signature["columns"][0]["dtype"] == "int64"


def test_infers_from_records_like_a_dataframe() -> None:
    signature = infer_signature([{"a": 1, "b": "x"}, {"a": 2, "b": "y"}])
    assert _types(signature) == {"a": "integer", "b": "string"}


def test_infers_an_array_signature_with_a_batch_dimension() -> None:
    signature = infer_signature(np.zeros((10, 4), dtype=np.float32))
    assert signature == {"type": "ndarray", "dtype": "float32", "kind": "float", "shape": [-1, 4]}


@pytest.mark.parametrize("sample", [42, "text", np.float64(1.0), [1, 2], np.array(3.0)])
def test_refuses_samples_it_cannot_describe(sample: Any) -> None:
    with pytest.raises(InvalidInput):
        infer_signature(sample)


def test_refuses_non_string_column_names() -> None:
    with pytest.raises(InvalidInput, match="column names"):
        infer_signature(pd.DataFrame({0: [1]}))


def test_accepts_matching_data_in_signature_order(frame: pd.DataFrame) -> None:
    checked = check_input(infer_signature(frame), frame[list(reversed(frame.columns))])
    assert list(checked.columns) == list(frame.columns)
    pd.testing.assert_frame_equal(checked, frame)


def test_missing_column_is_named(frame: pd.DataFrame) -> None:
    with pytest.raises(InvalidInput, match="'income'") as info:
        check_input(infer_signature(frame), frame.drop(columns=["income"]))
    assert info.value.details == {"missing": ["income"]}


def test_string_where_a_number_is_expected_is_named(frame: pd.DataFrame) -> None:
    bad = frame.assign(income=["a", "b"])
    with pytest.raises(InvalidInput, match="column 'income' should be float but is string"):
        check_input(infer_signature(frame), bad)


def test_integers_become_floats(frame: pd.DataFrame) -> None:
    checked = check_input(infer_signature(frame), frame.assign(income=[1, 2]))
    assert checked["income"].dtype == np.float64


def test_floats_do_not_become_integers(frame: pd.DataFrame) -> None:
    with pytest.raises(InvalidInput, match="column 'age' should be integer but is float"):
        check_input(infer_signature(frame), frame.assign(age=[1.5, 2.0]))


def test_bool_only_where_bool_is_expected(frame: pd.DataFrame) -> None:
    signature = infer_signature(frame)
    with pytest.raises(InvalidInput, match="column 'income' should be float but is boolean"):
        check_input(signature, frame.assign(income=[True, False]))
    with pytest.raises(InvalidInput, match="column 'member' should be boolean but is integer"):
        check_input(signature, frame.assign(member=[1, 0]))


def test_extra_columns_are_dropped_with_a_warning(frame: pd.DataFrame) -> None:
    with pytest.warns(UserWarning, match="'note'"):
        checked = check_input(infer_signature(frame), frame.assign(note=["x", "y"]))
    assert "note" not in checked.columns


def test_records_are_checked_like_a_frame() -> None:
    signature = infer_signature(pd.DataFrame({"x": [1.0], "y": [2.0]}))
    checked = check_input(signature, [{"x": 1, "y": 2.5}])
    assert checked.to_dict("records") == [{"x": 1.0, "y": 2.5}]
    with pytest.raises(InvalidInput, match="'y'"):
        check_input(signature, [{"x": 1}])
    with pytest.raises(InvalidInput, match="column 'y'"):
        check_input(signature, [{"x": 1, "y": "two"}])
    with pytest.raises(InvalidInput, match="records"):
        check_input(signature, [1, 2])


def test_object_columns_of_numbers_are_coerced() -> None:
    signature = infer_signature(pd.DataFrame({"n": [1]}))
    checked = check_input(signature, pd.DataFrame({"n": pd.Series([1, 2], dtype=object)}))
    assert checked["n"].dtype == np.int64


def test_an_array_can_feed_a_frame_signature() -> None:
    signature = infer_signature(pd.DataFrame({"x": [1.0], "y": [2.0]}))
    checked = check_input(signature, np.array([[1.0, 2.0]]))
    assert list(checked.columns) == ["x", "y"]
    with pytest.raises(InvalidInput, match=r"shape \(n, 2\)"):
        check_input(signature, np.array([[1.0, 2.0, 3.0]]))


def test_frame_signature_refuses_other_inputs() -> None:
    signature = infer_signature(pd.DataFrame({"x": [1.0]}))
    with pytest.raises(InvalidInput, match="input is a str"):
        check_input(signature, "x")


def test_array_checks_shape_and_kind() -> None:
    signature = infer_signature(np.zeros((3, 2)))
    assert check_input(signature, np.ones((5, 2))).shape == (5, 2)
    assert check_input(signature, np.ones((1, 2), dtype=np.int64)).dtype == np.float64
    assert check_input(signature, [[1.0, 2.0]]).shape == (1, 2)
    assert check_input(signature, pd.DataFrame({"a": [1.0], "b": [2.0]})).shape == (1, 2)
    with pytest.raises(InvalidInput, match="shape"):
        check_input(signature, np.ones((5, 3)))
    with pytest.raises(InvalidInput, match="shape"):
        check_input(signature, np.ones(5))
    with pytest.raises(InvalidInput, match="should be float but are string"):
        check_input(signature, np.array([["a", "b"]], dtype=object))
    with pytest.raises(InvalidInput, match="NumPy array"):
        check_input(signature, "x")


def test_unknown_signature_type_is_refused() -> None:
    with pytest.raises(InvalidInput, match="unknown signature type"):
        check_input({"type": "tensor"}, np.ones(1))


def test_a_null_in_an_integer_column_is_named_not_a_crash() -> None:
    signature = infer_signature(pd.DataFrame({"n": [1, 2], "x": [0.5, 1.5]}))
    # pandas reads [null, 2] as floats; a column of nulls only stays objects.
    with pytest.raises(InvalidInput, match="column 'n' should be integer but is float"):
        check_input(signature, [{"n": None, "x": 1.0}, {"n": 2, "x": 2.0}])
    with pytest.raises(InvalidInput, match="column 'n' should be integer but has missing"):
        check_input(signature, pd.DataFrame({"n": [None, 2], "x": [1.0, 2.0]}, dtype=object))
    # In a float column a null is a NaN, as pandas reads it.
    checked = check_input(signature, [{"n": 1, "x": None}])
    assert np.isnan(checked["x"].iloc[0])


def test_a_frame_that_already_fits_is_passed_through_uncopied() -> None:
    frame = pd.DataFrame({"n": [1, 2], "x": [0.5, 1.5]})
    signature = infer_signature(frame)
    assert check_input(signature, frame) is frame
    reordered = frame[["x", "n"]]
    assert list(check_input(signature, reordered).columns) == ["n", "x"]
