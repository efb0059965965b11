"""Path traversal and SSRF, tried as an attacker would against a running REST server.

The inputs are the ones that broke MLflow's server, taken from its CVEs: ``..`` raw and
percent-encoded once (CVE-2023-6909) or twice (CVE-2024-1560), ``\\..\\`` (CVE-2023-2780),
absolute paths and ``//proc/self/root`` (CVE-2023-2356 and its bypasses), a ``#`` or a ``?``
hiding a path, ``;`` path parameters (CVE-2024-1593), ``file://`` sources (CVE-2023-1177),
NUL bytes, symbolic links in a registered folder; and URLs that reach this machine, the
private network or the cloud metadata service, spelled every way a resolver accepts.

Every one is refused with a 4xx and the JSON error body saying why, no response carries a
canary file's content (nor /etc/passwd's), nothing is written outside the store, and the
store is unchanged. Only 127.0.0.1 is ever connected to: the other addresses are refused
before a connection is made, and the one test that must let a connection go elsewhere (DNS
rebinding) answers it in-process.
"""

from __future__ import annotations

import http.client
import http.server
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from sqlalchemy import func, select

from modelyard.client.client import Client
from modelyard.core.backend import LocalBackend
from modelyard.errors import BackendUnavailable, InvalidInput, ModelyardError
from modelyard.storage.db.tables import (
    audit_records,
    model_versions,
    registered_models,
    run_artifacts,
)
from tests.conftest import SERVE_POLL_SECONDS, make_settings, reset_postgres, running_server

pytestmark = pytest.mark.slow

API = "/api/v1"
CANARY = "canary-5d1f0e-this-text-must-never-leave-its-file"
PASSWD = "root:x:0:"  # the first line of /etc/passwd
WEIGHTS = b"weights"

# (artifact path, what the refusal says): every spelling of a way out of the root.
PATHS = [
    pytest.param("../canary.txt", "climb above", id="dotdot"),
    pytest.param("a/../../canary.txt", "climb above", id="dotdot-inside"),
    pytest.param("%2e%2e/canary.txt", "percent-decodes to '..'", id="encoded"),
    pytest.param("%2e%2e%2fcanary.txt", "percent-decodes to '../canary.txt'", id="encoded-slash"),
    pytest.param("..%2f..%2fcanary.txt", "percent-decodes", id="encoded-slash-only"),
    pytest.param("%252e%252e%252fcanary.txt", "percent-decodes", id="double-encoded"),
    pytest.param("..\\canary.txt", "backslash", id="backslash"),
    pytest.param("\\..\\..\\canary.txt", "backslash", id="backslashes"),
    pytest.param("..%5ccanary.txt", "percent-decodes", id="encoded-backslash"),
    pytest.param("model.bin\x00.txt", "NUL", id="nul"),
    pytest.param("model.bin%00.txt", "percent-decodes", id="encoded-nul"),
    pytest.param("model.bin?/../../canary.txt", "'?'", id="query"),
    pytest.param("model.bin#/../../canary.txt", "'#'", id="fragment"),
    pytest.param("/etc/passwd", "absolute", id="absolute"),
    pytest.param("//proc/self/root/etc/passwd", "absolute", id="proc-self-root"),
    pytest.param("file:///etc/passwd", "a URI", id="file-uri"),
    pytest.param("C:../canary.txt", "drive letter", id="drive"),
    pytest.param("...", "only of dots", id="dots"),
]


