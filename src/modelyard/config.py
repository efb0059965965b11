"""The one settings object: every knob Modelyard reads from the environment lives here."""

from __future__ import annotations

import getpass
import json
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from modelyard.errors import InvalidInput

# Request bodies are held in memory while parsed; a bigger batch belongs in batch scoring.
DEFAULT_MAX_REQUEST_BYTES = 32 * 1024 * 1024
# Uploads stream to disk, never to memory; the limit keeps one client from filling it.
DEFAULT_MAX_BLOB_BYTES = 20 * 1024**3
# gc's grace period: an uploader has this long between storing a blob and naming it.
DEFAULT_GC_MIN_AGE_SECONDS = 24 * 3600


class BackendKind(StrEnum):
    sqlite = "sqlite"
    postgresql = "postgresql"
    http = "http"


def _default_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return "unknown"


class Settings(BaseSettings):
    """Effective configuration; each field is read from ``MODELYARD_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="MODELYARD_", extra="ignore")

    uri: str | None = Field(
        default=None,
        description="Backend: unset (embedded ./.modelyard), sqlite:///path, postgresql://..., "
        "or http(s)://host:port",
    )
    home: Path = Field(default=Path(".modelyard"), description="Folder of the embedded default")
    artifact_root: str | None = Field(
        default=None,
        description="Artifact store: a local folder or s3://bucket/prefix "
        "(default: <home>/artifacts, or beside the SQLite file)",
    )
    user: str = Field(default_factory=_default_user, description="Actor recorded on changes")
    workspace: str = Field(
        default="default",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        max_length=64,
        description="Workspace to work in (names are unique per workspace)",
    )
    token: SecretStr | None = Field(
        default=None,
        description="API token sent to a server with auth on (default: the one "
        "`modelyard auth login` stored for that server)",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Fernet keys that stored secrets are encrypted with, comma-separated: the "
        "first encrypts, every one decrypts (default: a key generated once into "
        "<home>/keys/secret-key)",
    )
    openlineage_namespace: str = Field(
        default="modelyard",
        min_length=1,
        max_length=250,
        description="Namespace of the jobs and datasets in exported OpenLineage events",
    )
    max_request_bytes: int = Field(
        default=DEFAULT_MAX_REQUEST_BYTES,
        gt=0,
        description="Largest request body the REST and scoring servers accept",
    )
    max_blob_bytes: int = Field(
        default=DEFAULT_MAX_BLOB_BYTES,
        gt=0,
        description="Largest artifact the REST server accepts in one upload (PUT /blobs)",
    )
    metric_batch_size: int = Field(default=1000, ge=1, description="Metrics sent per batch")
    metric_flush_seconds: float = Field(
        default=1.0, gt=0, description="Longest a logged metric waits before it is sent"
    )
    gc_min_age_seconds: int = Field(
        default=DEFAULT_GC_MIN_AGE_SECONDS,
        ge=0,
        description="Default grace period of `modelyard gc`: only blobs stored longer ago "
        "than this may be deleted",
    )
    retention_interval_seconds: int = Field(
        default=3600,
        ge=0,
        description="How often the scheduler applies the retention rules (`modelyard "
        "retention`), in seconds; 0 turns it off",
    )
    http_timeout_seconds: float = Field(default=30.0, gt=0)
    http_retries: int = Field(default=3, ge=0, description="Retries of idempotent HTTP calls")
    sqlite_busy_timeout_ms: int = Field(default=60_000, ge=0)
    s3_endpoint_url: str | None = Field(
        default=None, description="Endpoint of an S3-compatible store (MinIO, moto, ...)"
    )
    env_cache: Path | None = Field(
        default=None,
        description="Folder of materialized environments (default: <home>/envs)",
    )
    serve_environment: Literal["version", "current"] = Field(
        default="version",
        description="Where a supervised deployment runs: 'version' (the model version's own "
        "environment, materialized with Modelyard added) or 'current' (this interpreter)",
    )
    allow_private_urls: bool = Field(
        default=False,
        description="Let Modelyard fetch URLs on loopback, private and link-local addresses "
        "(refused by default: they reach this machine's and the network's internal services)",
    )
    # NoDecode: a comma-separated list reads better in an environment variable than JSON.
    private_url_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Hosts whose URLs may reach private addresses although "
        "MODELYARD_ALLOW_PRIVATE_URLS is off, comma-separated (an internal model server)",
    )

    @field_validator("private_url_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [host.strip() for host in value.split(",") if host.strip()]
        return value

    @property
    def backend(self) -> BackendKind:
        uri = self.resolved_uri
        if uri.startswith("sqlite:"):
            return BackendKind.sqlite
        if uri.startswith(("postgresql:", "postgresql+psycopg:", "postgres:")):
            return BackendKind.postgresql
        if uri.startswith(("http://", "https://")):
            return BackendKind.http
        raise InvalidInput(
            f"MODELYARD_URI '{uri}' is not supported: use sqlite:///path, "
            "postgresql://user@host/db or http(s)://host:port"
        )

    @property
    def resolved_uri(self) -> str:
        if self.uri:
            return self.uri
        return f"sqlite:///{(self.home / 'modelyard.db').resolve()}"

    @property
    def resolved_artifact_root(self) -> str:
        if self.artifact_root:
            return self.artifact_root
        if self.uri and self.uri.startswith("sqlite:///"):
            db_path = Path(self.uri.removeprefix("sqlite:///"))
            return str(db_path.resolve().parent / "artifacts")
        return str((self.home / "artifacts").resolve())

    def storage_options(self, root: str | None = None) -> dict[str, Any]:
        """fsspec options for ``root`` (default: the artifact root): the S3 endpoint, if set,
        for an ``s3://`` root."""
        root = root if root is not None else self.resolved_artifact_root
        if self.s3_endpoint_url and root.startswith("s3://"):
            return {"client_kwargs": {"endpoint_url": self.s3_endpoint_url}}
        return {}

    def for_child_process(self) -> dict[str, str]:
        """``MODELYARD_*`` variables that give a child process these settings, whatever
        folder it runs in (relative paths are made absolute)."""
        # Not the token nor the secret key: a child that needs one reads it where its
        # parent did (the environment, or a file the absolute home below names).
        values: dict[str, Any] = self.model_dump(exclude_none=True, exclude={"token", "secret_key"})
        values.update(
            uri=self.resolved_uri,
            artifact_root=self.resolved_artifact_root,
            home=str(self.home.resolve()),
            env_cache=str(self.resolved_env_cache),
        )
        return {
            f"MODELYARD_{name.upper()}": value
            if isinstance(value, str)
            else ",".join(map(str, value))  # lists are comma-separated (private_url_hosts)
            if isinstance(value, list)
            else json.dumps(value)
            if isinstance(value, dict)
            else str(value)
            for name, value in values.items()
        }

    @property
    def resolved_env_cache(self) -> Path:
        """Where environments are materialized: one virtual environment per hash."""
        return (self.env_cache or self.home / "envs").resolve()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings read once per process; tests pass their own ``Settings`` instead. A bad
    value is a user error naming its environment variable."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"MODELYARD_{'_'.join(str(p) for p in e['loc']).upper()}={e.get('input')!r}: {e['msg']}"
            for e in exc.errors()
        )
        raise InvalidInput(f"bad setting: {problems}") from None
