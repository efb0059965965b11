"""Secrets over HTTP, as the wire carries them: a value goes in and never comes out.

The contract suite builds requests with the client, which refuses a bad name before it is
sent; here the server itself is sent bad names and values, and every answer's raw body is
read for the value. A server's start checks its secret key.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from modelyard.core.backend import open_local_backend
from modelyard.core.secret_box import generate_key
from modelyard.errors import InvalidInput
from modelyard.server.app import create_app
from modelyard.server.serve import build_app
from tests.conftest import make_settings

API = "/api/v1"
VALUE = "sk-live-not-a-real-key-7d2e"


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = make_settings(tmp_path_factory.mktemp("secrets-rest"))
    backend = open_local_backend(settings)
    with TestClient(create_app(backend, settings)) as client:
        yield client
    backend.close()


def test_no_answer_holds_the_value(http: TestClient) -> None:
    answers = [
        http.put(f"{API}/secrets/stripe", json={"value": VALUE}),
        http.put(f"{API}/secrets/stripe", json={"value": VALUE}),
        http.get(f"{API}/secrets"),
        http.post(f"{API}/secrets/reencrypt", json={}),
        http.get(f"{API}/audit/records"),
        http.delete(f"{API}/secrets/stripe"),
    ]
    for answer in answers:
        assert answer.status_code == 200, answer.text
        assert VALUE not in answer.text
    assert "stripe" in answers[2].text
    assert "ciphertext" not in answers[2].text


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/secrets/a%20b", {"value": VALUE}),
        ("PUT", "/secrets/..%2Fetc", {"value": VALUE}),
        ("PUT", "/secrets/-x", {"value": VALUE}),
        ("PUT", "/secrets/" + "x" * 251, {"value": VALUE}),
        ("DELETE", "/secrets/a%20b", None),
        ("PUT", "/secrets/ok", {"value": ""}),
        ("PUT", "/secrets/ok", {"value": 12345}),
        ("PUT", "/secrets/ok", {}),
        ("PUT", "/secrets/ok", {"value": VALUE, "workspace": "other"}),
        ("PUT", "/secrets/ok", {"value": VALUE + "\x00"}),
        ("PUT", "/secrets/ok", {"value": VALUE + "x" * 65_536}),
    ],
)
def test_bad_names_and_values_are_refused_without_echoing_the_value(
    http: TestClient, method: str, path: str, body: dict[str, object] | None
) -> None:
    answer = http.request(method, API + path, json=body)
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.json()["error"]["code"] in ("invalid_input", "not_found")
    assert VALUE not in answer.text
    assert http.get(f"{API}/secrets").json() == {"secrets": []}


def test_a_server_with_auth_and_no_key_warns_and_a_bad_key_stops_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="modelyard.server.serve"):
        build_app(make_settings(tmp_path), auth=True)
    [warning] = [r.getMessage() for r in caplog.records if "MODELYARD_SECRET_KEY" in r.message]
    assert "is not set: stored secrets are encrypted with the key in" in warning
    assert str(tmp_path / ".modelyard" / "keys" / "secret-key") in warning
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="modelyard.server.serve"):
        build_app(make_settings(tmp_path), auth=False)  # loopback, the owner's own store
        build_app(make_settings(tmp_path, secret_key=generate_key()), auth=True)
    assert caplog.records == []
    with pytest.raises(InvalidInput, match="the first key in MODELYARD_SECRET_KEY is not a"):
        build_app(make_settings(tmp_path, secret_key="not-a-key"), auth=True)
