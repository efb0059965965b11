-- table alembic_version
CREATE TABLE alembic_version (
	version_num VARCHAR(32) NOT NULL, 
	CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);

-- table alias_history
CREATE TABLE alias_history (
	id INTEGER NOT NULL, 
	model VARCHAR(250) NOT NULL, 
	alias VARCHAR(100) NOT NULL, 
	version INTEGER, 
	previous_version INTEGER, 
	at BIGINT NOT NULL, 
	actor VARCHAR(250) NOT NULL, 
	reason TEXT, 
	CONSTRAINT pk_alias_history PRIMARY KEY (id)
);

-- table api_tokens
CREATE TABLE api_tokens (
	id VARCHAR(16) NOT NULL, 
	user VARCHAR(250) NOT NULL, 
	name VARCHAR(250) NOT NULL, 
	secret_sha256 VARCHAR(64) NOT NULL, 
	created_at BIGINT NOT NULL, 
	created_by VARCHAR(250) NOT NULL, 
	expires_at BIGINT, 
	revoked_at BIGINT, 
	last_used_at BIGINT, 
	CONSTRAINT pk_api_tokens PRIMARY KEY (id), 
	CONSTRAINT fk_api_tokens_user_users FOREIGN KEY(user) REFERENCES users (name)
);

-- table approval_requests
CREATE TABLE approval_requests (
	id INTEGER NOT NULL, 
	workspace VARCHAR(64) NOT NULL, 
	operation VARCHAR(100) NOT NULL, 
	request JSON NOT NULL, 
	kind VARCHAR(16) NOT NULL, 
	target VARCHAR(400) NOT NULL, 
	summary VARCHAR(1000) NOT NULL, 
	rule_id INTEGER, 
	state VARCHAR(16) NOT NULL, 
	requested_by VARCHAR(250) NOT NULL, 
	requested_at BIGINT NOT NULL, 
	reason TEXT NOT NULL, 
	decided_by VARCHAR(250), 
	decided_at BIGINT, 
	decision_reason TEXT, 
	CONSTRAINT pk_approval_requests PRIMARY KEY (id), 
	CONSTRAINT fk_approval_requests_workspace_workspaces FOREIGN KEY(workspace) REFERENCES workspaces (name)
);

-- table audit_chain_head
CREATE TABLE audit_chain_head (
	id INTEGER NOT NULL, 
	seq BIGINT NOT NULL, 
	hash VARCHAR(64) NOT NULL, 
	CONSTRAINT pk_audit_chain_head PRIMARY KEY (id)
);

-- table audit_records
CREATE TABLE audit_records (
	seq INTEGER NOT NULL, 
	at BIGINT NOT NULL, 
	actor VARCHAR(250) NOT NULL, 
	action VARCHAR(100) NOT NULL, 
	target_kind VARCHAR(64) NOT NULL, 
	target_id VARCHAR(250) NOT NULL, 
	reason TEXT, 
	"before" JSON, 
	"after" JSON, 
	prev_hash VARCHAR(64) NOT NULL, 
	hash VARCHAR(64) NOT NULL, 
	CONSTRAINT pk_audit_records PRIMARY KEY (seq)
);

-- table deployments
CREATE TABLE deployments (
	endpoint VARCHAR(250) NOT NULL, 
	name VARCHAR(100) NOT NULL, 
	model VARCHAR(250) NOT NULL, 
	version INTEGER NOT NULL, 
	model_uri VARCHAR(1100) NOT NULL, 
	environment_hash VARCHAR(64), 
	workers INTEGER NOT NULL, 
	config JSON NOT NULL, 
	created_at BIGINT NOT NULL, 
	updated_at BIGINT NOT NULL, 
	created_by VARCHAR(250) NOT NULL, 
	CONSTRAINT pk_deployments PRIMARY KEY (endpoint, name), 
	CONSTRAINT fk_deployments_endpoint_endpoints FOREIGN KEY(endpoint) REFERENCES endpoints (name)
);

