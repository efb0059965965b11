"""The scoring server over a real scikit-learn model: in process, and as `modelyard serve`."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from modelyard import models
from modelyard.client.client import Client
from modelyard.errors import InvalidInput
from modelyard.registry.flavors import save_model
from modelyard.registry.loading import LoadedModel, load_folder
from modelyard.serving.app import create_app
from modelyard.serving.server import WorkerConfig, build_app, load_served, plan_source
from tests.conftest import free_port, make_settings
from tests.e2e.conftest import modelyard_executable, store_env
from tests.integration.scoring_app import run_app

COLUMNS = ["a", "b", "c"]


@pytest.fixture(scope="module")
def trained() -> tuple[LogisticRegression, pd.DataFrame]:
    x = pd.DataFrame(np.random.default_rng(0).normal(size=(60, 3)), columns=COLUMNS)
    return LogisticRegression().fit(x, (x["a"] + x["b"] > 0).astype(int)), x


@pytest.fixture(scope="module")
def model_dir(
    tmp_path_factory: pytest.TempPathFactory, trained: tuple[LogisticRegression, pd.DataFrame]
) -> Path:
    model, x = trained
    folder = tmp_path_factory.mktemp("scoring") / "model"
    save_model(model, folder, sample=x.head())
    return folder


def expected(trained: tuple[LogisticRegression, pd.DataFrame], rows: pd.DataFrame) -> list[int]:
    return [int(v) for v in trained[0].predict(rows[COLUMNS])]


def test_every_format_predicts_like_sklearn(
    model_dir: Path, trained: tuple[LogisticRegression, pd.DataFrame]
) -> None:
    rows = trained[1].iloc[:7]
    want = expected(trained, rows)
    records = rows.to_dict(orient="records")
    split = {"columns": COLUMNS, "data": rows.to_numpy().tolist()}
    bodies: list[dict[str, Any]] = [
        {"json": records},
        {"json": split},
        {"json": {"instances": rows.to_numpy().tolist()}},
        {"json": {"instances": records}},
        {"json": {"inputs": rows.to_numpy().tolist()}},
        {"json": {"inputs": {c: rows[c].tolist() for c in COLUMNS}}},
        {"json": {"dataframe_records": records}},
        {"json": {"dataframe_split": split}},
        {"content": rows.to_csv(index=False), "headers": {"content-type": "text/csv"}},
    ]

    async def scenario(client: httpx.AsyncClient) -> None:
        for body in bodies:
            response = await client.post("/invocations", **body)
            assert response.status_code == 200, (body, response.text)
            assert response.json() == {"predictions": want}, body

    run_app(build_app(plan_source(model_dir)), scenario)


def test_errors_name_the_problem(model_dir: Path) -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        missing = await client.post("/invocations", json=[{"a": 1.0, "b": 2.0}])
        assert missing.status_code == 422
        error = missing.json()["error"]
        assert error["code"] == "unprocessable_input"
        assert "'c'" in error["message"]
        assert error["details"] == {"missing": ["c"]}
        wrong_type = await client.post("/invocations", json=[{"a": "x", "b": 1, "c": 2}])
        assert wrong_type.status_code == 422
        assert wrong_type.json()["error"]["details"]["column"] == "a"
        bad_json = await client.post(
            "/invocations", content=b"[{", headers={"content-type": "application/json"}
        )
        assert bad_json.status_code == 400
        assert bad_json.json()["error"]["code"] == "invalid_input"
        bad_type = await client.post(
            "/invocations", content=b"a=1", headers={"content-type": "text/plain"}
        )
        assert bad_type.status_code == 415
        assert bad_type.json()["error"]["code"] == "unsupported_media_type"
        extra = await client.post("/invocations", json=[{"a": 1, "b": 2, "c": 3, "zzz": 4}])
        assert extra.status_code == 200
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        assert (await client.get("/ping")).status_code == 200

    run_app(build_app(plan_source(model_dir)), scenario)


def test_a_body_over_the_limit_is_refused_with_413_declared_or_streamed(
    model_dir: Path,
) -> None:
    rows = [{"a": 1.0, "b": 2.0, "c": 3.0}] * 100  # about 3 KB as JSON

    async def streamed() -> AsyncIterator[bytes]:  # no Content-Length: chunked
        yield b"["
        for row in rows[:-1]:
            yield json.dumps(row).encode() + b","
        yield json.dumps(rows[-1]).encode() + b"]"

    async def scenario(client: httpx.AsyncClient) -> None:
        for answer in (
            await client.post("/invocations", json=rows),
            await client.post(
                "/invocations", content=streamed(), headers={"content-type": "application/json"}
            ),
            await client.post("/feedback", json=[{"request_id": "r", "ground_truth": 1}] * 80),
        ):
            assert answer.status_code == 413, answer.text
            error = answer.json()["error"]
            assert (error["code"], error["details"]) == ("payload_too_large", {"limit": 1000})
            assert "MODELYARD_MAX_REQUEST_BYTES" in error["message"]
        small = await client.post("/invocations", json=rows[:5])
        assert (small.status_code, len(small.json()["predictions"])) == (200, 5)

    run_app(build_app(plan_source(model_dir, max_request_bytes=1000)), scenario)


def test_ready_only_after_the_model_loaded(model_dir: Path) -> None:
    release = threading.Event()

    def slow_load() -> LoadedModel:
        release.wait(10)
        return load_folder(model_dir)

    app = create_app(slow_load, model={"name": "m", "version": "1", "uri": "models:/m/1"})

    async def scenario(client: httpx.AsyncClient) -> None:
        assert (await client.get("/healthz")).status_code == 200
        loading = await client.get("/readyz")
        assert loading.status_code == 503
        assert "loading" in loading.json()["error"]["message"]
        # A request that arrives meanwhile waits for the model instead of failing.
        early = asyncio.ensure_future(client.post("/invocations", json=[{"a": 1, "b": 2, "c": 3}]))
        await asyncio.sleep(0.05)
        assert not early.done()
        release.set()
        assert (await early).status_code == 200
        assert (await client.get("/readyz")).json() == {"status": "ready"}

    run_app(app, scenario, wait_ready=False)


def test_a_model_that_fails_to_load_stays_unready(tmp_path: Path) -> None:
    def broken() -> LoadedModel:
        raise InvalidInput("no such model")

    app = create_app(broken, model={"name": "m", "version": "1", "uri": "models:/m/1"})

    async def scenario(client: httpx.AsyncClient) -> None:
        for _ in range(100):
            response = await client.get("/readyz")
            if "failed" in response.text:
                break
            await asyncio.sleep(0.01)
        assert response.status_code == 503
        assert "no such model" in response.json()["error"]["message"]
        scoring = await client.post("/invocations", json=[{"a": 1}])
        assert scoring.status_code == 503
        assert scoring.json()["error"]["code"] == "backend_unavailable"

    run_app(app, scenario, wait_ready=False)


def test_metrics_count_requests_batches_and_name_the_model(model_dir: Path) -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        row = {"a": 1.0, "b": 2.0, "c": 3.0}
        answers = await asyncio.gather(
            *(client.post("/invocations", json=[row] * 2) for _ in range(10))
        )
        assert all(a.status_code == 200 for a in answers)
        await client.post("/invocations", json=[{"a": 1.0}])
        text = (await client.get("/metrics")).text
        assert 'modelyard_serving_requests_total{status="200"} 10.0' in text
        assert 'modelyard_serving_requests_total{status="422"} 1.0' in text
        assert 'modelyard_serving_errors_total{code="unprocessable_input"} 1.0' in text
        assert "modelyard_serving_request_duration_seconds_bucket" in text
        assert "modelyard_serving_batch_rows_sum 20.0" in text
        batches = next(
            line
            for line in text.splitlines()
            if line.startswith("modelyard_serving_batch_requests_count")
        )
        # Ten concurrent requests share fewer predict calls than ten.
        assert float(batches.split()[-1]) < 10
        assert 'modelyard_serving_model_info{name="model",uri=' in text

    run_app(build_app(plan_source(model_dir)), scenario)


def test_a_model_error_fails_its_request_with_a_clear_status(tmp_path: Path) -> None:
    class Picky:
        def predict(self, data: Any) -> Any:
            if (data["a"] < 0).any():
                raise ValueError("a must not be negative")
            if (data["a"] > 100).any():
                raise RuntimeError("the model broke")
            return data["a"].to_numpy() * 2

    frame = pd.DataFrame({"a": [1.0]})
    picky = LoadedModel(Picky(), None, _descriptor(tmp_path, frame))
    app = create_app(lambda: picky, model={"name": "p", "version": "", "uri": "p"})

    async def scenario(client: httpx.AsyncClient) -> None:
        good, bad, broken = await asyncio.gather(
            client.post(
                "/invocations",
                content=b'[{"a": 1.5}, {"a": NaN}]',
                headers={"content-type": "application/json"},
            ),
            client.post("/invocations", json=[{"a": -1.0}]),
            client.post("/invocations", json=[{"a": 1000.0}]),
        )
        assert good.json() == {"predictions": [3.0, None]}
        assert bad.status_code == 422
        assert "a must not be negative" in bad.json()["error"]["message"]
        assert broken.status_code == 500
        assert broken.json()["error"]["code"] == "internal"

    run_app(app, scenario)


def _descriptor(tmp_path: Path, sample: pd.DataFrame) -> Any:
    from modelyard.registry.flavors import ModelDescriptor
    from modelyard.registry.signatures import infer_signature

    return ModelDescriptor(
        flavor="python", signature=infer_signature(sample), python_version="3", libraries={}
    )


def test_packages_are_verified_and_a_pickle_needs_trust(tmp_path: Path) -> None:
    with Client(settings=make_settings(tmp_path)) as client:
        x = pd.DataFrame({"a": [1.0, 2.0]})
        version = models.register(
            _Doubler(), "pickled", sample=x, trusted=True, flavor="pickle", client=client
        )
        package = client.registry.package(version.uri, tmp_path / "pkg")
    config = plan_source(package)
    assert config.model["uri"] == "models:/pickled/1"
    assert config.trusted is True
    assert load_served(config).predict(x).tolist() == [2.0, 4.0]
    untrusted = WorkerConfig.model_validate({**config.model_dump(), "trusted": False})
    with pytest.raises(InvalidInput, match="pickle"):
        load_served(untrusted)
    with (package / "Dockerfile").open("a") as fh:
        fh.write("# tampered\n")
    with pytest.raises(InvalidInput, match="changed Dockerfile"):
        plan_source(package)
    with pytest.raises(InvalidInput, match="neither a package"):
        plan_source(tmp_path)


class _Doubler:
    def predict(self, data: Any) -> Any:
        return data["a"].to_numpy() * 2


# --- `modelyard serve` as a user runs it ----------------------------------------------------


@contextmanager
def serving(
    args: list[str], env: dict[str, str], cwd: Path
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``modelyard serve ARGS --port <free>``, until ready; stopped (and waited for) after."""
    port = free_port()
    process = subprocess.Popen(
        [modelyard_executable(), "serve", *args, "--port", str(port), "--log-level", "warning"],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process)
        yield url, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_ready(url: str, process: subprocess.Popen[str] | None = None, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(
                f"the server exited: {process.stderr.read() if process.stderr else ''}"
            )
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not become ready")


def worker_pids(parent: int) -> set[int]:
    """uvicorn's worker processes under ``parent`` (not multiprocessing's resource tracker)."""
    children = Path(f"/proc/{parent}/task/{parent}/children")
    found = set()
    for pid in children.read_text().split() if children.exists() else []:
        try:
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.add(int(pid))
        except OSError:
            continue
    return found


@pytest.mark.slow
def test_cli_serves_a_package_with_workers_and_survives_a_killed_worker(
    tmp_path: Path, trained: tuple[LogisticRegression, pd.DataFrame]
) -> None:
    model, x = trained
    with Client(settings=make_settings(tmp_path)) as client:
        version = models.register(model, "churn", sample=x.head(), client=client)
        package = client.registry.package(version.uri, tmp_path / "pkg")
    env = store_env(tmp_path)
    rows = x.iloc[:4]
    with serving([str(package), "--workers", "2"], env, tmp_path) as (url, process):
        answer = httpx.post(f"{url}/invocations", json=rows.to_dict(orient="records"))
        assert answer.json() == {"predictions": expected(trained, rows)}
        server = process.pid
        workers = _wait_for(lambda: worker_pids(server) if len(worker_pids(server)) == 2 else None)
        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        # The other worker keeps answering while the supervisor replaces the dead one.
        assert httpx.post(f"{url}/invocations", json=rows.to_dict(orient="records")).is_success

        def replacement() -> set[int] | None:
            pids = worker_pids(server)
            return pids if len(pids) == 2 and victim not in pids else None

        replaced = _wait_for(replacement)
        assert victim not in replaced
        wait_ready(url)
        for _ in range(4):
            assert httpx.post(f"{url}/invocations", json=[rows.iloc[0].to_dict()]).is_success
        metrics = httpx.get(f"{url}/metrics").text
        assert 'modelyard_serving_model_info{name="churn",uri="models:/churn/1",version="1"}' in (
            metrics
        )


@pytest.mark.slow
def test_cli_serves_a_registered_alias_from_the_store(
    tmp_path: Path, trained: tuple[LogisticRegression, pd.DataFrame]
) -> None:
    model, x = trained
    env = store_env(tmp_path)
    settings = make_settings(
        tmp_path, uri=env["MODELYARD_URI"], artifact_root=env["MODELYARD_ARTIFACT_ROOT"]
    )
    with Client(settings=settings) as client:
        version = models.register(model, "churn", sample=x.head(), client=client)
        client.registry.set_alias("churn", "champion", version.version)
    args = ["models:/churn@champion", "--max-batch-size", "1"]
    with serving(args, env, tmp_path) as (url, _):
        rows = x.iloc[:3]
        answer = httpx.post(f"{url}/invocations", json={"instances": rows.to_numpy().tolist()})
        assert answer.json() == {"predictions": expected(trained, rows)}


def test_cli_refuses_an_unknown_model_with_exit_2(tmp_path: Path) -> None:
    done = subprocess.run(
        [modelyard_executable(), "serve", "models:/nope@champion", "--port", str(free_port())],
        env=store_env(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: ")
    assert "Traceback" not in done.stderr


def _wait_for(probe: Callable[[], Any], timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError("timed out")


class _Shapeless:
    """No signature: counts rows, or answers one number for the whole input."""

    def predict(self, data: Any) -> Any:
        if isinstance(data, pd.DataFrame) and "total" in data.columns:
            return float(data["total"].sum())
        if isinstance(data, pd.DataFrame) and "secret" in data.columns:
            raise InvalidInput("the model refuses secrets")
        return np.arange(len(data))


def test_requests_the_model_cannot_take_together_are_predicted_apart(tmp_path: Path) -> None:
    from modelyard.registry.flavors import ModelDescriptor

    descriptor = ModelDescriptor(flavor="python", python_version="3", libraries={})
    shapeless = LoadedModel(_Shapeless(), None, descriptor)
    app = create_app(lambda: shapeless, model={"name": "s", "version": "", "uri": "s"})

    async def scenario(client: httpx.AsyncClient) -> None:
        records, instances, other, total, secret = await asyncio.gather(
            client.post("/invocations", json=[{"a": 1}, {"a": 2}]),
            client.post("/invocations", json={"instances": [[1, 2]]}),
            client.post("/invocations", json=[{"b": 1}]),
            client.post("/invocations", json=[{"total": 1}, {"total": 2}]),
            client.post("/invocations", json=[{"secret": 1}]),
        )
        assert records.json() == {"predictions": [0, 1]}
        assert instances.json() == {"predictions": [0]}
        assert other.json() == {"predictions": [0]}
        assert total.json() == {"predictions": 3.0}
        assert secret.status_code == 400
        assert secret.json()["error"]["message"] == "the model refuses secrets"

    run_app(app, scenario)


def test_worker_configuration_travels_in_the_environment(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelyard.serving import server

    monkeypatch.delenv(server.WORKER_ENV, raising=False)
    with pytest.raises(InvalidInput, match=server.WORKER_ENV):
        server.app_from_environment()
    config = plan_source(model_dir).model_copy(update={"multiprocess_dir": model_dir})
    monkeypatch.setenv(server.MULTIPROC_ENV, "/before")
    with server._worker_environment(config):
        assert os.environ[server.MULTIPROC_ENV] == str(model_dir)
        assert server.app_from_environment().state.scorer.batcher.max_batch_size == 32
    assert os.environ[server.MULTIPROC_ENV] == "/before"
    assert server.WORKER_ENV not in os.environ


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"workers": 0}, "workers"),
        ({"workers": 65}, "workers"),
        ({"batching": {"max_batch_size": 0}}, "batching.max_batch_size"),
        ({"batching": {"max_wait_ms": -1}}, "batching.max_wait_ms"),
        ({"port": 70000}, "port"),
    ],
)
def test_the_servers_options_are_checked_naming_the_field_not_a_flag(
    options: Any, match: str
) -> None:
    from modelyard.serving.server import ServeOptions

    with pytest.raises(InvalidInput, match=match) as refused:
        ServeOptions(**options)
    assert "--" not in refused.value.message  # the options of a command are the CLI's


def test_sigterm_handling_is_left_alone_off_the_main_thread() -> None:
    from modelyard.serving.server import _sigterm_as_exit

    def body() -> None:
        with _sigterm_as_exit():
            pass

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    with _sigterm_as_exit():
        assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None)
