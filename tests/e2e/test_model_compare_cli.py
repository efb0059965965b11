"""`modelyard model compare`: a table, a stored result, and a gate that stops CI."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Cli, store_env

TRAIN = """
import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import modelyard

x, y = load_breast_cancer(return_X_y=True, as_frame=True)
x = x.iloc[:, :6]
x_train, x_test, y_train, y_test = train_test_split(x, y, random_state=0)
weak = DummyClassifier(strategy="prior").fit(x_train, y_train)
good = make_pipeline(StandardScaler(), LogisticRegression()).fit(x_train, y_train)
modelyard.models.register(weak, "bc", sample=x_train.head())
modelyard.models.register(good, "bc", sample=x_train.head())
x_test.assign(label=y_test).to_parquet("holdout.parquet")
"""


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    root = tmp_path_factory.mktemp("compare-cli")
    cli = Cli(store_env(root), cwd=root)
    cli.python(TRAIN)
    cli("model", "alias", "bc", "champion", "1")
    cli("model", "alias", "bc", "challenger", "2")
    return cli


def test_a_better_candidate_passes_its_gate_and_the_result_is_kept(cli: Cli) -> None:
    result = cli(
        "model", "compare", "models:/bc@challenger", "models:/bc@champion",
        "--data", "holdout.parquet", "--target", "label", "--metric", "accuracy",
        "--gate", "auc >= baseline + 0.01", "--reason", "nightly gate",
    )  # fmt: skip
    assert "better" in result.stdout
    assert "pass  auc" in result.stdout
    shown = cli("model", "show", "models:/bc/2").stdout
    assert "Evaluations" in shown
    assert "passed" in shown
    as_json = cli(
        "model", "compare", "models:/bc/2", "models:/bc/1", "--data", "holdout.parquet",
        "--target", "label", "--metric", "auc", "--json", "--no-record",
    ).json()  # fmt: skip
    assert as_json["passed"] is True
    assert as_json["evaluation_id"] is None
    auc = next(m for m in as_json["metrics"] if m["metric"] == "auc")
    assert auc["candidate"] > 0.9
    assert auc["baseline"] == pytest.approx(0.5)
    assert auc["improved"] is True


def test_a_worse_candidate_fails_its_gate_with_exit_1(cli: Cli) -> None:
    result = cli(
        "model", "compare", "models:/bc@champion", "models:/bc@challenger",
        "--data", "holdout.parquet", "--target", "label", "--gate", "auc >= baseline",
        expect=1,
    )  # fmt: skip
    assert "FAIL  auc" in result.stdout
    assert "worse" in result.stdout
    assert "FAILED" in cli("model", "show", "models:/bc/1").stdout


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--gate", "auc >= baseline +"), "bad gate"),
        (("--gate", "speed > 3"), "unknown metric 'speed'"),
        (("--metric", "auc", "--target", "nope"), "nope"),
        (("--metric", "auc", "--data", "missing.parquet"), "does not exist"),
    ],
)
def test_bad_comparisons_are_one_line_and_exit_2(
    cli: Cli, extra: tuple[str, ...], message: str
) -> None:
    args = ["model", "compare", "models:/bc/2", "models:/bc/1", "--data", "holdout.parquet"]
    args += ["--target", "label", *extra]
    result = cli(*args, expect=2)
    assert result.code == 2
    assert result.stderr.startswith("error: ")
    assert message in result.stderr
    assert "Traceback" not in result.stderr
