"""The scoring server on bodies that used to break it: refused ones holding memory, deep
nesting, numbers no column can hold, ragged CSV. In process, over a real scikit-learn model."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

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
