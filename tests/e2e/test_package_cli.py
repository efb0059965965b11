"""`modelyard model package` and `verify`: package a registered model, check, tamper."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Cli, store_env

REGISTER = (
    "import numpy as np, pandas as pd, modelyard\n"
    "from sklearn.linear_model import LogisticRegression\n"
    "x = pd.DataFrame(np.random.default_rng(0).normal(size=(40, 2)), columns=['a', 'b'])\n"
    "m = LogisticRegression().fit(x, (x['a'] > 0).astype(int))\n"
    "print(modelyard.models.register(m, 'churn', sample=x.head()).version)\n"
)


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    root = tmp_path_factory.mktemp("package-cli")
    cli = Cli(store_env(root), cwd=root)
    assert cli.python(REGISTER).strip() == "1"
    cli("model", "alias", "churn", "champion", "1")
    return cli


def test_package_then_verify(cli: Cli) -> None:
    out = cli("model", "package", "models:/churn@champion", "-o", "pkg").stdout.strip()
    assert out.endswith("pkg")
    assert (cli.cwd / "pkg" / "score.py").is_file()
    verified = cli("model", "verify", "pkg").stdout
    assert verified.startswith("ok: ")
    assert verified.rstrip().endswith("files verified")


def test_verify_after_tampering_is_exit_2(cli: Cli) -> None:
    cli("model", "package", "models:/churn/1", "-o", "tampered")
    with (cli.cwd / "tampered" / "Dockerfile").open("ab") as fh:
        fh.write(b"#")
    lines = cli("model", "verify", "tampered", expect=2).assert_user_error()
    assert "changed Dockerfile" in lines[0]


def test_package_of_an_unknown_model_is_exit_2(cli: Cli) -> None:
    lines = cli("model", "package", "models:/nope/1", "-o", "nope", expect=2).assert_user_error()
    assert "nope" in lines[0]
