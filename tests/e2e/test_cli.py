"""A user's journey through the ``modelyard`` command, on an embedded store and on a server.

A Python program logs runs with the notebook API; the user then inspects, searches,
downloads and deletes them with the CLI, and makes the mistakes users make. Every call is a
real subprocess. One logged store is shared by the module (each CLI call costs ~0.5 s);
tests that delete use runs of their own.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

import modelyard
from tests.conftest import free_port
from tests.e2e.conftest import Cli, store_env

pytestmark = pytest.mark.slow

ARTIFACT = b"weights: [0.1, 0.2, 0.3]\n"
ARTIFACT_SHA = hashlib.sha256(ARTIFACT).hexdigest()

# Three runs of different final accuracy (the last step's value is the run's metric).
LOG_RUNS = """
import json, pathlib
import pandas as pd
import modelyard

model = pathlib.Path("model.txt")
model.write_bytes(ARTIFACT)
frame = pd.DataFrame({"x": [1, 2, 3], "label": ["a", "b", "a"]})
ids = {}
for name, lr, accs in [
    ("low", 0.1, [0.1, 0.2, 0.3]),
    ("high", 0.01, [0.5, 0.8, 0.9]),
    ("mid", 0.05, [0.4, 0.6, 0.7]),
]:
    with modelyard.start_run("demo", run_name=name) as run:
        modelyard.log_param("lr", lr)
        for step, acc in enumerate(accs):
            modelyard.log_metric("acc", acc, step=step)
        modelyard.set_tag("team", "vision")
        modelyard.log_artifact(model)
        modelyard.log_input(frame, name="train")
        ids[name] = run.id
for name in ("doomed-local", "doomed-server", "survivor"):
    with modelyard.start_run("scratch", run_name=name) as run:
        ids[name] = run.id
