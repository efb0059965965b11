"""Predictions to JSON: arrays, pandas Series and DataFrames, lists; NaN and infinities
become null (JSON has no such numbers: ``Infinity`` in an answer breaks its clients).

A DataFrame becomes a list of records (as MLflow answers); everything row-shaped becomes a
list with one entry per input row, so a batch's predictions can be split per request.
"""

from __future__ import annotations

import json
import math
from typing import Any


class RowMismatch(ValueError):
    """The model answered a number of predictions that is not the number of input rows."""


def to_jsonable(predictions: Any) -> Any:
    """``predictions`` as plain lists, dicts, numbers and strings (NaN, infinities and NaT
    as None)."""
    import numpy as np
    import pandas as pd

    if isinstance(predictions, pd.DataFrame):
        frame = predictions.astype(object).where(predictions.notna(), None)
        return [_clean(r) for r in frame.to_dict(orient="records")]
    if isinstance(predictions, pd.Series | pd.Index):
        return _array(predictions.to_numpy())
    if isinstance(predictions, np.ndarray):
        return _array(predictions)
    return _clean(predictions)


def _array(array: Any) -> Any:
    import numpy as np

    kind = array.dtype.kind
    if kind in "biu":
        return array.tolist()
    if kind == "f":
        values = array.tolist()
        return values if np.isfinite(array).all() else _clean(values)
    if kind == "M":
        text: Any = np.where(np.isnat(array), None, np.datetime_as_string(array))
        return text.tolist()
    return _clean(array.tolist())


def _clean(value: Any) -> Any:
    """Recursively: NaN and infinities to None, NumPy scalars and arrays to Python,
    timestamps to ISO text."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str | int | bool) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if hasattr(value, "tolist"):
        return _clean(value.tolist())
    if hasattr(value, "isoformat"):
        return value.isoformat()
    # Anything else (a timedelta, a custom object) as its text rather than a failed answer.
    return str(value)


def split_rows(predictions: list[Any], sizes: list[int]) -> list[list[Any]]:
    """The predictions of each request of a batch, by the requests' row counts."""
    if len(predictions) != sum(sizes):
        raise RowMismatch(
            f"the model answered {len(predictions)} predictions for {sum(sizes)} rows"
        )
    parts, start = [], 0
    for size in sizes:
        parts.append(predictions[start : start + size])
        start += size
    return parts


def encode(predictions: Any) -> bytes:
    """The response body ``{"predictions": ...}``."""
    return json.dumps({"predictions": predictions}, separators=(",", ":")).encode()