@dataclass
class Site:
    """A running server over a store under ``root``, beside a canary and a work folder."""

    root: Path
    url: str
    http: httpx.Client
    backend: LocalBackend
    run_id: str
    blob: str

    @property
    def work(self) -> Path:
        return self.root / "work"

    def client(self, **settings: Any) -> Client:
        """A client of the server, as a user on another machine would hold one."""
        return Client(settings=make_settings(self.root / "client", uri=self.url, **settings))

    def rows(self) -> tuple[int, ...]:
        with self.backend.db.read() as conn:
            return tuple(
                int(conn.execute(select(func.count()).select_from(table)).scalar_one())
                for table in (audit_records, run_artifacts, model_versions, registered_models)
            )

    def files(self) -> dict[str, bytes]:
        """Every file under ``root`` and its content, but the database's (reads touch it)."""
        return {
            str(path.relative_to(self.root)): path.read_bytes()
            for path in sorted(self.root.rglob("*"))
            if path.is_file() and not path.name.startswith("modelyard.db")
        }

    @contextmanager
    def unchanged(self) -> Iterator[None]:
        """The block changes no row and writes, moves or removes no file."""
        rows, files = self.rows(), self.files()
        yield
        assert self.rows() == rows
        assert self.files() == files
        assert self.http.get("/healthz").status_code == 200

    def raw(self, method: str, target: str, body: bytes | None = None) -> tuple[int, str]:
        """Send ``target`` exactly as written: no client normalizes or re-encodes it."""
        connection = http.client.HTTPConnection("127.0.0.1", int(self.url.rsplit(":", 1)[1]))
        try:
            connection.request(method, target, body=body)
            answer = connection.getresponse()
            return answer.status, answer.read().decode(errors="replace")
        finally:
            connection.close()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("attacked")
    (root / "canary.txt").write_text(CANARY)
    (root / "work").mkdir()
    (root / "work" / "model.bin").write_bytes(WEIGHTS)
    overrides: dict[str, Any] = {}
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_url")
        reset_postgres(url)
        overrides["uri"] = url
    settings = make_settings(root, **overrides)
    with running_server(settings) as (server, backend), httpx.Client(base_url=server.url) as http:
        experiment = http.put(f"{API}/experiments-by-name/attacked").json()["id"]
        run_id = http.post(f"{API}/runs", json={"experiment_id": experiment}).json()["id"]
        blob = backend.put_blob_bytes(WEIGHTS).sha256
        logged = {"path": "model/model.bin", "sha256": blob, "size": len(WEIGHTS)}
        assert http.post(f"{API}/runs/{run_id}/artifacts", json=logged).status_code == 200
        yield Site(root, server.url, http, backend, run_id, blob)


def refused(status: int, text: str, *fragments: str) -> str:
    """Check a refusal: a 4xx with our error body saying why, and no leaked content."""
    assert 400 <= status < 500, (status, text)
    assert CANARY not in text
    assert PASSWD not in text
    error = json.loads(text)["error"]
    assert set(error) == {"code", "message", "details"}, error
    assert error["message"]
    for fragment in fragments:
        assert fragment in error["message"], error["message"]
    return str(error["message"])


def answer(response: httpx.Response, *fragments: str) -> str:
    return refused(response.status_code, response.text, *fragments)


def user_error(error: ModelyardError, *fragments: str) -> None:
    """A client-side refusal: the same 4xx error, saying why, leaking nothing."""
    assert 400 <= error.http_status < 500, error
    assert CANARY not in error.message
    assert PASSWD not in error.message
    for fragment in fragments:
        assert fragment in error.message, error.message


# The server: every field and route that takes a path ---------------------------------------


@pytest.mark.parametrize(("path", "why"), PATHS)
def test_an_artifact_path_logged_over_rest_is_refused(site: Site, path: str, why: str) -> None:
    with site.unchanged():
        body = {"path": path, "sha256": site.blob, "size": len(WEIGHTS)}
        answer(site.http.post(f"{API}/runs/{site.run_id}/artifacts", json=body), why)


@pytest.mark.parametrize(("path", "why"), PATHS)
def test_an_artifact_prefix_listed_over_rest_is_refused(site: Site, path: str, why: str) -> None:
    with site.unchanged():
        listing = site.http.get(f"{API}/runs/{site.run_id}/artifacts", params={"prefix": path})
        answer(listing, why)


