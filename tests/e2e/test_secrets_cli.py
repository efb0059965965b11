"""A user's journey through `modelyard secrets`: values go in, never come out, keys rotate."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.conftest import Cli, store_env

VALUE = "whsec-e2e-not-a-real-secret-91ab"


def reveal(cli: Cli, name: str) -> str:
    """The secret's value as the areas that use it read it, ``repr``-ed."""
    return cli.python(
        "import modelyard\n"
        "from modelyard.core.secret_box import reveal_secret\n"
        "backend = modelyard.Client().backend\n"
        "with backend.db.read() as conn:\n"
        f"    print(repr(reveal_secret(conn, backend.secret_box, {name!r})))\n"
    ).strip()


def test_set_list_delete_and_rotate_without_the_value_ever_shown(tmp_path: Path) -> None:
    cli = Cli(store_env(tmp_path), cwd=tmp_path)
    shown = [cli("secrets", "set", "slack", "--reason", "alerts", stdin=VALUE + "\n")]
    assert shown[0].stdout == "set secret slack (workspace default)\n"
    assert reveal(cli, "slack") == repr(VALUE), "stdin's final line break is dropped"
    pem = tmp_path / "key.pem"
    pem.write_text("-----BEGIN KEY-----\nabc\n-----END KEY-----\n")
    shown.append(cli("secrets", "set", "tls", "--from-file", str(pem), "--json"))
    assert shown[-1].json()["name"] == "tls"
    assert reveal(cli, "tls") == repr(pem.read_text()), "a file is kept exactly"
    shown += [cli("secrets", "list"), cli("secrets", "list", "--json")]
    assert [s["name"] for s in shown[-1].json()] == ["slack", "tls"]
    assert "slack" in shown[-2].stdout
    for result in shown:
        assert VALUE not in result.stdout + result.stderr

    home_key = (tmp_path / ".modelyard" / "keys" / "secret-key").read_text().strip()
    new_key = cli("secrets", "generate-key").stdout.strip()
    assert len(new_key) == 44
    assert new_key != home_key
    rotating = cli.with_env(MODELYARD_SECRET_KEY=f"{new_key},{home_key}")
    assert rotating("secrets", "reencrypt").stdout == "re-encrypted 2 secrets under the first key\n"
    assert reveal(cli.with_env(MODELYARD_SECRET_KEY=new_key), "slack") == repr(VALUE)
    (line,) = cli("secrets", "reencrypt", expect=2).assert_user_error()
    assert line.startswith("error: nothing was re-encrypted: 2 of 2 secrets")
    assert "Set MODELYARD_SECRET_KEY to the key it was written with" in line

    (line,) = cli("secrets", "set", "../x", stdin=VALUE, expect=2).assert_user_error()
    assert "'../x' is not a valid name" in line
    assert VALUE not in line
    missing = tmp_path / "missing.txt"
    (line,) = cli("secrets", "set", "x", "--from-file", str(missing), expect=2).assert_user_error()
    assert line == f"error: --from-file {missing}: No such file or directory"
    assert cli("secrets", "delete", "tls").stdout == "deleted secret tls\n"
    (line,) = cli("secrets", "delete", "tls", expect=2).assert_user_error()
    assert line == "error: secret 'tls' does not exist: see `modelyard secrets list`"