print(json.dumps(ids))
""".replace("ARTIFACT", repr(ARTIFACT))


@dataclass(frozen=True)
class Journey:
    root: Path
    cli: Cli
    ids: dict[str, str]

    @property
    def db(self) -> Path:
        return self.root / "m.db"


@pytest.fixture(scope="module")
def journey(tmp_path_factory: pytest.TempPathFactory) -> Journey:
    root = tmp_path_factory.mktemp("journey")
    cli = Cli(store_env(root), cwd=root, subprocess=True)
    ids = json.loads(cli.python(LOG_RUNS))
    return Journey(root, cli, ids)


def run_ids(result_json: dict[str, object]) -> list[str]:
    runs = result_json["runs"]
    assert isinstance(runs, list)
    return [r["id"] for r in runs]


def deletion_audit(db: Path, run_id: str) -> list[tuple[str, str | None]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT actor, reason FROM audit_records "
            "WHERE action = 'run.deleted' AND target_id = ?",
            (run_id,),
        ).fetchall()
    return [(actor, reason) for actor, reason in rows]


# the embedded store ----------------------------------------------------------------------


def test_version(journey: Journey) -> None:
    assert journey.cli("--version").stdout == f"{modelyard.__version__}\n"


def test_help(journey: Journey) -> None:
    help_text = journey.cli("--help").stdout
    for command in ("server", "config", "db", "experiments", "runs", "artifacts"):
        assert re.search(rf"^\W*{command}\b", help_text, re.MULTILINE), command


def test_experiments_list_table_and_json(journey: Journey) -> None:
    table = journey.cli("experiments", "list").stdout
    assert re.search(r"\bdemo\b", table)
    assert re.search(r"\bscratch\b", table)
    experiments = {e["name"]: e for e in journey.cli("experiments", "list", "--json").json()}
    assert {"demo", "scratch"} <= set(experiments)
    demo = experiments["demo"]
    assert demo["workspace"] == "default"
    assert demo["lifecycle"] == "active"
    assert re.fullmatch(r"[0-9a-f]{32}", demo["id"])


def test_experiments_create(journey: Journey) -> None:
    created = journey.cli(
        "experiments", "create", "churn", "--description", "who leaves", "--tag", "owner=ana",
        "--json",
    ).json()  # fmt: skip
    assert created["name"] == "churn"
    assert created["description"] == "who leaves"
    assert created["tags"] == {"owner": "ana"}
    listed = {e["name"]: e["id"] for e in journey.cli("experiments", "list", "--json").json()}
    assert listed["churn"] == created["id"]

    again = journey.cli("experiments", "create", "churn", expect=2)
    lines = again.assert_user_error()
    assert lines == [
        f"error: experiment 'churn' already exists in workspace 'default' (id {created['id']})"
    ]


def test_runs_list_json(journey: Journey) -> None:
    page = journey.cli("runs", "list", "-e", "demo", "--json").json()
    assert page["next_page_token"] is None
    by_name = {r["name"]: r for r in page["runs"]}
    assert set(by_name) == {"low", "high", "mid"}
    for name in ("low", "high", "mid"):
        run = by_name[name]
        assert run["id"] == journey.ids[name]
        assert run["status"] == "FINISHED"
        assert run["user"] == "e2e"
        assert run["end_time"] >= run["start_time"]
    assert {name: r["metrics"]["acc"] for name, r in by_name.items()} == {
        "low": 0.3,
        "high": 0.9,
        "mid": 0.7,
    }


def test_runs_show_table(journey: Journey) -> None:
    run_id = journey.ids["high"]
    out = journey.cli("runs", "show", run_id).stdout
    assert f"Run {run_id}" in out
    assert re.search(r"^\s*status\s+FINISHED\s*$", out, re.MULTILINE)
    assert re.search(r"^\s*name\s+high\s*$", out, re.MULTILINE)
    assert re.search(r"^\s*lr\s+0\.01\s*$", out, re.MULTILINE), out
    assert re.search(r"^\s*acc\s+0\.9\s*$", out, re.MULTILINE), out
    assert re.search(r"^\s*team\s+vision\s*$", out, re.MULTILINE), out
    assert re.search(r"\btrain\b.*\b3\b.*\btraining\b", out), out


def test_runs_show_json(journey: Journey) -> None:
    run = journey.cli("runs", "show", journey.ids["high"], "--json").json()
    assert run["id"] == journey.ids["high"]
    assert run["name"] == "high"
    assert run["status"] == "FINISHED"
    assert run["params"] == {"lr": "0.01"}
    assert run["metrics"] == {"acc": 0.9}
    assert run["tags"]["team"] == "vision"
    [dataset] = run["inputs"]
    assert dataset["name"] == "train"
    assert dataset["row_count"] == 3
    assert dataset["context"] == "training"
    assert re.fullmatch(r"[0-9a-f]{64}", dataset["digest"])
    assert [c["name"] for c in dataset["schema"]["columns"]] == ["x", "label"]


def test_runs_search_filters_and_orders(journey: Journey) -> None:
    page = journey.cli(
        "runs", "search", "metrics.acc > 0.5", "-e", "demo", "--order-by", "metrics.acc DESC",
        "--json",
    ).json()  # fmt: skip
    assert run_ids(page) == [journey.ids["high"], journey.ids["mid"]]
    ascending = journey.cli(
        "runs", "search", "params.lr != '0.05'", "-e", "demo", "-o", "metrics.acc ASC", "--json"
    ).json()
    assert run_ids(ascending) == [journey.ids["low"], journey.ids["high"]]


def test_artifacts_list_and_download(journey: Journey) -> None:
    run_id = journey.ids["mid"]
    [artifact] = journey.cli("artifacts", "list", run_id, "--json").json()
    assert artifact["path"] == "model.txt"
    assert artifact["sha256"] == ARTIFACT_SHA
    assert artifact["size"] == len(ARTIFACT)

    dest = journey.root / "download-local"
    out = journey.cli("artifacts", "download", run_id, "--dest", str(dest)).stdout
    assert out.splitlines() == [str(dest / "model.txt")]
    assert (dest / "model.txt").read_bytes() == ARTIFACT
    assert sorted(p.name for p in dest.iterdir()) == ["model.txt"]


def test_runs_delete_removes_the_run_from_listings(journey: Journey) -> None:
    doomed, survivor = journey.ids["doomed-local"], journey.ids["survivor"]
    out = journey.cli("runs", "delete", doomed, "--reason", "bad data").stdout
    assert out == f"deleted run {doomed}\n"
    after = run_ids(journey.cli("runs", "list", "-e", "scratch", "--json").json())
    assert doomed not in after
    assert survivor in after
    assert deletion_audit(journey.db, doomed) == [("e2e", "bad data")]


def test_config_json(journey: Journey) -> None:
    config = journey.cli("config", "--json").json()
    assert config["uri"] == f"sqlite:///{journey.db}"
    assert config["backend"] == "sqlite"
    assert config["artifact_root"] == str(journey.root / "art")
    assert config["user"] == "e2e"


def test_db_upgrade_on_a_current_store(journey: Journey) -> None:
    out = journey.cli("db", "upgrade").stdout
    assert "already at schema" in out
    assert str(journey.db) in out


# mistakes --------------------------------------------------------------------------------


def test_unknown_run_id(journey: Journey) -> None:
    missing = "0123456789abcdef0123456789abcdef"
    lines = journey.cli("runs", "delete", missing, expect=2).assert_user_error()
    assert lines == [f"error: run '{missing}' does not exist"]


def test_malformed_filter_points_at_the_position(journey: Journey) -> None:
    expression = "metrics.acc > 0.5 AND params.lr ~ 1"
    result = journey.cli("runs", "search", expression, "-e", "demo", expect=2)
    lines = result.assert_user_error()
    assert "position 32" in lines[0]
    assert lines[1:] == [expression, " " * 32 + "^"]


def test_malformed_filter_on_an_empty_store_is_still_an_error(tmp_path: Path) -> None:
    # With no experiments there is nothing to search, but the user's typo must not pass.
    cli = Cli(store_env(tmp_path), cwd=tmp_path, subprocess=True)
    lines = cli("runs", "search", "metrics.acc >", expect=2).assert_user_error()
    assert "position 13" in lines[0]


def test_unknown_experiment_name(journey: Journey) -> None:
    lines = journey.cli("runs", "list", "-e", "nosuch", expect=2).assert_user_error()
    assert len(lines) == 1
    assert "'nosuch'" in lines[0]


def test_bad_tag_pair_creates_nothing(journey: Journey) -> None:
    result = journey.cli("experiments", "create", "tagless", "--tag", "owner", expect=2)
    assert result.assert_user_error() == ["error: tag 'owner' must look like key=value"]
    with sqlite3.connect(journey.db) as conn:
        names = {name for (name,) in conn.execute("SELECT name FROM experiments")}
    assert "demo" in names  # the query sees the store
    assert "tagless" not in names


def test_unsupported_uri(journey: Journey) -> None:
    cli = journey.cli.with_env(MODELYARD_URI="ftp://x")
    lines = cli("runs", "list", expect=2).assert_user_error()
    assert len(lines) == 1
    assert "MODELYARD_URI 'ftp://x' is not supported" in lines[0]


def test_artifact_that_does_not_exist(journey: Journey) -> None:
    run_id = journey.ids["low"]
    dest = journey.root / "nothing"
    result = journey.cli("artifacts", "download", run_id, "nope.bin", "--dest", str(dest), expect=2)
    lines = result.assert_user_error()
    assert len(lines) == 1
    assert "nope.bin" in lines[0]
    assert not dest.exists()


LOG_TWO_ARTIFACTS = """
import modelyard
with modelyard.start_run("escapes") as run:
    modelyard.log_artifact("model.txt", "a")
    modelyard.log_artifact("model.txt", "b")
