"""`modelyard model`: register from a file and from a run, alias, inspect, bad input."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.conftest import web_server
from tests.e2e.conftest import Cli, store_env


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    root = tmp_path_factory.mktemp("model-cli")
    (root / "model.bin").write_bytes(b"weights")
    return Cli(store_env(root), cwd=root)


def test_register_alias_show_and_download(cli: Cli) -> None:
    run_id = cli.python(
        "import modelyard\n"
        "with modelyard.start_run('train') as run:\n"
        "    modelyard.log_metric('auc', 0.9)\n"
        "    modelyard.log_artifact('model.bin', 'model')\n"
        "print(run.id)\n"
    ).strip()
    first = cli("model", "register", "churn", "model.bin", "--json").json()
    assert first["version"] == 1
    second = cli(
        "model", "register", "churn", f"runs:/{run_id}/model", "--flavor", "custom", "--json"
    ).json()
    assert (second["version"], second["run_id"], second["metrics"]) == (2, run_id, {"auc": 0.9})
    assert (
        "models:/churn@champion -> models:/churn/2"
        in cli("model", "alias", "churn", "champion", "2", "--reason", "better auc").stdout
    )
    shown = cli("model", "show", "models:/churn@champion", "--json").json()
    assert (shown["version"], shown["aliases"]) == (2, ["champion"])
    assert cli("model", "show", "churn", "--json").json()["aliases"] == {"champion": 2}
    assert [m["name"] for m in cli("model", "list", "--json").json()] == ["churn"]
    assert [v["version"] for v in cli("model", "versions", "churn", "--json").json()] == [2, 1]
    assert "better auc" in cli("model", "alias", "churn", "champion", "--history").stdout
    cli("model", "download", "models:/churn/2", "--dest", "out")
    assert (cli.cwd / "out" / "model.bin").read_bytes() == b"weights"
    assert "archived" in cli("model", "archive", "churn", "1", "--reason", "old").stdout


def test_alias_history_as_json(cli: Cli) -> None:
    for _ in range(2):
        cli("model", "register", "hist", "model.bin")
    assert cli("model", "alias", "hist", "prod", "--history", "--json").json() == []
    pointed = cli("model", "alias", "hist", "prod", "1", "--reason", "first", "--json").json()
    assert (pointed["version"], pointed["aliases"]) == (1, ["prod"])
    cli("model", "alias", "hist", "prod", "2", "--reason", "better auc")
    cli("model", "alias", "hist", "prod", "--delete", "--reason", "retired")
    moves = cli("model", "alias", "hist", "prod", "--history", "--json").json()
    assert [
        (m["alias"], m["previous_version"], m["version"], m["actor"], m["reason"]) for m in moves
    ] == [
        ("prod", None, 1, "e2e", "first"),
        ("prod", 1, 2, "e2e", "better auc"),
        ("prod", 2, None, "e2e", "retired"),
    ]
    times = [m["at"] for m in moves]
    assert times == sorted(times)
    assert all(isinstance(t, int) and t > 1_700_000_000_000 for t in times)  # ms since 1970
    lines = cli("model", "alias", "hist", "prod", "--delete", "--json", expect=2)
    assert "--json goes with --history or a VERSION" in lines.assert_user_error()[0]
    lines = cli("model", "alias", "nope", "prod", "--history", "--json", expect=2)
    assert "model 'nope'" in lines.assert_user_error()[0]


def test_a_model_card_in_markdown_html_and_json(cli: Cli) -> None:
    cli("model", "register", "carded", "model.bin", "--reason", "first try")
    cli(
        "model", "update", "carded", "--owner", "ml-platform",
        "--intended-use", "demo", "--limitations", "toy <b>data</b>",
    )  # fmt: skip
    cli("model", "alias", "carded", "prod", "1", "--reason", "ship it")
    text = cli("model", "card", "models:/carded@prod").stdout
    assert text.startswith("# Model card: carded version 1")
    assert "**Owner**: ml-platform" in text
    assert "ship it" in text
    assert "**Why**: first try" in text
    cli("model", "card", "models:/carded/1", "--format", "html", "-o", "card.html")
    page = (cli.cwd / "card.html").read_text()
    assert "toy &lt;b&gt;data&lt;/b&gt;" in page
    assert "<b>data</b>" not in page
    card = cli("model", "card", "models:/carded/1", "--format", "json").json()
    assert card["considerations"]["limitations"] == "toy <b>data</b>"
    assert (
        cli("model", "update", "carded", "--limitations", "", "--json").json()["limitations"]
        is None
    )
    cli("model", "card", "models:/carded/1", "--format", "pdf", expect=2).assert_user_error()
    cli("model", "card", "models:/carded/9", expect=2).assert_user_error()
    cli("model", "update", "carded", expect=2).assert_user_error()


def test_a_joblib_file_registers_trusted_with_tags_and_shows_them(cli: Cli) -> None:
    cli.python(
        "import joblib\n"
        "from sklearn.linear_model import LinearRegression\n"
        "joblib.dump(LinearRegression().fit([[0.0], [1.0]], [0.0, 2.0]), 'legacy.joblib')\n"
    )
    registered = cli(
        "model", "register", "legacy", "legacy.joblib", "--flavor", "pickle", "--trust",
        "--tag", "team=risk", "--tag", "origin=notebook", "--json",
    ).json()  # fmt: skip
    assert (registered["trusted"], registered["tags"]) == (
        True,
        {"team": "risk", "origin": "notebook"},
    )
    registered_uri = f"models:/legacy/{registered['version']}"
    shown = cli("model", "show", registered_uri).stdout
    assert "origin=notebook, team=risk" in shown
    assert "True" in shown  # trusted (pickle)
    predicted = cli.python(
        "import modelyard\n"
        f"print(modelyard.models.load('{registered_uri}').predict([[3.0]]).round(6).tolist())\n"
    )
    assert predicted.strip() == "[6.0]"
    lines = cli("model", "register", "legacy", "legacy.joblib", "--tag", "team", expect=2)
    assert "tag 'team' must look like key=value" in lines.assert_user_error()[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("model", "show", "models:/nope/1"), "model 'nope' has no version 1"),
        (("model", "show", "models:/churn"), "not a model URI"),
        (("model", "register", "churn", "missing.bin"), "does not exist"),
        (("model", "register", "churn", "runs:/0123456789abcdef/x"), "does not exist"),
        (("model", "alias", "churn", "champion"), "give the VERSION"),
        (("model", "alias", "churn", "latest", "1"), "reserved"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(cli: Cli, args: tuple[str, ...], message: str) -> None:
    lines = cli(*args, expect=2).assert_user_error()
    assert message in lines[0]


# Registration refuses such a manifest now; this one is put in the store directly, standing
# for one registered by an older release.
STORE_BAD_MANIFEST = """
import hashlib
from modelyard.client.client import Client
from modelyard.storage.artifacts.manifests import manifest_bytes