-- table endpoints
CREATE TABLE endpoints (
	name VARCHAR(250) NOT NULL, 
	description TEXT, 
	port INTEGER, 
	traffic JSON NOT NULL, 
	mirror JSON NOT NULL, 
	created_at BIGINT NOT NULL, 
	updated_at BIGINT NOT NULL, 
	created_by VARCHAR(250) NOT NULL, 
	CONSTRAINT pk_endpoints PRIMARY KEY (name)
);

-- table environments
CREATE TABLE environments (
	name VARCHAR(250) NOT NULL, 
	version INTEGER NOT NULL, 
	hash VARCHAR(64) NOT NULL, 
	python VARCHAR(32) NOT NULL, 
	requirements JSON NOT NULL, 
	lock JSON NOT NULL, 
	source VARCHAR(16) NOT NULL, 
	description TEXT, 
	created_at BIGINT NOT NULL, 
	created_by VARCHAR(250) NOT NULL, 
	CONSTRAINT pk_environments PRIMARY KEY (name, version)
);

-- table experiments
CREATE TABLE experiments (
	id VARCHAR(32) NOT NULL, 
	workspace VARCHAR(64) NOT NULL, 
	name VARCHAR(250) NOT NULL, 
	description TEXT, 
	tags JSON NOT NULL, 
	lifecycle VARCHAR(16) NOT NULL, 
	created_at BIGINT NOT NULL, 
	updated_at BIGINT NOT NULL, 
	CONSTRAINT pk_experiments PRIMARY KEY (id), 
	CONSTRAINT fk_experiments_workspace_workspaces FOREIGN KEY(workspace) REFERENCES workspaces (name), 
	CONSTRAINT uq_experiments_workspace_name UNIQUE (workspace, name)
);

-- table latest_metrics
CREATE TABLE latest_metrics (
	run_id VARCHAR(32) NOT NULL, 
	"key" VARCHAR(250) NOT NULL, 
	value FLOAT NOT NULL, 
	is_nan BOOLEAN NOT NULL, 
	step BIGINT NOT NULL, 
	timestamp BIGINT NOT NULL, 
	CONSTRAINT pk_latest_metrics PRIMARY KEY (run_id, "key"), 
	CONSTRAINT fk_latest_metrics_run_id_runs FOREIGN KEY(run_id) REFERENCES runs (id)
);

-- table lineage_edges
CREATE TABLE lineage_edges (
	id INTEGER NOT NULL, 
	src_kind VARCHAR(32) NOT NULL, 
	src_id VARCHAR(250) NOT NULL, 
	dst_kind VARCHAR(32) NOT NULL, 
	dst_id VARCHAR(250) NOT NULL, 
	role VARCHAR(250) NOT NULL, 
	created_at BIGINT NOT NULL, 
	CONSTRAINT pk_lineage_edges PRIMARY KEY (id)
);

-- table metrics
CREATE TABLE metrics (
	id INTEGER NOT NULL, 
	run_id VARCHAR(32) NOT NULL, 
	"key" VARCHAR(250) NOT NULL, 
	value FLOAT NOT NULL, 
	is_nan BOOLEAN NOT NULL, 
	step BIGINT NOT NULL, 
	timestamp BIGINT NOT NULL, 
	CONSTRAINT pk_metrics PRIMARY KEY (id), 
	CONSTRAINT fk_metrics_run_id_runs FOREIGN KEY(run_id) REFERENCES runs (id)
);

-- table model_aliases
CREATE TABLE model_aliases (
	model VARCHAR(250) NOT NULL, 
	alias VARCHAR(100) NOT NULL, 
	version INTEGER NOT NULL, 
	updated_at BIGINT NOT NULL, 
	updated_by VARCHAR(250) NOT NULL, 
	CONSTRAINT pk_model_aliases PRIMARY KEY (model, alias), 
	CONSTRAINT fk_model_aliases_model_registered_models FOREIGN KEY(model) REFERENCES registered_models (name)
);

