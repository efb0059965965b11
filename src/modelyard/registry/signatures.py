"""Model signatures: what a model expects as input, inferred from a sample, checked on predict.

A signature is a JSON-able dict, stored on the model version:

- a table (pandas DataFrame or a list of records):
  ``{"type": "dataframe", "columns": [{"name": "age", "type": "integer", "dtype": "int64"}]}``
- an array: ``{"type": "ndarray", "dtype": "float64", "kind": "float", "shape": [-1, 4]}``
  (``-1`` is the batch dimension).

Column types are ``boolean``, ``integer``, ``float``, ``string``, ``datetime`` or
``object``. Checking coerces only where nothing is lost (integer to float); anything else
that does not fit is an ``InvalidInput`` naming the column.
"""

from __future__ import annotations

import numbers
import warnings
from typing import TYPE_CHECKING, Any

from modelyard.errors import InvalidInput

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

NUMBER_TYPES = ("integer", "float")
# NumPy dtype kinds whose signature type the dtype alone decides (no values to look at).
_DTYPE_KINDS = {"i": "integer", "u": "integer", "f": "float", "b": "boolean"}


def _kind_of(dtype: Any, values: Any = None) -> str:
    """The signature type of a NumPy or pandas dtype (``values`` refine an object dtype)."""
    import pandas as pd

    api = pd.api.types
    if api.is_bool_dtype(dtype):
        return "boolean"
    if api.is_integer_dtype(dtype):
        return "integer"
    if api.is_float_dtype(dtype):
        return "float"
    if api.is_datetime64_any_dtype(dtype):
        return "datetime"
    if api.is_string_dtype(dtype) and values is not None:
        present = [v for v in values if v is not None and v == v]
        if present and all(isinstance(v, str) for v in present):
            return "string"
    elif api.is_string_dtype(dtype):
        return "string"
    return "object"


def _records_frame(records: list[Any]) -> pd.DataFrame:
    import pandas as pd

    if not all(isinstance(r, dict) for r in records):
        raise InvalidInput("a list sample must be a list of records (dicts of column -> value)")
    return pd.DataFrame.from_records(records)


def infer_signature(sample: Any) -> dict[str, Any]:
    """The signature of a pandas DataFrame, a NumPy array or a list of records (dicts)."""
    import numpy as np
    import pandas as pd

    if isinstance(sample, list):
        sample = _records_frame(sample)
    if isinstance(sample, pd.DataFrame):
        columns = []
        for name in sample.columns:
            if not isinstance(name, str):
                raise InvalidInput(f"column names must be strings; got {name!r}")
            series = sample[name]
            columns.append(
                {"name": name, "type": _kind_of(series.dtype, series), "dtype": str(series.dtype)}
            )
        return {"type": "dataframe", "columns": columns}
    if isinstance(sample, np.ndarray):
        if sample.ndim == 0:
            raise InvalidInput("an array sample needs at least one dimension (the batch)")
        return {
            "type": "ndarray",
            "dtype": str(sample.dtype),
            "kind": _kind_of(sample.dtype, sample.ravel() if sample.dtype == object else None),
            "shape": [-1, *sample.shape[1:]],
        }
    raise InvalidInput(
        f"cannot infer a signature from a {type(sample).__qualname__}: pass a pandas "
        "DataFrame, a NumPy array or a list of records"
    )


def _coerce_column(series: pd.Series[Any], expected: str, name: str) -> pd.Series[Any]:
    got = _kind_of(series.dtype, series)
    if got == expected or expected == "object":
        return series
    if expected == "float" and got == "integer":
        return series.astype("float64")
    if expected in NUMBER_TYPES and got == "object":
        present = [v for v in series if v is not None]
        if expected == "integer" and len(present) < len(series):
            raise InvalidInput(
                f"column '{name}' should be integer but has missing values (null); send a "
                "number in every row",
                details={"column": name, "expected": expected, "got": "null"},
            )
        real = all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in present)
        if real and (expected == "float" or all(isinstance(v, numbers.Integral) for v in present)):
            return series.astype("float64" if expected == "float" else "int64")
    raise InvalidInput(
        f"column '{name}' should be {expected} but is {got}",
        details={"column": name, "expected": expected, "got": got},
    )


def _check_frame(signature: dict[str, Any], data: Any) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    columns: list[dict[str, Any]] = signature["columns"]
    names = [c["name"] for c in columns]
    if isinstance(data, list):
        data = _records_frame(data)
    elif isinstance(data, np.ndarray):
        if data.ndim != 2 or data.shape[1] != len(names):
            raise InvalidInput(
                f"an array input needs shape (n, {len(names)}) for columns {names}; "
                f"got {list(data.shape)}"
            )
        data = pd.DataFrame(data, columns=names)
    if not isinstance(data, pd.DataFrame):
        raise InvalidInput(
            f"input is a {type(data).__qualname__}: pass a DataFrame, an array or records"
        )
    missing = [n for n in names if n not in data.columns]
    if missing:
        raise InvalidInput(
            f"input is missing column(s) {', '.join(repr(n) for n in missing)}",
            details={"missing": missing},
        )
    extra = [str(c) for c in data.columns if c not in names]
    if extra:
        warnings.warn(
            f"input column(s) {', '.join(repr(n) for n in extra)} are not in the model's "
            "signature; dropping them",
            UserWarning,
            stacklevel=3,
        )
    # The common case, as a server sees it on every request: every column already has its
    # type. Then nothing is copied or rebuilt.
    kinds = {c: _DTYPE_KINDS.get(getattr(d, "kind", "")) for c, d in data.dtypes.items()}
    if all(c["type"] == "object" or kinds.get(c["name"]) == c["type"] for c in columns):
        return data if list(data.columns) == names else data[names]
    checked = {c["name"]: _coerce_column(data[c["name"]], c["type"], c["name"]) for c in columns}
    return pd.DataFrame(checked, index=data.index)


def _check_array(signature: dict[str, Any], data: Any) -> np.ndarray[Any, Any]:
    import numpy as np
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        data = data.to_numpy()
    elif isinstance(data, list):
        data = np.asarray(data)
    if not isinstance(data, np.ndarray):
        raise InvalidInput(f"input is a {type(data).__qualname__}: pass a NumPy array")
    shape: list[int] = signature["shape"]
    if data.ndim != len(shape) or any(
        want not in (-1, got) for want, got in zip(shape, data.shape, strict=True)
    ):
        raise InvalidInput(
            f"input shape {list(data.shape)} does not match the signature's {shape}",
            details={"expected": shape, "got": list(data.shape)},
        )
    expected: str = signature["kind"]
    got = _kind_of(data.dtype, data.ravel() if data.dtype == object else None)
    if got == expected or expected == "object":
        return data
    if expected == "float" and got == "integer":
        return data.astype(signature["dtype"])
    raise InvalidInput(
        f"array values should be {expected} but are {got}",
        details={"expected": expected, "got": got},
    )


def check_input(signature: dict[str, Any], data: Any) -> Any:
    """Check ``data`` against ``signature``; return it as the DataFrame or array to predict on.

    A missing column or a value of the wrong type is an ``InvalidInput`` naming the column;
    columns the signature does not name are dropped with a warning.
    """
    kind = signature.get("type")
    if kind == "dataframe":
        return _check_frame(signature, data)
    if kind == "ndarray":
        return _check_array(signature, data)
    raise InvalidInput(f"unknown signature type {kind!r}: expected 'dataframe' or 'ndarray'")
