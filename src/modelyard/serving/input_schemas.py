"""JSON Schemas of the bodies ``POST /invocations`` reads, derived from a model's signature.

``inputs.py`` reads every shape below; these schemas say the same for a client, in the
words of the signature: a record names each column with its type, a positional row lists
the values in the signature's order. A schema describes what the server takes: where the
server is lenient (extra columns are ignored, ``null`` in a float column reads as NaN) the
schema is too, so a request it calls valid is never refused for its shape alone.

Without a signature the server hands the model whatever the body holds, so the schemas
say only what any body must be (records of values, or rows of values).
"""

from __future__ import annotations

from typing import Any

from modelyard.serving.inputs import CSV_TYPES, JSON_TYPES

Schema = dict[str, Any]

# A table column's values, by the signature's column type. Integers are NumPy int64.
_INT64 = {"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1}
_COLUMN_TYPES: dict[str, Schema] = {
    "integer": _INT64,
    # A null in a float column reads as NaN; in an integer or boolean column it is refused.
    "float": {"type": ["number", "null"]},
    "boolean": {"type": "boolean"},
    "string": {"type": ["string", "null"]},
    "datetime": {"type": "string", "format": "date-time"},
    "object": {},
}
# An array's elements: NumPy holds no NaN for null in a typed array, so null is refused.
_ARRAY_KINDS: dict[str, Schema] = {**_COLUMN_TYPES, "float": {"type": "number"}}
_SCALAR: Schema = {"type": ["number", "string", "boolean", "null"]}


def _column(column: dict[str, Any]) -> Schema:
    schema = dict(_COLUMN_TYPES.get(column["type"], {}))
    schema["description"] = f"{column['type']} ({column.get('dtype', column['type'])})"
    return schema


def record_schema(signature: dict[str, Any] | None) -> Schema:
    """One row as a JSON object: every column of a table signature, with its type."""
    if signature is None or signature.get("type") != "dataframe":
        return {"type": "object", "minProperties": 1}
    columns = signature["columns"]
    return {
        "type": "object",
        "properties": {c["name"]: _column(c) for c in columns},
        "required": [c["name"] for c in columns],
        # Columns the signature does not name are dropped before predicting.
        "additionalProperties": True,
    }


def _nested(kind: Schema, dims: list[int]) -> Schema:
    if not dims:
        return kind
    inner = _nested(kind, dims[1:])
    sized: Schema = {"type": "array", "items": inner}
    if dims[0] >= 0:
        sized.update(minItems=dims[0], maxItems=dims[0])
    return sized


def row_schema(signature: dict[str, Any] | None) -> Schema:
    """One row as a JSON array: a table's values in its column order, or an array's row."""
    if signature is None:
        return {"type": "array"}
    if signature.get("type") == "dataframe":
        columns = signature["columns"]
        return {
            "type": "array",
            "prefixItems": [_column(c) for c in columns],
            "minItems": len(columns),
            "maxItems": len(columns),
        }
    kind = _ARRAY_KINDS.get(signature.get("kind", "object"), {})
    shape: list[int] = list(signature.get("shape", [-1]))[1:]
    return _nested(kind, shape)


def rows_schema(signature: dict[str, Any] | None) -> Schema:
    """Rows as a JSON list: all records, or all positional rows (never a mix)."""
    many = [
        {"type": "array", "items": record_schema(signature), "minItems": 1},
        {"type": "array", "items": row_schema(signature), "minItems": 1},
    ]
    if signature is None:
        # Without a signature a list of plain values is a one-dimensional array.
        many.append({"type": "array", "items": _SCALAR, "minItems": 1})
    return {"anyOf": many}


def split_schema(signature: dict[str, Any] | None) -> Schema:
    """pandas' ``orient="split"``: column names and rows of values in their order."""
    columns: Schema = {"type": "array", "items": {"type": "string"}}
    if signature is not None and signature.get("type") == "dataframe":
        # Any order, and more columns than the signature's: each of its columns is there.
        columns["allOf"] = [{"contains": {"const": c["name"]}} for c in signature["columns"]]
    return {
        "type": "object",
        "properties": {
            "columns": columns,
            "data": {"type": "array", "items": {"type": "array"}, "minItems": 1},
            "index": {"description": "ignored"},
        },
        "required": ["data"],
        "additionalProperties": False,
        "description": "without 'columns', each row of 'data' is a positional row",
    }


def column_lists_schema(signature: dict[str, Any] | None) -> Schema:
    """``{"inputs": {column: [values...]}}``: each column's values, all of one length."""
    if signature is None or signature.get("type") != "dataframe":
        return {"type": "object", "minProperties": 1, "additionalProperties": {"type": "array"}}
    columns = signature["columns"]
    return {
        "type": "object",
        "properties": {
            c["name"]: {"type": "array", "items": _column(c), "minItems": 1} for c in columns
        },
        "required": [c["name"] for c in columns],
        "additionalProperties": {"type": "array"},
    }


def _wrapped(key: str, schema: Schema) -> Schema:
    return {
        "type": "object",
        "properties": {key: schema},
        "required": [key],
        "additionalProperties": False,
    }


def json_body_schema(signature: dict[str, Any] | None) -> Schema:
    """Every JSON shape ``POST /invocations`` reads, as one ``anyOf``."""
    rows, split = rows_schema(signature), split_schema(signature)
    records = {"type": "array", "items": record_schema(signature), "minItems": 1}
    inputs = {"anyOf": [rows, column_lists_schema(signature)]}
    return {
        "anyOf": [
            {**rows, "title": "records or rows"},
            {**split, "title": "split"},
            {**_wrapped("instances", rows), "title": "instances"},
            {**_wrapped("inputs", inputs), "title": "inputs"},
            {**_wrapped("dataframe_records", records), "title": "dataframe_records"},
            {**_wrapped("dataframe_split", split), "title": "dataframe_split"},
        ]
    }


def csv_description(signature: dict[str, Any] | None) -> str:
    """What a CSV body holds, for a person: the header names the columns."""
    if signature is None or signature.get("type") != "dataframe":
        return "A header line, then one line per row."
    names = ",".join(c["name"] for c in signature["columns"])
    return f"A header line naming at least the columns {names}, then one line per row."


def request_content(signature: dict[str, Any] | None, max_bytes: int) -> dict[str, Any]:
    """The ``content`` of the request body: each media type the server reads."""
    content: dict[str, Any] = {kind: {"schema": json_body_schema(signature)} for kind in JSON_TYPES}
    for kind in CSV_TYPES:
        content[kind] = {
            "schema": {
                "type": "string",
                "minLength": 1,
                "maxLength": max_bytes,
                "description": csv_description(signature),
            }
        }
    return content