-- table model_evaluations
CREATE TABLE model_evaluations (
	id INTEGER NOT NULL, 
	model VARCHAR(250) NOT NULL, 
	version INTEGER NOT NULL, 
	baseline_model VARCHAR(250), 
	baseline_version INTEGER, 
	data VARCHAR(1000) NOT NULL, 
	data_sha256 VARCHAR(64) NOT NULL, 
	rows BIGINT NOT NULL, 
	target VARCHAR(250) NOT NULL, 
	metrics JSON NOT NULL, 
	baseline_metrics JSON, 
	gates JSON NOT NULL, 
	passed BOOLEAN, 
	created_at BIGINT NOT NULL, 
	created_by VARCHAR(250) NOT NULL, 
	CONSTRAINT pk_model_evaluations PRIMARY KEY (id)
);

-- table model_versions
CREATE TABLE model_versions (
	model VARCHAR(250) NOT NULL, 
	version INTEGER NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	source VARCHAR(1000) NOT NULL, 
	run_id VARCHAR(32), 
	manifest VARCHAR(64) NOT NULL, 
	size BIGINT NOT NULL, 
	flavor VARCHAR(64), 
	signature JSON, 
	environment_hash VARCHAR(64), 
	metrics JSON NOT NULL, 
	datasets JSON NOT NULL, 
	trusted BOOLEAN NOT NULL, 
	description TEXT, 
	tags JSON NOT NULL, 
	created_at BIGINT NOT NULL, 
	created_by VARCHAR(250) NOT NULL, 
	CONSTRAINT pk_model_versions PRIMARY KEY (model, version), 
	CONSTRAINT fk_model_versions_model_registered_models FOREIGN KEY(model) REFERENCES registered_models (name)
);

-- table outbox
CREATE TABLE outbox (
	seq INTEGER NOT NULL, 
	event_id VARCHAR(36) NOT NULL, 
	type VARCHAR(100) NOT NULL, 
	subject VARCHAR(250) NOT NULL, 
	payload JSON NOT NULL, 
	created_at BIGINT NOT NULL, 
	delivered_at BIGINT, 
	attempts INTEGER NOT NULL, 
	CONSTRAINT pk_outbox PRIMARY KEY (seq), 
	CONSTRAINT uq_outbox_event_id UNIQUE (event_id)
);

-- table pipeline_definitions
CREATE TABLE pipeline_definitions (
	name VARCHAR(250) NOT NULL, 
	hash VARCHAR(64) NOT NULL, 
	definition JSON NOT NULL, 
	source VARCHAR(1000), 
	created_at BIGINT NOT NULL, 
	CONSTRAINT pk_pipeline_definitions PRIMARY KEY (name, hash)
);

-- table pipeline_runs
CREATE TABLE pipeline_runs (
	run_id VARCHAR(32) NOT NULL, 
	pipeline VARCHAR(250) NOT NULL, 
	definition_hash VARCHAR(64) NOT NULL, 
	params JSON NOT NULL, 
	executor VARCHAR(250) NOT NULL, 
	CONSTRAINT pk_pipeline_runs PRIMARY KEY (run_id), 
	CONSTRAINT fk_pipeline_runs_run_id_runs FOREIGN KEY(run_id) REFERENCES runs (id)
);

-- table pipeline_versions
CREATE TABLE pipeline_versions (
	name VARCHAR(250) NOT NULL, 
	version INTEGER NOT NULL, 
	snapshot VARCHAR(64) NOT NULL, 
	entry VARCHAR(1000) NOT NULL, 
	definition JSON NOT NULL, 
	definition_hash VARCHAR(64) NOT NULL, 
	description TEXT, 
	created_at BIGINT NOT NULL, 
	created_by VARCHAR(250) NOT NULL, 
	CONSTRAINT pk_pipeline_versions PRIMARY KEY (name, version)
);

-- table protection_rules
CREATE TABLE protection_rules (
	id INTEGER NOT NULL, 
	workspace VARCHAR(64) NOT NULL, 
	kind VARCHAR(16) NOT NULL, 
	scope VARCHAR(400) NOT NULL, 
	require_approval BOOLEAN NOT NULL, 
	created_at BIGINT NOT NULL, 
	created_by VARCHAR(250) NOT NULL, 
	CONSTRAINT pk_protection_rules PRIMARY KEY (id), 
	CONSTRAINT fk_protection_rules_workspace_workspaces FOREIGN KEY(workspace) REFERENCES workspaces (name), 
	CONSTRAINT uq_protection_rules_workspace_kind_scope UNIQUE (workspace, kind, scope)
);