print(run.id)
"""


def run_with_stored_path(journey: Journey, stored_path: str) -> str:
    """A run whose artifacts are ``a/model.txt`` and ``stored_path``, as the store holds them.

    log_artifact refuses such paths; the row stands for one written by an older release, by
    hand, or through the database directly.
    """
    run_id = journey.cli.python(LOG_TWO_ARTIFACTS).strip()
    with sqlite3.connect(journey.db) as conn:
        conn.execute(
            "UPDATE run_artifacts SET path = ? WHERE run_id = ? AND path = 'b/model.txt'",
            (stored_path, run_id),
        )
    return run_id


@pytest.mark.parametrize("stored_path", ["../../x", "{base}/absolute", "a/../../../x"])
def test_artifact_path_from_the_store_cannot_leave_dest(
    journey: Journey, tmp_path: Path, stored_path: str
) -> None:
    stored_path = stored_path.format(base=tmp_path)
    run_id = run_with_stored_path(journey, stored_path)
    dest = tmp_path / "one" / "dest"
    result = journey.cli("artifacts", "download", run_id, "--dest", str(dest), expect=2)
    [line] = result.assert_user_error()
    assert f"refusing to write {stored_path!r} under '{dest}'" in line
    # Nothing written at all: not where the path points, and not the good file either.
    assert list(tmp_path.iterdir()) == []


def test_a_link_inside_dest_cannot_redirect_a_download(journey: Journey, tmp_path: Path) -> None:
    run_id = run_with_stored_path(journey, "b/model.txt")
    (tmp_path / "outside").mkdir()
    (tmp_path / "dest").mkdir()
    (tmp_path / "dest" / "a").symlink_to(tmp_path / "outside")
    result = journey.cli(
        "artifacts", "download", run_id, "--dest", str(tmp_path / "dest"), expect=2
    )
    line = result.assert_user_error()[0]
    assert f"'{tmp_path / 'dest' / 'a'}' is a symbolic link to '{tmp_path / 'outside'}'" in line
    assert list((tmp_path / "outside").iterdir()) == []
    assert not (tmp_path / "dest" / "b").exists()


# the same journey against a server -------------------------------------------------------


@dataclass(frozen=True)
class Served:
    url: str
    cli: Cli


@pytest.fixture(scope="module")
def served(journey: Journey) -> Iterator[Served]:
    """``modelyard server`` on the journey's store, and a CLI pointed at it."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = journey.root / "server.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [journey.cli.exe, "server", "--host", "127.0.0.1", "--port", str(port),
             "--log-level", "warning"],
            env=journey.cli.env,
            cwd=journey.root,
            stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            if server.poll() is not None:
                pytest.fail(f"modelyard server exited {server.returncode}: {log.read_text()}")
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"modelyard server not ready after 30 s: {log.read_text()}")
            time.sleep(0.1)
        yield Served(url, journey.cli.with_env(MODELYARD_URI=url))
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