@pytest.mark.parametrize(
    "query",
    [
        "prefix=..%2f..%2fcanary.txt",
        "prefix=%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "prefix=%252e%252e%252fcanary.txt",
        "prefix=%5c..%5c..%5ccanary.txt",
        "prefix=%2fproc%2fself%2froot%2fetc%2fpasswd",
        "prefix=model%00",
        "prefix=model%23%2f..%2f..%2fcanary.txt",
        "prefix=model&prefix=../canary.txt",  # the last of a repeated parameter counts
    ],
)
def test_an_artifact_query_sent_raw_is_refused(site: Site, query: str) -> None:
    with site.unchanged():
        refused(*site.raw("GET", f"{API}/runs/{site.run_id}/artifacts?{query}"))


@pytest.mark.parametrize(("path", "why"), PATHS)
def test_a_manifest_naming_a_file_outside_its_folder_registers_nothing(
    site: Site, path: str, why: str
) -> None:
    manifest = json.dumps({"files": {path: {"sha256": site.blob, "size": len(WEIGHTS)}}})
    sha = site.backend.put_blob_bytes(manifest.encode()).sha256
    with site.unchanged():
        body = {"source": "runs:/x/model", "manifest": sha}
        answer(site.http.post(f"{API}/models/attacked/versions", json=body), f"manifest {sha}", why)


@pytest.mark.parametrize(
    "uri",
    [
        "models:/../1",
        "models:/..%2f..%2fetc/1",
        "models:/%2e%2e/latest",
        "models:/..@champion",
        "models:/m/..%2f1",
        "models:/m/1/../../etc",
        "models:/m@../../x",
        "models:/m@%2e%2e",
        "models:/m\x00/1",
        "models:/m#/../1",
        "models:/m?v=/../1",
        "models:///etc/passwd",
        "models:/file:///etc/passwd/1",
        "runs:/x/../../etc/passwd",
    ],
)
def test_a_model_uri_with_a_traversal_is_refused(site: Site, uri: str) -> None:
    with site.unchanged():
        named = "NUL" if "\x00" in uri else uri  # the refusal quotes what it refused
        answer(site.http.get(f"{API}/model-uris/resolve", params={"uri": uri}), named)


SHA = "0" * 64  # stored nowhere

BLOB_TARGETS = [
    "..",
    "%2e%2e",
    "..%2f..%2fcanary.txt",
    "%2e%2e%2f%2e%2e%2fcanary.txt",
    "%252e%252e%252fcanary.txt",
    "..%5c..%5ccanary.txt",
    "%2fetc%2fpasswd",
    "/proc/self/root/etc/passwd",
    "../../../../etc/passwd",
    f"{SHA}%00",
    f"{SHA};/../../canary.txt",
    f"{SHA}%2f..%2f..%2fcanary.txt",
    f"{SHA}%23/../../canary.txt",
    f"{SHA}?path=../../canary.txt",
    SHA.upper(),
    f"{SHA[:2]}/{SHA[2:4]}/{SHA}",  # the store's own layout is no address
]


@pytest.mark.parametrize("method", ["GET", "PUT"])
@pytest.mark.parametrize("target", BLOB_TARGETS)
def test_a_blob_address_with_a_traversal_is_refused(site: Site, method: str, target: str) -> None:
    with site.unchanged():
        body = CANARY.encode() if method == "PUT" else None
        refused(*site.raw(method, f"{API}/blobs/{target}", body))


@pytest.mark.parametrize("target", BLOB_TARGETS)
def test_a_blob_address_with_a_traversal_is_refused_to_head(site: Site, target: str) -> None:
    with site.unchanged():
        status, _ = site.raw("HEAD", f"{API}/blobs/{target}")
        assert 400 <= status < 500


@pytest.mark.parametrize(
    "target",
    [
        "runs/..%2f..%2fetc/artifacts",
        "runs/%2e%2e/artifacts",
        "runs/../../etc/passwd",
        "runs/RUN%00/artifacts",
        "runs/RUN;/../../canary.txt/artifacts",
        "models/%2e%2e/versions",
        "models/..%2f..%2fetc%2fpasswd",
        "models/m/versions/1%2f..%2f..",
        "models/m/aliases/..%2fx/history",
        "pipeline-runs/%2e%2e%2f%2e%2e",
    ],
)
def test_a_path_parameter_with_a_traversal_is_refused(site: Site, target: str) -> None:
    with site.unchanged():
        refused(*site.raw("GET", f"{API}/{target}".replace("RUN", site.run_id)))


