"""Reading a time given on the command line and replaying an endpoint's records, without a store."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import typer
from hypothesis import given
from hypothesis import strategies as st

from modelyard.cli.output import parse_time
from modelyard.core.fields import MAX_TIMESTAMP_MS
from modelyard.serving.history import replay


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("0", 0),
        ("1796140707887", 1796140707887),
        ("2026-11-30T12:00", 1796040000000),  # no offset: UTC
        ("2026-11-30T12:00Z", 1796040000000),
        ("2026-11-30T13:00+01:00", 1796040000000),
        ("2026-11-30 12:00:00.250", 1796040000250),
        ("2026-11-30", 1795996800000),
    ],
)
def test_at_is_ms_or_iso_8601_in_utc_unless_it_says(text: str, ms: int) -> None:
    assert parse_time(text, "--at") == ms


@pytest.mark.parametrize("text", ["soon", "", "12:00", "2026-13-01", "1e3", "-1", "1969-12-31"])
def test_at_that_is_no_instant_is_refused(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit) as exited:
        parse_time(text, "--at")
    assert exited.value.exit_code == 2
    assert capsys.readouterr().err.startswith(f"error: --at '{text}'")


@given(
    st.integers(min_value=0, max_value=MAX_TIMESTAMP_MS - 86_400_000),
    st.integers(min_value=-14 * 60, max_value=14 * 60),
)
def test_an_instant_written_in_any_offset_reads_back_as_itself(ms: int, minutes: int) -> None:
    zone = timezone(timedelta(minutes=minutes))
    written = datetime.fromtimestamp(ms / 1000, tz=zone)
    # Exact to the millisecond, whatever float rounding did to the microseconds.
    written = written.replace(microsecond=ms % 1000 * 1000)
    assert parse_time(written.isoformat(), "--at") == ms


def _record(seq: int, at: int, kind: str, target: str, **change: Any) -> dict[str, Any]:
    return {
        "seq": seq,
        "at": at,
        "actor": "ann",
        "action": change.pop("action", "x"),
        "reason": None,
        "target_kind": kind,
        "target_id": target,
        "before": change.get("before"),
        "after": change.get("after"),
    }


BLUE = {"model": "churn", "version": 1, "model_uri": "models:/churn/1", "workers": 1}


def test_the_records_of_one_change_make_one_state_and_no_change_makes_none() -> None:
    states = replay(
        [
            _record(1, 10, "endpoint", "e", after={"traffic": {}, "mirror": {}}),
            _record(2, 20, "deployment", "e/blue", after=BLUE),
            _record(3, 20, "endpoint", "e", before={}, after={"traffic": {"blue": 100}}),
            # Workers only: what serves is unchanged.
            _record(4, 30, "deployment", "e/blue", before={"workers": 1}, after={"workers": 2}),
            _record(5, 40, "deployment", "e/blue", before={}, after={"version": 2}),
        ]
    )
    assert [(s.seq, s.since, s.until) for s in states] == [(1, 10, 20), (2, 20, 40), (5, 40, None)]
    assert [(d.version, d.traffic, d.model_uri) for d in states[2].deployments] == [
        (2, 100, "models:/churn/1")
    ]
