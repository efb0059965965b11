"""How the CLI shows results: Rich tables for people, ``--json`` for scripts, one-line errors."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn, TypeVar

import typer

from modelyard.errors import ApprovalRequested, InvalidInput, ModelyardError

T = TypeVar("T")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")

EXIT_USER_ERROR = 2
EXIT_BUG = 1
# The change was not made yet: it is an approval request an approver decides.
EXIT_PENDING_APPROVAL = 3


def command_group(help: str) -> typer.Typer:
    """A sub-command group: bare, it prints its help. Help is formatted plainly, because
    Typer's Rich-formatted help imports Markdown and syntax highlighting (~0.25 s a call)."""
    return typer.Typer(help=help, no_args_is_help=True, rich_markup_mode=None)


def fail(message: str) -> NoReturn:
    """Print one readable line to stderr and exit 2 (a user error)."""
    sys.stderr.write(f"error: {message}\n")
    raise typer.Exit(EXIT_USER_ERROR)


def parse_pairs(pairs: list[str] | None, what: str) -> dict[str, str]:
    """``["k=v", ...]`` to a dict; a pair without '=' is a user error."""
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            fail(f"{what} '{pair}' must look like key=value")
        out[key] = value
    return out


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn a domain error into one line on stderr and exit code 2, without a traceback; a
    change that became an approval request says so and exits 3."""

    try:
        yield
    except ApprovalRequested as exc:
        sys.stderr.write(f"pending: {exc.message}\n")
        raise typer.Exit(EXIT_PENDING_APPROVAL) from None
    except ModelyardError as exc:
        if exc.http_status >= 500 and exc.code == "internal":
            raise
        fail(exc.message)


def print_json(data: Any) -> None:
    """Print JSON to stdout; pydantic models are serialized by their own schema."""
    if hasattr(data, "model_dump_json"):
        typer.echo(data.model_dump_json(indent=2, by_alias=True))
        return
    if isinstance(data, list) and data and hasattr(data[0], "model_dump"):
        data = [json.loads(item.model_dump_json(by_alias=True)) for item in data]
    typer.echo(json.dumps(data, indent=2, default=str))


def format_time(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def parse_time(text: str, option: str) -> int:
    """An instant given on the command line, as milliseconds since 1970 (UTC): ISO-8601
    (``2026-11-30``, ``2026-11-30T12:00``; UTC unless it names an offset, as the CLI shows
    times in UTC) or a number of milliseconds. A bad one is a user error naming ``option``."""
    how = (
        "write an ISO-8601 time such as 2026-11-30T12:00 (UTC unless it gives its offset, "
        "e.g. 2026-11-30T13:00+01:00) or milliseconds since 1970"
    )
    value = text.strip()
    if value.lstrip("-").isdigit():
        ms = int(value)
    else:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            fail(f"{option} '{text}' is not a time: {how}")
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        ms = (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
    if ms < 0:
        fail(f"{option} '{text}' is before 1970: {how}")
    return ms


def parse_duration_ms(text: str) -> int:
    """``60s``, ``5m``, ``250ms``, ``1h``, ``90d`` or plain seconds, in milliseconds."""

    match = _DURATION.match(text)
    if match is None:
        raise InvalidInput(f"'{text}' is no duration: write one such as 30s, 5m, 250ms or 1h")
    scales = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
    scale = scales[match.group(2) or "s"]
    return int(float(match.group(1)) * scale)


def format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


def _console() -> Any:
    from rich.console import Console

    console = Console()
    # Piped output has no terminal width; do not squeeze tables into 80 columns.
    return console if console.is_terminal else Console(width=200)


def print_table(
    title: str | None,
    columns: Sequence[str],
    rows: Sequence[T],
    cells: Callable[[T], Sequence[Any]],
) -> None:
    from rich.table import Table

    table = Table(title=title, show_lines=False, header_style="bold")
    for i, column in enumerate(columns):
        # The first column is an id to copy: never wrap it.
        table.add_column(column, overflow="fold", no_wrap=i == 0)
    for row in rows:
        table.add_row(*(format_value(c) for c in cells(row)))
    _console().print(table)


def print_mapping(title: str, items: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title=title, show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for key, value in items.items():
        table.add_row(key, format_value(value))
    _console().print(table)