# A client: the files it reads and writes ---------------------------------------------------


@pytest.mark.parametrize(("path", "why"), PATHS)
def test_logging_under_a_path_outside_the_run_uploads_nothing(
    site: Site, path: str, why: str
) -> None:
    fresh = site.root / "client" / "fresh.bin"  # content the store does not hold yet
    fresh.parent.mkdir(exist_ok=True)
    fresh.write_bytes(b"fresh " + path.encode())
    with site.client() as client, site.unchanged(), pytest.raises(InvalidInput) as caught:
        client.log_artifact(site.run_id, fresh, artifact_path=path)
    user_error(caught.value, why)


def test_a_folder_with_one_refused_name_logs_none_of_its_files(site: Site) -> None:
    folder = site.root / "client" / "mixed"
    folder.mkdir(parents=True)
    (folder / "a-first.txt").write_text("logged first, were it not refused")
    (folder / "b?raw=1.txt").write_text("the refused name")
    with site.client() as client, site.unchanged(), pytest.raises(InvalidInput) as caught:
        client.log_artifacts(site.run_id, folder)
    user_error(caught.value, "'?'")


@pytest.mark.parametrize(("path", "why"), PATHS)
def test_downloading_a_path_outside_the_run_writes_nothing(site: Site, path: str, why: str) -> None:
    dest = site.work / "downloads"
    with site.client() as client, site.unchanged(), pytest.raises(InvalidInput) as caught:
        client.download_artifacts(site.run_id, path, dest)
    user_error(caught.value, why)
    assert not dest.exists()


@pytest.fixture
def in_work(site: Site, monkeypatch: pytest.MonkeyPatch) -> Site:
    monkeypatch.chdir(site.work)
    return site


# Sources as written, with {root} (the folder above the working folder, which holds the
# canary) and {run} (a run with artifacts) filled in.
SOURCES = [
    "../canary.txt",
    "{root}/canary.txt",
    "//proc/self/root/etc/passwd",
    "/proc/self/environ",
    "/etc/passwd",
    "model.bin\x00",
    "file:///etc/passwd",
    "file://{root}/canary.txt",
    "file://{root}/work/../canary.txt",
    "file:///%2e%2e/%2e%2e/etc/passwd",
    "file://{root}/work/model.bin#/../../canary.txt",
    "file://{root}/work/model.bin?../../canary.txt",
    "file://attacker.example/share/model.bin",
    "file:model.bin",
    "runs:/{run}/../../canary.txt",
    "runs:/{run}/model/../../../canary.txt",
    "runs:/{run}/%2e%2e/canary.txt",
    "runs:/{run}/%252e%252e%252fcanary.txt",
    "runs:/{run}/..\\..\\canary.txt",
    "runs:/{run}//etc/passwd",
    "runs:/..%2f..%2f/model",
    "runs:/../model",
    "runs:/{run}\x00/model",
    "pipelines:/../../x",
    "models:/../1",
    "ftp://127.0.0.1/model.bin",
]


@pytest.mark.parametrize("source", SOURCES)
def test_registering_from_outside_the_working_folder_reads_nothing(
    in_work: Site, source: str
) -> None:
    source = source.format(root=in_work.root, run=in_work.run_id)
    with in_work.client() as client, in_work.unchanged(), pytest.raises(InvalidInput) as caught:
        client.registry.register("attacked", source)
    user_error(caught.value)


@pytest.mark.parametrize(
    ("name", "target"),
    [("passwd", "/etc/passwd"), ("leak", "../../canary.txt"), ("proc", "/proc/self/root")],
)
def test_a_folder_whose_link_leaves_it_registers_nothing(
    in_work: Site, name: str, target: str
) -> None:
    folder = in_work.work / f"leaky-{name}"
    folder.mkdir()
    (folder / "model.bin").write_bytes(WEIGHTS)
    (folder / name).symlink_to(target)
    try:
        with in_work.client() as client, in_work.unchanged(), pytest.raises(InvalidInput) as e:
            client.registry.register("attacked", str(folder))
        user_error(e.value, name, target)
    finally:
        (folder / name).unlink()
        (folder / "model.bin").unlink()
        folder.rmdir()


