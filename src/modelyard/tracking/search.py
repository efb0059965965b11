"""Translate a parsed run filter and order-by into one SQL query.

Each comparison on a metric, param or tag becomes a correlated ``EXISTS`` on the narrow
key/value table (latest metric values for metrics), so AND, OR and NOT compose without
joins multiplying rows, and each probe is a primary-key lookup.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    exists,
    func,
    not_,
    or_,
    select,
    true,
)

from modelyard.errors import InvalidInput
from modelyard.storage.db.tables import latest_metrics, run_params, run_tags, runs
from modelyard.tracking.filter import And, Comparison, Expr, Not, Or, OrderBy

_ATTRIBUTE_COLUMNS = {
    "run_id": runs.c.id,
    "run_name": runs.c.name,
    "status": runs.c.status,
    "user": runs.c.user,
    "start_time": runs.c.start_time,
    "end_time": runs.c.end_time,
    "experiment_id": runs.c.experiment_id,
    "parent_run_id": runs.c.parent_run_id,
    "description": runs.c.description,
}


def _compare(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    match op:
        case "=":
            return column == value  # type: ignore[no-any-return]
        case "!=":
            return column != value  # type: ignore[no-any-return]
        case "<":
            return column < value  # type: ignore[no-any-return]
        case "<=":
            return column <= value  # type: ignore[no-any-return]
        case ">":
            return column > value  # type: ignore[no-any-return]
        case ">=":
            return column >= value  # type: ignore[no-any-return]
        case "LIKE":
            return column.like(value)  # type: ignore[no-any-return]
        case "ILIKE":
            # lower() on both sides behaves the same on SQLite and PostgreSQL.
            return func.lower(column).like(func.lower(value))
        case "IN":
            return column.in_(list(value))  # type: ignore[no-any-return]
        case "NOT IN":
            return column.not_in(list(value))  # type: ignore[no-any-return]
    raise InvalidInput(f"operator {op} is not supported here")


def _key_value_condition(table: Any, cmp: Comparison) -> ColumnElement[bool]:
    keyed = and_(table.c.run_id == runs.c.id, table.c.key == cmp.key)
    if cmp.op == "IS NULL":
        return not_(exists().where(keyed))
    if cmp.op == "IS NOT NULL":
        return exists().where(keyed)
    condition = _compare(table.c.value, cmp.op, cmp.value)
    if table is latest_metrics:
        # NaN compares false with everything, as in IEEE arithmetic.
        condition = and_(table.c.is_nan.is_(False), condition)
    return exists().where(keyed, condition)


def _attribute_condition(cmp: Comparison) -> ColumnElement[bool]:
    column = _ATTRIBUTE_COLUMNS[cmp.key]
    if cmp.op == "IS NULL":
        return column.is_(None)
    if cmp.op == "IS NOT NULL":
        return column.is_not(None)
    return _compare(column, cmp.op, cmp.value)


def condition_for(expr: Expr) -> ColumnElement[bool]:
    """The SQL condition for a filter expression over the ``runs`` table."""
    match expr:
        case Comparison(entity="metric"):
            return _key_value_condition(latest_metrics, expr)
        case Comparison(entity="param"):
            return _key_value_condition(run_params, expr)
        case Comparison(entity="tag"):
            return _key_value_condition(run_tags, expr)
        case Comparison():
            return _attribute_condition(expr)
        case And(parts=parts):
            return and_(true(), *(condition_for(p) for p in parts))
        case Or(parts=parts):
            return or_(*(condition_for(p) for p in parts))
        case Not(part=part):
            return not_(condition_for(part))
    raise InvalidInput(f"unsupported filter expression {expr!r}")


def _order_column(order: OrderBy) -> Any:
    if order.entity == "attribute":
        return _ATTRIBUTE_COLUMNS[order.key]
    table = {"metric": latest_metrics, "param": run_params, "tag": run_tags}[order.entity]
    value = select(table.c.value).where(table.c.run_id == runs.c.id, table.c.key == order.key)
    if table is latest_metrics:
        value = value.where(table.c.is_nan.is_(False))
    return value.scalar_subquery()


def apply_order(query: Select[Any], order_by: list[OrderBy]) -> Select[Any]:
    """Order by the user's keys (missing values last), then newest first for stability."""
    clauses = []
    for order in order_by:
        column = _order_column(order)
        clauses.append((column.desc() if order.descending else column.asc()).nulls_last())
    return query.order_by(*clauses, runs.c.start_time.desc(), runs.c.id.asc())


def encode_page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def decode_page_token(token: str | None) -> int:
    """The offset a page token stands for; a token we did not issue is a clear error."""
    if not token:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
    except (ValueError, KeyError, TypeError):
        raise InvalidInput(
            f"invalid page_token '{token}': pass the next_page_token of a previous search"
        ) from None
    if not isinstance(offset, int) or offset < 0:
        raise InvalidInput(f"invalid page_token '{token}': it does not encode a valid offset")
    return offset
