"""A numeric setting's default and range, written once for every adapter that offers it.

The request model validates it (``Bound.field()``), the CLI offers it as an option with the
same default and limits (``modelyard.cli.options``), and the OpenAPI document states it.
Plain data, so the CLI can read it without importing pydantic (``modelyard --help`` stays
fast).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Bound:
    """``default``, within ``ge`` and ``le`` (inclusive)."""

    default: float
    ge: float
    le: float

    def field(self) -> Any:
        """The pydantic constraints of a field holding this setting (numbers only: strict)."""
        # pydantic loads with the models that use this, never with the CLI.
        from pydantic import Field

        return Field(ge=self.ge, le=self.le, strict=True)
