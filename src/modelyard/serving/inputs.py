"""Request bodies to model inputs: JSON (records, split, instances, inputs) or CSV.

The formats ``POST /invocations`` accepts::

    [{"a": 1, "b": 2}, ...]                          records
    {"columns": ["a", "b"], "data": [[1, 2], ...]}   split (pandas orient="split")
    {"instances": [[1, 2], ...]}                     rows of an array, or records
    {"inputs": [[1, 2], ...]} / {"inputs": {"a": [1, ...], "b": [2, ...]}}
    {"dataframe_records": [...]} / {"dataframe_split": {...}}   MLflow's names
    a,b\\n1,2\\n                                      text/csv

A body that does not parse, or has an unknown shape, is an ``InvalidInput`` (400). The
result is the pandas DataFrame or NumPy array the signature asks for (rows of lists become
an array unless the signature is a table); the signature check itself is the caller's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelyard.errors import InvalidInput
from modelyard.serving import csv_reader
from modelyard.serving.json_body import Path, RefusedValue, load_json

JSON_TYPES = ("application/json",)
CSV_TYPES = ("text/csv",)
_SPLIT_KEYS = {"columns", "data", "index"}
_WRAPPERS = ("dataframe_records", "dataframe_split", "instances", "inputs")
_EXACT_IN_FLOAT = 2**53
FORMATS_HINT = (
    "send a list of records, {'columns': [...], 'data': [[...]]}, {'instances': [...]}, "
    "{'inputs': ...}, {'dataframe_records': ...}, {'dataframe_split': ...} or CSV"
)


class UnsupportedMediaType(InvalidInput):
    """A body in a content type the scoring server does not read."""

    code = "unsupported_media_type"
    http_status = 415


@dataclass(frozen=True, slots=True)
class ModelInput:
    """One request's input: the DataFrame or array, and how many rows it holds."""

    data: Any
    rows: int
    # True when parsing already produced exactly the signature's columns and types, so the
    # per-request signature check (~0.1 ms) can be skipped.
    checked: bool = False


@dataclass(frozen=True, slots=True)
class _Checked:
    frame: Any


def media_type(content_type: str | None) -> str:
    """``application/json; charset=utf-8`` -> ``application/json`` (JSON when absent)."""
    if not content_type:
        return "application/json"
    return content_type.split(";", 1)[0].strip().lower()


def parse_body(
    body: bytes | bytearray, content_type: str | None, signature: dict[str, Any] | None
) -> ModelInput:
    """The model input in ``body``: a DataFrame or NumPy array, shaped for ``signature``."""
    kind = media_type(content_type)
    if kind in CSV_TYPES:
        return _sized(csv_reader.read_body(body, signature), signature)
    if kind not in JSON_TYPES:
        raise UnsupportedMediaType(
            f"content type '{kind}' is not supported: send application/json or text/csv",
            details={"content_type": kind},
        )
    if not body.strip():
        raise InvalidInput(f"the request body is empty: {FORMATS_HINT}")
    try:
        payload = load_json(body)
    except RefusedValue as exc:
        where = _row_and_column(exc.path)
        raise (exc if where is None else exc.located(where)) from None
    return _sized(_from_json(payload, signature), signature)


def _row_and_column(path: Path) -> str | None:
    """A JSON path in the words of the request formats: ``row 3, column 'a'``."""
    if len(path) >= 3 and path[0] == "inputs" and isinstance(path[1], str):
        return f"row {path[2]}, column {path[1]!r}"  # {"inputs": {"a": [...]}}
    rest = path[1:] if path and path[0] in _WRAPPERS else path
    if rest and rest[0] == "data":
        rest = rest[1:]  # {"columns": [...], "data": [[...]]}
    if not rest or not isinstance(rest[0], int):
        return None
    if len(rest) == 1:
        return f"row {rest[0]}"
    column = rest[1]
    return (
        f"row {rest[0]}, column {column!r}"
        if isinstance(column, str)
        else (f"row {rest[0]}, column {column}")
    )


def _wants_array(signature: dict[str, Any] | None) -> bool:
    return signature is not None and signature.get("type") == "ndarray"


def _from_json(payload: Any, signature: dict[str, Any] | None) -> Any:
    if isinstance(payload, list):
        return _rows(payload, signature, "the body")
    if not isinstance(payload, dict):
        raise InvalidInput(f"the body is a JSON {type(payload).__name__}: {FORMATS_HINT}")
    keys = set(payload)
    if keys and keys <= _SPLIT_KEYS:
        return _split(payload, signature, "the body")
    wrappers = [k for k in _WRAPPERS if k in keys]
    if len(wrappers) != 1 or len(keys) != 1:
        unknown = sorted(keys - set(_WRAPPERS))
        detail = f"unknown key(s) {unknown}" if unknown else f"keys {sorted(keys)}"
        raise InvalidInput(
            f"cannot read a JSON object with {detail}: {FORMATS_HINT}",
            details={"keys": sorted(keys)},
        )
    key = wrappers[0]
    value = payload[key]
    if key == "dataframe_split":
        if not isinstance(value, dict) or not set(value) <= _SPLIT_KEYS:
            raise InvalidInput("'dataframe_split' must be {'columns': [...], 'data': [[...]]}")
        return _split(value, signature, "'dataframe_split'")
    if key == "dataframe_records":
        if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
            raise InvalidInput("'dataframe_records' must be a list of records (JSON objects)")
        return _rows(value, signature, "'dataframe_records'")
    if key == "inputs" and isinstance(value, dict):
        return _columns(value, signature)
    if not isinstance(value, list):
        raise InvalidInput(f"'{key}' must be a list; got a JSON {type(value).__name__}")
    return _rows(value, signature, f"'{key}'")


