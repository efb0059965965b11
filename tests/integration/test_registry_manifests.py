"""A manifest sent to the server is refused with a 400 naming the file, never stored or a 500.

A manifest's paths become files on every machine that downloads the version or the step
output, so the server refuses paths that could land outside a destination (absolute, "..",
backslashes, NUL) and entries that are not a SHA-256 and a size, at registration and when a
step run records its outputs.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import make_settings, running_server

pytestmark = pytest.mark.slow

API = "/api/v1"
WEIGHTS = b"weights"
WEIGHTS_ENTRY = {"sha256": hashlib.sha256(WEIGHTS).hexdigest(), "size": len(WEIGHTS)}


@dataclass
class Server:
    http: httpx.Client

    def put(self, content: bytes) -> str:
        sha = hashlib.sha256(content).hexdigest()
        assert self.http.put(f"{API}/blobs/{sha}", content=content).status_code == 200
        return sha

    def put_manifest(self, files: dict[str, Any], **extra: Any) -> str:
        return self.put(json.dumps({**extra, "files": files}).encode())


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    settings = make_settings(tmp_path_factory.mktemp("manifests"))
    with running_server(settings) as (thread, _), httpx.Client(base_url=thread.url) as http:
        served = Server(http)
        served.put(WEIGHTS)
        yield served


def assert_400(response: httpx.Response, *fragments: str) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    body = response.json()
    assert list(body) == ["error"]
    error: dict[str, Any] = body["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == "invalid_input"
    for fragment in fragments:
        assert fragment in error["message"], error["message"]
    return error


BAD_FILES = [
    pytest.param({"/etc/x": WEIGHTS_ENTRY}, "file '/etc/x': it is absolute", id="absolute"),
    pytest.param({"../x": WEIGHTS_ENTRY}, "file '../x': its '..' segments climb", id="dotdot"),
    pytest.param({"a/../b": WEIGHTS_ENTRY}, "file 'a/../b': it is not in canonical", id="inner"),
    pytest.param({"a\\b": WEIGHTS_ENTRY}, "it contains a backslash", id="backslash"),
    pytest.param({"a\x00b": WEIGHTS_ENTRY}, "it contains a NUL character", id="nul"),
    pytest.param({"m.bin": {"size": 7}}, "file 'm.bin': sha256 is missing", id="no-sha256"),
    pytest.param(
        {"m.bin": {"sha256": WEIGHTS_ENTRY["sha256"], "size": "abc"}},
        "file 'm.bin': size must be a whole number of bytes, 0 or more, not 'abc'",
        id="size-abc",
    ),
    pytest.param(
        {"m.bin": {"sha256": WEIGHTS_ENTRY["sha256"]}},
        "file 'm.bin': size is missing",
        id="no-size",
    ),
    pytest.param(
        {"m.bin": {"sha256": "../../etc/passwd", "size": 7}},
        "file 'm.bin': sha256 must be 64 lowercase hexadecimal characters",
        id="sha256-path",
    ),
    pytest.param({"m.bin": "weights"}, "file 'm.bin': expected an object", id="not-an-object"),
    pytest.param(
        {"a": WEIGHTS_ENTRY, "a/b": WEIGHTS_ENTRY},
        "'a' is listed as a file and as the folder of other files",
        id="file-and-folder",
    ),
]


@pytest.mark.parametrize(("files", "message"), BAD_FILES)
def test_registering_a_bad_manifest_is_400_naming_the_file(
    server: Server, files: dict[str, Any], message: str
) -> None:
    model = f"m-{uuid.uuid4().hex[:8]}"
    manifest = server.put_manifest({"ok.bin": WEIGHTS_ENTRY, **files})
    response = server.http.post(
        f"{API}/models/{model}/versions", json={"source": "upload", "manifest": manifest}
    )
    error = assert_400(response, f"manifest {manifest}: ", message)
    assert error["details"]["manifest"] == manifest
    assert error["details"]["path"] in files
    # Refused whole: no model, no version.
    assert server.http.get(f"{API}/models/{model}").status_code == 404


def test_a_good_manifest_registers(server: Server) -> None:
    manifest = server.put_manifest({"model/m.bin": WEIGHTS_ENTRY, "README": WEIGHTS_ENTRY})
    response = server.http.post(
        f"{API}/models/good/versions", json={"source": "upload", "manifest": manifest}
    )
    assert response.status_code == 200, response.text
    assert (response.json()["version"], response.json()["size"]) == (1, 2 * len(WEIGHTS))


def _pipeline_run(server: Server) -> str:
    definition = {"steps": []}
    response = server.http.post(
        f"{API}/pipeline-runs",
        json={
            "pipeline": f"p-{uuid.uuid4().hex[:8]}",
            "definition": definition,
            "definition_hash": hashlib.sha256(json.dumps(definition).encode()).hexdigest(),
        },
    )
    assert response.status_code == 200, response.text
    run_id: str = response.json()["run_id"]
    return run_id


def _record_step(server: Server, run_id: str, name: str, manifest: str) -> httpx.Response:
    return server.http.post(
        f"{API}/pipeline-runs/{run_id}/steps",
        json={
            "node": "train",
            "step": "train",
            "status": "FINISHED",
            "outputs": {name: {"manifest": manifest, "size": 7, "materializer": "path"}},
        },
    )


def _steps_of(server: Server, run_id: str) -> list[Any]:
    response = server.http.get(f"{API}/pipeline-runs/{run_id}")
    assert response.status_code == 200, response.text
    steps: list[Any] = response.json()["steps"]
    return steps


@pytest.mark.parametrize(("files", "message"), BAD_FILES)
def test_a_step_output_with_a_bad_manifest_is_400(
    server: Server, files: dict[str, Any], message: str
) -> None:
    run_id = _pipeline_run(server)
    manifest = server.put_manifest(files, materializer="path")
    assert_400(_record_step(server, run_id, "model", manifest), f"manifest {manifest}: ", message)
    assert _steps_of(server, run_id) == []


@pytest.mark.parametrize("name", ["../x", "a/b", "..", ".", "", "a\\b"])
def test_a_step_output_name_that_is_not_one_folder_is_400(server: Server, name: str) -> None:
    run_id = _pipeline_run(server)
    manifest = server.put_manifest({"data/m.bin": WEIGHTS_ENTRY}, materializer="path")
    error = assert_400(_record_step(server, run_id, name, manifest), "outputs")
    assert "is not a valid name" in error["message"] or "at least 1 character" in error["message"]
    assert _steps_of(server, run_id) == []


def test_a_step_output_without_its_materializer_is_400(server: Server) -> None:
    run_id = _pipeline_run(server)
    manifest = server.put_manifest({"data/m.bin": WEIGHTS_ENTRY})
    assert_400(_record_step(server, run_id, "model", manifest), "materializer")


def test_a_good_step_output_is_indexed_as_artifacts(server: Server) -> None:
    run_id = _pipeline_run(server)
    manifest = server.put_manifest({"data/m.bin": WEIGHTS_ENTRY}, materializer="path")
    response = _record_step(server, run_id, "model", manifest)
    assert response.status_code == 200, response.text
    step_run = response.json()["run_id"]
    listed = server.http.get(f"{API}/runs/{step_run}/artifacts").json()["artifacts"]
    assert sorted(a["path"] for a in listed) == [
        "outputs/model.manifest.json",
        "outputs/model/data/m.bin",
    ]
