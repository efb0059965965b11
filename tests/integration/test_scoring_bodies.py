"""The scoring server on bodies that used to break it: refused ones holding memory, deep
nesting, numbers no column can hold, ragged CSV. In process, over a real scikit-learn model."""

from __future__ import annotations

import gc
import json
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from modelyard.registry.flavors import save_model
from modelyard.serving.server import build_app, plan_source
from tests.integration.scoring_app import run_app

COLUMNS = ["a", "b"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    x = pd.DataFrame(np.random.default_rng(2).normal(size=(40, 2)), columns=COLUMNS)
    folder = tmp_path_factory.mktemp("bodies") / "model"
    save_model(LogisticRegression().fit(x, (x["a"] > 0).astype(int)), folder, sample=x.head())
    return folder


@pytest.fixture
def collector_off() -> Iterator[None]:
    # With the cyclic collector off, memory that only a reference cycle holds stays held:
    # what a busy server sees between its rare full collections.
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def test_a_refused_streamed_body_releases_its_memory(model_dir: Path, collector_off: None) -> None:
    limit = 2 * 1024 * 1024
    chunk = b"[" + b"0," * 32 * 1024

    async def streamed() -> AsyncIterator[bytes]:  # no Content-Length: chunked
        for _ in range(2 * limit // len(chunk)):
            yield chunk + b" "  # a new bytes object each time, as a network read gives

    async def scenario(client: httpx.AsyncClient) -> None:
        async def refused() -> None:
            answer = await client.post(
                "/invocations", content=streamed(), headers={"content-type": "application/json"}
            )
            assert answer.status_code == 413

        await refused()  # the first one warms up whatever is created once
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for _ in range(4):
                await refused()
            held = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        # Four refused bodies of over 2 MiB each; what stays is bookkeeping, not bodies.
        assert held < limit // 4, held

    run_app(build_app(plan_source(model_dir, max_request_bytes=limit)), scenario)


DEEP = b"[" * 100_000 + b"]" * 100_000
BIG_INT = b"1" * 400
TOO_DEEP_CELL = b"[" * 40 + b"1" + b"]" * 40


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (DEEP, "[0][0][0]"),
        (b'[{"a": ' + DEEP + b', "b": 1}]', "row 0, column 'a'"),
        (b'[{"a": 1, "b": 2}, {"a": ' + TOO_DEEP_CELL + b', "b": 1}]', "row 1, column 'a'"),
        (b'{"instances": [[1, 2], [1, ' + TOO_DEEP_CELL + b"]]}", "row 1, column 1"),
        (b'{"inputs": {"a": [1, 2], "b": [3, ' + TOO_DEEP_CELL + b"]}}", "row 1, column 'b'"),
        (
            b'{"dataframe_split": {"columns": ["a", "b"], "data": [[' + DEEP + b", 1]]}}",
            "row 0, column 0",
        ),
    ],
)
def test_nesting_deeper_than_any_format_needs_is_a_400_naming_where(
    model_dir: Path, body: bytes, where: str
) -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        answer = await client.post(
            "/invocations", content=body, headers={"content-type": "application/json"}
        )
        assert answer.status_code == 400, answer.text
        error = answer.json()["error"]
        assert error["code"] == "invalid_input"
        assert where in error["message"]
        assert "32" in error["message"]
        assert error["details"]["path"].startswith(("[", "$"))

    run_app(build_app(plan_source(model_dir)), scenario)


@pytest.mark.parametrize(
    ("body", "where", "kind"),
    [
        (b'[{"a": 1e400, "b": 1}]', "row 0, column 'a'", "float"),
        (b'[{"a": 1, "b": 2}, {"a": 1, "b": -1e999}]', "row 1, column 'b'", "float"),
        (b'[{"a": Infinity, "b": 1}]', "row 0, column 'a'", "float"),
        (b'[{"a": ' + BIG_INT + b', "b": 1}]', "row 0, column 'a'", "integer"),
        (b'[{"a": ' + b"9" * 5000 + b', "b": 1}]', "row 0, column 'a'", "integer"),
        (b'[{"a": 9223372036854775808, "b": 1}]', "row 0, column 'a'", "integer"),
        (
            b'{"columns": ["a", "b"], "data": [[1, 2], [1, ' + BIG_INT + b"]]}",
            "row 1, column 1",
            "integer",
        ),
        (b'{"instances": [[1e400, 1]]}', "row 0, column 0", "float"),
        (b'{"inputs": [[1, 2], [3, 1e400]]}', "row 1, column 1", "float"),
        (b'{"inputs": {"a": [' + BIG_INT + b'], "b": [1]}}', "row 0, column 'a'", "integer"),
        (
            b'{"dataframe_split": {"columns": ["a", "b"], "data": [[1e400, 1]]}}',
            "row 0, column 0",
            "float",
        ),
        (
            b'{"dataframe_records": [{"a": 1, "b": ' + BIG_INT + b"}]}",
            "row 0, column 'b'",
            "integer",
        ),
    ],
)
def test_a_number_no_column_can_hold_is_a_400_naming_its_row_and_column(
    model_dir: Path, body: bytes, where: str, kind: str
) -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        answer = await client.post(
            "/invocations", content=body, headers={"content-type": "application/json"}
        )
        assert answer.status_code == 400, answer.text
        error = answer.json()["error"]
        assert error["code"] == "invalid_input"
        assert where in error["message"], error["message"]
        assert f"64-bit {kind}" in error["message"]

    run_app(build_app(plan_source(model_dir)), scenario)


