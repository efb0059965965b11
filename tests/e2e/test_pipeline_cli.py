"""A user's journey through `modelyard pipeline`: run, rerun from cache, inspect, errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.e2e.conftest import Cli, store_env

PIPELINE = """
import modelyard


@modelyard.step
def numbers(n: int = 5) -> list:
    return list(range(n))


@modelyard.step
def total(values: list, scale: float = 1.0) -> float:
    modelyard.log_metric("count", len(values))
    return sum(values) * scale


@modelyard.step
def broken(values: list) -> float:
    raise ValueError("bad values")


@modelyard.pipeline
def sums(n: int = 5, scale: float = 1.0):
    return total(numbers(n=n), scale=scale)


@modelyard.pipeline
def fails(n: int = 3):
    return broken(numbers(n=n))
"""


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    root = tmp_path_factory.mktemp("pipeline-cli")
    (root / "pipes.py").write_text(textwrap.dedent(PIPELINE))
    return Cli(store_env(root), cwd=root)


def test_run_rerun_and_inspect(cli: Cli) -> None:
    first = cli("pipeline", "run", "pipes.py:sums", "-p", "n=4", "--json")
    run = first.json()
    assert run["status"] == "FINISHED"
    assert run["params"] == {"n": 4, "scale": 1.0}
    assert [s["node"] for s in run["steps"]] == ["numbers", "total"]
    assert not any(s["cache_hit"] for s in run["steps"])

    again = cli("pipeline", "run", "pipes.py:sums", "-p", "n=4")
    assert "2 of 2 steps from cache" in again.stdout
    changed = cli("pipeline", "run", "pipes.py:sums", "-p", "n=4", "-p", "scale=2")
    assert "1 of 2 steps from cache" in changed.stdout

    runs = cli("pipeline", "runs", "sums", "--json").json()
    assert len(runs) == 3
    latest = runs[0]["run_id"]
    shown = cli("pipeline", "inspect", latest)
    assert "miss: param scale: 1.0 -> 2.0" in shown.stdout
    assert "hit: same code" in shown.stdout

    listed = cli("pipeline", "list", "--json").json()
    assert [(p["name"], p["runs"], p["last_status"]) for p in listed] == [("sums", 3, "FINISHED")]
    table = cli("pipeline", "list")
    assert "sums" in table.stdout
    definition = cli("pipeline", "show", "sums")
    assert "numbers.output" in definition.stdout
    assert cli("pipeline", "show", "sums", "--json").json()["name"] == "sums"
    assert "FINISHED" in cli("pipeline", "runs", "sums").stdout
    assert cli("pipeline", "inspect", latest, "--json").json()["run_id"] == latest


def test_a_failed_pipeline_exits_1_and_shows_the_error(cli: Cli) -> None:
    failed = cli("pipeline", "run", "pipes.py:fails", expect=1)
    assert "FAILED" in failed.stdout
    run_id = cli("pipeline", "runs", "fails", "--json").json()[0]["run_id"]
    shown = cli("pipeline", "inspect", run_id)
    assert "ValueError: bad values" in shown.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("pipeline", "run", "missing.py"), "does not exist"),
        (("pipeline", "run", "pipes.py"), "defines 2 pipelines"),
        (("pipeline", "run", "pipes.py:nope"), "has no pipeline 'nope'"),
        (("pipeline", "run", "pipes.py:sums", "-p", "nope=1"), "no parameter 'nope'"),
        (("pipeline", "run", "pipes.py:sums", "-p", "n=many"), "parameter 'n' must be integer"),
        (("pipeline", "run", "pipes.py:sums", "-p", "n"), "must look like key=value"),
        (("pipeline", "run", "pipes.py:sums", "--executor", "gpu"), "unknown executor 'gpu'"),
        (("pipeline", "inspect", "0" * 32), "does not exist"),
        (("pipeline", "show", "nope"), "pipeline 'nope' does not exist"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(cli: Cli, args: tuple[str, ...], message: str) -> None:
    lines = cli(*args, expect=2).assert_user_error()
    assert message in lines[0]


def test_pipelines_over_a_server(cli: Cli, tmp_path: Path) -> None:
    import subprocess

    from tests.conftest import free_port

    port = free_port()
    server = subprocess.Popen(
        [cli.exe, "server", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        env=cli.env,
        cwd=cli.cwd,
    )
    try:
        import httpx

        for _ in range(200):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            import time

            time.sleep(0.05)
        remote = cli.with_env(
            MODELYARD_URI=f"http://127.0.0.1:{port}", MODELYARD_HOME=str(tmp_path / "home")
        )
        result = remote("pipeline", "run", "pipes.py:sums", "-p", "n=4")
        assert "2 of 2 steps from cache" in result.stdout  # the same store as the first test
        assert len(remote("pipeline", "runs", "sums", "--json").json()) >= 4
    finally:
        server.terminate()
        server.wait(timeout=10)
