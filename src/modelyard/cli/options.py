"""Options whose defaults and limits come from where the setting is declared.

A numeric setting is declared once as a ``Bound`` (``serving/limits.py``); its option gets
the same default and range, so ``modelyard serve --workers 65`` is refused with the same
limit the request model enforces, and a changed default changes everywhere.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from modelyard.core.bounds import Bound

# Options every command group offers in the same words.
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
ReasonOption = Annotated[str | None, typer.Option(help="Why; kept in the audit log.")]


def bounded(bound: Bound, help: str, *names: str, whole: bool = False) -> Any:
    """A ``typer.Option`` limited to ``bound``'s range; ``whole`` for integer options."""
    low, high = (int(bound.ge), int(bound.le)) if whole else (bound.ge, bound.le)
    return typer.Option(*names, min=low, max=high, help=f"{help} ({low} to {high}).")


def default(bound: Bound, *, whole: bool = False) -> Any:
    """``bound``'s default, as an int for integer options."""
    return int(bound.default) if whole else bound.default
