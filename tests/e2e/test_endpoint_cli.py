"""`modelyard endpoint | deployment | rollout`: the desired state from the command line."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Cli, store_env


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    root = tmp_path_factory.mktemp("endpoint-cli")
    (root / "model.bin").write_bytes(b"weights")
    cli = Cli(store_env(root), cwd=root)
    for _ in range(2):
        cli("model", "register", "churn", "model.bin")
    cli("model", "alias", "churn", "champion", "1")
    return cli


def test_endpoint_deployment_traffic_and_rollout(cli: Cli) -> None:
    assert "on port 9301" in cli("endpoint", "create", "churn", "--port", "9301").stdout
    created = cli("deployment", "create", "churn/blue", "--model", "models:/churn@champion")
    assert "churn/blue serving models:/churn/1" in created.stdout
    cli("deployment", "create", "churn/green", "--model", "models:/churn/2", "--workers", "2")
    assert (
        "traffic blue=90 green=10"
        in cli("endpoint", "traffic", "churn", "blue=90", "green=10", "--reason", "canary").stdout
    )
    shown = cli("endpoint", "show", "churn", "--json").json()
    assert shown["traffic"] == {"blue": 90, "green": 10}
    assert [d["name"] for d in shown["deployments"]] == ["blue", "green"]
    table = cli("endpoint", "show", "churn").stdout
    assert "90%" in table
    assert "modelyard supervisor" in table  # not supervised: says how to run it
    assert [d["name"] for d in cli("deployment", "list", "churn", "--json").json()] == [
        "blue",
        "green",
    ]
    assert cli("deployment", "show", "churn/green", "--json").json()["workers"] == 2
    started = cli(
        "rollout", "start", "churn", "--to", "green", "--steps", "50,100", "--interval", "5m",
        "--max-error-rate", "0.01", "--max-p99-ms", "50",
    )  # fmt: skip
    assert "blue=50 green=50" in started.stdout
    status = cli("rollout", "status", "churn", "--json").json()
    assert (status["state"], status["interval_ms"]) == ("RUNNING", 300_000)
    assert "PAUSED" in cli("rollout", "pause", "churn").stdout
    assert "RUNNING" in cli("rollout", "resume", "churn").stdout
    assert "blue=90 green=10" in cli("rollout", "abort", "churn", "--reason", "test").stdout
    assert "History" in cli("rollout", "status", "churn").stdout
    cli("endpoint", "traffic", "churn", "blue=100")
    cli("deployment", "delete", "churn/green")
    assert "deleted endpoint churn" in cli("endpoint", "delete", "churn").stdout
    assert cli("endpoint", "list", "--json").json() == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("deployment", "create", "churn", "--model", "models:/churn/1"), "ENDPOINT/DEPLOYMENT"),
        (("deployment", "create", "nope/blue", "--model", "models:/churn/1"), "endpoint 'nope'"),
        (("endpoint", "traffic", "nope", "blue=100"), "endpoint 'nope'"),
        (("endpoint", "traffic", "x", "blue"), "DEPLOYMENT=PERCENT"),
        (("endpoint", "create", "Bad_Name"), "name"),
        (("rollout", "start", "x", "--to", "g", "--interval", "soon"), "duration"),
        (("rollout", "start", "x", "--to", "g", "--steps", "a,b"), "percents"),
        (("rollout", "status", "nope"), "endpoint 'nope'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(cli: Cli, args: tuple[str, ...], message: str) -> None:
    lines = cli(*args, expect=2).assert_user_error()
    assert message in lines[0]
