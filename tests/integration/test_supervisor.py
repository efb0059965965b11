"""The supervisor runs endpoints for real: routers, deployment processes, rollouts.

One supervisor (in a thread) serves one endpoint with two deployments of models that
answer differently, so every answer says which deployment gave it.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from modelyard import models
from modelyard.client.client import Client
from modelyard.core.backend import open_local_backend
from modelyard.serving.models import RolloutState
from modelyard.serving.supervisor import Supervisor
from tests.conftest import free_port, make_settings

COLUMNS = ["a", "b"]
ROW = {"a": 1.0, "b": 1.0}


def _wait(what: str, check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


@dataclass
class Setup:
    client: Client
    supervisor: Supervisor
    url: str
    http: httpx.Client

    def ask(self, key: str | None = None) -> tuple[str, Any]:
        headers = {"X-Modelyard-Routing-Key": key} if key else {}
        answer = self.http.post(self.url + "/invocations", json=[ROW], headers=headers)
        assert answer.status_code == 200, answer.text
        return answer.headers["x-modelyard-deployment"], answer.json()["predictions"][0]

    def live(self) -> dict[str, Any]:
        return self.supervisor.status()["endpoints"]["churn"]["deployments"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    tmp = tmp_path_factory.mktemp("supervisor")
    settings = make_settings(tmp)
    backend = open_local_backend(settings)
    client = Client(settings=settings, backend=backend)
    x = pd.DataFrame(np.random.default_rng(0).normal(size=(80, 2)), columns=COLUMNS)
    y = (x["a"] + x["b"] > 0).astype(int)
    # Version 1 says 1 for ROW, version 2 (trained on flipped labels) says 0.
    models.register(LogisticRegression().fit(x, y), "churn", sample=x.head(), client=client)
    models.register(LogisticRegression().fit(x, 1 - y), "churn", sample=x.head(), client=client)
    port = free_port()
    client.serving.create_endpoint("churn", port=port)
    client.serving.create_deployment("churn", "blue", "models:/churn/1")
    client.serving.create_deployment("churn", "green", "models:/churn/2")
    supervisor = Supervisor(backend, settings, poll_seconds=0.2, min_requests=5)
    thread = threading.Thread(target=supervisor.run, daemon=True)
    thread.start()
    http = httpx.Client(timeout=30)
    ready = Setup(client, supervisor, f"http://127.0.0.1:{port}", http)
    try:
        # The router's own view, not the workers' states: it takes ready workers into its
        # upstreams a moment after the supervisor marks them ready.
        _wait(
            "both deployments, as the router sees them",
            lambda: (
                sorted(
                    supervisor.status()["endpoints"]
                    .get("churn", {})
                    .get("routing", {})
                    .get("ready", [])
                )
                == ["blue", "green"]
            ),
            timeout=90,
        )
        yield ready
    finally:
        supervisor.stop()
        thread.join(30)
        http.close()
        backend.close()


def test_all_traffic_goes_to_the_first_deployment(setup: Setup) -> None:
    answers = Counter(setup.ask() for _ in range(20))
    assert answers == Counter({("blue", 1): 20})


def test_weights_split_traffic_and_routing_keys_stick(setup: Setup) -> None:
    setup.client.serving.set_traffic("churn", {"blue": 70, "green": 30})
    _wait(
        "the new split", lambda: setup.supervisor.served["churn"].router.traffic.get("green") == 30
    )
    seen = Counter(setup.ask()[0] for _ in range(400))
    # Binomial(400, 0.3): mean 120, sd ~9.2; 5 sd either side.
    assert 74 <= seen["green"] <= 166, seen
    assert seen["blue"] + seen["green"] == 400
    for key in ("user-1", "user-2", "user-3"):
        assert len({setup.ask(key)[0] for _ in range(10)}) == 1


def test_a_mirror_never_changes_the_answer(setup: Setup) -> None:
    router = setup.supervisor.served["churn"].router
    sent = router.mirror_sent
    setup.client.serving.set_traffic("churn", {"blue": 100}, mirror={"green": 100})
    _wait("the mirror", lambda: router.mirror == {"green": 100})
    answers = Counter(setup.ask() for _ in range(30))
    assert answers == Counter({("blue", 1): 30})  # green answers 0, never returned
    _wait("mirrored copies", lambda: router.mirror_sent >= sent + 30)
    setup.client.serving.set_traffic("churn", {"blue": 100}, mirror={})


def test_a_crashed_deployment_is_restarted_and_requests_still_succeed(setup: Setup) -> None:
    setup.client.serving.set_traffic("churn", {"blue": 50, "green": 50})
    _wait("50/50", lambda: setup.supervisor.served["churn"].router.traffic.get("blue") == 50)
    pid = setup.live()["blue"]["pid"]
    os.killpg(pid, signal.SIGKILL)
    # Every request succeeds while blue is down: its share goes to green.
    answers = Counter(setup.ask()[0] for _ in range(50))
    assert sum(answers.values()) == 50
    _wait(
        "blue restarted",
        lambda: setup.live()["blue"]["restarts"] == 1 and setup.live()["blue"]["state"] == "ready",
    )
    assert setup.live()["blue"]["pid"] != pid
    assert setup.live()["blue"]["last_exit"] == -signal.SIGKILL


@dataclass
class Load:
    """Steady traffic from a thread; every failure is kept."""

    setup: Setup
    answers: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        with httpx.Client(timeout=30) as http:
            while not self.stop.is_set():
                try:
                    answer = http.post(self.setup.url + "/invocations", json=[ROW])
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                    continue
                if answer.status_code != 200:
                    self.failures.append(f"{answer.status_code} {answer.text}")
                else:
                    self.answers[answer.headers["x-modelyard-deployment"]] += 1


def _under_load(setup: Setup, action: Callable[[], None]) -> Load:
    load = Load(setup)
    threads = [threading.Thread(target=load.run) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        action()
    finally:
        load.stop.set()
        for thread in threads:
            thread.join(30)
    return load


def _finished(setup: Setup) -> bool:
    return setup.client.serving.rollout("churn").state != RolloutState.RUNNING


def test_a_rollout_promotes_under_load_with_no_failed_request(setup: Setup) -> None:
    setup.client.serving.set_traffic("churn", {"blue": 100})
    _wait("blue only", lambda: setup.supervisor.served["churn"].router.traffic == {"blue": 100})

    def roll() -> None:
        setup.client.serving.start_rollout(
            "churn", "green", [30, 100], interval_ms=1000, max_error_rate=0.05, max_p99_ms=5000
        )
        _wait("the rollout", lambda: _finished(setup), timeout=60)

    load = _under_load(setup, roll)
    rollout = setup.client.serving.rollout("churn")
    assert rollout.state == RolloutState.SUCCEEDED, rollout.outcome
    assert load.failures == []
    assert load.answers["green"] > 0
    assert setup.client.serving.endpoint("churn").traffic == {"blue": 0, "green": 100}


def test_a_rollout_rolls_back_under_load_with_no_failed_request(setup: Setup) -> None:
    setup.client.serving.set_traffic("churn", {"blue": 100, "green": 0})

    def roll() -> None:
        # No scoring server answers in 0.001 ms: the bound is crossed at the first step.
        setup.client.serving.start_rollout(
            "churn", "green", [20, 100], interval_ms=60_000, max_p99_ms=0.001
        )
        _wait("the rollback", lambda: _finished(setup), timeout=60)

    load = _under_load(setup, roll)
    rollout = setup.client.serving.rollout("churn")
    assert rollout.state == RolloutState.ROLLED_BACK
    assert rollout.outcome is not None
    assert "p99 latency" in rollout.outcome
    assert load.failures == []
    assert setup.client.serving.endpoint("churn").traffic == {"blue": 100}


def test_changing_and_deleting_deployments(setup: Setup) -> None:
    old_pid = setup.live()["green"]["pid"]
    setup.client.serving.update_deployment("churn", "green", model_uri="models:/churn/1")
    _wait(
        "green replaced",
        lambda: (
            setup.live()["green"]["model"] == "models:/churn/1"
            and setup.live()["green"]["state"] == "ready"
        ),
    )
    _wait("the old green stopped", lambda: not _alive(old_pid))
    setup.client.serving.delete_deployment("churn", "green")
    _wait("green gone", lambda: "green" not in setup.live())
    new_pid = setup.supervisor.status()  # still serving blue
    assert new_pid["endpoints"]["churn"]["deployments"]["blue"]["state"] == "ready"
    assert setup.ask()[0] == "blue"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); its state in /proc says it has exited.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def _ready(url: str) -> bool:
    try:
        return httpx.get(url + "/readyz").status_code == 200
    except httpx.HTTPError:
        return False


def test_a_new_supervisor_restores_the_endpoint(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    backend = open_local_backend(settings)
    try:
        client = Client(settings=settings, backend=backend)
        x = pd.DataFrame(np.random.default_rng(1).normal(size=(40, 2)), columns=COLUMNS)
        model = LogisticRegression().fit(x, (x["a"] > 0).astype(int))
        models.register(model, "solo", sample=x.head(), client=client)
        port = free_port()
        client.serving.create_endpoint("solo", port=port)
        client.serving.create_deployment("solo", "only", "models:/solo/1")
        for _ in range(2):  # start, stop, start again: the same endpoint comes back
            supervisor = Supervisor(backend, settings, poll_seconds=0.2)
            thread = threading.Thread(target=supervisor.run, daemon=True)
            thread.start()
            try:
                _wait("the restored endpoint", lambda: _ready(f"http://127.0.0.1:{port}"))
                answer = httpx.post(f"http://127.0.0.1:{port}/invocations", json=[ROW])
                assert answer.status_code == 200
            finally:
                supervisor.stop()
                thread.join(30)
    finally:
        backend.close()


def test_a_router_whose_port_is_taken_starts_once_it_is_free_keeping_its_deployments(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path)
    backend = open_local_backend(settings)
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()
    port = squatter.getsockname()[1]
    try:
        client = Client(settings=settings, backend=backend)
        x = pd.DataFrame(np.random.default_rng(2).normal(size=(40, 2)), columns=COLUMNS)
        model = LogisticRegression().fit(x, (x["a"] > 0).astype(int))
        models.register(model, "busy", sample=x.head(), client=client)
        client.serving.create_endpoint("busy", port=port)
        client.serving.create_deployment("busy", "only", "models:/busy/1")
        supervisor = Supervisor(backend, settings, poll_seconds=0.2)
        thread = threading.Thread(target=supervisor.run, daemon=True)
        thread.start()
        try:
            _wait(
                "the deployment",
                lambda: (
                    supervisor.status()["endpoints"]
                    .get("busy", {})
                    .get("deployments", {})
                    .get("only", {})
                    .get("state")
                    == "ready"
                ),
                timeout=90,
            )
            pid = supervisor.status()["endpoints"]["busy"]["deployments"]["only"]["pid"]
            assert thread.is_alive(), "a port it cannot bind stopped the supervisor"
            error = supervisor.status()["endpoints"]["busy"]["router_error"]
            assert f"cannot listen on 127.0.0.1:{port}: Address already in use" == error
            squatter.close()
            _wait("the router", lambda: _ready(f"http://127.0.0.1:{port}"))
            answer = httpx.post(f"http://127.0.0.1:{port}/invocations", json=[ROW])
            assert answer.status_code == 200, answer.text
            # The deployment that was already running serves; none was started again.
            live = supervisor.status()["endpoints"]["busy"]["deployments"]["only"]
            assert (live["pid"], live["restarts"]) == (pid, 0)
        finally:
            supervisor.stop()
            thread.join(30)
        assert not _alive(pid)
    finally:
        squatter.close()
        backend.close()
