"""`modelyard endpoint | deployment | rollout`: the desired state from the command line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import free_port
from tests.e2e.conftest import Cli, modelyard_executable, store_env


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
    live = shown["live"]  # no supervisor runs here: said so, not an error
    assert (live["supervised"], live["supervisor_pid"], live["routing"]) == (False, None, None)
    assert "no supervisor is running on this machine" in live["reason"]
    assert "modelyard supervisor" in live["reason"]
    assert {n: d["state"] for n, d in live["deployments"].items()} == {
        "blue": "not running",
        "green": "not running",
    }
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


def _iso(ms: int, hours: int) -> str:
    zone = timezone(timedelta(hours=hours))
    return datetime.fromtimestamp(ms / 1000, tz=zone).isoformat(timespec="milliseconds")


def test_endpoint_history_tells_what_served_then(cli: Cli) -> None:
    cli("endpoint", "create", "ledger")
    cli("deployment", "create", "ledger/blue", "--model", "models:/churn@champion")
    cli("deployment", "create", "ledger/green", "--model", "models:/churn/2")
    cli("endpoint", "traffic", "ledger", "blue=90", "green=10", "--reason", "canary")
    cli("endpoint", "traffic", "ledger", "blue=100")
    cli("deployment", "delete", "ledger/green")
    cli("endpoint", "delete", "ledger", "--reason", "retired")
    states = cli("endpoint", "history", "ledger", "--json").json()["states"]
    assert [s["action"] for s in states] == [
        "endpoint.created",
        "deployment.created",
        "deployment.created",
        "endpoint.traffic.changed",
        "endpoint.traffic.changed",
        "deployment.deleted",
        "endpoint.deleted",
    ]
    canary = states[3]
    assert {d["name"]: (d["version"], d["traffic"]) for d in canary["deployments"]} == {
        "blue": (1, 90),
        "green": (2, 10),
    }
    # The canary's own instant, as ms, as ISO-8601 with an offset and as UTC without one.
    for at in (str(canary["since"]), _iso(canary["since"], 2), _iso(canary["since"], 0)[:-6]):
        then = cli("endpoint", "history", "ledger", "--at", at, "--json").json()
        assert then["states"] == [canary], at
    table = cli("endpoint", "history", "ledger").stdout
    assert "times in UTC" in table
    assert "blue churn v1 90%, green churn v2 10%" in table
    assert "canary (set)" in table
    assert "(endpoint deleted)" in table
    shown = cli("endpoint", "history", "ledger", "--at", str(canary["since"])).stdout
    assert "models:/churn@champion" in shown
    assert "90%" in shown
    gone = cli("endpoint", "history", "ledger", "--at", str(states[-1]["since"])).stdout
    assert "nothing: the endpoint was deleted" in gone
    assert "retired" in gone
    newest = cli("endpoint", "history", "ledger", "--limit", "1", "--json").json()
    assert (newest["truncated"], len(newest["states"])) == (True, 1)
    assert cli("endpoint", "history", "ledger", "--limit", "0", expect=2).code == 2


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
        (("endpoint", "history", "nope"), "endpoint 'nope' has no history"),
        (("endpoint", "history", "x", "--at", "soon"), "write an ISO-8601 time"),
        (("endpoint", "history", "x", "--at", "-5"), "is before 1970"),
        (("endpoint", "history", "x", "--at", "2999-01-01"), "is in the future"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(cli: Cli, args: tuple[str, ...], message: str) -> None:
    lines = cli(*args, expect=2).assert_user_error()
    assert message in lines[0]


def test_a_killed_supervisors_last_status_is_not_live(cli: Cli) -> None:
    cli("endpoint", "create", "stale", "--port", "9302")
    cli("deployment", "create", "stale/blue", "--model", "models:/churn/1")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    # What a supervisor killed with SIGKILL leaves behind: its last status, its pid gone.
    status = cli.cwd / ".modelyard" / "serving" / "supervisor.json"
    status.parent.mkdir(parents=True, exist_ok=True)
    deployment = {"state": "ready", "url": "http://127.0.0.1:1", "pid": gone.pid, "restarts": 0}
    status.write_text(
        json.dumps(
            {
                "pid": gone.pid,
                "at": 1,
                "endpoints": {"stale": {"url": "x", "deployments": {"blue": deployment}}},
            }
        )
    )
    try:
        live = cli("endpoint", "show", "stale", "--json").json()["live"]
        assert (live["supervised"], live["supervisor_pid"]) == (False, gone.pid)
        assert f"(pid {gone.pid}) is no longer running" in live["reason"]
        assert live["deployments"]["blue"]["state"] == "not running"
        assert "is no longer running" in cli("endpoint", "show", "stale").stdout
    finally:
        status.unlink()
        cli("endpoint", "delete", "stale")  # and its deployment


REGISTER_A_MODEL = (
    "import numpy as np, pandas as pd, modelyard\n"
    "from sklearn.linear_model import LogisticRegression\n"
    "x = pd.DataFrame(np.random.default_rng(0).normal(size=(40, 2)), columns=['a', 'b'])\n"
    "m = LogisticRegression().fit(x, (x['a'] > 0).astype(int))\n"
    "print(modelyard.models.register(m, 'churn', sample=x.head()).version)\n"
)


def _wait_for(what: str, check: Callable[[], Any], timeout: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture
def supervised(tmp_path: Path) -> Iterator[tuple[Cli, subprocess.Popen[bytes], int]]:
    """A store with an endpoint of one deployment, and `modelyard supervisor` running it."""
    cli = Cli(store_env(tmp_path), cwd=tmp_path)
    assert cli.python(REGISTER_A_MODEL).strip() == "1"
    port = free_port()
    cli("endpoint", "create", "churn", "--port", str(port))
    cli("deployment", "create", "churn/blue", "--model", "models:/churn/1")
    with (tmp_path / "supervisor.log").open("wb") as log:
        process = subprocess.Popen(
            [modelyard_executable(), "supervisor", "--poll-seconds", "0.2"],
            cwd=tmp_path,
            env=cli.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # stopped as a group if it does not stop by itself
        )
    try:
        yield cli, process, port
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@pytest.mark.slow
def test_endpoint_show_json_has_the_live_state(
    supervised: tuple[Cli, subprocess.Popen[bytes], int],
) -> None:
    cli, process, port = supervised

    def ready() -> dict[str, Any] | None:
        live: dict[str, Any] = cli("endpoint", "show", "churn", "--json").json()["live"]
        return live if live["deployments"]["blue"]["state"] == "ready" else None

    live = _wait_for("the deployment to be ready", ready)
    assert (live["supervised"], live["reason"]) == (True, None)
    assert live["supervisor_pid"] == process.pid
    assert live["url"] == f"http://127.0.0.1:{port}"
    blue = live["deployments"]["blue"]
    assert (blue["model"], blue["workers"], blue["restarts"], blue["last_exit"]) == (
        "models:/churn/1",
        1,
        0,
        None,
    )
    assert isinstance(blue["pid"], int)
    assert blue["url"].startswith("http://127.0.0.1:")
    assert (live["routing"]["traffic"], live["routing"]["ready"]) == ({"blue": 100}, ["blue"])

    answer = httpx.post(f"{live['url']}/invocations", json=[{"a": 1.0, "b": 0.0}], timeout=30)
    assert answer.status_code == 200, answer.text

    def counted() -> dict[str, Any] | None:
        found: dict[str, Any] = cli("endpoint", "show", "churn", "--json").json()["live"]
        seen = found["routing"]["last_minute"].get("blue", {})
        return found if seen.get("requests") == 1 else None

    assert (
        _wait_for("the router to count the request", counted, 30)["routing"]["last_minute"]["blue"][
            "errors"
        ]
        == 0
    )
    table = cli("endpoint", "show", "churn").stdout
    assert f"yes (pid {process.pid})" in table
    assert "ready" in table

    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)
    stopped = cli("endpoint", "show", "churn", "--json").json()["live"]
    assert stopped["supervised"] is False
    assert "no supervisor is running on this machine" in stopped["reason"]
    assert stopped["deployments"]["blue"]["state"] == "not running"
