"""The inputs that made the REST server answer 500, each now a 4xx naming what was wrong.

Probed on SQLite and on PostgreSQL, which refuses more (a NUL byte in text, a value longer
than its column) and so turned more bad inputs into database errors: integers too large
for the columns in paths, queries and bodies, JSON nested 100,000 deep, NUL bytes, an actor
name longer than the column that records it, free-form JSON holding infinities, and a
description of 30 MB. After each, the server answers and nothing was stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from modelyard.core.backend import LocalBackend
from modelyard.storage.db.tables import audit_records
from tests.conftest import make_settings, reset_postgres, running_server

pytestmark = pytest.mark.slow

API = "/api/v1"
TOO_BIG = 9223372036854775808  # 2**63: one past the largest 64-bit integer


class Api:
    def __init__(self, http: httpx.Client, backend: LocalBackend) -> None:
        self.http = http
        self.backend = backend

    def records(self) -> int:
        with self.backend.db.read() as conn:
            return int(conn.execute(select(func.count()).select_from(audit_records)).scalar_one())


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    overrides: dict[str, Any] = {"max_request_bytes": 64 * 1024 * 1024}
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_url")
        reset_postgres(url)
        overrides["uri"] = url
    settings = make_settings(tmp_path_factory.mktemp("bad-input"), **overrides)
    with running_server(settings) as (server, backend), httpx.Client(base_url=server.url) as http:
        yield Api(http, backend)


def refused(response: httpx.Response, *fragments: str) -> str:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    for fragment in fragments:
        assert fragment in error["message"], error["message"]
    return str(error["message"])


@pytest.fixture
def unchanged(api: Api) -> Iterator[None]:
    before = api.records()
    yield
    assert api.records() == before
    assert api.http.get("/healthz").status_code == 200


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(
    "path",
    [
        f"{API}/models/m/versions/{TOO_BIG}",
        f"{API}/models/m/versions/{TOO_BIG}/evaluations",
        f"{API}/pipelines/p/versions/{2**31}",
    ],
)
def test_integers_too_large_in_a_path_are_400_naming_the_field(api: Api, path: str) -> None:
    refused(api.http.get(path), "version")


def test_integers_too_large_in_a_query_or_a_body_are_400_naming_the_field(api: Api) -> None:
    refused(api.http.get(f"{API}/environments/e", params={"version": TOO_BIG}), "version")
    experiment = api.http.put(f"{API}/experiments-by-name/big").json()["id"]
    before = api.records()
    answer = api.http.post(f"{API}/runs", json={"experiment_id": experiment, "start_time": 10**30})
    refused(answer, "start_time")
    answer = api.http.post(f"{API}/schedule-claims", json={"now": -1})
    refused(answer, "now")
    assert api.records() == before


@pytest.mark.usefixtures("unchanged")
def test_json_nested_a_hundred_thousand_deep_is_400(api: Api) -> None:
    body = '{"name": "deep", "tags": ' + "[" * 100_000 + "]" * 100_000 + "}"
    answer = api.http.post(
        f"{API}/experiments", content=body, headers={"content-type": "application/json"}
    )
    refused(answer, "nests too deeply")


@pytest.mark.usefixtures("unchanged")
def test_json_nested_deeper_than_the_limit_is_400_naming_where(api: Api) -> None:
    deep: Any = 1
    for _ in range(100):
        deep = {"a": deep}
    answer = api.http.post(
        f"{API}/schedules",
        json={"name": "s", "pipeline_ref": "p", "cron": "@daily", "params": deep},
    )
    refused(answer, "nested more than 64 levels deep")


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(
    ("route", "body", "field"),
    [
        ("/experiments", {"name": "bad\x00name"}, "name"),
        ("/experiments", {"name": "ok", "description": "a\x00b"}, "description"),
        ("/experiments", {"name": "ok", "tags": {"team": "a\x00"}}, "tags.team"),
        ("/models", {"name": "m", "tags": {"k\x00": "v"}}, "a key"),
        (
            "/schedules",
            {"name": "s", "pipeline_ref": "p", "cron": "@daily", "params": {"x": "\x00"}},
            "params.x",
        ),
    ],
)
def test_a_nul_byte_in_any_text_is_400_naming_the_field(
    api: Api, route: str, body: dict[str, Any], field: str
) -> None:
    refused(api.http.post(API + route, json=body), field)


@pytest.mark.usefixtures("unchanged")
def test_an_actor_name_longer_than_its_column_is_400(api: Api) -> None:
    answer = api.http.post(
        f"{API}/experiments",
        json={"name": "by-a-long-name"},
        headers={"X-Modelyard-User": "u" * 300},
    )
    refused(answer, "X-Modelyard-User", "250")
    answer = api.http.post(
        f"{API}/experiments",
        json={"name": "by-a-control-character"},
        headers={"X-Modelyard-User": "ana\tbob"},
    )
    refused(answer, "printable")


@pytest.mark.usefixtures("unchanged")
def test_infinity_inside_free_form_json_is_400(api: Api) -> None:
    body = '{"name": "s", "pipeline_ref": "p", "cron": "@daily", "params": {"t": Infinity}}'
    answer = api.http.post(
        f"{API}/schedules", content=body, headers={"content-type": "application/json"}
    )
    refused(answer, "params.t", "not a finite number")


@pytest.mark.usefixtures("unchanged")
def test_a_thirty_megabyte_description_is_400_stating_the_limit(api: Api) -> None:
    answer = api.http.post(
        f"{API}/experiments", json={"name": "huge", "description": "x" * (30 * 1024 * 1024)}
    )
    refused(answer, "description", "65536")


def test_a_name_that_breaks_its_rule_reads_as_a_sentence_with_an_example(api: Api) -> None:
    message = refused(api.http.post(f"{API}/models", json={"name": "no spaces please"}))
    assert "'no spaces please' is not a valid name" in message
    assert "e.g. churn-model" in message
    assert "pattern" not in message
    message = refused(api.http.post(f"{API}/endpoints", json={"name": "Churn_API"}))
    assert "lowercase letters, digits and '-'" in message
    assert "e.g. churn" in message


def test_a_blob_over_the_upload_limit_is_413_and_stores_nothing(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, max_blob_bytes=1000)
    with running_server(settings) as (server, backend), httpx.Client(base_url=server.url) as http:
        address = "0" * 64
        declared = http.put(f"{API}/blobs/{address}", content=b"x" * 2000)
        assert declared.status_code == 413, declared.text
        assert "MODELYARD_MAX_BLOB_BYTES" in declared.json()["error"]["message"]

        def chunks() -> Iterator[bytes]:
            for _ in range(4):
                yield b"y" * 500

        streamed = http.put(f"{API}/blobs/{address}", content=chunks())
        assert streamed.status_code == 413, streamed.text
        small = b"fits"
        import hashlib

        sha = hashlib.sha256(small).hexdigest()
        assert http.put(f"{API}/blobs/{sha}", content=small).status_code == 200
        stored = [p for p in Path(backend.blobs.root).rglob("*") if p.is_file()]
        assert [p.name for p in stored] == [sha]


def test_a_lineage_query_with_a_bad_direction_or_depth_is_400(api: Api) -> None:
    for query in ({"direction": "sideways"}, {"depth": "0"}, {"depth": "many"}):
        answer = api.http.get(API + "/lineage", params={"uri": "runs:/abc", **query})
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]["code"] == "invalid_input"
    missing = api.http.get(API + "/lineage", params={"uri": "runs:/abc"})
    assert missing.status_code == 404
    assert "runs:/abc" in missing.json()["error"]["message"]