-- table registered_models
CREATE TABLE registered_models (
	name VARCHAR(250) NOT NULL, 
	description TEXT, 
	tags JSON NOT NULL, 
	created_at BIGINT NOT NULL, 
	updated_at BIGINT NOT NULL, 
	created_by VARCHAR(250) NOT NULL, owner VARCHAR(250), intended_use TEXT, limitations TEXT, 
	CONSTRAINT pk_registered_models PRIMARY KEY (name)
);

-- table retention_rules
CREATE TABLE retention_rules (
	id INTEGER NOT NULL, 
	workspace VARCHAR(64) NOT NULL, 
	kind VARCHAR(16) NOT NULL, 
	scope VARCHAR(250) NOT NULL, 
	older_than_ms BIGINT NOT NULL, 
	created_at BIGINT NOT NULL, 
	created_by VARCHAR(250) NOT NULL, 
	updated_at BIGINT NOT NULL, 
	updated_by VARCHAR(250) NOT NULL, 
	CONSTRAINT pk_retention_rules PRIMARY KEY (id), 
	CONSTRAINT fk_retention_rules_workspace_workspaces FOREIGN KEY(workspace) REFERENCES workspaces (name), 
	CONSTRAINT uq_retention_rules_workspace_kind_scope UNIQUE (workspace, kind, scope)
);

-- table rollouts
CREATE TABLE rollouts (
	id VARCHAR(32) NOT NULL, 
	endpoint VARCHAR(250) NOT NULL, 
	target VARCHAR(100) NOT NULL, 
	steps JSON NOT NULL, 
	interval_ms BIGINT NOT NULL, 
	max_error_rate FLOAT, 
	max_p99_ms FLOAT, 
	initial_traffic JSON NOT NULL, 
	state VARCHAR(16) NOT NULL, 
	step_index INTEGER NOT NULL, 
	next_at BIGINT, 
	history JSON NOT NULL, 
	outcome TEXT, 
	created_at BIGINT NOT NULL, 
	updated_at BIGINT NOT NULL, 
	created_by VARCHAR(250) NOT NULL, 
	CONSTRAINT pk_rollouts PRIMARY KEY (id), 
	CONSTRAINT fk_rollouts_endpoint_endpoints FOREIGN KEY(endpoint) REFERENCES endpoints (name)
);

-- table run_artifacts
CREATE TABLE run_artifacts (
	run_id VARCHAR(32) NOT NULL, 
	path VARCHAR(1000) NOT NULL, 
	sha256 VARCHAR(64) NOT NULL, 
	size BIGINT NOT NULL, 
	created_at BIGINT NOT NULL, 
	CONSTRAINT pk_run_artifacts PRIMARY KEY (run_id, path), 
	CONSTRAINT fk_run_artifacts_run_id_runs FOREIGN KEY(run_id) REFERENCES runs (id)
);

-- table run_inputs
CREATE TABLE run_inputs (
	run_id VARCHAR(32) NOT NULL, 
	name VARCHAR(250) NOT NULL, 
	digest VARCHAR(64) NOT NULL, 
	source VARCHAR(1000), 
	schema JSON, 
	row_count BIGINT, 
	context VARCHAR(64), 
	created_at BIGINT NOT NULL, 
	CONSTRAINT pk_run_inputs PRIMARY KEY (run_id, name, digest), 
	CONSTRAINT fk_run_inputs_run_id_runs FOREIGN KEY(run_id) REFERENCES runs (id)
);

-- table run_params
CREATE TABLE run_params (
	run_id VARCHAR(32) NOT NULL, 
	"key" VARCHAR(250) NOT NULL, 
	value TEXT NOT NULL, 
	CONSTRAINT pk_run_params PRIMARY KEY (run_id, "key"), 
	CONSTRAINT fk_run_params_run_id_runs FOREIGN KEY(run_id) REFERENCES runs (id)
);

