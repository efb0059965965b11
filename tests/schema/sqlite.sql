-- table alembic_version
CREATE TABLE alembic_version (
	version_num VARCHAR(32) NOT NULL, 
	CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
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

-- table workspaces
CREATE TABLE workspaces (
	name VARCHAR(64) NOT NULL, 
	created_at BIGINT NOT NULL, 
	CONSTRAINT pk_workspaces PRIMARY KEY (name)
);

-- index ix_audit_records_target_kind_target_id
CREATE INDEX ix_audit_records_target_kind_target_id ON audit_records (target_kind, target_id);

-- index ix_latest_metrics_key_value
CREATE INDEX ix_latest_metrics_key_value ON latest_metrics ("key", value);

-- index ix_metrics_run_id_key_step
CREATE INDEX ix_metrics_run_id_key_step ON metrics (run_id, "key", step);

-- index ix_outbox_delivered_at
CREATE INDEX ix_outbox_delivered_at ON outbox (delivered_at);

-- index ix_run_params_key_value
CREATE INDEX ix_run_params_key_value ON run_params ("key", value);

-- index ix_run_tags_key
CREATE INDEX ix_run_tags_key ON run_tags ("key");

-- index ix_runs_experiment_id_start_time
CREATE INDEX ix_runs_experiment_id_start_time ON runs (experiment_id, start_time);

-- index ix_runs_parent_run_id
CREATE INDEX ix_runs_parent_run_id ON runs (parent_run_id);
