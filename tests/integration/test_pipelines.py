"""Running pipelines for real: caching, reuse, resume, retries, timeouts, executors, lineage."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select

import modelyard
from modelyard.core.backend import LocalBackend, open_local_backend
from modelyard.core.remote import RemoteBackend
from modelyard.errors import InvalidInput
from modelyard.pipelines import manifests
from modelyard.pipelines.runner import PipelineRunResult, StepEvent, run_pipeline
from modelyard.storage.db.tables import lineage_edges, outbox
from modelyard.tracking.models import RunStatus
from tests.conftest import LEAK, leaky_folder, make_settings, running_server
from tests.integration import pipeline_steps as ps


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[LocalBackend]:
    backend = open_local_backend(make_settings(tmp_path))
    yield backend
    backend.close()


@pytest.fixture
def step_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    log = tmp_path / "steps.log"
    monkeypatch.setenv("STEP_LOG", str(log))
    return log


def executed(log: Path) -> list[str]:
    """Steps that ran since the last call (and forget them)."""
    if not log.exists():
        return []
    names = log.read_text().split()
    log.unlink()
    return names


def output_value(
    backend: LocalBackend, result: PipelineRunResult, tmp_path: Path, name: str = "output"
) -> object:
    from modelyard.pipelines.materializers import by_name

    stored = result.outputs[name]
    folder = tmp_path / "read" / stored.manifest
    manifests.fetch_folder(backend.blobs, stored.manifest, folder)
    return by_name(stored.materializer).load(folder)


def test_first_run_executes_and_records_every_step(
    backend: LocalBackend, step_log: Path, tmp_path: Path
) -> None:
    result = run_pipeline(ps.training, backend=backend, params={"n_rows": 40})
    assert result.status == RunStatus.FINISHED
    assert executed(step_log) == ["make_data", "split", "fit", "evaluate"]
    assert output_value(backend, result, tmp_path) == {
        "score": pytest.approx(abs(result_mean(backend, result, tmp_path))),
        "test_rows": 20,
    }
    steps = result.steps
    assert [s.status for s in steps.values()] == ["FINISHED"] * 4
    assert all(s.cache_reason == "miss: first run of this step" for s in steps.values())
    client = modelyard.Client(settings=make_settings(tmp_path), backend=backend)
    pipeline_run = client.get_run(result.run_id)
    assert pipeline_run.status == RunStatus.FINISHED
    assert pipeline_run.params == {"n_rows": "40", "C": "1.0"}
    fit_run = client.get_run(steps["fit"].run_id)
    assert fit_run.parent_run_id == result.run_id
    assert fit_run.params == {"C": "1.0"}
    assert fit_run.metrics == {"train_rows": 20.0}  # logged inside the step
    assert fit_run.tags["cache_hit"] == "false"


def result_mean(backend: LocalBackend, result: PipelineRunResult, tmp_path: Path) -> float:
    from modelyard.pipelines.materializers import by_name

    stored = result.steps["fit"].outputs["output"]
    folder = tmp_path / "fit-out"
    manifests.fetch_folder(backend.blobs, stored.manifest, folder)
    return float(by_name("json").load(folder)["mean"])


def test_unchanged_rerun_comes_from_cache(backend: LocalBackend, step_log: Path) -> None:
    first = run_pipeline(ps.training, backend=backend)
    executed(step_log)
    second = run_pipeline(ps.training, backend=backend)
    assert executed(step_log) == []
    assert second.cached == ["make_data", "split", "fit", "evaluate"]
    assert second.outputs == first.outputs
    fit = second.steps["fit"]
    assert fit.cached_from == first.steps["fit"].run_id
    assert fit.cache_reason is not None
    assert fit.cache_reason.startswith("hit:")


def test_a_parameter_change_reruns_only_what_depends_on_it(
    backend: LocalBackend, step_log: Path
) -> None:
    run_pipeline(ps.training, backend=backend)
    executed(step_log)
    result = run_pipeline(ps.training, backend=backend, params={"C": 2.0})
    assert executed(step_log) == ["fit", "evaluate"]
    assert result.cached == ["make_data", "split"]
    assert result.steps["fit"].cache_reason == "miss: param C: 1.0 -> 2.0"
    assert result.steps["evaluate"].cache_reason == "miss: input model changed"


def test_a_step_is_shared_by_pipelines_and_so_is_its_cache(
    backend: LocalBackend, step_log: Path
) -> None:
    run_pipeline(ps.training, backend=backend, params={"n_rows": 30})
    executed(step_log)
    report = run_pipeline(ps.data_report, backend=backend, params={"n_rows": 30})
    assert executed(step_log) == ["summarize"]
    assert report.cached == ["make_data"]


def test_no_cache_and_missing_outputs_rerun(backend: LocalBackend, step_log: Path) -> None:
    first = run_pipeline(ps.data_report, backend=backend)
    executed(step_log)
    run_pipeline(ps.data_report, backend=backend, no_cache=True)
    assert executed(step_log) == ["make_data", "summarize"]
    # Delete a cached output's files: the cache must not hand out what is gone.
    manifest = first.steps["make_data"].outputs["output"].manifest
    for sha in manifests.manifest_blobs(manifest, manifests.read_manifest(backend.blobs, manifest)):
        (Path(backend.blobs.root) / "blobs" / sha[:2] / sha[2:4] / sha).unlink()
    again = run_pipeline(ps.data_report, backend=backend)
    assert executed(step_log) == ["make_data"]  # summarize's input is the same content again
    reason = again.steps["make_data"].cache_reason
    assert reason is not None
    assert "no longer exist" in reason


def test_external_files_are_hashed_by_content(
    backend: LocalBackend, step_log: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data.csv"
    data.write_text("a,b\n1,2\n3,4\n")

    @modelyard.step
    def read(raw: Path) -> pd.DataFrame:
        (tmp_path / "reads").open("a").write("r\n")
        return pd.read_csv(raw)

    @modelyard.pipeline
    def ingest():
        return ps.summarize(read(modelyard.file(data)))

    assert run_pipeline(ingest, backend=backend).status == RunStatus.FINISHED
    assert run_pipeline(ingest, backend=backend).cached == ["read", "summarize"]
    data.write_text("a,b\n1,2\n3,4\n5,6\n")
    changed = run_pipeline(ingest, backend=backend)
    assert changed.steps["read"].cache_reason == "miss: input raw changed"
    assert (tmp_path / "reads").read_text().count("r") == 2


def test_an_input_folder_with_a_link_leaving_it_fails_before_the_run_starts(
    backend: LocalBackend, tmp_path: Path
) -> None:
    data = leaky_folder(tmp_path, "data")

    @modelyard.step
    def count(raw: Path) -> int:
        return len(list(raw.iterdir()))

    @modelyard.pipeline
    def ingest():
        return count(modelyard.folder(data))

    with pytest.raises(InvalidInput, match=LEAK):
        run_pipeline(ingest, backend=backend)
    assert modelyard.Client(backend=backend).pipelines.runs("ingest") == []


def test_a_failure_skips_downstream_and_a_rerun_resumes(
    backend: LocalBackend, step_log: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flag = tmp_path / "flag"
    flag.write_text("no")
    monkeypatch.setenv("FLAKY_FILE", str(flag))
    failed = run_pipeline(ps.fragile, backend=backend)
    assert failed.status == RunStatus.FAILED
    assert {n: s.status for n, s in failed.steps.items()} == {
        "make_data": "FINISHED",
        "flaky": "FAILED",
        "summarize": "FINISHED",
        "evaluate": "SKIPPED",
    }
    error = failed.steps["flaky"].error
    assert error is not None
    assert "RuntimeError: not yet" in error
    assert "Traceback" in error
    events = [row.type for row in backend.db.engine.connect().execute(select(outbox.c.type))]
    assert "step.failed" in events
    assert "pipeline.failed" in events
    executed(step_log)
    flag.write_text("ok")
    resumed = run_pipeline(ps.fragile, backend=backend)
    assert resumed.status == RunStatus.FINISHED
    assert executed(step_log) == ["flaky", "evaluate"]  # what succeeded came from the cache
    assert sorted(resumed.cached) == ["make_data", "summarize"]
    assert resumed.steps["flaky"].cache_reason == (
        "miss: the previous run of this step, with the same key, failed"
    )


def test_retries_with_backoff(
    backend: LocalBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flag = tmp_path / "flag"
    flag.write_text("no")
    monkeypatch.setenv("FLAKY_FILE", str(flag))
    events: list[StepEvent] = []
    result = run_pipeline(ps.retried, backend=backend, on_event=events.append)
    assert result.status == RunStatus.FAILED
    assert Path(f"{flag}.count").read_text() == "3"  # 1 try + 2 retries
    assert [e.kind for e in events if e.node == "flaky_with_retries"] == [
        "running",
        "retrying",
        "retrying",
        "failed",
    ]
    assert result.steps["flaky_with_retries"].attempts == 3


def test_a_timeout_stops_the_step(backend: LocalBackend) -> None:
    result = run_pipeline(ps.too_slow, backend=backend)
    assert result.status == RunStatus.FAILED
    error = result.steps["slow"].error
    assert error is not None
    assert "timed out after 1" in error


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["processes:3", "dask"])
def test_parallel_executors_run_branches_at_once(
    backend: LocalBackend, step_log: Path, executor: str, tmp_path: Path
) -> None:
    result = run_pipeline(ps.fan, backend=backend, executor=executor)
    assert result.status == RunStatus.FINISHED, result.steps
    assert sorted(executed(step_log)) == ["branch1", "branch2", "branch3", "join", "make_data"]
    assert output_value(backend, result, tmp_path) == {"ks": [1, 2, 3]}
    branches = [result.steps[n] for n in ("a", "b", "c")]
    # The three 0.3 s branches overlapped in time.
    latest_start = max(s.started_at or 0 for s in branches)
    earliest_end = min(s.ended_at or 0 for s in branches)
    assert latest_start < earliest_end
    assert run_pipeline(ps.fan, backend=backend, executor=executor).cached == [
        "make_data",
        "a",
        "b",
        "c",
        "join",
    ]


def test_lineage_links_inputs_step_runs_and_outputs(backend: LocalBackend) -> None:
    result = run_pipeline(ps.training, backend=backend)
    fit = result.steps["fit"]
    split_out = result.steps["split"].outputs["train"].manifest
    with backend.db.read() as conn:
        edges = conn.execute(select(lineage_edges)).mappings().all()
    assert {
        "src_kind": "blob",
        "src_id": split_out,
        "dst_kind": "run",
        "dst_id": fit.run_id,
        "role": "input:train",
    }.items() <= next(e for e in edges if e["dst_id"] == fit.run_id).items()
    assert any(
        e["src_id"] == fit.run_id
        and e["dst_id"] == fit.outputs["output"].manifest
        and e["role"] == "output:output"
        for e in edges
    )


@pytest.mark.parametrize("executor", ["inline", "processes:1"])
def test_a_dataset_a_step_reads_is_an_input_of_its_step_run(
    backend: LocalBackend, tmp_path: Path, executor: str
) -> None:
    table = tmp_path / "table.csv"
    pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [0, 1, 0]}).to_csv(table, index=False)
    result = run_pipeline(
        ps.fit_a_file, backend=backend, executor=executor, params={"path": str(table)}
    )
    assert result.status == RunStatus.FINISHED, result.steps
    client = modelyard.Client(backend=backend)
    [dataset] = client.get_run(result.steps["read_table"].run_id).inputs
    digest = hashlib.sha256(table.read_bytes()).hexdigest()
    assert (dataset.name, dataset.digest, dataset.source) == ("table", digest, str(table))
    assert client.get_run(result.steps["fit"].run_id).inputs == []


def test_runs_against_a_server_too(tmp_path: Path, step_log: Path) -> None:
    settings = make_settings(tmp_path)
    with running_server(settings) as (server, local):
        remote = RemoteBackend(server.url, user="tester")
        try:
            first = run_pipeline(ps.training, backend=remote, staging_root=tmp_path / "stage")
            assert first.status == RunStatus.FINISHED
            executed(step_log)
            # Another client with an empty staging area still gets every step from cache.
            second = run_pipeline(ps.training, backend=remote, staging_root=tmp_path / "stage2")
            assert second.cached == ["make_data", "split", "fit", "evaluate"]
            assert executed(step_log) == []
        finally:
            remote.close()
        manifest = first.outputs["output"].manifest
        assert local.blobs.exists(manifest)
        folder = tmp_path / "out"
        manifests.fetch_folder(local.blobs, manifest, folder)
        assert json.loads((folder / "value.json").read_text())["test_rows"] == 10


def test_a_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    import time

    from modelyard.pipelines.worker import run_process

    pid_file = tmp_path / "pid"
    script = f"sleep 30 & echo $! > {pid_file}; wait"
    assert run_process(["sh", "-c", script], cwd=None, env=dict(os.environ), timeout=0.5) is None
    grandchild = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(grandchild, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise AssertionError("the step's child process outlived the timeout")


def test_a_step_output_feeds_a_json_typed_argument_and_a_value_feeds_it_too(
    backend: LocalBackend, step_log: Path, tmp_path: Path
) -> None:
    tuned = run_pipeline(ps.tuned_gate, backend=backend)
    assert tuned.status == RunStatus.FINISHED
    assert output_value(backend, tuned, tmp_path / "a") == {"passes": False, "threshold": 0.25}
    client = modelyard.Client(backend=backend)
    decision = tuned.steps["passes"]
    assert client.get_run(decision.run_id).params == {}  # both arguments came as inputs
    executed(step_log)
    assert sorted(run_pipeline(ps.tuned_gate, backend=backend).cached) == sorted(tuned.steps)
    assert executed(step_log) == []
    # The threshold is hashed by the content of the output it came from.
    changed = run_pipeline(ps.tuned_gate, backend=backend, params={"level": 0}).steps
    assert executed(step_log) == ["pick_threshold", "passes"]
    assert changed["pick_threshold"].cache_reason == "miss: param level: 1 -> 0"
    assert changed["passes"].cache_reason == "miss: input threshold changed"
    # Passed as a value, the same argument is a parameter, hashed by its value.
    fixed = run_pipeline(ps.fixed_gate, backend=backend, params={"threshold": 0.0})
    assert output_value(backend, fixed, tmp_path / "b") == {"passes": True, "threshold": 0.0}
    assert client.get_run(fixed.steps["passes"].run_id).params == {"threshold": "0.0"}
    again = run_pipeline(ps.fixed_gate, backend=backend, params={"threshold": 0.5}).steps
    assert again["passes"].cache_reason == "miss: param threshold: 0.0 -> 0.5"
    rerun = run_pipeline(ps.fixed_gate, backend=backend, params={"threshold": 0.5})
    assert sorted(rerun.cached) == sorted(again)


def test_an_int_output_comes_back_as_an_int_in_another_process(
    backend: LocalBackend, tmp_path: Path
) -> None:
    result = run_pipeline(ps.rows_plus, backend=backend, executor="processes:2")
    assert result.status == RunStatus.FINISHED, result.steps
    assert output_value(backend, result, tmp_path) == {"sum": 21, "types": ["int", "int"]}


FLOW = """
import modelyard