client = Client()
version = client.registry.register("escape", "model.bin")
weights = {"sha256": hashlib.sha256(b"weights").hexdigest(), "size": 7}
bad = manifest_bytes({"model.bin": weights, STORED_PATH: weights})
print(version.version, client.backend.put_blob_bytes(bad).sha256)
"""


@pytest.mark.parametrize("stored_path", ["../../x", "/etc/modelyard-e2e", "a/../../../x"])
def test_download_of_a_manifest_leaving_dest_is_refused(
    cli: Cli, tmp_path: Path, stored_path: str
) -> None:
    number, manifest = cli.python(
        STORE_BAD_MANIFEST.replace("STORED_PATH", repr(stored_path))
    ).split()
    with sqlite3.connect(cli.cwd / "m.db") as conn:
        conn.execute(
            "UPDATE model_versions SET manifest = ? WHERE model = 'escape' AND version = ?",
            (manifest, int(number)),
        )
    dest = tmp_path / "one" / "dest"
    uri = f"models:/escape/{number}"
    [line] = cli("model", "download", uri, "--dest", str(dest), expect=2).assert_user_error()
    assert f"manifest {manifest}: file {stored_path!r}: " in line
    assert not (tmp_path / "one").exists()
    assert not (tmp_path / "x").exists()


@pytest.fixture
def own_cli(tmp_path: Path) -> Cli:
    """A store of its own, in a working folder ``work`` beside ``outside/secret.txt``."""
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text("the secret")
    work = tmp_path / "work"
    (work / "model").mkdir(parents=True)
    (work / "model" / "weights.bin").write_bytes(b"weights")
    return Cli(store_env(tmp_path / "store"), cwd=work)


def stored_nothing(cli: Cli, secret: bytes) -> None:
    assert cli("model", "list", "--json").json() == []
    store = cli.cwd.parent / "store"
    assert not any(secret in p.read_bytes() for p in store.rglob("*") if p.is_file())


@pytest.mark.parametrize(
    ("link", "target", "secret"),
    [
        ("leak", "../outside/secret.txt", b"the secret"),
        ("leak", "../../outside/secret.txt", b"the secret"),
        ("passwd", "/etc/passwd", b"root:"),
    ],
)
def test_a_folder_with_a_link_leaving_it_is_refused(
    own_cli: Cli, link: str, target: str, secret: bytes
) -> None:
    (own_cli.cwd / "model" / link).symlink_to(target)
    lines = own_cli("model", "register", "m", "model", expect=2).assert_user_error()
    assert f"'{link}' in 'model' is a link to '{target}'" in lines[0]
    stored_nothing(own_cli, secret)


def test_a_path_outside_the_working_folder_needs_allow_outside_cwd(own_cli: Cli) -> None:
    (own_cli.cwd / "passwd").symlink_to("/etc/passwd")
    for source in ("/etc/passwd", "../outside/secret.txt", "passwd"):
        lines = own_cli("model", "register", "m", source, expect=2).assert_user_error()
        assert "is outside the current folder" in lines[0], lines
        assert "--allow-outside-cwd" in lines[0]
    stored_nothing(own_cli, b"root:")
    stored_nothing(own_cli, b"the secret")
    # Named on purpose, on the user's own machine: registered.
    registered = own_cli(
        "model", "register", "m", "../outside/secret.txt", "--allow-outside-cwd", "--json"
    ).json()
    assert registered["size"] == len(b"the secret")


@pytest.mark.parametrize("source", ["/dev/zero", "/proc/self/environ", "/proc/self"])
def test_kernel_files_are_refused_even_when_allowed(own_cli: Cli, source: str) -> None:
    lines = own_cli(
        "model", "register", "m", source, "--allow-outside-cwd", expect=2
    ).assert_user_error()
    assert "pseudo-filesystem" in lines[0]
    assert own_cli("model", "list", "--json").json() == []


def test_http_to_a_loopback_address_is_refused_unless_allowed(own_cli: Cli) -> None:
    web = own_cli.cwd.parent / "web"
    web.mkdir()
    (web / "model.onnx").write_bytes(b"from the web")
    with web_server(web) as url:
        lines = own_cli("model", "register", "m", f"{url}/model.onnx", expect=2)
        assert "a loopback address" in lines.assert_user_error()[0]
        assert "MODELYARD_ALLOW_PRIVATE_URLS" in lines.stderr
        stored_nothing(own_cli, b"from the web")
        port = url.rsplit(":", 1)[1]
        redirected = f"{url}/redirect?to=http://localhost:{port}/model.onnx"
        allowed = own_cli.with_env(MODELYARD_PRIVATE_URL_HOSTS="127.0.0.1,localhost")
        lines = allowed("model", "register", "m", redirected, expect=2)
        assert "redirected to another host" in lines.assert_user_error()[0]
        stored_nothing(own_cli, b"from the web")
        registered = allowed("model", "register", "m", f"{url}/model.onnx", "--json").json()
        assert registered["size"] == len(b"from the web")
