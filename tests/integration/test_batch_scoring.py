"""Batch scoring a real scikit-learn model over files larger than one chunk."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from modelyard.errors import InvalidInput
from modelyard.registry.flavors import save_model
from modelyard.serving.batch import (
    ChunkedInput,
    ScoringJob,
    forget_model,
    prediction_columns,
    score_file,
    worker_model,
)
from modelyard.serving.server import plan_source

COLUMNS = ["a", "b", "c"]
ROWS = 2_500
CHUNK = 1_000


@pytest.fixture(scope="module")
def model() -> LogisticRegression:
    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(200, 3)), columns=COLUMNS)
    return LogisticRegression().fit(x, (x["a"] + x["b"] > 0).astype(int))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory, model: LogisticRegression) -> Path:
    folder = tmp_path_factory.mktemp("batch") / "model"
    sample = pd.DataFrame(np.zeros((5, 3)), columns=COLUMNS)
    save_model(model, folder, sample=sample)
    return folder


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    frame = pd.DataFrame(np.random.default_rng(1).normal(size=(ROWS, 3)), columns=COLUMNS)
    frame.insert(0, "id", [f"row-{i}" for i in range(ROWS)])
    return frame


@pytest.fixture
def parquet_in(tmp_path: Path, rows: pd.DataFrame) -> Path:
    path = tmp_path / "in.parquet"
    # Small row groups, so the reader's batches do not line up with the chunks.
    rows.to_parquet(path, index=False, row_group_size=700)
    return path


def expected(model: LogisticRegression, rows: pd.DataFrame) -> list[int]:
    return [int(v) for v in model.predict(rows[COLUMNS])]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".partial"))


def test_chunks_never_exceed_the_chunk_size(parquet_in: Path, tmp_path: Path) -> None:
    source = ChunkedInput(parquet_in, CHUNK)
    assert source.rows_total == ROWS
    assert [c.num_rows for c in source.chunks()] == [1_000, 1_000, 500]
    csv = tmp_path / "in.csv"
    pd.read_parquet(parquet_in).to_csv(csv, index=False)
    assert [c.num_rows for c in ChunkedInput(csv, 300).chunks(["id"])] == [300] * 8 + [100]


def test_parquet_predictions_match_the_model_in_order(
    model_dir: Path,
    model: LogisticRegression,
    rows: pd.DataFrame,
    parquet_in: Path,
    tmp_path: Path,
) -> None:
    progress: list[tuple[int, int | None]] = []
    out = tmp_path / "out.parquet"
    result = score_file(
        model_dir,
        None,
        parquet_in,
        out,
        chunk_rows=CHUNK,
        id_column="id",
        on_progress=lambda done, total: progress.append((done, total)),
    )
    assert (result.rows, result.chunks, result.executor) == (ROWS, 3, "inline")
    # One call per chunk written: the model never saw more than CHUNK rows at once.
    assert progress == [(0, ROWS), (1_000, ROWS), (2_000, ROWS), (2_500, ROWS)]
    scored = pd.read_parquet(out)
    assert list(scored.columns) == ["id", "prediction"]
    assert scored["id"].tolist() == rows["id"].tolist()
    assert scored["prediction"].tolist() == expected(model, rows)
    assert leftovers(tmp_path) == []


def test_csv_in_and_out_with_probabilities_and_input_columns(
    model_dir: Path, model: LogisticRegression, rows: pd.DataFrame, tmp_path: Path
) -> None:
    source = tmp_path / "in.csv"
    rows.to_csv(source, index=False)
    out = tmp_path / "out.csv"
    progress: list[tuple[int, int | None]] = []
    result = score_file(
        model_dir,
        None,
        source,
        out,
        chunk_rows=CHUNK,
        proba=True,
        keep_columns=True,
        on_progress=lambda done, total: progress.append((done, total)),
    )
    assert result.rows == ROWS
    assert progress[-1] == (ROWS, None)  # a CSV's row count is unknown until read
    scored = pd.read_csv(out)
    assert list(scored.columns) == ["id", *COLUMNS, "prediction", "proba_0", "proba_1"]
    assert scored["prediction"].tolist() == expected(model, rows)
    np.testing.assert_allclose(
        scored[["proba_0", "proba_1"]].to_numpy(), model.predict_proba(rows[COLUMNS]), rtol=1e-6
    )
    np.testing.assert_allclose(scored[COLUMNS].to_numpy(), rows[COLUMNS].to_numpy())


def test_local_processes_keep_the_input_order(
    model_dir: Path,
    model: LogisticRegression,
    rows: pd.DataFrame,
    parquet_in: Path,
    tmp_path: Path,
) -> None:
    out = tmp_path / "out.parquet"
    result = score_file(
        model_dir, None, parquet_in, out, chunk_rows=500, executor="processes:2", id_column="id"
    )
    assert (result.chunks, result.executor) == (5, "processes:2")
    scored = pd.read_parquet(out)
    assert scored["id"].tolist() == rows["id"].tolist()
    assert scored["prediction"].tolist() == expected(model, rows)


@pytest.fixture(scope="module")
def dask_address() -> Iterator[str]:
    from distributed import LocalCluster

    # Threads in this process: a real scheduler and worker, without worker start-up time.
    with LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as cluster:
        yield str(cluster.scheduler_address)


def test_a_dask_cluster_scores_in_order(
    model_dir: Path,
    model: LogisticRegression,
    rows: pd.DataFrame,
    parquet_in: Path,
    tmp_path: Path,
    dask_address: str,
) -> None:
    out = tmp_path / "out.parquet"
    result = score_file(
        model_dir, None, parquet_in, out, chunk_rows=CHUNK, executor=f"dask://{dask_address}"
    )
    assert result.executor == f"dask://{dask_address}"
    assert pd.read_parquet(out)["prediction"].tolist() == expected(model, rows)


def test_a_bad_column_names_the_column_and_rows_and_leaves_no_output(
    model_dir: Path, rows: pd.DataFrame, tmp_path: Path
) -> None:
    source = tmp_path / "in.parquet"
    rows.assign(b=rows["b"].astype(str)).to_parquet(source, index=False)
    out = tmp_path / "out.parquet"
    with pytest.raises(InvalidInput, match=r"rows 0-999: column 'b' should be float") as info:
        score_file(model_dir, None, source, out, chunk_rows=CHUNK)
    assert info.value.details["rows"] == [0, 1_000]
    assert not out.exists()
    assert leftovers(tmp_path) == []


def test_a_failure_after_some_chunks_leaves_no_output(
    model_dir: Path, rows: pd.DataFrame, tmp_path: Path
) -> None:
    source = tmp_path / "in.parquet"
    broken = rows.copy()
    broken.loc[2_100, "a"] = np.nan  # scikit-learn refuses NaN: the third chunk fails
    broken.to_parquet(source, index=False)
    out = tmp_path / "out.parquet"
    out.write_text("the previous output")
    with pytest.raises(InvalidInput, match=r"rows 2000-2499: the model cannot predict"):
        score_file(model_dir, None, source, out, chunk_rows=CHUNK)
    assert out.read_text() == "the previous output"
    assert leftovers(tmp_path) == []


def test_missing_columns_are_named(model_dir: Path, rows: pd.DataFrame, tmp_path: Path) -> None:
    source = tmp_path / "in.parquet"
    rows.drop(columns=["c"]).to_parquet(source, index=False)
    with pytest.raises(InvalidInput, match=r"rows 0-999: input is missing column\(s\) 'c'"):
        score_file(model_dir, None, source, tmp_path / "out.parquet", chunk_rows=CHUNK)
    with pytest.raises(InvalidInput, match="no column 'key' to carry as the id"):
        score_file(model_dir, None, source, tmp_path / "out.parquet", id_column="key")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("missing.parquet", "does not exist"),
        ("data.json", r"unknown extension '\.json'"),
        ("broken.parquet", "cannot read .* as parquet"),
    ],
)
def test_unreadable_inputs_are_refused(
    model_dir: Path, tmp_path: Path, name: str, message: str
) -> None:
    (tmp_path / "data.json").write_text("[]")
    (tmp_path / "broken.parquet").write_text("not parquet")
    with pytest.raises(InvalidInput, match=message):
        score_file(model_dir, None, tmp_path / name, tmp_path / "out.parquet")
    assert not (tmp_path / "out.parquet").exists()


def test_bad_outputs_and_executors_are_refused(
    model_dir: Path, parquet_in: Path, tmp_path: Path
) -> None:
    with pytest.raises(InvalidInput, match=r"unknown extension '\.txt'"):
        score_file(model_dir, None, parquet_in, tmp_path / "out.txt")
    with pytest.raises(InvalidInput, match="does not exist"):
        score_file(model_dir, None, parquet_in, tmp_path / "nowhere" / "out.parquet")
    with pytest.raises(InvalidInput, match="is the input file"):
        score_file(model_dir, None, parquet_in, parquet_in)
    with pytest.raises(InvalidInput, match="unknown executor 'threads'"):
        score_file(model_dir, None, parquet_in, tmp_path / "out.parquet", executor="threads")
    with pytest.raises(InvalidInput, match="collide with the prediction columns"):
        score_file(
            model_dir,
            None,
            parquet_in,
            tmp_path / "o.parquet",
            prediction_column="id",
            keep_columns=True,
        )
    assert leftovers(tmp_path) == []


def test_a_worker_loads_the_model_once_per_job(model_dir: Path) -> None:
    config = plan_source(model_dir)
    job = ScoringJob(config, token="one")
    first = worker_model(job)
    assert worker_model(job) is first
    # A new job reloads: the folder may hold a model saved again since.
    again = ScoringJob(config, token="two")
    assert worker_model(again) is not first
    forget_model(again)


def test_proba_needs_a_classifier(rows: pd.DataFrame, parquet_in: Path, tmp_path: Path) -> None:
    from sklearn.linear_model import LinearRegression

    folder = tmp_path / "regressor"
    save_model(LinearRegression().fit(rows[COLUMNS], rows["a"]), folder, sample=rows[COLUMNS])
    out = tmp_path / "out.parquet"
    with pytest.raises(InvalidInput, match="--proba needs a classifier with predict_proba"):
        score_file(folder, None, parquet_in, out, proba=True)
    assert not out.exists()


def test_several_outputs_per_row_become_several_columns() -> None:
    two = np.arange(6).reshape(3, 2)
    assert list(prediction_columns(two, 3, "p")) == ["p_0", "p_1"]
    assert list(prediction_columns(two[:, :1], 3, "p")) == ["p"]
    frame = pd.DataFrame({"low": [1, 2, 3], "high": [4, 5, 6]})
    assert list(prediction_columns(frame, 3, "p")) == ["p_low", "p_high"]
    assert list(prediction_columns(frame[["low"]], 3, "p")) == ["p"]
    with pytest.raises(InvalidInput, match=r"shape \[2\] for 3 rows"):
        prediction_columns([1, 2], 3, "p")


def test_a_ragged_csv_row_is_named_and_leaves_no_output(
    model_dir: Path, rows: pd.DataFrame, tmp_path: Path
) -> None:
    source = tmp_path / "in.csv"
    rows.head(5).to_csv(source, index=False)
    with source.open("a") as fh:
        fh.write("1,2\n")
    out = tmp_path / "out.parquet"
    with pytest.raises(
        InvalidInput, match=r"row 7 \(the header is row 1\) has 2 fields"
    ) as refused:
        score_file(model_dir, None, source, out, chunk_rows=2)
    assert refused.value.details["row"] == 7
    assert not out.exists()