@modelyard.step
def double(x: int = 2) -> int:
    return 2 * x


@modelyard.pipeline
def doubled():
    return double()
"""

CHILD = """
import json
import flow
import modelyard

step = modelyard.run_pipeline(flow.doubled).steps["double"]
env = modelyard.Client().environments.get_by_hash(step.environment_hash)
print(json.dumps({"reason": step.cache_reason, "env": step.environment_hash, "lock": env.lock}))
"""


def test_a_step_without_an_environment_reruns_when_the_interpreters_packages_change(
    tmp_path: Path,
) -> None:
    (tmp_path / "flow.py").write_text(FLOW)
    site = tmp_path / "site"

    def run_with(version: str) -> dict[str, object]:
        """A new process whose interpreter has ``fakelib`` at ``version`` installed."""
        for old in site.glob("*.dist-info"):
            (old / "METADATA").unlink()
            old.rmdir()
        info = site / f"fakelib-{version}.dist-info"
        info.mkdir(parents=True)
        metadata = f"Metadata-Version: 2.1\nName: fakelib\nVersion: {version}\n"
        (info / "METADATA").write_text(metadata)
        settings = make_settings(tmp_path)
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(tmp_path), str(site)]),
            "MODELYARD_URI": settings.uri,
            "MODELYARD_ARTIFACT_ROOT": str(settings.artifact_root),
            "MODELYARD_HOME": str(settings.home),
        }
        done = subprocess.run(
            [sys.executable, "-c", CHILD], env=env, cwd=tmp_path, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return dict(json.loads(done.stdout.splitlines()[-1]))

    first, same, upgraded = run_with("1.0"), run_with("1.0"), run_with("2.0")
    assert first["reason"] == "miss: first run of this step"
    assert str(same["reason"]).startswith("hit: same code, parameters, inputs and environment")
    assert upgraded["reason"] == "miss: environment changed"
    assert first["env"] == same["env"] != upgraded["env"]
    # The hash each step run records names the environment it ran in, registered.
    assert "fakelib==1.0" in first["lock"]  # type: ignore[operator]
    assert "fakelib==2.0" in upgraded["lock"]  # type: ignore[operator]