-- table run_tags
CREATE TABLE run_tags (
	run_id VARCHAR(32) NOT NULL, 
	"key" VARCHAR(250) NOT NULL, 
	value TEXT NOT NULL, 
	CONSTRAINT pk_run_tags PRIMARY KEY (run_id, "key"), 
	CONSTRAINT fk_run_tags_run_id_runs FOREIGN KEY(run_id) REFERENCES runs (id)
);

-- table runs
CREATE TABLE runs (
	id VARCHAR(32) NOT NULL, 
	experiment_id VARCHAR(32) NOT NULL, 
	name VARCHAR(250) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	start_time BIGINT NOT NULL, 
	end_time BIGINT, 
	user VARCHAR(250) NOT NULL, 
	description TEXT, 
	parent_run_id VARCHAR(32), 
	source_commit VARCHAR(64), 
	source_dirty BOOLEAN, 
	source_entry_point VARCHAR(1000), 
	environment_hash VARCHAR(64), 
	failure TEXT, 
	lifecycle VARCHAR(16) NOT NULL, 
	CONSTRAINT pk_runs PRIMARY KEY (id), 
	CONSTRAINT fk_runs_experiment_id_experiments FOREIGN KEY(experiment_id) REFERENCES experiments (id), 
	CONSTRAINT fk_runs_parent_run_id_runs FOREIGN KEY(parent_run_id) REFERENCES runs (id)
);

-- table schedules
CREATE TABLE schedules (
	name VARCHAR(250) NOT NULL, 
	pipeline_ref VARCHAR(1000) NOT NULL, 
	params JSON NOT NULL, 
	cron VARCHAR(100) NOT NULL, 
	executor VARCHAR(250) NOT NULL, 
	enabled BOOLEAN NOT NULL, 
	next_run_at BIGINT NOT NULL, 
	last_run_at BIGINT, 
	last_run_id VARCHAR(32), 
	last_error TEXT, 
	created_at BIGINT NOT NULL, 
	CONSTRAINT pk_schedules PRIMARY KEY (name)
);

-- table secrets
CREATE TABLE secrets (
	workspace VARCHAR(64) NOT NULL, 
	name VARCHAR(250) NOT NULL, 
	ciphertext TEXT NOT NULL, 
	created_at BIGINT NOT NULL, 
	created_by VARCHAR(250) NOT NULL, 
	updated_at BIGINT NOT NULL, 
	updated_by VARCHAR(250) NOT NULL, 
	CONSTRAINT pk_secrets PRIMARY KEY (workspace, name), 
	CONSTRAINT fk_secrets_workspace_workspaces FOREIGN KEY(workspace) REFERENCES workspaces (name)
);

-- table step_runs
CREATE TABLE step_runs (
	run_id VARCHAR(32) NOT NULL, 
	pipeline_run_id VARCHAR(32) NOT NULL, 
	step VARCHAR(250) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	cache_key VARCHAR(64), 
	key_parts JSON, 
	cache_hit BOOLEAN NOT NULL, 
	cached_from VARCHAR(32), 
	cache_reason TEXT, 
	attempts INTEGER NOT NULL, 
	environment_hash VARCHAR(64), 
	outputs JSON NOT NULL, 
	started_at BIGINT, 
	ended_at BIGINT, 
	CONSTRAINT pk_step_runs PRIMARY KEY (run_id), 
	CONSTRAINT fk_step_runs_pipeline_run_id_runs FOREIGN KEY(pipeline_run_id) REFERENCES runs (id), 
	CONSTRAINT fk_step_runs_run_id_runs FOREIGN KEY(run_id) REFERENCES runs (id)
);

-- table users
CREATE TABLE users (
	name VARCHAR(250) NOT NULL, 
	kind VARCHAR(16) NOT NULL, 
	admin BOOLEAN NOT NULL, 
	created_at BIGINT NOT NULL, 
	created_by VARCHAR(250) NOT NULL, 
	disabled_at BIGINT, 
	CONSTRAINT pk_users PRIMARY KEY (name)
);

