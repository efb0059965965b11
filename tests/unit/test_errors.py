"""The error hierarchy: stable codes and statuses, and a lossless trip through JSON."""

from __future__ import annotations

import pytest

from modelyard import errors
from modelyard.errors import (
    AlreadyExists,
    BackendUnavailable,
    Conflict,
    FilterSyntaxError,
    InvalidInput,
    ModelyardError,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    SecretUnreadable,
    Unauthenticated,
    error_from_dict,
)


@pytest.mark.parametrize(
    ("cls", "status"),
    [
        (InvalidInput, 400),
        (Unauthenticated, 401),
        (PermissionDenied, 403),
        (NotFound, 404),
        (AlreadyExists, 409),
        (Conflict, 409),
        (SecretUnreadable, 409),
        (PayloadTooLarge, 413),
        (BackendUnavailable, 503),
    ],
)
def test_each_error_round_trips_with_its_status(cls: type[ModelyardError], status: int) -> None:
    original = cls("what went wrong", details={"id": "x1"})
    assert original.http_status == status
    rebuilt = error_from_dict(original.to_dict())
    assert type(rebuilt) is cls
    assert rebuilt.message == "what went wrong"
    assert rebuilt.details == {"id": "x1"}


def test_filter_error_keeps_its_position() -> None:
    original = FilterSyntaxError("expected a value", expression="metrics.a >", position=11)
    assert "position 11" in original.message
    assert original.message.endswith("metrics.a >\n           ^")
    rebuilt = error_from_dict(original.to_dict())
    assert isinstance(rebuilt, FilterSyntaxError)
    assert isinstance(rebuilt, InvalidInput)
    assert rebuilt.position == 11  # type: ignore[attr-defined]


def test_codes_are_unique() -> None:
    classes = [
        c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, ModelyardError)
    ]
    codes = [c.code for c in classes]
    assert len(codes) == len(set(codes))


def test_unknown_code_becomes_the_base_error() -> None:
    rebuilt = error_from_dict({"code": "from_the_future", "message": "m"})
    assert type(rebuilt) is ModelyardError


def test_not_found_names_kind_and_id() -> None:
    err = NotFound.of("run", "abc")
    assert err.message == "run 'abc' does not exist"
    assert err.details == {"kind": "run", "id": "abc"}
