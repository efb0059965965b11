"""A one-step pipeline the contract tests run: its step's cache, gc and retention."""

from __future__ import annotations

import modelyard


@modelyard.step
def square(n: int = 3) -> int:
    return n * n


@modelyard.pipeline
def squared(n: int = 3):
    return square(n=n)
