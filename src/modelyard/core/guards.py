"""What an operation that changes a protectable thing declares: its ``Guard``.

The declaration is read by the local backend (``core/protection.py`` screens the change
against the protection rules before the handler runs) and by the REST adapter (such an
operation may answer 202: the change became an approval request).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class ProtectedKind(enum.StrEnum):
    ALIAS = "alias"  # a model's alias: scope MODEL@ALIAS
    TRAFFIC = "traffic"  # an endpoint's traffic split and rollouts: scope ENDPOINT


@dataclass(frozen=True)
class Guard:
    """What a protectable operation touches (``target``: ``churn@champion`` for an alias,
    ``churn`` for an endpoint's traffic) and the change it makes, in the words an approver
    reads (``describe``)."""

    kind: ProtectedKind
    target: Callable[[Any], str]
    describe: Callable[[Any], str]


def protected_uri(kind: ProtectedKind, target: str) -> str:
    """How a user names a protected thing: ``models:/churn@champion``,
    ``endpoints:/churn/traffic``."""
    if kind == ProtectedKind.ALIAS:
        return f"models:/{target}"
    return f"endpoints:/{target}/traffic"