def _numeric_frame(values: list[list[Any]], signature: dict[str, Any] | None) -> _Checked | None:
    """Rows of plain numbers as a DataFrame, straight from one NumPy array, when the
    signature's columns are all numeric; None to take the general (slower) path.

    Building a frame from Python rows makes pandas infer every column (~0.2 ms for a
    20-column row); one float array does it at once. Anything unusual (a string, a bool,
    a null in an integer column, a ragged row) goes the general way, which also names
    what is wrong.
    """
    import numpy as np
    import pandas as pd

    if signature is None or signature.get("type") != "dataframe":
        return None
    columns = signature["columns"]
    types = [c["type"] for c in columns]
    if not all(t in ("float", "integer") for t in types):
        return None
    # Only JSON numbers: NumPy would also read "1" as 1.0 and True as 1.0.
    if any(type(v) is not float and type(v) is not int for row in values for v in row):
        return None
    try:
        array = np.array(values, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    names = [c["name"] for c in columns]
    if array.ndim != 2 or array.shape[1] != len(names):
        return None
    if "integer" not in types:
        return _Checked(pd.DataFrame(array, columns=names, copy=False))
    ints = array[:, [i for i, t in enumerate(types) if t == "integer"]]
    # Past 2**53 a float64 no longer holds every integer: such values go the general way,
    # which builds the int64 column from the exact Python ints.
    if not (np.abs(ints) <= _EXACT_IN_FLOAT).all() or not (ints == np.floor(ints)).all():
        return None
    return _Checked(
        pd.DataFrame(
            {
                name: array[:, i].astype(np.int64) if kind == "integer" else array[:, i]
                for i, (name, kind) in enumerate(zip(names, types, strict=True))
            }
        )
    )


def _signature_names(signature: dict[str, Any] | None) -> list[str] | None:
    if signature is None or signature.get("type") != "dataframe":
        return None
    return [c["name"] for c in signature["columns"]]


def _rows(rows: list[Any], signature: dict[str, Any] | None, where: str) -> Any:
    """Records become a DataFrame; lists or scalars become an array (a table if the
    signature is one)."""
    import numpy as np
    import pandas as pd

    if not rows:
        raise InvalidInput(f"{where} holds no rows: send at least one")
    if all(isinstance(r, dict) for r in rows):
        names = _signature_names(signature)
        if names is not None:
            try:
                fast = _numeric_frame([[r[n] for n in names] for r in rows], signature)
            except KeyError:
                fast = None  # a missing column: the general path names it
            if fast is not None:
                return fast
        return pd.DataFrame.from_records(rows)
    if any(isinstance(r, dict) for r in rows):
        raise InvalidInput(f"{where} mixes records (JSON objects) with other values")
    try:
        array = np.asarray(rows)
    except ValueError as exc:
        raise InvalidInput(f"{where} is not a rectangular array: rows differ in length") from exc
    if signature is not None and signature.get("type") == "dataframe" and array.ndim == 2:
        names = [c["name"] for c in signature["columns"]]
        if array.shape[1] == len(names):
            # Positional rows against a table signature: name the columns in its order.
            fast = _numeric_frame(rows, signature)
            return fast if fast is not None else pd.DataFrame(rows, columns=names)
    return array


def _split(value: dict[str, Any], signature: dict[str, Any] | None, where: str) -> Any:
    import pandas as pd

    columns, data = value.get("columns"), value.get("data")
    if not isinstance(data, list) or not all(isinstance(r, list) for r in data):
        raise InvalidInput(f"{where}: 'data' must be a list of rows (lists)")
    if not data:
        raise InvalidInput(f"{where} holds no rows: send at least one")
    if columns is None:
        return _rows(data, signature, where)
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise InvalidInput(f"{where}: 'columns' must be a list of column names")
    bad = next((i for i, row in enumerate(data) if len(row) != len(columns)), None)
    if bad is not None:
        raise InvalidInput(
            f"{where}: row {bad} has {len(data[bad])} values for {len(columns)} columns",
            details={"row": bad},
        )
    if columns == _signature_names(signature):
        fast = _numeric_frame(data, signature)
        if fast is not None:
            return fast
    frame = pd.DataFrame(data, columns=columns)
    return frame.to_numpy() if _wants_array(signature) else frame


def _columns(value: dict[str, Any], signature: dict[str, Any] | None) -> Any:
    import pandas as pd

    if not value or not all(isinstance(v, list) for v in value.values()):
        raise InvalidInput("'inputs' as an object must map column names to lists of values")
    if len({len(v) for v in value.values()}) != 1:
        raise InvalidInput("'inputs': every column needs the same number of values")
    frame = pd.DataFrame(value)
    return frame.to_numpy() if _wants_array(signature) else frame


def _sized(data: Any, signature: dict[str, Any] | None) -> ModelInput:
    import pandas as pd

    if isinstance(data, _Checked):
        return ModelInput(data.frame, int(data.frame.shape[0]), checked=True)
    if isinstance(data, pd.DataFrame):
        if _wants_array(signature):
            data = data.to_numpy()
        elif signature is not None and signature.get("type") == "dataframe":
            data = _drop_extra(data, signature)
    return ModelInput(data, int(data.shape[0]))


def _drop_extra(frame: Any, signature: dict[str, Any]) -> Any:
    # The signature check warns about unknown columns; a server would warn on every request.
    names = {c["name"] for c in signature["columns"]}
    extra = [c for c in frame.columns if c not in names]
    return frame.drop(columns=extra) if extra else frame
