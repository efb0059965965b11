"""The model registry behaves the same on every backend."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from modelyard.client.client import Client
from modelyard.errors import AlreadyExists, Conflict, InvalidInput, NotFound
from modelyard.registry.models import ModelUri, VersionStatus
from modelyard.tracking.models import DatasetInput
from tests.contract.conftest import Store


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    (folder / "weights").mkdir(parents=True)
    (folder / "model.skops").write_bytes(b"model-bytes")
    (folder / "weights" / "w.npy").write_bytes(b"\x93NUMPY weights")
    return folder


def test_register_from_a_folder_numbers_versions(
    client: Client, model_dir: Path, tmp_path: Path
) -> None:
    first = client.registry.register(
        "churn", model_dir, flavor="sklearn", description="baseline", tags={"team": "ds"}
    )
    assert (first.model, first.version, first.status) == ("churn", 1, VersionStatus.READY)
    assert first.size == len(b"model-bytes") + len(b"\x93NUMPY weights")
    assert first.uri == "models:/churn/1"
    assert first.created_by == "tester"
    second = client.registry.register("churn", model_dir / "model.skops")
    assert second.version == 2
    assert [v.version for v in client.registry.versions("churn")] == [2, 1]
    model = client.registry.get("churn")
    assert model.latest_version == 2
    assert client.registry.version("churn", 1) == first
    out = client.registry.download("models:/churn/1", tmp_path / "dl")
    assert (out / "weights" / "w.npy").read_bytes() == b"\x93NUMPY weights"
    assert (out / "model.skops").read_bytes() == b"model-bytes"


def test_register_from_a_run_snapshots_its_metrics_and_data(
    client: Client, model_dir: Path
) -> None:
    exp = client.create_experiment("train")
    run = client.create_run(exp.id)
    client.log_artifacts(run.id, model_dir, "model")
    client.log_batch(
        run.id,
        metrics=[
            {"key": "auc", "value": 0.91},
            {"key": "loss", "value": float("nan")},
            {"key": "ratio", "value": float("inf")},
        ],
    )
    dataset = DatasetInput(name="train", digest="d" * 64, row_count=10)
    client.log_input(run.id, dataset)
    version = client.registry.register("churn", f"runs:/{run.id}/model", flavor="sklearn")
    assert version.run_id == run.id
    assert version.source == f"runs:/{run.id}/model"
    assert version.metrics == {"auc": 0.91}  # NaN and inf are not values to compare against
    assert version.datasets[0]["digest"] == "d" * 64
    assert version.size == len(b"model-bytes") + len(b"\x93NUMPY weights")


def test_aliases_move_and_keep_their_history(client: Client, model_dir: Path) -> None:
    for _ in range(3):
        client.registry.register("churn", model_dir)
    client.registry.set_alias("churn", "champion", 1, reason="first good model")
    client.registry.set_alias("churn", "challenger", 2)
    moved = client.registry.set_alias("churn", "champion", 3, reason="better auc")
    assert moved.aliases == ["champion"]
    assert client.registry.resolve("models:/churn@champion").version == 3
    assert client.registry.resolve("models:/churn/latest").version == 3
    assert client.registry.resolve("models:/churn/2").aliases == ["challenger"]
    assert client.registry.get("churn").aliases == {"champion": 3, "challenger": 2}
    history = client.registry.alias_history("churn", "champion")
    assert [(h.previous_version, h.version, h.reason, h.actor) for h in history] == [
        (None, 1, "first good model", "tester"),
        (1, 3, "better auc", "tester"),
    ]
    client.registry.delete_alias("churn", "challenger", reason="retired")
    assert client.registry.alias_history("churn", "challenger")[-1].version is None
    with pytest.raises(NotFound, match="challenger"):
        client.registry.resolve("models:/churn@challenger")


def test_archive_refuses_a_version_an_alias_points_at(client: Client, model_dir: Path) -> None:
    client.registry.register("churn", model_dir)
    client.registry.register("churn", model_dir)
    client.registry.set_alias("churn", "champion", 2)
    with pytest.raises(Conflict, match="champion"):
        client.registry.archive("churn", 2)
    archived = client.registry.archive("churn", 1, reason="superseded")
    assert archived.status == VersionStatus.ARCHIVED
    with pytest.raises(Conflict, match="archived"):
        client.registry.set_alias("churn", "challenger", 1)


def test_identical_files_are_stored_once(client: Client, model_dir: Path, store: object) -> None:
    a = client.registry.register("a", model_dir)
    b = client.registry.register("b", model_dir)
    assert a.manifest == b.manifest
    blobs = Path(store.local.blobs.root) / "blobs"  # type: ignore[attr-defined]
    digest = hashlib.sha256(b"model-bytes").hexdigest()
    assert (blobs / digest[:2] / digest[2:4] / digest).is_file()


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("models:/churn", "not a model URI"),
        ("model:/churn/1", "not a model URI"),
        ("models:/churn/0", "positive number"),
        ("models:/churn/one", "positive number"),
    ],
)
def test_bad_uris_say_what_a_uri_looks_like(client: Client, uri: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        client.registry.resolve(uri)


def test_unknown_names_are_not_found(client: Client, model_dir: Path) -> None:
    with pytest.raises(NotFound, match="nope"):
        client.registry.get("nope")
    with pytest.raises(NotFound, match="nope"):
        client.registry.resolve("models:/nope@champion")
    client.registry.register("churn", model_dir)
    with pytest.raises(NotFound, match="no version 9"):
        client.registry.version("churn", 9)
    with pytest.raises(NotFound, match="no version 9"):
        client.registry.set_alias("churn", "champion", 9)


def test_bad_registrations(client: Client, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="does not exist"):
        client.registry.register("churn", tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InvalidInput, match="no files"):
        client.registry.register("churn", empty)
    with pytest.raises(InvalidInput):
        client.registry.register("bad name!", tmp_path)
    with pytest.raises(InvalidInput, match="alias"):
        client.registry.set_alias("churn", "latest", 1)
    (tmp_path / "f.bin").write_bytes(b"x")
    with pytest.raises(InvalidInput, match="finite"):
        client.registry.register("churn", tmp_path / "f.bin", metrics={"auc": float("inf")})
    client.registry.create("solo")
    with pytest.raises(AlreadyExists, match="solo"):
        client.registry.create("solo")


def test_uri_parser() -> None:
    assert ModelUri.parse("models:/churn/3") == ModelUri("churn", version=3)
    assert ModelUri.parse("models:/churn@champion") == ModelUri("churn", alias="champion")
    assert ModelUri.parse("models:/churn/latest") == ModelUri("churn")


def test_delete_hides_a_version_and_never_reuses_its_number(
    client: Client, model_dir: Path
) -> None:
    for _ in range(3):
        client.registry.register("churn", model_dir)
    client.registry.delete_version("churn", 3, reason="trained on the wrong month")
    with pytest.raises(NotFound, match=r"no version 3 \(it was deleted\)"):
        client.registry.version("churn", 3)
    with pytest.raises(NotFound):
        client.registry.resolve("models:/churn/3")
    assert [v.version for v in client.registry.versions("churn")] == [2, 1]
    assert client.registry.get("churn").latest_version == 2
    assert client.registry.resolve("models:/churn/latest").version == 2
    with pytest.raises(NotFound):
        client.registry.set_alias("churn", "champion", 3)
    # models:/churn/3 meant those files once; it never comes to mean other ones.
    assert client.registry.register("churn", model_dir).version == 4
    with pytest.raises(NotFound):
        client.registry.delete_version("churn", 9)
    with pytest.raises(NotFound):
        client.registry.delete_version("churn", 3)


def test_delete_refuses_a_version_an_alias_or_a_deployment_uses(
    client: Client, model_dir: Path, store: Store
) -> None:
    from sqlalchemy import insert

    from modelyard.storage.db.tables import deployments, endpoints

    client.registry.register("churn", model_dir)
    client.registry.register("churn", model_dir)
    client.registry.set_alias("churn", "champion", 1)
    with pytest.raises(Conflict, match="champion: move the alias"):
        client.registry.delete_version("churn", 1)
    now = 1_700_000_000_000
    with store.local.db.write() as conn:
        conn.execute(
            insert(endpoints).values(
                name="churn-api",
                traffic={"blue": 100},
                mirror={},
                created_at=now,
                updated_at=now,
                created_by="t",
            )
        )
        conn.execute(
            insert(deployments).values(
                endpoint="churn-api",
                name="blue",
                model="churn",
                version=2,
                model_uri="models:/churn/2",
                workers=1,
                config={},
                created_at=now,
                updated_at=now,
                created_by="t",
            )
        )
    with pytest.raises(Conflict, match="deployed as churn-api/blue") as caught:
        client.registry.delete_version("churn", 2)
    assert caught.value.details["deployments"] == ["churn-api/blue"]
    assert client.registry.version("churn", 2).version == 2


def test_evaluations_are_kept_on_the_candidate(client: Client, model_dir: Path) -> None:
    from modelyard.registry.models import RecordEvaluation

    client.registry.register("churn", model_dir)
    client.registry.register("churn", model_dir)
    request = RecordEvaluation(
        model="churn",
        version=2,
        baseline_model="churn",
        baseline_version=1,
        data="holdout.parquet",
        data_sha256="a" * 64,
        rows=100,
        target="y",
        metrics={"auc": 0.91, "f1": None},
        baseline_metrics={"auc": 0.88, "f1": 0.5},
        gates=[{"expression": "auc >= baseline + 0.01", "passed": True}],
        passed=True,
    )
    stored = client.registry.record_evaluation(request, reason="nightly gate")
    assert stored.passed is True
    assert stored.metrics == {"auc": 0.91, "f1": None}
    assert stored.created_by == "tester"
    assert client.registry.evaluations("churn", 2) == [stored]
    assert client.registry.evaluations("churn", 1) == []
    with pytest.raises(NotFound, match="no version 7"):
        client.registry.record_evaluation(request.model_copy(update={"baseline_version": 7}))
    with pytest.raises(InvalidInput, match="finite"):
        client.registry.record_evaluation(
            request.model_copy(update={"metrics": {"auc": float("inf")}})
        )
    with pytest.raises(InvalidInput, match="both baseline_model and baseline_version"):
        client.registry.record_evaluation(request.model_copy(update={"baseline_model": None}))
    client.registry.delete_version("churn", 2)
    with pytest.raises(NotFound):
        client.registry.evaluations("churn", 2)


def test_unknown_source_schemes_say_what_works(client: Client) -> None:
    with pytest.raises(InvalidInput, match="pipelines:/RUN_ID/STEP/OUTPUT, s3://"):
        client.registry.register("churn", "ftp://example.org/model.onnx")
    with pytest.raises(InvalidInput, match="use pipelines:/PIPELINE_RUN_ID/STEP/OUTPUT"):
        client.registry.register("churn", "pipelines:/abc/fit")


def test_local_paths_outside_the_working_folder_need_an_explicit_opt_in(
    client: Client, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # The client reads local files on every backend (through a server too, which only
    # ever receives blobs and a manifest).
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "model.bin"
    elsewhere.write_bytes(b"not in the project")
    (tmp_path / "link.bin").symlink_to(elsewhere)
    relative = os.path.relpath(elsewhere, tmp_path)  # ../elsewhere0/model.bin
    for source in ("/etc/passwd", elsewhere, "link.bin", relative):
        with pytest.raises(InvalidInput, match="is outside the current folder") as caught:
            client.registry.register("churn", source)
        assert "allow_outside_cwd=True" in caught.value.message
    assert client.registry.list() == []
    version = client.registry.register("churn", elsewhere, allow_outside_cwd=True)
    assert (version.size, version.source) == (len(b"not in the project"), str(elsewhere))
    for kernel_file in ("/dev/zero", "/proc/self/environ"):
        with pytest.raises(InvalidInput, match="pseudo-filesystem"):
            client.registry.register("churn", kernel_file, allow_outside_cwd=True)
    assert [v.version for v in client.registry.versions("churn")] == [1]
