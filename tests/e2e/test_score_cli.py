"""`modelyard score`: batch scoring a registered version, a package, and bad input."""

from __future__ import annotations

import pandas as pd
import pytest

from modelyard.cli import score as score_cli
from tests.e2e.conftest import Cli, store_env

# Registers the model, writes 1,000 rows to score and what the model predicts on them.
SETUP = (
    "import numpy as np, pandas as pd, modelyard\n"
    "from sklearn.linear_model import LogisticRegression\n"
    "x = pd.DataFrame(np.random.default_rng(0).normal(size=(40, 2)), columns=['a', 'b'])\n"
    "m = LogisticRegression().fit(x, (x['a'] > 0).astype(int))\n"
    "print(modelyard.models.register(m, 'x', sample=x.head()).version)\n"
    "rows = pd.DataFrame(np.random.default_rng(1).normal(size=(1000, 2)), columns=['a', 'b'])\n"
    "rows.insert(0, 'id', range(1000))\n"
    "rows.to_parquet('in.parquet', index=False)\n"
    "rows.assign(b='text').to_parquet('bad.parquet', index=False)\n"
    "rows.assign(expected=m.predict(rows[['a', 'b']])).to_parquet('expected.parquet')\n"
)


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    root = tmp_path_factory.mktemp("score-cli")
    cli = Cli(store_env(root), cwd=root)
    assert cli.python(SETUP).strip() == "1"
    cli("model", "alias", "x", "champion", "1")
    return cli


def test_score_a_registered_version(cli: Cli) -> None:
    done = cli(
        "score",
        "models:/x@champion",
        "--input",
        "in.parquet",
        "--output",
        "out.parquet",
        "--chunk-rows",
        "300",
        "--id-column",
        "id",
    )
    assert done.stdout.startswith("scored 1,000 rows in ")
    assert "(inline, 4 chunks) into out.parquet" in done.stdout
    scored = pd.read_parquet(cli.cwd / "out.parquet")
    expected = pd.read_parquet(cli.cwd / "expected.parquet")
    assert list(scored.columns) == ["id", "prediction"]
    assert scored["id"].tolist() == expected["id"].tolist()
    assert scored["prediction"].tolist() == expected["expected"].tolist()


def test_score_a_package_and_refuse_a_tampered_one(cli: Cli) -> None:
    cli("model", "package", "models:/x/1", "-o", "pkg")
    cli("score", "pkg", "-i", "in.parquet", "-o", "pkg-out.csv", "--proba")
    scored = pd.read_csv(cli.cwd / "pkg-out.csv")
    assert list(scored.columns) == ["prediction", "proba_0", "proba_1"]
    assert len(scored) == 1_000
    with (cli.cwd / "pkg" / "Dockerfile").open("ab") as fh:
        fh.write(b"#")
    lines = cli("score", "pkg", "-i", "in.parquet", "-o", "t.parquet", expect=2).assert_user_error()
    assert "changed Dockerfile" in lines[0]


def test_bad_input_is_exit_2_and_leaves_no_output(cli: Cli) -> None:
    lines = cli(
        "score", "models:/x@champion", "-i", "bad.parquet", "-o", "bad-out.parquet", expect=2
    ).assert_user_error()
    assert "rows 0-999: column 'b' should be float but is string" in lines[0]
    assert not (cli.cwd / "bad-out.parquet").exists()
    lines = cli(
        "score", "models:/x@nope", "-i", "in.parquet", "-o", "o.parquet", expect=2
    ).assert_user_error()
    assert "nope" in lines[0]


def test_progress_is_a_bar_or_periodic_lines(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(score_cli, "PLAIN_EVERY_SECONDS", 0.0)
    with score_cli.PlainProgress() as plain:
        plain(500, 1_000)
        plain(700, None)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("scored 500 of 1,000 rows (50%), ")
    assert lines[1].startswith("scored 700 rows, ")
    with score_cli.BarProgress() as bar:
        bar(0, None)
        bar(1_000, 1_000)
    assert bar.progress.tasks[0].completed == 1_000