def test_a_file_uri_inside_the_working_folder_registers(in_work: Site) -> None:
    with in_work.client() as client:
        version = client.registry.register("from-file-uri", f"file://{in_work.work}/model.bin")
        assert version.source == str(in_work.work / "model.bin")
        assert version.size == len(WEIGHTS)


# SSRF: registering from http(s):// URLs ----------------------------------------------------


class _Internal(http.server.BaseHTTPRequestHandler):
    """An internal service: answers CANARY to every GET; ``/redirect?to=URL`` redirects."""

    seen: list[str]

    def do_GET(self) -> None:
        self.seen.append(self.path)
        parsed = urlparse(self.path)
        if parsed.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", parse_qs(parsed.query)["to"][0])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = CANARY.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def internal() -> Iterator[tuple[int, list[str]]]:
    """A service on 127.0.0.1 that no URL a user gives should reach; yields (port, seen)."""
    seen: list[str] = []
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), type("Handler", (_Internal,), {"seen": seen})
    )
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": SERVE_POLL_SECONDS}, daemon=True
    )
    thread.start()
    try:
        yield int(server.server_address[1]), seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


# (host as written in the URL, what the refusal calls the address it resolved to)
INTERNAL_HOSTS = [
    pytest.param("127.0.0.1", "a loopback address", id="loopback"),
    pytest.param("localhost", "a loopback address", id="localhost"),
    pytest.param("[::1]", "a loopback address", id="ipv6-loopback"),
    pytest.param("[::ffff:127.0.0.1]", "a loopback address", id="ipv4-mapped"),
    pytest.param("[::ffff:7f00:1]", "a loopback address", id="ipv4-mapped-hex"),
    pytest.param("2130706433", "a loopback address", id="decimal"),
    pytest.param("0x7f.1", "a loopback address", id="hex"),
    pytest.param("017700000001", "a loopback address", id="octal"),
    pytest.param("127.1", "a loopback address", id="short"),
    pytest.param("0", "the unspecified address", id="zero"),
    pytest.param("169.254.169.254", "a link-local address", id="metadata"),
    pytest.param("2852039166", "a link-local address", id="metadata-decimal"),
    pytest.param("[::ffff:169.254.169.254]", "a link-local address", id="metadata-mapped"),
    pytest.param("10.0.0.1", "a private address", id="private-10"),
    pytest.param("192.168.1.1", "a private address", id="private-192"),
    pytest.param("[fd00::1]", "a private address", id="private-ipv6"),
]


@pytest.mark.parametrize(("host", "kind"), INTERNAL_HOSTS)
def test_a_url_reaching_an_internal_address_is_refused_before_connecting(
    site: Site, internal: tuple[int, list[str]], host: str, kind: str
) -> None:
    port, seen = internal
    url = f"http://{host}:{port}/latest/meta-data/"
    with site.client() as client, site.unchanged(), pytest.raises(InvalidInput) as caught:
        client.registry.register("attacked", url)
    user_error(caught.value, kind, "MODELYARD_ALLOW_PRIVATE_URLS", "MODELYARD_PRIVATE_URL_HOSTS")
    assert seen == []


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "2130706433", "0x7f.1"])
def test_allowing_private_urls_lets_the_same_url_through(
    site: Site, internal: tuple[int, list[str]], host: str
) -> None:
    port, seen = internal
    with site.client(allow_private_urls=True) as client:
        version = client.registry.register("allowed", f"http://{host}:{port}/model.bin")
    assert version.size == len(CANARY)
    assert seen == ["/model.bin"]


