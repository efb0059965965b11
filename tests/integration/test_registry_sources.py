"""Registering a model from each place it can come from: a pipeline step's output, S3 and
HTTP(S). (Runs, files and folders are in the contract suite.)"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from modelyard import models
from modelyard.client.client import Client
from modelyard.core.backend import open_local_backend
from modelyard.errors import BackendUnavailable, InvalidInput, NotFound
from modelyard.pipelines.loader import load_pipeline
from modelyard.pipelines.runner import run_pipeline
from modelyard.registry.packaging import verify_package
from modelyard.serving.batch import score_file
from modelyard.serving.server import build_app, plan_source
from modelyard.tracking.models import RunStatus
from tests.conftest import make_settings, web_server
from tests.integration.scoring_app import run_app

PIPELINE = """
import tempfile
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

import modelyard


@modelyard.step
def train(c: float = 1.0) -> Path:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 2))
    model = LogisticRegression(C=c).fit(x, (x[:, 0] > 0).astype(int))
    modelyard.log_metric("train_rows", 40)
    out = Path(tempfile.mkdtemp()) / "model"
    modelyard.models.save(model, out, sample=x[:3])
    return out


@modelyard.step
def fit(c: float = 1.0) -> LogisticRegression:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 2))
    return LogisticRegression(C=c).fit(x, (x[:, 1] > 0).astype(int))


@modelyard.pipeline
def training(c: float = 1.0):
    return {"folder": train(c=c), "model": fit(c=c)}
