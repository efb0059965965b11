"""Bad input against a real server: a clear 4xx JSON error, never a crash or a silent change.

DESIGN invariant 7: every domain error answers ``{"error": {"code", "message", "details"}}``
with its HTTP status, the server keeps answering afterwards, and the store is unchanged. The
remote client turns those answers back into the exception classes a local store raises.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from modelyard.client.client import Client
from modelyard.core.backend import LocalBackend
from modelyard.core.remote import RemoteBackend
from modelyard.errors import (
    AlreadyExists,
    BackendUnavailable,
    Conflict,
    FilterSyntaxError,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
)
from modelyard.storage.db.tables import audit_records, metrics, run_artifacts
from tests.conftest import free_port, make_settings, running_server

pytestmark = pytest.mark.slow

LIMIT = 10_000
UNKNOWN_ID = "0123456789abcdef0123456789abcdef"
API = "/api/v1"


@dataclass
class Server:
    url: str
    http: httpx.Client
    backend: LocalBackend
    local: Client  # on the server's own store, to see what was committed
    experiment_id: str
    experiment_name: str
    run_id: str

    def snapshot(self) -> dict[str, Any]:
        """Everything a bad request could have changed: the run, experiments, audit, blobs."""
        with self.backend.db.read() as conn:
            audit_count = conn.execute(select(func.count()).select_from(audit_records)).scalar()
            metric_count = conn.execute(select(func.count()).select_from(metrics)).scalar()
            artifact_count = conn.execute(select(func.count()).select_from(run_artifacts)).scalar()
        blob_root = Path(self.backend.blobs.root)
        return {
            "run": self.local.get_run(self.run_id).model_dump(),
            "experiments": [e.model_dump() for e in self.local.list_experiments()],
            "runs": [r.id for r in self.local.search_runs([self.experiment_id]).runs],
            "audit_records": audit_count,
            "metrics": metric_count,
            "artifacts": artifact_count,
            "blobs": sorted(p.name for p in blob_root.rglob("*") if p.is_file()),
        }

    def assert_alive_and_unchanged(self, before: dict[str, Any]) -> None:
        assert self.http.get("/healthz").json() == {"status": "ok"}
        assert self.http.get(f"{API}/runs/{self.run_id}").status_code == 200
        assert self.snapshot() == before


@dataclass
class _Running:
    url: str
    http: httpx.Client
    backend: LocalBackend
    local: Client


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Running]:
    """One server for the module (starting one costs more than most tests here)."""
    settings = make_settings(tmp_path_factory.mktemp("rest-errors"), max_request_bytes=LIMIT)
    with running_server(settings) as (thread, backend), httpx.Client(base_url=thread.url) as http:
        yield _Running(thread.url, http, backend, Client(settings=settings, backend=backend))


@pytest.fixture
def server(running: _Running) -> Server:
    """A fresh experiment and run of this test's own on the shared server."""
    name = f"errors-{uuid.uuid4().hex[:8]}"
    experiment = running.local.create_experiment(name)
    run = running.local.create_run(experiment.id, name="r1")
    running.local.log_batch(
        run.id, params={"lr": "0.1"}, tags={"team": "a"}, metrics=[{"key": "acc", "value": 0.5}]
    )
    return Server(
        running.url, running.http, running.backend, running.local, experiment.id, name, run.id
    )


@pytest.fixture
def remote(server: Server, tmp_path: Path) -> Iterator[Client]:
    backend = RemoteBackend(server.url, user="t", retries=1)
    try:
        yield Client(settings=make_settings(tmp_path), backend=backend)
    finally:
        backend.close()


