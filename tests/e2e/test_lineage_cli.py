"""A user's journey through `modelyard lineage`: from a deployed model back to the file its
pipeline read, forward again, and the run history exported as OpenLineage JSON Lines."""

from __future__ import annotations

import hashlib
import json
import textwrap

import pytest

from tests.e2e.conftest import Cli, store_env

PIPELINE = """
import pandas as pd

import modelyard


@modelyard.step
def prepare(path: str) -> pd.DataFrame:
    modelyard.log_input(path, name="customers")
    return pd.read_csv(path)


@modelyard.step
def train(data: pd.DataFrame) -> dict:
    return {"mean": float(data.x.mean())}


@modelyard.pipeline
def churn(path: str = "customers.csv"):
    return train(prepare(path=path))
"""


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    root = tmp_path_factory.mktemp("lineage-cli")
    (root / "pipes.py").write_text(textwrap.dedent(PIPELINE))
    (root / "customers.csv").write_text("x,y\n1.0,0\n3.0,1\n")
    return Cli(store_env(root), cwd=root)


def test_from_a_deployment_back_to_its_data_and_out_as_openlineage(cli: Cli) -> None:
    run = cli("pipeline", "run", "pipes.py:churn", "--json").json()
    cli("model", "register", "churn", f"pipelines:/{run['run_id']}/train/output")
    cli("endpoint", "create", "churn")
    cli("deployment", "create", "churn/blue", "--model", "models:/churn/1")
    digest = hashlib.sha256((cli.cwd / "customers.csv").read_bytes()).hexdigest()

    graph = cli("lineage", "models:/churn/1", "--upstream", "--json").json()
    assert f"dataset:{digest}" in {n["id"] for n in graph["nodes"]}
    tree = cli("lineage", "models:/churn/1").stdout
    assert "upstream" in tree
    assert "downstream" in tree
    assert "[registered] step_run train  FINISHED" in tree
    assert f"[input:customers] dataset customers  sha256 {digest[:16]}" in tree
    assert "[serves] endpoint churn" in tree
    down = cli("lineage", "--downstream", f"datasets:/{digest}", "--depth", "6", "--json").json()
    assert "endpoint:churn" in {n["id"] for n in down["nodes"]}

    cli("lineage", "export", "--output", "events.jsonl", "--since", "2000-01-01")
    lines = (cli.cwd / "events.jsonl").read_text().splitlines()
    events = [json.loads(line) for line in lines]
    assert [e["eventType"] for e in events].count("START") == 3  # pipeline and two steps
    assert {e["job"]["name"] for e in events} == {"churn", "churn.prepare", "churn.train"}
    assert cli("lineage", "export", "--until", "2000-01-01").stdout == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("lineage", "models:/nobody/1"), "'models:/nobody/1': model 'nobody'"),
        (("lineage", "ftp://x"), "is not a lineage start"),
        (("lineage", "runs:/x", "--upstream", "--downstream"), "not both"),
        (("lineage", "export", "--since", "yesterday"), "--since 'yesterday'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(cli: Cli, args: tuple[str, ...], message: str) -> None:
    lines = cli(*args, expect=2).assert_user_error()
    assert message in lines[0]


def test_a_bad_depth_is_refused_by_the_option(cli: Cli) -> None:
    refused = cli("lineage", "runs:/x", "--depth", "0", expect=2)
    assert "--depth" in refused.stderr


def test_help_lists_show_and_export(cli: Cli) -> None:
    shown = cli("lineage", "--help").stdout
    assert "show" in shown
    assert "export" in shown