"""


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    settings = make_settings(tmp_path)
    backend = open_local_backend(settings)
    try:
        yield Client(settings=settings, backend=backend)
    finally:
        backend.close()


def _saved_model(folder: Path) -> tuple[LogisticRegression, np.ndarray[Any, Any]]:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(30, 3))
    model = LogisticRegression().fit(x, (x[:, 1] > 0).astype(int))
    models.save(model, folder, sample=x[:3])
    return model, x


# The step's model was fitted on an array; batch scoring hands it the file's named columns.
@pytest.mark.filterwarnings("ignore:X has feature names:UserWarning")
def test_register_a_pipeline_step_output(client: Client, tmp_path: Path) -> None:
    module = tmp_path / "training.py"
    module.write_text(textwrap.dedent(PIPELINE))
    result = run_pipeline(load_pipeline(str(module)), backend=client.backend)
    assert result.status == RunStatus.FINISHED, result.steps
    source = f"pipelines:/{result.run_id}/train/output"
    # The step returned a saved folder: its descriptor gives the flavor and the signature.
    version = client.registry.register("steps", source)
    assert version.flavor == "sklearn"
    assert version.signature == {"type": "ndarray", "dtype": "float64", "kind": "float",
                                 "shape": [-1, 2]}  # fmt: skip
    step_run = result.steps["train"].run_id
    assert version.run_id == step_run  # the step run: its metrics and environment
    assert version.metrics == {"train_rows": 40.0}
    assert version.source == source
    loaded = models.load(version.uri, client=client)
    x = np.random.default_rng(2).normal(size=(5, 2))
    assert loaded.predict(x).shape == (5,)

    # A step that returns the estimator itself: stored with skops, so the sklearn flavor.
    plain = client.registry.register("plain", f"pipelines:/{result.run_id}/fit/output")
    assert plain.flavor == "sklearn"
    assert models.load(plain.uri, client=client).predict(x).shape == (5,)

    _serves_scores_and_packages(client, plain.uri, x, tmp_path)

    with pytest.raises(NotFound, match="has no step 'score' \\(steps: train, fit\\)"):
        client.registry.register("steps", f"pipelines:/{result.run_id}/score/output")
    with pytest.raises(NotFound, match="has no output 'model' \\(outputs: output\\)"):
        client.registry.register("steps", f"pipelines:/{result.run_id}/train/model")
    with pytest.raises(NotFound):
        client.registry.register("steps", "pipelines:/0123456789abcdef/train/output")


def _serves_scores_and_packages(
    client: Client, uri: str, x: np.ndarray[Any, Any], tmp_path: Path
) -> None:
    """A version with no descriptor (a step's .skops) works wherever a version is used: the
    scoring server, batch scoring and a package that loads with no store."""
    version = client.registry.resolve(uri)
    expected = models.load(uri, client=client).predict(x).tolist()
    folder = client.registry.download(uri, tmp_path / "downloaded")

    async def predicts_like_the_model(http: httpx.AsyncClient) -> None:
        answer = await http.post("/invocations", json={"instances": x.tolist()})
        assert answer.status_code == 200, answer.text
        assert answer.json()["predictions"] == expected

    run_app(build_app(plan_source(folder, version)), predicts_like_the_model)

    rows = tmp_path / "rows.parquet"
    pd.DataFrame(x, columns=["a", "b"]).to_parquet(rows)
    score_file(folder, version, rows, tmp_path / "scored.parquet", chunk_rows=2)
    assert pd.read_parquet(tmp_path / "scored.parquet")["prediction"].tolist() == expected

    package = client.registry.package(uri, tmp_path / "package")
    assert verify_package(package) == []
    assert models.load(package / "model").predict(x).tolist() == expected  # what score.py does
    run_app(build_app(plan_source(package)), predicts_like_the_model)


@pytest.fixture
def web_root(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "web"
    root.mkdir()
    with web_server(root) as url:
        yield url, root


def _blob_count(client: Client) -> int:
    return sum(1 for p in Path(client.backend.blobs.root, "blobs").rglob("*") if p.is_file())


def test_register_from_http(web_root: tuple[str, Path], tmp_path: Path) -> None:
    import onnx
    from skl2onnx import to_onnx

    url, root = web_root
    x = np.random.default_rng(3).normal(size=(30, 4)).astype(np.float32)
    model = LogisticRegression().fit(x, (x[:, 0] > 0).astype(int))
    onnx.save_model(to_onnx(model, x[:1]), root / "churn.onnx")
    # The test's web server is on the loopback address: allowed here by name, on purpose.
    settings = make_settings(tmp_path, private_url_hosts=["127.0.0.1"])
    with Client(settings=settings) as client:
        version = client.registry.register("web", f"{url}/churn.onnx", flavor="onnx")
        assert version.source == f"{url}/churn.onnx"
        assert version.size == (root / "churn.onnx").stat().st_size
        out = client.registry.download(version.uri, tmp_path / "dl")
        assert (out / "churn.onnx").read_bytes() == (root / "churn.onnx").read_bytes()
        # A redirect to the same scheme, host and port is followed.
        moved = client.registry.register("web", f"{url}/redirect?to=/churn.onnx")
        assert moved.manifest == version.manifest

        with pytest.raises(NotFound, match="answered 404"):
            client.registry.register("web", f"{url}/missing.onnx")
        with pytest.raises(BackendUnavailable, match="cannot download"):
            client.registry.register("web", "http://127.0.0.1:9/model.onnx")


def _refused(client: Client, url: str, *complaints: str) -> InvalidInput:
    before = (client.registry.list(), _blob_count(client))
    with pytest.raises(InvalidInput) as caught:
        client.registry.register("web", url)
    for complaint in complaints:
        assert complaint in caught.value.message, caught.value.message
    assert (client.registry.list(), _blob_count(client)) == before  # nothing stored
    return caught.value


def test_http_to_internal_addresses_is_refused(web_root: tuple[str, Path], tmp_path: Path) -> None:
    url, root = web_root
    (root / "model.onnx").write_bytes(b"internal")
    port = url.rsplit(":", 1)[1]
    # A short timeout: without the guard the unroutable addresses would hang until it ends.
    with Client(settings=make_settings(tmp_path, http_timeout_seconds=2)) as client:
        for refused, kind in [
            (f"{url}/model.onnx", "a loopback address"),
            (f"http://localhost:{port}/model.onnx", "a loopback address"),
            (f"http://[::1]:{port}/model.onnx", "a loopback address"),
            (f"http://[::ffff:127.0.0.1]:{port}/model.onnx", "a loopback address"),
            (f"http://0.0.0.0:{port}/model.onnx", "the unspecified address"),
            ("http://10.1.2.3/model.onnx", "a private address"),
            ("http://192.168.0.7:8080/model.onnx", "a private address"),
            ("http://169.254.169.254/latest/meta-data/", "a link-local address"),
        ]:
            error = _refused(
                client, refused, kind, "MODELYARD_ALLOW_PRIVATE_URLS", "MODELYARD_PRIVATE_URL_HOSTS"
            )
            assert error.http_status == 400
            assert error.details["reason"] == kind

    # Allowing every private address, or one host by name, lets the same URL through.
    with Client(settings=make_settings(tmp_path / "all", allow_private_urls=True)) as client:
        assert client.registry.register("web", f"{url}/model.onnx").size == len(b"internal")
    settings = make_settings(tmp_path / "named", private_url_hosts=["localhost"])
    with Client(settings=settings) as client:
        assert client.registry.register("web", f"http://localhost:{port}/model.onnx").size == 8
        _refused(client, f"{url}/model.onnx", "a loopback address")  # 127.0.0.1 is not named


def test_a_redirect_to_another_host_is_refused(web_root: tuple[str, Path], tmp_path: Path) -> None:
    url, root = web_root
    (root / "model.onnx").write_bytes(b"internal")
    port = url.rsplit(":", 1)[1]
    # Both names are allowed to be private; the redirect between them is still refused.
    settings = make_settings(tmp_path, private_url_hosts=["127.0.0.1", "localhost"])
    with Client(settings=settings) as client:
        elsewhere = f"http://localhost:{port}/model.onnx"
        error = _refused(client, f"{url}/redirect?to={elsewhere}", "redirected", elsewhere)
        assert error.details["location"] == elsewhere
        _refused(client, f"{url}/redirect?to=https://127.0.0.1:{port}/model.onnx", "redirected")
        _refused(client, f"{url}/loop", "redirected more than 5 times")


def test_register_from_s3(tmp_path: Path, s3: Any, bucket: str, endpoint: str) -> None:
    settings = make_settings(tmp_path, s3_endpoint_url=endpoint)
    backend = open_local_backend(settings)
    try:
        client = Client(settings=settings, backend=backend)
        model, x = _saved_model(tmp_path / "model")
        for file in (tmp_path / "model").rglob("*"):
            if file.is_file():
                key = f"models/churn/{file.relative_to(tmp_path / 'model').as_posix()}"
                s3.put_object(Bucket=bucket, Key=key, Body=file.read_bytes())
        version = client.registry.register("s3model", f"s3://{bucket}/models/churn/")
        # Not given: the downloaded descriptor holds them.
        assert version.flavor == "sklearn"
        assert version.signature == {"type": "ndarray", "dtype": "float64", "kind": "float",
                                     "shape": [-1, 3]}  # fmt: skip
        loaded = models.load(version.uri, client=client)
        np.testing.assert_array_equal(loaded.predict(x), model.predict(x))

        single = client.registry.register(
            "s3file", f"s3://{bucket}/models/churn/model.skops", flavor="sklearn"
        )
        assert single.size == (tmp_path / "model" / "model.skops").stat().st_size
        with pytest.raises(NotFound, match="holds no objects"):
            client.registry.register("s3model", f"s3://{bucket}/nothing/here/")
        with pytest.raises(InvalidInput, match="s3://BUCKET/KEY"):
            client.registry.register("s3model", "s3://")
    finally:
        backend.close()