def test_allowing_one_host_allows_that_spelling_only(
    site: Site, internal: tuple[int, list[str]]
) -> None:
    port, seen = internal
    with site.client(private_url_hosts=["127.0.0.1"]) as client:
        version = client.registry.register("allowed-host", f"http://127.0.0.1:{port}/model.bin")
        assert version.size == len(CANARY)
        # The same address by another name is another host, refused unless named too.
        for other in ("localhost", "2130706433", "[::ffff:127.0.0.1]"):
            with site.unchanged(), pytest.raises(InvalidInput) as caught:
                client.registry.register("allowed-host", f"http://{other}:{port}/model.bin")
            user_error(caught.value, "a loopback address")
    assert seen == ["/model.bin"]


@pytest.mark.parametrize(
    "to",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://localhost:{port}/model.bin",
        "http://2130706433:{port}/model.bin",
        "http://127.0.0.1:1/model.bin",
        "https://127.0.0.1:{port}/model.bin",
        "file:///etc/passwd",
    ],
)
@pytest.mark.parametrize("allow", ["host", "all"])
def test_a_redirect_from_an_allowed_host_to_another_is_refused(
    site: Site, internal: tuple[int, list[str]], to: str, allow: str
) -> None:
    port, seen = internal
    to = to.format(port=port)
    allowed = (
        {"allow_private_urls": True} if allow == "all" else {"private_url_hosts": ["127.0.0.1"]}
    )
    url = f"http://127.0.0.1:{port}/redirect?to={to}"
    with site.client(**allowed) as client, site.unchanged(), pytest.raises(InvalidInput) as e:
        client.registry.register("attacked", url)
    user_error(e.value, "redirected to", to)
    assert len(seen) == 1  # the redirect itself, never where it pointed


def test_a_url_that_cannot_be_parsed_is_refused(site: Site) -> None:
    with site.client() as client, site.unchanged(), pytest.raises(InvalidInput) as caught:
        client.registry.register("attacked", "http://[::1/model.bin")
    user_error(caught.value, "not a valid URL")


def test_a_name_that_rebinds_to_loopback_is_only_connected_where_it_was_checked(
    site: Site, internal: tuple[int, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: ``rebind.test`` answers a public address when first asked and
    127.0.0.1 afterwards. The connection goes to the address checked, never to the name
    again; that public address is answered here (refused), so no packet leaves the machine."""
    port, seen = internal
    lookups: list[str] = []
    attempts: list[str] = []
    system_lookup, system_connect = socket.getaddrinfo, socket.create_connection

    def rebinding(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host != "rebind.test":
            return system_lookup(host, *args, **kwargs)
        lookups.append(host)
        address = "93.184.216.34" if len(lookups) == 1 else "127.0.0.1"
        return system_lookup(address, *args, **kwargs)

    def connect(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        attempts.append(address[0])
        if address[0] != "127.0.0.1":
            raise ConnectionRefusedError(f"{address[0]} is not reached from tests")
        return system_connect(address, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    monkeypatch.setattr(socket, "create_connection", connect)
    with site.client() as client, site.unchanged(), pytest.raises(BackendUnavailable):
        client.registry.register("attacked", f"http://rebind.test:{port}/model.bin")
    assert lookups == ["rebind.test"]  # resolved once, for the check
    assert "93.184.216.34" in attempts
    assert seen == []  # the loopback answer was never used


def test_a_name_with_one_internal_address_among_public_ones_is_refused(
    site: Site, internal: tuple[int, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, seen = internal
    system_lookup = socket.getaddrinfo

    def mixed(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host != "mixed.test":
            return system_lookup(host, *args, **kwargs)
        return system_lookup("93.184.216.34", *args, **kwargs) + system_lookup(
            "127.0.0.1", *args, **kwargs
        )

    monkeypatch.setattr(socket, "getaddrinfo", mixed)
    with site.client() as client, site.unchanged(), pytest.raises(InvalidInput) as caught:
        client.registry.register("attacked", f"http://mixed.test:{port}/model.bin")
    user_error(caught.value, "mixed.test (127.0.0.1)", "a loopback address")
    assert seen == []