-- table workspace_members
CREATE TABLE workspace_members (
	workspace VARCHAR(64) NOT NULL, 
	user VARCHAR(250) NOT NULL, 
	role VARCHAR(16) NOT NULL, 
	added_at BIGINT NOT NULL, 
	added_by VARCHAR(250) NOT NULL, 
	CONSTRAINT pk_workspace_members PRIMARY KEY (workspace, user), 
	CONSTRAINT fk_workspace_members_user_users FOREIGN KEY(user) REFERENCES users (name), 
	CONSTRAINT fk_workspace_members_workspace_workspaces FOREIGN KEY(workspace) REFERENCES workspaces (name)
);

-- table workspaces
CREATE TABLE workspaces (
	name VARCHAR(64) NOT NULL, 
	created_at BIGINT NOT NULL, 
	CONSTRAINT pk_workspaces PRIMARY KEY (name)
);

-- index ix_alias_history_model_alias
CREATE INDEX ix_alias_history_model_alias ON alias_history (model, alias);

-- index ix_api_tokens_user
CREATE INDEX ix_api_tokens_user ON api_tokens (user);

-- index ix_approval_requests_workspace_state
CREATE INDEX ix_approval_requests_workspace_state ON approval_requests (workspace, state);

-- index ix_audit_records_target_kind_target_id
CREATE INDEX ix_audit_records_target_kind_target_id ON audit_records (target_kind, target_id);

-- index ix_deployments_model_version
CREATE INDEX ix_deployments_model_version ON deployments (model, version);

-- index ix_environments_hash
CREATE INDEX ix_environments_hash ON environments (hash);

-- index ix_latest_metrics_key_value
CREATE INDEX ix_latest_metrics_key_value ON latest_metrics ("key", value);

-- index ix_lineage_edges_dst_kind_dst_id
CREATE INDEX ix_lineage_edges_dst_kind_dst_id ON lineage_edges (dst_kind, dst_id);

-- index ix_lineage_edges_src_kind_src_id
CREATE INDEX ix_lineage_edges_src_kind_src_id ON lineage_edges (src_kind, src_id);

-- index ix_metrics_run_id_key_step
CREATE INDEX ix_metrics_run_id_key_step ON metrics (run_id, "key", step);

-- index ix_model_evaluations_model_version
CREATE INDEX ix_model_evaluations_model_version ON model_evaluations (model, version);

-- index ix_model_versions_run_id
CREATE INDEX ix_model_versions_run_id ON model_versions (run_id);

-- index ix_outbox_delivered_at
CREATE INDEX ix_outbox_delivered_at ON outbox (delivered_at);

-- index ix_pipeline_runs_pipeline
CREATE INDEX ix_pipeline_runs_pipeline ON pipeline_runs (pipeline);

-- index ix_rollouts_endpoint_state
CREATE INDEX ix_rollouts_endpoint_state ON rollouts (endpoint, state);

-- index ix_run_params_key_value
CREATE INDEX ix_run_params_key_value ON run_params ("key", value);

-- index ix_run_tags_key
CREATE INDEX ix_run_tags_key ON run_tags ("key");

-- index ix_runs_experiment_id_start_time
CREATE INDEX ix_runs_experiment_id_start_time ON runs (experiment_id, start_time);

-- index ix_runs_parent_run_id
CREATE INDEX ix_runs_parent_run_id ON runs (parent_run_id);

-- index ix_schedules_enabled_next_run_at
CREATE INDEX ix_schedules_enabled_next_run_at ON schedules (enabled, next_run_at);

-- index ix_step_runs_cache_key
CREATE INDEX ix_step_runs_cache_key ON step_runs (cache_key);

-- index ix_step_runs_pipeline_run_id
CREATE INDEX ix_step_runs_pipeline_run_id ON step_runs (pipeline_run_id);

-- index ix_step_runs_step
CREATE INDEX ix_step_runs_step ON step_runs (step);

-- index ix_workspace_members_user
CREATE INDEX ix_workspace_members_user ON workspace_members (user);
