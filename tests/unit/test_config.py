"""Settings: the backend MODELYARD_URI names and where the embedded store lives."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelyard.config import BackendKind, Settings
from modelyard.errors import InvalidInput


def test_unset_uri_means_embedded_under_dot_modelyard(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MODELYARD_URI", raising=False)
    monkeypatch.delenv("MODELYARD_ARTIFACT_ROOT", raising=False)
    settings = Settings()
    assert settings.backend is BackendKind.sqlite
    assert settings.resolved_uri == f"sqlite:///{tmp_path / '.modelyard' / 'modelyard.db'}"
    assert settings.resolved_artifact_root == str(tmp_path / ".modelyard" / "artifacts")


@pytest.mark.parametrize(
    ("uri", "kind"),
    [
        ("sqlite:////data/m.db", BackendKind.sqlite),
        ("postgresql://u@h/db", BackendKind.postgresql),
        ("postgres://u@h/db", BackendKind.postgresql),
        ("http://127.0.0.1:8750", BackendKind.http),
        ("https://mlops.example", BackendKind.http),
    ],
)
def test_uri_picks_the_backend(uri: str, kind: BackendKind) -> None:
    assert Settings(uri=uri).backend is kind


def test_artifacts_sit_beside_an_explicit_sqlite_file(tmp_path: Path) -> None:
    settings = Settings(uri=f"sqlite:///{tmp_path / 'x' / 'm.db'}")
    assert settings.resolved_artifact_root == str(tmp_path / "x" / "artifacts")


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELYARD_URI", "http://127.0.0.1:1")
    monkeypatch.setenv("MODELYARD_METRIC_BATCH_SIZE", "50")
    settings = Settings()
    assert settings.backend is BackendKind.http
    assert settings.metric_batch_size == 50


def test_unsupported_uri_says_what_works() -> None:
    with pytest.raises(InvalidInput, match=r"ftp://x.*sqlite:///path"):
        Settings(uri="ftp://x").backend  # noqa: B018