def test_integers_a_float_cannot_hold_exactly_reach_an_integer_column_unchanged(
    tmp_path: Path,
) -> None:
    from modelyard.registry.flavors import ModelDescriptor
    from modelyard.registry.loading import LoadedModel
    from modelyard.registry.signatures import infer_signature
    from modelyard.serving.app import create_app

    class Echo:
        def predict(self, data: pd.DataFrame) -> list[int]:
            return [int(v) for v in data["id"]]

    signature = infer_signature(pd.DataFrame({"id": [1], "x": [1.0]}))
    descriptor = ModelDescriptor(
        flavor="python", signature=signature, python_version="3", libraries={}
    )
    app = create_app(
        lambda: LoadedModel(Echo(), None, descriptor),
        model={"name": "e", "version": "", "uri": "e"},
    )
    ids = [2**53 + 1, 2**63 - 1, -(2**63)]

    async def scenario(client: httpx.AsyncClient) -> None:
        answer = await client.post("/invocations", json=[{"id": i, "x": 0.5} for i in ids])
        assert answer.json() == {"predictions": ids}

    run_app(app, scenario)


def test_an_infinite_or_nan_prediction_is_null(tmp_path: Path) -> None:
    from modelyard.registry.flavors import ModelDescriptor
    from modelyard.registry.loading import LoadedModel
    from modelyard.serving.app import create_app

    class Overflowing:
        def predict(self, data: pd.DataFrame) -> Any:
            if "frame" in data.columns:
                return pd.DataFrame({"p": [np.inf, -np.inf, np.nan, 1.0]})
            return np.array([np.inf, -np.inf, np.nan, 1.0])

    descriptor = ModelDescriptor(flavor="python", python_version="3", libraries={})
    app = create_app(
        lambda: LoadedModel(Overflowing(), None, descriptor),
        model={"name": "o", "version": "", "uri": "o"},
    )

    async def scenario(client: httpx.AsyncClient) -> None:
        for column, want in (
            ("a", [None, None, None, 1.0]),
            ("frame", [{"p": None}, {"p": None}, {"p": None}, {"p": 1.0}]),
        ):
            answer = await client.post("/invocations", json=[{column: 1}] * 4)
            assert answer.status_code == 200
            assert json.loads(answer.content, parse_constant=_refuse) == {"predictions": want}

    run_app(app, scenario)


def _refuse(constant: str) -> Any:
    raise AssertionError(f"{constant} is not JSON")


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (b'[{"request_id": "r", "ground_truth": ' + DEEP + b"}]", '[0]["ground_truth"]'),
        (b'{"request_id": "r", "ground_truth": 1e400}', '["ground_truth"]'),
        (b'{"request_id": "r", "ground_truth": ' + BIG_INT + b"}", '["ground_truth"]'),
    ],
)
def test_feedback_reads_bodies_with_the_same_limits(
    model_dir: Path, tmp_path: Path, body: bytes, where: str
) -> None:
    from modelyard.serving.server import InferenceLogConfig

    log = InferenceLogConfig(root=str(tmp_path), sample_rate=1.0, endpoint="e", deployment="d")
    config = plan_source(model_dir).model_copy(update={"inference_log": log})

    async def scenario(client: httpx.AsyncClient) -> None:
        answer = await client.post(
            "/feedback", content=body, headers={"content-type": "application/json"}
        )
        assert answer.status_code == 400, answer.text
        error = answer.json()["error"]
        assert error["code"] == "invalid_input"
        assert where in error["message"], error["message"]

    run_app(build_app(config), scenario)


@pytest.mark.parametrize(
    ("body", "row", "fields"),
    [
        (b"a,b\n0.9,0.8,0.1,0.2\n", 2, 4),  # was scored as a=0.1, b=0.2
        (b"a,b\n0.9\n1,2\n", 2, 1),  # was scored with b missing
        (b"a,b\n1,2\n3,4\n5,6,7\n", 4, 3),
        (b'a,b\n1,"two\nlines"\n3\n', 3, 1),  # a row, not a line: a value spans two
    ],
)
def test_a_ragged_csv_row_is_a_400_naming_it(
    model_dir: Path, body: bytes, row: int, fields: int
) -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        answer = await client.post(
            "/invocations", content=body, headers={"content-type": "text/csv"}
        )
        assert answer.status_code == 400, answer.text
        error = answer.json()["error"]
        assert error["code"] == "invalid_input"
        assert f"row {row} (the header is row 1) has {fields} fields" in error["message"]
        assert "2 columns" in error["message"]
        assert error["details"] == {"row": row}

    run_app(build_app(plan_source(model_dir)), scenario)
