"""The metadata schema as SQLAlchemy Core tables.

The migrations in ``migrations/versions`` create exactly this schema; a test compares the two
and a checked-in dump pins it, so a change here without a migration fails CI.

Times are epoch milliseconds (BIGINT): portable across SQLite and PostgreSQL and cheap to
compare in filters. Metric values keep NaN in a separate flag because SQLite stores a NaN
REAL as NULL.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

ID = String(32)
KEY = String(250)

workspaces = Table(
    "workspaces",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("created_at", BigInteger, nullable=False),
)

# Who may use a server with auth on: people and service accounts (DESIGN C4).
users = Table(
    "users",
    metadata,
    Column("name", String(250), primary_key=True),
    Column("kind", String(16), nullable=False),  # "user" or "service"
    Column("admin", Boolean, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(250), nullable=False),
    Column("disabled_at", BigInteger, nullable=True),
)

# API tokens: only the SHA-256 of the secret part is kept; ``id`` is the public part that
# the token starts with, so a token is found by id and then compared in constant time.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("user", String(250), ForeignKey("users.name"), nullable=False),
    Column("name", String(250), nullable=False),
    Column("secret_sha256", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(250), nullable=False),
    Column("expires_at", BigInteger, nullable=True),
    Column("revoked_at", BigInteger, nullable=True),
    Column("last_used_at", BigInteger, nullable=True),
    Index(None, "user"),
)

# Who may do what in a workspace: one role per user (core/roles.py orders them).
workspace_members = Table(
    "workspace_members",
    metadata,
    Column("workspace", String(64), ForeignKey("workspaces.name"), primary_key=True),
    Column("user", String(250), ForeignKey("users.name"), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("added_at", BigInteger, nullable=False),
    Column("added_by", String(250), nullable=False),
    Index(None, "user"),
)

# Secrets Modelyard must use later (a webhook's signing secret, S3 credentials): only the
# Fernet ciphertext of each value is kept (core/secret_box.py), never the value.
secrets = Table(
    "secrets",
    metadata,
    Column("workspace", String(64), ForeignKey("workspaces.name"), primary_key=True),
    Column("name", String(250), primary_key=True),
    Column("ciphertext", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(250), nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("updated_by", String(250), nullable=False),
)

experiments = Table(
    "experiments",
    metadata,
    Column("id", ID, primary_key=True),
    Column("workspace", String(64), ForeignKey("workspaces.name"), nullable=False),
    Column("name", String(250), nullable=False),
    Column("description", Text, nullable=True),
    Column("tags", JSON, nullable=False),
    Column("lifecycle", String(16), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    UniqueConstraint("workspace", "name"),
)

runs = Table(
    "runs",
    metadata,
    Column("id", ID, primary_key=True),
    Column("experiment_id", ID, ForeignKey("experiments.id"), nullable=False),
    Column("name", String(250), nullable=False),
    Column("status", String(16), nullable=False),
    Column("start_time", BigInteger, nullable=False),
    Column("end_time", BigInteger, nullable=True),
    Column("user", String(250), nullable=False),
    Column("description", Text, nullable=True),
    Column("parent_run_id", ID, ForeignKey("runs.id"), nullable=True),
    Column("source_commit", String(64), nullable=True),
    Column("source_dirty", Boolean, nullable=True),
    Column("source_entry_point", String(1000), nullable=True),
    Column("environment_hash", String(64), nullable=True),
    Column("failure", Text, nullable=True),
    Column("lifecycle", String(16), nullable=False),
    Index(None, "experiment_id", "start_time"),
    Index(None, "parent_run_id"),
)

run_params = Table(
    "run_params",
    metadata,
    Column("run_id", ID, ForeignKey("runs.id"), primary_key=True),
    Column("key", KEY, primary_key=True),
    Column("value", Text, nullable=False),
    Index(None, "key", "value"),
)

run_tags = Table(
    "run_tags",
    metadata,
    Column("run_id", ID, ForeignKey("runs.id"), primary_key=True),
    Column("key", KEY, primary_key=True),
    Column("value", Text, nullable=False),
    Index(None, "key"),
)

metrics = Table(
    "metrics",
    metadata,
    Column("id", Integer().with_variant(BigInteger, "postgresql"), primary_key=True),
    Column("run_id", ID, ForeignKey("runs.id"), nullable=False),
    Column("key", KEY, nullable=False),
    Column("value", Float, nullable=False),
    Column("is_nan", Boolean, nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Index(None, "run_id", "key", "step"),
)

# One row per (run, key): the value with the highest (step, timestamp). Search filters and
# sorts on this table so a search never scans the full metric history.
latest_metrics = Table(
    "latest_metrics",
    metadata,
    Column("run_id", ID, ForeignKey("runs.id"), primary_key=True),
    Column("key", KEY, primary_key=True),
    Column("value", Float, nullable=False),
    Column("is_nan", Boolean, nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Index(None, "key", "value"),
)

run_inputs = Table(
    "run_inputs",
    metadata,
    Column("run_id", ID, ForeignKey("runs.id"), primary_key=True),
    Column("name", String(250), primary_key=True),
    Column("digest", String(64), primary_key=True),
    Column("source", String(1000), nullable=True),
    Column("schema", JSON, nullable=True),
    Column("row_count", BigInteger, nullable=True),
    Column("context", String(64), nullable=True),
    Column("created_at", BigInteger, nullable=False),
)

run_artifacts = Table(
    "run_artifacts",
    metadata,
    Column("run_id", ID, ForeignKey("runs.id"), primary_key=True),
    Column("path", String(1000), primary_key=True),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

# Append-only, hash-chained (DESIGN invariant 3). ``seq`` orders the chain.
audit_records = Table(
    "audit_records",
    metadata,
    Column("seq", Integer().with_variant(BigInteger, "postgresql"), primary_key=True),
    Column("at", BigInteger, nullable=False),
    Column("actor", String(250), nullable=False),
    Column("action", String(100), nullable=False),
    Column("target_kind", String(64), nullable=False),
    Column("target_id", String(250), nullable=False),
    Column("reason", Text, nullable=True),
    Column("before", JSON, nullable=True),
    Column("after", JSON, nullable=True),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index(None, "target_kind", "target_id"),
)

# A single row holding the chain's tip; writers lock it so the chain stays linear under
# concurrent transactions (SQLite serialises writers anyway; PostgreSQL needs the row lock).
audit_chain_head = Table(
    "audit_chain_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)

# Transactional outbox: lifecycle events committed with the change they describe.
outbox = Table(
    "outbox",
    metadata,
    Column("seq", Integer().with_variant(BigInteger, "postgresql"), primary_key=True),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("type", String(100), nullable=False),
    Column("subject", String(250), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("delivered_at", BigInteger, nullable=True),
    Column("attempts", Integer, nullable=False),
    Index(None, "delivered_at"),
)

# Environments (C2): each named version is immutable; the hash of its resolved
# specification identifies it everywhere (runs, step runs, model versions).
environments = Table(
    "environments",
    metadata,
    Column("name", String(250), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("hash", String(64), nullable=False),
    Column("python", String(32), nullable=False),
    Column("requirements", JSON, nullable=False),
    Column("lock", JSON, nullable=False),
    Column("source", String(16), nullable=False),
    Column("description", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(250), nullable=False),
    Index(None, "hash"),
)

# Pipelines (C1): the definition a run used, by content hash.
pipeline_definitions = Table(
    "pipeline_definitions",
    metadata,
    Column("name", String(250), primary_key=True),
    Column("hash", String(64), primary_key=True),
    Column("definition", JSON, nullable=False),
    Column("source", String(1000), nullable=True),
    Column("created_at", BigInteger, nullable=False),
)

# Registered pipelines: a code snapshot (a manifest of blobs) and the entry that loads the
# pipeline from it. Schedules and triggers run only these, never a path named in a request.
pipeline_versions = Table(
    "pipeline_versions",
    metadata,
    Column("name", String(250), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("snapshot", String(64), nullable=False),
    Column("entry", String(1000), nullable=False),
    Column("definition", JSON, nullable=False),
    Column("definition_hash", String(64), nullable=False),
    Column("description", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(250), nullable=False),
)

pipeline_runs = Table(
    "pipeline_runs",
    metadata,
    Column("run_id", ID, ForeignKey("runs.id"), primary_key=True),
    Column("pipeline", String(250), nullable=False),
    Column("definition_hash", String(64), nullable=False),
    Column("params", JSON, nullable=False),
    Column("executor", String(250), nullable=False),
    Index(None, "pipeline"),
)

step_runs = Table(
    "step_runs",
    metadata,
    Column("run_id", ID, ForeignKey("runs.id"), primary_key=True),
    Column("pipeline_run_id", ID, ForeignKey("runs.id"), nullable=False),
    Column("step", String(250), nullable=False),
    Column("status", String(16), nullable=False),
    Column("cache_key", String(64), nullable=True),
    Column("key_parts", JSON, nullable=True),
    Column("cache_hit", Boolean, nullable=False),
    Column("cached_from", ID, nullable=True),
    Column("cache_reason", Text, nullable=True),
    Column("attempts", Integer, nullable=False),
    Column("environment_hash", String(64), nullable=True),
    Column("outputs", JSON, nullable=False),
    Column("started_at", BigInteger, nullable=True),
    Column("ended_at", BigInteger, nullable=True),
    Index(None, "cache_key"),
    Index(None, "pipeline_run_id"),
    Index(None, "step"),
)

# Lineage: artifact -> step run -> artifact (and any other kinds later areas add).
lineage_edges = Table(
    "lineage_edges",
    metadata,
    Column("id", Integer().with_variant(BigInteger, "postgresql"), primary_key=True),
    Column("src_kind", String(32), nullable=False),
    Column("src_id", String(250), nullable=False),
    Column("dst_kind", String(32), nullable=False),
    Column("dst_id", String(250), nullable=False),
    Column("role", String(250), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Index(None, "src_kind", "src_id"),
    Index(None, "dst_kind", "dst_id"),
)

schedules = Table(
    "schedules",
    metadata,
    Column("name", String(250), primary_key=True),
    Column("pipeline_ref", String(1000), nullable=False),
    Column("params", JSON, nullable=False),
    Column("cron", String(100), nullable=False),
    Column("executor", String(250), nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("next_run_at", BigInteger, nullable=False),
    Column("last_run_at", BigInteger, nullable=True),
    Column("last_run_id", ID, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Index(None, "enabled", "next_run_at"),
)

# Registry (C3): registered models, their immutable versions, and aliases with history.
registered_models = Table(
    "registered_models",
    metadata,
    Column("name", String(250), primary_key=True),
    Column("description", Text, nullable=True),
    Column("tags", JSON, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("created_by", String(250), nullable=False),
    # What a model card says that no record can: who answers for it, what it is for.
    Column("owner", String(250), nullable=True),
    Column("intended_use", Text, nullable=True),
    Column("limitations", Text, nullable=True),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("model", String(250), ForeignKey("registered_models.name"), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("status", String(16), nullable=False),
    Column("source", String(1000), nullable=False),
    Column("run_id", ID, nullable=True),
    Column("manifest", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("flavor", String(64), nullable=True),
    Column("signature", JSON, nullable=True),
    Column("environment_hash", String(64), nullable=True),
    Column("metrics", JSON, nullable=False),
    Column("datasets", JSON, nullable=False),
    Column("trusted", Boolean, nullable=False),
    Column("description", Text, nullable=True),
    Column("tags", JSON, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(250), nullable=False),
    Index(None, "run_id"),
)

model_aliases = Table(
    "model_aliases",
    metadata,
    Column("model", String(250), ForeignKey("registered_models.name"), primary_key=True),
    Column("alias", String(100), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("updated_by", String(250), nullable=False),
)

alias_history = Table(
    "alias_history",
    metadata,
    Column("id", Integer().with_variant(BigInteger, "postgresql"), primary_key=True),
    Column("model", String(250), nullable=False),
    Column("alias", String(100), nullable=False),
    Column("version", Integer, nullable=True),
    Column("previous_version", Integer, nullable=True),
    Column("at", BigInteger, nullable=False),
    Column("actor", String(250), nullable=False),
    Column("reason", Text, nullable=True),
    Index(None, "model", "alias"),
)

# A candidate version evaluated against a baseline on one dataset (`model compare`).
model_evaluations = Table(
    "model_evaluations",
    metadata,
    Column("id", Integer().with_variant(BigInteger, "postgresql"), primary_key=True),
    Column("model", String(250), nullable=False),
    Column("version", Integer, nullable=False),
    Column("baseline_model", String(250), nullable=True),
    Column("baseline_version", Integer, nullable=True),
    Column("data", String(1000), nullable=False),
    Column("data_sha256", String(64), nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("target", String(250), nullable=False),
    Column("metrics", JSON, nullable=False),
    Column("baseline_metrics", JSON, nullable=True),
    Column("gates", JSON, nullable=False),
    Column("passed", Boolean, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(250), nullable=False),
    Index(None, "model", "version"),
)

# Serving (C3 deploy): an endpoint splits its traffic between deployments, each a model
# version run by N scoring workers. This is the desired state a supervisor restores.
endpoints = Table(
    "endpoints",
    metadata,
    Column("name", String(250), primary_key=True),
    Column("description", Text, nullable=True),
    Column("port", Integer, nullable=True),
    Column("traffic", JSON, nullable=False),
    Column("mirror", JSON, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("created_by", String(250), nullable=False),
)

deployments = Table(
    "deployments",
    metadata,
    Column("endpoint", String(250), ForeignKey("endpoints.name"), primary_key=True),
    Column("name", String(100), primary_key=True),
    Column("model", String(250), nullable=False),
    Column("version", Integer, nullable=False),
    Column("model_uri", String(1100), nullable=False),
    Column("environment_hash", String(64), nullable=True),
    Column("workers", Integer, nullable=False),
    Column("config", JSON, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("created_by", String(250), nullable=False),
    Index(None, "model", "version"),
)

rollouts = Table(
    "rollouts",
    metadata,
    Column("id", ID, primary_key=True),
    Column("endpoint", String(250), ForeignKey("endpoints.name"), nullable=False),
    Column("target", String(100), nullable=False),
    Column("steps", JSON, nullable=False),
    Column("interval_ms", BigInteger, nullable=False),
    Column("max_error_rate", Float, nullable=True),
    Column("max_p99_ms", Float, nullable=True),
    Column("initial_traffic", JSON, nullable=False),
    Column("state", String(16), nullable=False),
    Column("step_index", Integer, nullable=False),
    Column("next_at", BigInteger, nullable=True),
    Column("history", JSON, nullable=False),
    Column("outcome", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("created_by", String(250), nullable=False),
    Index(None, "endpoint", "state"),
)

# What may change only with the approver role and a reason: an alias of a model (``scope``
# ``churn@champion``, or ``*@production`` for every model) or an endpoint's traffic
# (``scope`` the endpoint's name, or ``*``). ``require_approval`` turns a contributor's
# change into an approval request instead of a refusal (core/protection.py).
protection_rules = Table(
    "protection_rules",
    metadata,
    Column("id", Integer().with_variant(BigInteger, "postgresql"), primary_key=True),
    Column("workspace", String(64), ForeignKey("workspaces.name"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("scope", String(400), nullable=False),
    Column("require_approval", Boolean, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(250), nullable=False),
    UniqueConstraint("workspace", "kind", "scope"),
)

# A protected change a contributor asked for: the operation and its request, kept until an
# approver approves (and the change runs) or rejects it.
approval_requests = Table(
    "approval_requests",
    metadata,
    Column("id", Integer().with_variant(BigInteger, "postgresql"), primary_key=True),
    Column("workspace", String(64), ForeignKey("workspaces.name"), nullable=False),
    Column("operation", String(100), nullable=False),
    Column("request", JSON, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("target", String(400), nullable=False),
    Column("summary", String(1000), nullable=False),
    Column("rule_id", Integer().with_variant(BigInteger, "postgresql"), nullable=True),
    Column("state", String(16), nullable=False),
    Column("requested_by", String(250), nullable=False),
    Column("requested_at", BigInteger, nullable=False),
    Column("reason", Text, nullable=False),
    Column("decided_by", String(250), nullable=True),
    Column("decided_at", BigInteger, nullable=True),
    Column("decision_reason", Text, nullable=True),
    Index(None, "workspace", "state"),
)

# What retention deletes, per workspace (retention/rules.py): finished runs (``runs``), or
# pipeline runs with their step runs (``pipeline_runs``), ended more than ``older_than_ms``
# ago, of one experiment or pipeline (``scope``) or of all (``''``); or audit records older
# than that (``audit``, whose scope is always ``''``).
retention_rules = Table(
    "retention_rules",
    metadata,
    Column("id", Integer().with_variant(BigInteger, "postgresql"), primary_key=True),
    Column("workspace", String(64), ForeignKey("workspaces.name"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("scope", String(250), nullable=False),
    Column("older_than_ms", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", String(250), nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("updated_by", String(250), nullable=False),
    UniqueConstraint("workspace", "kind", "scope"),
)
