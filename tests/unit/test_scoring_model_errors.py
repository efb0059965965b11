"""What a client sees when the model raises on its input."""

from __future__ import annotations

import pytest

from modelyard.serving.app import model_error


@pytest.mark.parametrize("raised", [ValueError, TypeError, KeyError, OverflowError])
def test_an_error_on_the_input_is_a_422(raised: type[Exception]) -> None:
    # OverflowError: a number too large for a float, which NumPy refuses in predict.
    error = model_error(raised("int too large to convert to float"))
    assert (error.http_status, error.code) == (422, "unprocessable_input")


def test_any_other_error_is_a_500_naming_it() -> None:
    error = model_error(ZeroDivisionError("division by zero"))
    assert error.http_status == 500
    assert "ZeroDivisionError" in error.message
