"""Run search: filters, order and pages behave the same on every backend."""

from __future__ import annotations

import pytest

from modelyard.client.client import Client
from modelyard.errors import FilterSyntaxError, InvalidInput
from tests.contract.conftest import Store


@pytest.fixture(scope="module")
def client(module_store: Store) -> Client:
    """Every test here only searches: one store per backend for the module, filled once."""
    return module_store.client


@pytest.fixture(scope="module")
def runs(client: Client) -> tuple[str, dict[str, str]]:
    """Five runs with known metrics, params, tags and statuses; returns (experiment, ids)."""
    exp = client.create_experiment("search").id
    specs = {
        "a": {"acc": 0.91, "model": "rf", "team": "x", "status": "FINISHED"},
        "b": {"acc": 0.75, "model": "rf", "team": "y", "status": "FINISHED"},
        "c": {"acc": 0.98, "model": "xgb", "team": "x", "status": "FAILED"},
        "d": {"acc": float("nan"), "model": "lr", "team": "y", "status": "FINISHED"},
        "e": {"acc": None, "model": "lr", "team": "z", "status": "RUNNING"},
    }
    ids = {}
    for i, (name, spec) in enumerate(specs.items()):
        run = client.create_run(exp, name=name, start_time=1_000 + i, tags={"team": spec["team"]})
        metrics = [] if spec["acc"] is None else [{"key": "acc", "value": spec["acc"]}]
        client.log_batch(run.id, metrics=metrics, params={"model": spec["model"]})
        if spec["status"] != "RUNNING":
            client.set_terminated(run.id, spec["status"])
        ids[name] = run.id
    return exp, ids


def names(
    client: Client, exp: str, filter: str | None, order: list[str] | None = None
) -> list[str]:
    page = client.search_runs([exp], filter, order_by=order or [], max_results=100)
    return [r.name for r in page.runs]


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        (None, ["e", "d", "c", "b", "a"]),
        ("metrics.acc > 0.9", ["c", "a"]),
        ("metrics.acc <= 0.75", ["b"]),
        ("metrics.acc != 0.75", ["c", "a"]),  # NaN and missing never compare true
        ("params.model = 'rf'", ["b", "a"]),
        ("params.model IN ('rf', 'lr')", ["e", "d", "b", "a"]),
        ("params.model NOT IN ('rf', 'lr')", ["c"]),
        ("tags.team LIKE 'x%'", ["c", "a"]),
        ("tags.team ILIKE 'Y'", ["d", "b"]),
        ("status = 'FAILED'", ["c"]),
        ("attributes.status != 'FINISHED'", ["e", "c"]),
        ("run_name = 'b'", ["b"]),
        ("metrics.acc IS NULL", ["e"]),
        ("metrics.acc IS NOT NULL", ["d", "c", "b", "a"]),
        ("metrics.acc > 0.9 AND params.model = 'rf'", ["a"]),
        ("metrics.acc > 0.95 OR params.model = 'lr'", ["e", "d", "c"]),
        ("NOT params.model = 'rf' AND tags.team = 'y'", ["d"]),
        ("(params.model = 'rf' OR params.model = 'xgb') AND tags.team = 'x'", ["c", "a"]),
        ("start_time >= 1003", ["e", "d"]),
    ],
)
def test_filters(
    client: Client, runs: tuple[str, dict[str, str]], filter: str, expected: list[str]
) -> None:
    exp, _ = runs
    assert names(client, exp, filter) == expected


def test_order_by_metric_puts_missing_last(
    client: Client, runs: tuple[str, dict[str, str]]
) -> None:
    exp, _ = runs
    assert names(client, exp, None, ["metrics.acc DESC"]) == ["c", "a", "b", "e", "d"]
    assert names(client, exp, None, ["metrics.acc ASC"]) == ["b", "a", "c", "e", "d"]


def test_order_by_param_then_name(client: Client, runs: tuple[str, dict[str, str]]) -> None:
    exp, _ = runs
    assert names(client, exp, None, ["params.model", "run_name DESC"]) == [
        "e",
        "d",
        "b",
        "a",
        "c",
    ]


def test_pages_cover_every_run_once(client: Client, runs: tuple[str, dict[str, str]]) -> None:
    exp, ids = runs
    seen: list[str] = []
    token = None
    while True:
        page = client.search_runs([exp], order_by=["run_name"], max_results=2, page_token=token)
        seen += [r.name for r in page.runs]
        token = page.next_page_token
        if token is None:
            break
    assert seen == ["a", "b", "c", "d", "e"]
    assert sorted(r.id for r in client.iter_runs([exp], page_size=2)) == sorted(ids.values())


def test_search_returns_params_tags_and_metrics(
    client: Client, runs: tuple[str, dict[str, str]]
) -> None:
    exp, ids = runs
    [run] = client.search_runs([exp], "run_name = 'a'").runs
    assert run.id == ids["a"]
    assert run.params == {"model": "rf"}
    assert run.tags == {"team": "x"}
    assert run.metrics == {"acc": 0.91}


@pytest.mark.parametrize(
    ("filter", "position"),
    [
        ("metrics.acc >", 13),
        ("metrics.acc > 0.5 and", 21),
        ("metric_s.acc > 1", 0),
        ("metrics.acc >> 1", 13),
        ("params.model = 'rf", 15),
    ],
)
def test_malformed_filter_names_the_position(
    client: Client, runs: tuple[str, dict[str, str]], filter: str, position: int
) -> None:
    exp, _ = runs
    with pytest.raises(InvalidInput) as caught:
        client.search_runs([exp], filter)
    assert caught.value.code == FilterSyntaxError.code
    assert caught.value.details["position"] == position
    assert f"position {position}" in caught.value.message


def test_bad_page_token_and_sizes(client: Client, runs: tuple[str, dict[str, str]]) -> None:
    exp, _ = runs
    with pytest.raises(InvalidInput, match="page_token"):
        client.search_runs([exp], page_token="not-a-token")
    with pytest.raises(InvalidInput, match="max_results"):
        client.search_runs([exp], max_results=0)
    with pytest.raises(InvalidInput, match="experiment_ids"):
        client.search_runs([])
