"""An admin's first day with a server that has auth on, through the real commands.

The server prints a one-time admin token on its first start; the admin logs in with it
(the token is kept owner-only in the user's config folder), creates a user and a token
for them; requests without a token, with a revoked one, or for what only admins may do
are refused with one line.
"""

from __future__ import annotations

import json
import re
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.e2e.conftest import Cli, store_env

pytestmark = pytest.mark.slow

TOKEN = re.compile(r"myd_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cli, str, str, Path]]:
    root = tmp_path_factory.mktemp("auth-cli")
    cli = Cli(store_env(root), root)
    port = free_port()
    log = root / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [cli.exe, "server", "--auth", "--port", str(port), "--log-level", "warning"],
            env=cli.env,
            cwd=root,
            stderr=out,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        [bootstrap] = TOKEN.findall(log.read_text())
        config = root / "config"
        remote = cli.with_env(MODELYARD_URI=url, XDG_CONFIG_HOME=str(config))
        yield remote, url, bootstrap, config
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_admin_logs_in_and_gives_a_user_a_token(server: tuple[Cli, str, str, Path]) -> None:
    cli, url, bootstrap, config = server
    lines = cli("experiments", "list", expect=2).assert_user_error()
    assert "needs a token" in lines[0]

    done = cli("auth", "login", url, "--token", bootstrap)
    assert "logged in to" in done.stdout
    assert "as admin" in done.stdout
    stored = config / "modelyard" / "credentials.json"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert json.loads(stored.read_text())["servers"][url] == bootstrap
    assert cli("auth", "whoami", "--json").json()["admin"] is True

    cli("users", "create", "alice", "--reason", "new data scientist")
    made = cli("tokens", "create", "--user", "alice", "--name", "laptop")
    [alice_token] = TOKEN.findall(made.stdout)
    assert "copy it now" in made.stderr
    assert alice_token not in cli("audit", "log", "--json").stdout

    alice = cli.with_env(MODELYARD_TOKEN=alice_token)
    assert alice("auth", "whoami", "--json").json()["name"] == "alice"
    lines = alice("experiments", "list", expect=2).assert_user_error()
    assert "not a member of it" in lines[0]
    cli("members", "add", "alice", "--role", "viewer")
    alice("experiments", "list")
    (cli.cwd / "model.bin").write_bytes(b"weights")
    lines = alice("model", "register", "churn", "model.bin", expect=2).assert_user_error()
    assert "the contributor role or above" in lines[0]
    members = alice("members", "list", "--json").json()
    assert [(m["user"], m["role"]) for m in members] == [("alice", "viewer")]
    lines = alice("users", "create", "mallory", expect=2).assert_user_error()
    assert "needs the permission users:admin" in lines[0]
    own = alice("tokens", "list", "--json").json()
    assert [t["name"] for t in own] == ["laptop"]

    alice("tokens", "revoke", own[0]["id"], "--reason", "laptop lost")
    lines = alice("auth", "whoami", expect=2).assert_user_error()
    assert "was revoked" in lines[0]

    cli("auth", "logout", url)
    assert url not in json.loads(stored.read_text())["servers"]
    lines = cli("auth", "login", url, "--token", "myd_wrong", expect=2).assert_user_error()
    assert "not a Modelyard token" in lines[0]
