"""The remote backend retries only what is safe to retry (an injected transport, no server)."""

from __future__ import annotations

import json

import httpx
import pytest

from modelyard.core.remote import RemoteBackend
from modelyard.errors import BackendUnavailable, ModelyardError, NotFound
from modelyard.tracking import operations as ops
from modelyard.tracking.models import GetRun, LogBatch

RUN = {
    "id": "r1",
    "experiment_id": "e1",
    "name": "n",
    "status": "RUNNING",
    "start_time": 1,
    "end_time": None,
    "user": "u",
    "description": None,
    "parent_run_id": None,
    "source": {},
    "environment_hash": None,
    "failure": None,
    "lifecycle": "active",
}


class Flaky:
    """Fails the first ``failures`` requests with ``error``, then answers ``reply``."""

    def __init__(
        self, failures: int, error: type[httpx.TransportError], reply: httpx.Response
    ) -> None:
        self.failures = failures
        self.error = error
        self.reply = reply
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if len(self.requests) <= self.failures:
            raise self.error("simulated", request=request)
        return self.reply


def backend(handler: Flaky, retries: int = 3) -> RemoteBackend:
    return RemoteBackend(
        "http://modelyard.test", user="ana", retries=retries, transport=httpx.MockTransport(handler)
    )


def test_a_read_is_retried_after_a_dropped_connection() -> None:
    flaky = Flaky(2, httpx.ReadError, httpx.Response(200, json=RUN))
    run = backend(flaky).call(ops.get_run, GetRun(run_id="r1"))
    assert run.id == "r1"
    assert len(flaky.requests) == 3
    assert flaky.requests[0].url.path == "/api/v1/runs/r1"
    assert flaky.requests[0].headers["x-modelyard-user"] == "ana"


def test_a_change_is_retried_only_when_it_never_reached_the_server() -> None:
    ok = httpx.Response(200, json={"ok": True})
    never_sent = Flaky(1, httpx.ConnectError, ok)
    backend(never_sent).call(ops.log_batch, LogBatch(run_id="r1"))
    assert len(never_sent.requests) == 2

    maybe_applied = Flaky(1, httpx.ReadError, ok)
    with pytest.raises(BackendUnavailable, match="modelyard server"):
        backend(maybe_applied).call(ops.log_batch, LogBatch(run_id="r1"))
    assert len(maybe_applied.requests) == 1


def test_retries_are_bounded() -> None:
    down = Flaky(100, httpx.ConnectError, httpx.Response(200))
    with pytest.raises(BackendUnavailable, match=r"http://modelyard\.test"):
        backend(down, retries=2).call(ops.get_run, GetRun(run_id="r1"))
    assert len(down.requests) == 3


def test_server_errors_become_domain_errors_and_are_not_retried() -> None:
    body = {
        "error": {
            "code": "not_found",
            "message": "run 'r9' does not exist",
            "details": {"kind": "run", "id": "r9"},
        }
    }
    missing = Flaky(0, httpx.ReadError, httpx.Response(404, json=body))
    with pytest.raises(NotFound, match="r9") as caught:
        backend(missing).call(ops.get_run, GetRun(run_id="r9"))
    assert caught.value.details == {"kind": "run", "id": "r9"}
    assert len(missing.requests) == 1


def test_a_non_json_error_keeps_the_status() -> None:
    proxy = Flaky(0, httpx.ReadError, httpx.Response(502, text="Bad Gateway"))
    with pytest.raises(ModelyardError, match="502"):
        backend(proxy).call(ops.get_run, GetRun(run_id="r1"))


def test_nan_travels_as_a_json_string() -> None:
    seen: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.content)
        return httpx.Response(200, json={"ok": True})

    remote = RemoteBackend(
        "http://modelyard.test", user="u", transport=httpx.MockTransport(handler)
    )
    remote.call(ops.log_batch, LogBatch(run_id="r1", metrics=[{"key": "m", "value": float("nan")}]))
    assert json.loads(seen[0])["metrics"][0]["value"] == "NaN"
