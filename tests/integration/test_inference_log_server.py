"""The scoring server's inference log and ``POST /feedback``, in process, on real Parquet."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from modelyard.errors import InvalidInput
from modelyard.registry.flavors import save_model
from modelyard.serving.server import (
    InferenceLogConfig,
    WorkerConfig,
    build_app,
    plan_inference_log,
    plan_source,
)
from tests.conftest import make_settings
from tests.integration.scoring_app import Scenario, run_app

COLUMNS = ["a", "b", "c"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    x = pd.DataFrame(np.random.default_rng(1).normal(size=(40, 3)), columns=COLUMNS)
    model = LogisticRegression().fit(x, (x["a"] > 0).astype(int))
    folder = tmp_path_factory.mktemp("inference-log") / "churn"
    save_model(model, folder, sample=x.head())
    return folder


def serve(config: WorkerConfig, scenario: Scenario) -> None:
    """Run ``scenario`` against the app in process; its shutdown flushes the log."""
    run_app(build_app(config), scenario)


def logging_config(model_dir: Path, root: Path, rate: float, **options: Any) -> WorkerConfig:
    log = InferenceLogConfig(
        root=str(root), sample_rate=rate, endpoint="churn", deployment="blue", **options
    )
    return plan_source(model_dir).model_copy(update={"inference_log": log})


ROW = {"a": 0.5, "b": -1.0, "c": 2.0}


def answers_made(answers: dict[str, Any]) -> str:
    return next(
        i for i, r in answers.items() if r.status_code == 200 and len(r.json()["predictions"]) == 2
    )


def test_sampled_requests_land_in_parquet_with_their_ids(model_dir: Path, tmp_path: Path) -> None:
    answers: dict[str, Any] = {}

    async def scenario(client: httpx.AsyncClient) -> None:
        given = await client.post("/invocations", json=[ROW], headers={"X-Request-Id": "c-1"})
        assert given.headers["x-request-id"] == "c-1"
        made = await client.post("/invocations", json=[ROW, ROW])
        mirrored = await client.post(
            "/invocations", json=[ROW], headers={"X-Modelyard-Mirror": "1"}
        )
        refused = await client.post("/invocations", json=[{"a": 1.0}])
        assert refused.status_code == 422
        for response in (given, made, mirrored, refused):
            answers[response.headers["x-request-id"]] = response
        bad_id = await client.post("/invocations", json=[ROW], headers={"X-Request-Id": "a\tb"})
        assert bad_id.status_code == 400
        assert "X-Request-Id" in bad_id.json()["error"]["message"]
        answers[bad_id.headers["x-request-id"]] = bad_id

    serve(logging_config(model_dir, tmp_path, 1.0), scenario)

    frame = pd.read_parquet(tmp_path / "inference")
    assert sorted(frame["request_id"]) == sorted(answers)
    rows = frame.set_index("request_id")
    assert set(rows["endpoint"].astype(str)) == {"churn"}
    assert set(rows["deployment"].astype(str)) == {"blue"}
    for request_id, response in answers.items():
        row = rows.loc[request_id]
        assert row["status"] == response.status_code
        assert row["latency_ms"] > 0
        if response.status_code == 200:
            assert json.loads(row["outputs"]) == response.json()["predictions"]
    assert json.loads(rows.loc["c-1", "inputs"]) == [ROW]
    assert len(json.loads(rows.loc[answers_made(answers), "inputs"])) == 2
    assert rows["mirrored"].sum() == 1
    # The refused request's input is kept (data quality); an unreadable one has none.
    refused_id = next(i for i, r in answers.items() if r.status_code == 422)
    assert json.loads(rows.loc[refused_id, "inputs"]) == [{"a": 1.0}]
    assert pd.isna(rows.loc[refused_id, "outputs"])
    unreadable = next(i for i, r in answers.items() if r.status_code == 400)
    assert pd.isna(rows.loc[unreadable, "inputs"])
    # A plain folder is no registered version.
    assert rows["model"].isna().all()
    assert set(rows["version"]) == {0}


def test_sample_rate_zero_writes_nothing_but_still_answers_an_id(
    model_dir: Path, tmp_path: Path
) -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        for _ in range(20):
            response = await client.post("/invocations", json=[ROW])
            assert len(response.headers["x-request-id"]) == 32
        echoed = await client.post("/invocations", json=[ROW], headers={"X-Request-Id": "mine"})
        assert echoed.headers["x-request-id"] == "mine"

    serve(logging_config(model_dir, tmp_path, 0.0), scenario)
    assert not (tmp_path / "inference").exists()


def test_feedback_joins_the_inference_rows_by_request_id(model_dir: Path, tmp_path: Path) -> None:
    ids: list[str] = []

    async def scenario(client: httpx.AsyncClient) -> None:
        for _ in range(3):
            ids.append((await client.post("/invocations", json=[ROW])).headers["x-request-id"])
        one = await client.post("/feedback", json={"request_id": ids[0], "ground_truth": 1})
        assert one.status_code == 202
        assert one.json() == {"accepted": 1}
        many = [{"request_id": i, "ground_truth": {"label": 0}} for i in ids[1:]]
        assert (await client.post("/feedback", json=many)).json() == {"accepted": 2}

        async def written() -> str:
            return (await client.get("/metrics")).text

        for _ in range(300):
            text = await written()
            if 'modelyard_inference_log_written_total{stream="inference"} 3.0' in text:
                break
            await asyncio.sleep(0.01)
        assert 'modelyard_inference_log_written_total{stream="inference"} 3.0' in text
        assert (
            'modelyard_inference_log_dropped_total{reason="queue_full",stream="inference"} 0.0'
            in text
        )
        assert "modelyard_inference_log_queue_depth" in text

    serve(logging_config(model_dir, tmp_path, 1.0, flush_rows=1), scenario)

    inference = pd.read_parquet(tmp_path / "inference")
    feedback = pd.read_parquet(tmp_path / "feedback")
    joined = inference.merge(feedback[["request_id", "ground_truth"]], on="request_id")
    assert sorted(joined["request_id"]) == sorted(ids)
    truth = dict(zip(joined["request_id"], joined["ground_truth"].map(json.loads), strict=True))
    assert truth == {ids[0]: 1, ids[1]: {"label": 0}, ids[2]: {"label": 0}}
    assert set(feedback["deployment"]) == {"blue"}


def test_bad_feedback_is_refused_with_the_error_body(model_dir: Path, tmp_path: Path) -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        for body in (b"{", b"[]", b'{"request_id": "r"}', b'{"request_id": 1, "ground_truth": 1}'):
            response = await client.post(
                "/feedback", content=body, headers={"content-type": "application/json"}
            )
            assert response.status_code == 400, body
            assert response.json()["error"]["code"] == "invalid_input"

    serve(logging_config(model_dir, tmp_path, 1.0), scenario)
    assert not (tmp_path / "feedback").exists()


def test_without_an_inference_log_feedback_is_not_found(model_dir: Path) -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        response = await client.post("/feedback", json={"request_id": "r", "ground_truth": 1})
        assert response.status_code == 404
        assert "inference log" in response.json()["error"]["message"]

    serve(plan_source(model_dir), scenario)


def test_the_log_is_planned_from_settings_and_travels_to_workers(
    model_dir: Path, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path)
    labels = plan_source(model_dir).model
    planned = plan_inference_log(labels, sample_rate=0.25, settings=settings)
    assert planned.root == settings.resolved_artifact_root
    assert (planned.endpoint, planned.deployment, planned.sample_rate) == ("churn", "default", 0.25)
    s3 = make_settings(tmp_path, artifact_root="s3://bucket/x", s3_endpoint_url="http://s3:9000")
    remote = plan_inference_log(labels, settings=s3)
    assert remote.storage_options == {"client_kwargs": {"endpoint_url": "http://s3:9000"}}
    config = plan_source(model_dir).model_copy(update={"inference_log": planned})
    assert WorkerConfig.model_validate_json(config.model_dump_json()) == config
    # The field is named, not an option of a command: the supervisor plans logs too.
    with pytest.raises(InvalidInput, match="endpoint: 'Not OK' is not a valid name"):
        plan_inference_log(labels, endpoint="Not OK", settings=settings)
    with pytest.raises(InvalidInput, match=r"sample_rate: .*less than or equal to 1"):
        plan_inference_log(labels, sample_rate=2.0, settings=settings)