def test_server_config(served: Served) -> None:
    config = served.cli("config", "--json").json()
    assert config["uri"] == served.url
    assert config["backend"] == "http"


def test_server_list_show_search(journey: Journey, served: Served) -> None:
    page = served.cli("runs", "list", "-e", "demo", "--json").json()
    assert sorted(run_ids(page)) == sorted(journey.ids[n] for n in ("low", "high", "mid"))

    run = served.cli("runs", "show", journey.ids["low"], "--json").json()
    assert run["params"] == {"lr": "0.1"}
    assert run["metrics"] == {"acc": 0.3}
    assert run["inputs"][0]["row_count"] == 3

    found = served.cli(
        "runs", "search", "metrics.acc > 0.5", "-e", "demo", "--order-by", "metrics.acc DESC",
        "--json",
    ).json()  # fmt: skip
    assert run_ids(found) == [journey.ids["high"], journey.ids["mid"]]


def test_server_artifacts(journey: Journey, served: Served) -> None:
    run_id = journey.ids["high"]
    [artifact] = served.cli("artifacts", "list", run_id, "--json").json()
    assert (artifact["path"], artifact["sha256"]) == ("model.txt", ARTIFACT_SHA)
    dest = journey.root / "download-remote"
    served.cli("artifacts", "download", run_id, "--dest", str(dest))
    assert (dest / "model.txt").read_bytes() == ARTIFACT


def test_server_artifact_path_cannot_leave_dest(
    journey: Journey, served: Served, tmp_path: Path
) -> None:
    run_id = run_with_stored_path(journey, "../../x")
    dest = tmp_path / "one" / "dest"
    result = served.cli("artifacts", "download", run_id, "--dest", str(dest), expect=2)
    assert "refusing to write '../../x'" in result.assert_user_error()[0]
    assert list(tmp_path.iterdir()) == []


def test_server_delete(journey: Journey, served: Served) -> None:
    doomed = journey.ids["doomed-server"]
    served.cli("runs", "delete", doomed, "--reason", "bad data")
    after = run_ids(served.cli("runs", "list", "-e", "scratch", "--json").json())
    assert doomed not in after
    assert journey.ids["survivor"] in after
    assert deletion_audit(journey.db, doomed) == [("e2e", "bad data")]


def test_server_mistakes(served: Served) -> None:
    missing = "0123456789abcdef0123456789abcdef"
    lines = served.cli("runs", "show", missing, expect=2).assert_user_error()
    assert lines == [f"error: run '{missing}' does not exist"]

    lines = served.cli(
        "runs", "search", "metrics.acc >", "-e", "demo", expect=2
    ).assert_user_error()
    assert "position 13" in lines[0]
    assert lines[1:] == ["metrics.acc >", " " * 13 + "^"]


def test_no_server_listening(journey: Journey) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    lines = journey.cli.with_env(MODELYARD_URI=url)("runs", "list", expect=2).assert_user_error()
    assert len(lines) == 1
    assert url in lines[0]
    assert "`modelyard server`" in lines[0]