def assert_error(
    response: httpx.Response, status: int, code: str, *fragments: str
) -> dict[str, Any]:
    """The response is the error shape of DESIGN invariant 7; returns the inner error."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == ["error"]
    error: dict[str, Any] = body["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == code
    assert isinstance(error["message"], str)
    assert isinstance(error["details"], dict)
    for fragment in fragments:
        assert fragment in error["message"], error["message"]
    return error


# not found --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("GET", "", None),
        ("PATCH", "", {"status": "FINISHED"}),
        ("DELETE", "", None),
        ("POST", "/batch", {"params": {"a": "1"}}),
    ],
)
def test_unknown_run_is_404_naming_the_id(
    server: Server, method: str, suffix: str, body: dict[str, Any] | None
) -> None:
    before = server.snapshot()
    response = server.http.request(method, f"{API}/runs/{UNKNOWN_ID}{suffix}", json=body)
    error = assert_error(response, 404, "not_found", UNKNOWN_ID)
    assert error["details"] == {"kind": "run", "id": UNKNOWN_ID}
    server.assert_alive_and_unchanged(before)


def test_unknown_experiment_is_404_naming_the_id(server: Server) -> None:
    error = assert_error(
        server.http.get(f"{API}/experiments/{UNKNOWN_ID}"), 404, "not_found", UNKNOWN_ID
    )
    assert error["details"] == {"kind": "experiment", "id": UNKNOWN_ID}


def test_run_in_unknown_experiment_is_404_and_creates_nothing(server: Server) -> None:
    before = server.snapshot()
    response = server.http.post(f"{API}/runs", json={"experiment_id": UNKNOWN_ID})
    assert_error(response, 404, "not_found", UNKNOWN_ID)
    server.assert_alive_and_unchanged(before)


def test_unknown_route_is_404_json(server: Server) -> None:
    assert_error(server.http.get(f"{API}/no-such-thing"), 404, "not_found", "/api/v1/no-such-thing")
    assert_error(server.http.get("/nowhere"), 404, "not_found", "/nowhere")


# search filters ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filter_text", "position"),
    [
        ("metrics.acc >", 13),  # missing value: the end of the text
        ("metrics.acc > 'x'", 14),  # a string for a metric
        ("foo.bar = 1", 0),  # unknown prefix
        ("metrics.acc >> 1", 13),  # second '>'
        ("(metrics.acc > 1", 16),  # unbalanced parenthesis
        ("status = 'nope'", 9),  # not a run status
        ("metrics.acc > 1 AND", 19),  # dangling AND
        ("params.lr = 1 OR metrics.acc LIKE 1", 29),  # LIKE on a metric
        ("metrics.acc = 1 params.lr = 2", 16),  # missing AND
        ("tags.team = 'a", 12),  # unterminated string
        ("metrics.acc # 1", 12),  # a character the language does not have
    ],
)
def test_malformed_filter_is_400_with_exact_position(
    server: Server, filter_text: str, position: int
) -> None:
    before = server.snapshot()
    response = server.http.post(
        f"{API}/runs/search", json={"experiment_ids": [server.experiment_id], "filter": filter_text}
    )
    error = assert_error(response, 400, "invalid_filter", f"position {position}")
    assert error["details"]["position"] == position
    assert error["details"]["expression"] == filter_text
    server.assert_alive_and_unchanged(before)


def test_malformed_order_by_is_400_with_position_in_the_item(server: Server) -> None:
    response = server.http.post(
        f"{API}/runs/search",
        json={"experiment_ids": [server.experiment_id], "order_by": ["metrics.acc UP"]},
    )
    error = assert_error(response, 400, "invalid_filter", "'UP'")
    assert error["details"] == {"position": 12, "expression": "metrics.acc UP"}


def test_valid_filter_still_finds_the_run(server: Server) -> None:
    response = server.http.post(
        f"{API}/runs/search",
        json={"experiment_ids": [server.experiment_id], "filter": "metrics.acc >= 0.5"},
    )
    assert response.status_code == 200
    assert [r["id"] for r in response.json()["runs"]] == [server.run_id]


@pytest.mark.parametrize("max_results", [0, 100_001, -1])
def test_max_results_out_of_range_is_400(server: Server, max_results: int) -> None:
    response = server.http.post(
        f"{API}/runs/search",
        json={"experiment_ids": [server.experiment_id], "max_results": max_results},
    )
    error = assert_error(response, 400, "invalid_input", "max_results")
    assert [e["loc"] for e in error["details"]["errors"]] == [["max_results"]]


@pytest.mark.parametrize("token", ["garbage!", "bm90IGpzb24=", "eyJvZmZzZXQiOiAtNX0="])
def test_invalid_page_token_is_400(server: Server, token: str) -> None:
    # Tokens: not base64, base64 of non-JSON, and {"offset": -5}.
    response = server.http.post(
        f"{API}/runs/search", json={"experiment_ids": [server.experiment_id], "page_token": token}
    )
    assert_error(response, 400, "invalid_input", "page_token", token)


# params are immutable ---------------------------------------------------------------------


def test_param_conflict_is_409_naming_key_and_both_values(server: Server) -> None:
    before = server.snapshot()
    response = server.http.post(
        f"{API}/runs/{server.run_id}/batch",
        json={
            "params": {"lr": "0.2"},
            "tags": {"team": "b"},
            "metrics": [{"key": "x", "value": 1}],
        },
    )
    error = assert_error(response, 409, "conflict", "'lr'", "'0.1'", "'0.2'")
    assert error["details"] == {"key": "lr", "old": "0.1", "new": "0.2"}
    # The whole batch is refused: neither the tag nor the metric of the same request landed.
    server.assert_alive_and_unchanged(before)
    assert server.local.get_run(server.run_id).params == {"lr": "0.1"}


def test_same_param_value_again_is_200_and_a_no_op(server: Server) -> None:
    before = server.snapshot()
    response = server.http.post(f"{API}/runs/{server.run_id}/batch", json={"params": {"lr": "0.1"}})
    assert response.status_code == 200
    assert response.json() == {"ok": True}
    assert server.snapshot() == before


# body size --------------------------------------------------------------------------------


def _too_large(response: httpx.Response) -> None:
    error = assert_error(response, 413, "payload_too_large", str(LIMIT))
    assert error["details"] == {"limit": LIMIT}


def _big_batch() -> bytes:
    metrics_json = ",".join(f'{{"key": "m{i}", "value": {i}}}' for i in range(1000))
    body = f'{{"metrics": [{metrics_json}]}}'.encode()
    assert len(body) > LIMIT
    return body


def test_body_over_the_limit_with_content_length_is_413(server: Server) -> None:
    before = server.snapshot()
    response = server.http.post(
        f"{API}/runs/{server.run_id}/batch",
        content=_big_batch(),
        headers={"content-type": "application/json"},
    )
    assert "content-length" in response.request.headers
    _too_large(response)
    server.assert_alive_and_unchanged(before)


def test_chunked_body_over_the_limit_is_413(server: Server) -> None:
    body = _big_batch()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 1000):
            yield body[start : start + 1000]

    before = server.snapshot()
    response = server.http.post(
        f"{API}/runs/{server.run_id}/batch",
        content=chunks(),
        headers={"content-type": "application/json"},
    )
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    _too_large(response)
    server.assert_alive_and_unchanged(before)


def test_body_under_the_limit_is_accepted(server: Server) -> None:
    response = server.http.post(
        f"{API}/runs/{server.run_id}/batch",
        json={"metrics": [{"key": f"m{i}", "value": i} for i in range(50)]},
    )
    assert response.status_code == 200
    assert server.local.get_run(server.run_id).metrics["m49"] == 49


# malformed bodies -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "fragment"),
    [
        ("", "''"),
        ("a//b", "'a//b'"),
        ("../x", "'../x'"),
        ("bad$char", "'bad$char'"),
        ("k" * 251, "'" + "k" * 251 + "'"),
        ("/abs", "'/abs'"),
    ],
)
def test_invalid_metric_name_is_400_naming_the_key(server: Server, key: str, fragment: str) -> None:
    before = server.snapshot()
    response = server.http.post(
        f"{API}/runs/{server.run_id}/batch", json={"metrics": [{"key": key, "value": 1.0}]}
    )
    assert_error(response, 400, "invalid_input", "metric name", fragment)
    server.assert_alive_and_unchanged(before)


def test_metric_name_of_250_characters_is_accepted(server: Server) -> None:
    key = "k" * 250
    response = server.http.post(
        f"{API}/runs/{server.run_id}/batch", json={"metrics": [{"key": key, "value": 1.0}]}
    )
    assert response.status_code == 200
    assert server.local.get_run(server.run_id).metrics[key] == 1.0


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"params": {"a": "1"}', "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'"text"', "must be a JSON object"),
        (b"null", "must be a JSON object"),
    ],
)
def test_body_that_is_not_a_json_object_is_400(
    server: Server, content: bytes, fragment: str
) -> None:
    before = server.snapshot()
    response = server.http.post(
        f"{API}/runs/{server.run_id}/batch",
        content=content,
        headers={"content-type": "application/json"},
    )
    assert_error(response, 400, "invalid_input", fragment)
    server.assert_alive_and_unchanged(before)


def test_unknown_field_is_400_naming_it(server: Server) -> None:
    before = server.snapshot()
    response = server.http.post(f"{API}/runs/{server.run_id}/batch", json={"metricz": []})
    error = assert_error(response, 400, "invalid_input", "metricz")
    assert [e["loc"] for e in error["details"]["errors"]] == [["metricz"]]
    server.assert_alive_and_unchanged(before)


def test_unknown_query_parameter_is_400_naming_it(server: Server) -> None:
    response = server.http.get(f"{API}/runs/{server.run_id}", params={"verbose": "1"})
    assert_error(response, 400, "invalid_input", "verbose")


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/runs/{run}/batch", {"metrics": "x"}, "metrics"),
        ("/runs/{run}/batch", {"metrics": [{"key": "a", "value": "abc"}]}, "value"),
        ("/runs/{run}/batch", {"metrics": [{"key": "a", "value": True}]}, "value"),
        ("/runs/{run}/batch", {"metrics": [{"key": "a", "value": 1, "step": "x"}]}, "step"),
        ("/runs/{run}/batch", {"params": {"p": 1}}, "p"),
        ("/runs/{run}/batch", {"tags": ["a"]}, "tags"),
        ("/runs/search", {"experiment_ids": "{exp}"}, "experiment_ids"),
        ("/runs/search", {"experiment_ids": []}, "experiment_ids"),
        ("/runs/search", {"experiment_ids": ["{exp}"], "filter": 5}, "filter"),
        ("/experiments", {"name": 5}, "name"),
        ("/runs", {"experiment_id": "{exp}", "status": "DANCING"}, "status"),
    ],
)
def test_wrong_types_are_400_naming_the_field(
    server: Server, path: str, body: dict[str, Any], field: str
) -> None:
    def fill(value: Any) -> Any:
        if isinstance(value, str):
            return value.format(exp=server.experiment_id)
        if isinstance(value, list):
            return [fill(v) for v in value]
        return value

    body = {k: fill(v) for k, v in body.items()}
    before = server.snapshot()
    response = server.http.post(API + path.format(run=server.run_id), json=body)
    assert_error(response, 400, "invalid_input", field)
    server.assert_alive_and_unchanged(before)


def test_finished_run_cannot_be_set_running_again(server: Server) -> None:
    url = f"{API}/runs/{server.run_id}"
    assert server.http.patch(url, json={"status": "FINISHED"}).status_code == 200
    before = server.snapshot()
    error = assert_error(
        server.http.patch(url, json={"status": "RUNNING"}), 409, "conflict", "FINISHED", "RUNNING"
    )
    assert error["details"] == {}
    server.assert_alive_and_unchanged(before)


def test_duplicate_experiment_is_409(server: Server) -> None:
    before = server.snapshot()
    response = server.http.post(f"{API}/experiments", json={"name": server.experiment_name})
    error = assert_error(response, 409, "already_exists", f"'{server.experiment_name}'")
    assert error["details"] == {"id": server.experiment_id}
    server.assert_alive_and_unchanged(before)


# blobs ------------------------------------------------------------------------------------


def test_blob_put_with_wrong_sha_is_400_and_stores_nothing(server: Server) -> None:
    content = b"these bytes are not what the address says"
    wrong = hashlib.sha256(b"something else").hexdigest()
    real = hashlib.sha256(content).hexdigest()
    before = server.snapshot()
    response = server.http.put(f"{API}/blobs/{wrong}", content=content)
    assert_error(response, 400, "invalid_input", wrong, real)
    assert server.http.head(f"{API}/blobs/{wrong}").status_code == 404
    # A corrupted upload must not leave its bytes behind under any name.
    assert server.http.head(f"{API}/blobs/{real}").status_code == 404
    server.assert_alive_and_unchanged(before)


def test_blob_put_then_get_round_trips(server: Server) -> None:
    content = b"model weights"
    sha = hashlib.sha256(content).hexdigest()
    put = server.http.put(f"{API}/blobs/{sha}", content=content)
    assert put.status_code == 200
    assert put.json() == {"sha256": sha, "size": len(content)}
    got = server.http.get(f"{API}/blobs/{sha}")
    assert got.status_code == 200
    assert got.content == content


def test_absent_blob_is_404(server: Server) -> None:
    sha = hashlib.sha256(b"never uploaded").hexdigest()
    error = assert_error(server.http.get(f"{API}/blobs/{sha}"), 404, "not_found", sha)
    assert error["details"] == {"kind": "blob", "id": sha}
    assert server.http.head(f"{API}/blobs/{sha}").status_code == 404


def test_blob_address_that_is_not_a_sha256_is_400(server: Server) -> None:
    assert_error(server.http.get(f"{API}/blobs/xyz"), 400, "invalid_input", "'xyz'", "SHA-256")


def test_artifact_pointing_at_a_missing_blob_is_400(server: Server) -> None:
    before = server.snapshot()
    sha = hashlib.sha256(b"never uploaded").hexdigest()
    response = server.http.post(
        f"{API}/runs/{server.run_id}/artifacts", json={"path": "m.bin", "sha256": sha, "size": 3}
    )
    assert_error(response, 400, "invalid_input", sha)
    server.assert_alive_and_unchanged(before)


@pytest.mark.parametrize("path", ["../escape.txt", "/etc/passwd", "a/../../b"])
def test_artifact_path_escaping_the_run_is_400(server: Server, path: str) -> None:
    content = b"x"
    sha = hashlib.sha256(content).hexdigest()
    assert server.http.put(f"{API}/blobs/{sha}", content=content).status_code == 200
    before = server.snapshot()
    response = server.http.post(
        f"{API}/runs/{server.run_id}/artifacts", json={"path": path, "sha256": sha, "size": 1}
    )
    assert_error(response, 400, "invalid_input")
    server.assert_alive_and_unchanged(before)


# health and docs --------------------------------------------------------------------------


def test_health_readiness_and_docs(server: Server) -> None:
    assert server.http.get("/healthz").json() == {"status": "ok"}
    ready = server.http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready"}
    docs = server.http.get("/docs")
    assert docs.status_code == 200
    assert "text/html" in docs.headers["content-type"]


def test_openapi_lists_the_tracking_routes(server: Server) -> None:
    response = server.http.get("/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    expected = {
        f"{API}/experiments": {"get", "post"},
        f"{API}/experiments/{{experiment_id}}": {"get"},
        f"{API}/experiments-by-name": {"get"},
        f"{API}/runs": {"post"},
        f"{API}/runs/{{run_id}}": {"get", "patch", "delete"},
        f"{API}/runs/{{run_id}}/batch": {"post"},
        f"{API}/runs/search": {"post"},
        f"{API}/runs/{{run_id}}/metric-history": {"get"},
        f"{API}/runs/{{run_id}}/inputs": {"post"},
        f"{API}/runs/{{run_id}}/artifacts": {"get", "post"},
        f"{API}/blobs/{{sha256}}": {"get", "put", "head"},
    }
    for path, methods in expected.items():
        assert path in paths, path
        assert methods <= set(paths[path]), (path, set(paths[path]))
    batch = paths[f"{API}/runs/{{run_id}}/batch"]["post"]
    assert batch["x-modelyard-permission"] == "runs:write"
    assert batch["x-modelyard-audit-action"] == "run.logged"


# the remote client raises what a local store raises --------------------------------------


def test_remote_unknown_run_raises_not_found(remote: Client) -> None:
    with pytest.raises(NotFound) as caught:
        remote.get_run(UNKNOWN_ID)
    assert UNKNOWN_ID in caught.value.message
    assert caught.value.details == {"kind": "run", "id": UNKNOWN_ID}


def test_remote_unknown_experiment_raises_not_found(remote: Client) -> None:
    with pytest.raises(NotFound, match=UNKNOWN_ID):
        remote.get_experiment(UNKNOWN_ID)


def test_remote_bad_filter_raises_filter_syntax_error_with_position(
    remote: Client, server: Server
) -> None:
    with pytest.raises(InvalidInput) as caught:
        remote.search_runs([server.experiment_id], "metrics.acc > 'x'")
    error = caught.value
    assert isinstance(error, FilterSyntaxError)
    assert error.code == "invalid_filter"
    assert error.details == {"position": 14, "expression": "metrics.acc > 'x'"}
    assert error.position == 14
    assert error.expression == "metrics.acc > 'x'"
    assert "position 14" in error.message


def test_remote_param_conflict_raises_conflict_and_keeps_the_value(
    remote: Client, server: Server
) -> None:
    with pytest.raises(Conflict) as caught:
        remote.log_param(server.run_id, "lr", "0.3")
    assert caught.value.details == {"key": "lr", "old": "0.1", "new": "0.3"}
    remote.log_param(server.run_id, "lr", "0.1")  # the same value again is fine
    assert remote.get_run(server.run_id).params == {"lr": "0.1"}


def test_remote_duplicate_experiment_raises_already_exists(remote: Client, server: Server) -> None:
    with pytest.raises(AlreadyExists, match=server.experiment_name):
        remote.create_experiment(server.experiment_name)


def test_remote_oversized_batch_raises_payload_too_large(remote: Client, server: Server) -> None:
    before = server.snapshot()
    with pytest.raises(PayloadTooLarge) as caught:
        remote.log_batch(server.run_id, metrics=[{"key": f"m{i}", "value": i} for i in range(1000)])
    assert caught.value.details == {"limit": LIMIT}
    server.assert_alive_and_unchanged(before)


def test_remote_invalid_input_raises_invalid_input(remote: Client, server: Server) -> None:
    with pytest.raises(InvalidInput, match="page_token"):
        remote.search_runs([server.experiment_id], page_token="garbage!")


def test_client_with_no_server_raises_backend_unavailable(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    backend = RemoteBackend(url, user="t", retries=0)
    client = Client(settings=make_settings(tmp_path), backend=backend)
    started = time.monotonic()
    try:
        with pytest.raises(BackendUnavailable) as caught:
            client.get_run(UNKNOWN_ID)
    finally:
        client.close()
    assert time.monotonic() - started < 5
    assert url in caught.value.message
    assert "`modelyard server`" in caught.value.message
    assert caught.value.http_status == 503


# an endpoint's history --------------------------------------------------------------------


def test_history_of_an_unknown_endpoint_is_404(server: Server) -> None:
    response = server.http.get(f"{API}/endpoints/never-made/history")
    assert_error(response, 404, "not_found", "endpoint 'never-made' has no history")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("at=soon", "at"),
        ("at=-1", "at"),
        ("at=1.5", "at"),
        ("at=99999999999999999999", "at"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
    ],
)
def test_history_questions_out_of_range_are_400(server: Server, query: str, field: str) -> None:
    response = server.http.get(f"{API}/endpoints/never-made/history?{query}")
    error = assert_error(response, 400, "invalid_input", field)
    assert [e["loc"] for e in error["details"]["errors"]] == [[field]]
