"""Traffic shifting and the router's routing table (pure functions, no servers)."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelyard.errors import InvalidInput
from modelyard.serving.models import parse_shares
from modelyard.serving.router import Outcomes, Table, _key_point
from modelyard.serving.traffic import check_split, shift


def test_shift_keeps_the_others_relative_shares() -> None:
    assert shift({"blue": 100}, "green", 10) == {"blue": 90, "green": 10}
    assert shift({"a": 60, "b": 40}, "c", 50) == {"a": 30, "b": 20, "c": 50}
    assert shift({"a": 50, "b": 50, "c": 0}, "c", 100) == {"a": 0, "b": 0, "c": 100}
    assert shift({"a": 1, "b": 1, "c": 1}, "d", 1) == {"a": 33, "b": 33, "c": 33, "d": 1}


@given(
    st.dictionaries(st.sampled_from("abcdef"), st.integers(1, 100), min_size=1),
    st.integers(1, 100),
)
def test_shift_always_adds_up_to_100(initial: dict[str, int], percent: int) -> None:
    shifted = shift(initial, "target", percent)
    assert sum(shifted.values()) == 100
    assert shifted["target"] == percent
    assert all(v >= 0 for v in shifted.values())


def test_check_split_refuses_bad_splits() -> None:
    check_split({"a": 60, "b": 40}, {"c": 10}, ["a", "b", "c"])
    check_split({}, {}, [])
    with pytest.raises(InvalidInput, match="add up to 90"):
        check_split({"a": 60, "b": 30}, {}, ["a", "b"])
    with pytest.raises(InvalidInput, match="no deployment 'z'"):
        check_split({"z": 100}, {}, ["a"])
    with pytest.raises(InvalidInput, match="mirror only to a deployment with no traffic"):
        check_split({"a": 100}, {"a": 5}, ["a"])


def test_parse_shares() -> None:
    assert parse_shares(["blue=90", "green=10"], "traffic") == {"blue": 90, "green": 10}
    for bad in (["blue"], ["blue=x"], ["blue=-1"], ["blue=1", "blue=2"]):
        with pytest.raises(InvalidInput):
            parse_shares(bad, "traffic")


def test_the_table_routes_by_share_over_ready_deployments_only() -> None:
    table = Table.of({"blue": 90, "green": 10, "red": 0}, {"blue", "green", "red"})
    assert table.names == ("blue", "green")
    rng = random.Random(0)
    seen = Counter(table.pick(rng.random()) for _ in range(10_000))
    assert 850 <= seen["green"] <= 1150  # 10% of 10,000 (sd 30)
    # green is not ready: all of its share goes to blue; nothing ready: no route.
    assert Table.of({"blue": 90, "green": 10}, {"blue"}).names == ("blue",)
    assert Table.of({"blue": 90, "green": 10}, set()).pick(0.5) is None


def test_routing_keys_are_stable_points() -> None:
    assert _key_point("user-1") == _key_point("user-1")
    points = [_key_point(f"user-{i}") for i in range(1000)]
    assert all(0 <= p < 1 for p in points)
    assert 400 < sum(p < 0.5 for p in points) < 600


def test_outcomes_give_error_rate_and_p99_over_a_window() -> None:
    outcomes = Outcomes()
    for i in range(100):
        outcomes.add(latency_ms=float(i), failed=i % 10 == 0)
    seen = outcomes.since(0)
    assert (seen.requests, seen.errors) == (100, 10)
    assert seen.error_rate == pytest.approx(0.1)
    assert seen.p99_ms == 99.0
    assert outcomes.since(float("inf")).requests == 0
