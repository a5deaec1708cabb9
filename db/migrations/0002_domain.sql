-- +goose Up
-- Times are Unix milliseconds (UTC); LSNs are SQL Server's numeric(25,0) as text.

-- Registered SQL Server instances.
CREATE TABLE servers (
    id                       INTEGER PRIMARY KEY,
    name                     TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    host                     TEXT    NOT NULL,
    port                     INTEGER NOT NULL,
    instance_name            TEXT    NOT NULL DEFAULT 'MSSQLSERVER',
    username                 TEXT    NOT NULL,
    password_enc             BLOB    NOT NULL, -- sealed with the server's secret key
    encrypt                  TEXT    NOT NULL DEFAULT 'disable' CHECK (encrypt IN ('disable', 'true', 'strict')),
    trust_server_certificate INTEGER NOT NULL DEFAULT 0,
    status                   TEXT    NOT NULL DEFAULT 'unknown', -- healthy, warning, unhealthy, unknown
    status_code              TEXT    NOT NULL DEFAULT '',
    status_message           TEXT    NOT NULL DEFAULT '',
    version                  TEXT    NOT NULL DEFAULT '',
    edition                  TEXT    NOT NULL DEFAULT '',
    default_data_path        TEXT    NOT NULL DEFAULT '',
    default_log_path         TEXT    NOT NULL DEFAULT '',
    auto_protect_policy_id   INTEGER REFERENCES policies (id) ON DELETE SET NULL,
    discovered_at            INTEGER,
    created_at               INTEGER NOT NULL
);

-- Databases found by discovery.
CREATE TABLE databases (
    id                  INTEGER PRIMARY KEY,
    server_id           INTEGER NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    name                TEXT    NOT NULL,
    database_guid       TEXT    NOT NULL DEFAULT '',
    state               TEXT    NOT NULL DEFAULT 'ONLINE',
    recovery_model      TEXT    NOT NULL DEFAULT 'FULL',
    compatibility_level INTEGER NOT NULL DEFAULT 0,
    size_bytes          INTEGER NOT NULL DEFAULT 0,
    is_system           INTEGER NOT NULL DEFAULT 0,
    gone                INTEGER NOT NULL DEFAULT 0, -- dropped on the instance; backups kept
    note                TEXT    NOT NULL DEFAULT '',
    discovered_at       INTEGER NOT NULL,
    UNIQUE (server_id, name)
);

-- Backup policies; the schedule and retention are the JSON of engine/policy.
CREATE TABLE policies (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    body       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Protected items: one database under a policy.
CREATE TABLE items (
    id          INTEGER PRIMARY KEY,
    database_id INTEGER NOT NULL UNIQUE REFERENCES databases (id),
    policy_id   INTEGER REFERENCES policies (id),
    state       TEXT    NOT NULL DEFAULT 'protected', -- protected, stopped, stopped_deleted
    note        TEXT    NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL
);
CREATE INDEX items_policy ON items (policy_id);

-- Every operation is a job.
CREATE TABLE jobs (
    id                INTEGER PRIMARY KEY,
    operation         TEXT    NOT NULL, -- configure, backup, restore, rediscover, retention, verify
    kind              TEXT    NOT NULL DEFAULT '', -- full, differential, log, copy_only_full for backups
    status            TEXT    NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'in_progress', 'completed', 'failed', 'cancelled')),
    server_id         INTEGER REFERENCES servers (id) ON DELETE SET NULL,
    item_id           INTEGER REFERENCES items (id) ON DELETE SET NULL,
    params            TEXT    NOT NULL DEFAULT '{}',
    progress_percent  INTEGER NOT NULL DEFAULT 0,
    bytes_transferred INTEGER NOT NULL DEFAULT 0,
    steps             TEXT    NOT NULL DEFAULT '[]',
    error_code        TEXT    NOT NULL DEFAULT '',
    error_message     TEXT    NOT NULL DEFAULT '',
    attempt           INTEGER NOT NULL DEFAULT 1,
    created_at        INTEGER NOT NULL,
    started_at        INTEGER,
    ended_at          INTEGER
);
CREATE INDEX jobs_created ON jobs (created_at DESC);
CREATE INDEX jobs_status ON jobs (status, created_at DESC);
CREATE INDEX jobs_item ON jobs (item_id, created_at DESC);

-- Recovery points, committed only after the backup is complete and confirmed.
CREATE TABLE recovery_points (
    id                    INTEGER PRIMARY KEY,
    item_id               INTEGER NOT NULL REFERENCES items (id) ON DELETE CASCADE,
    job_id                INTEGER REFERENCES jobs (id) ON DELETE SET NULL,
    kind                  TEXT    NOT NULL CHECK (kind IN ('full', 'differential', 'log', 'copy_only_full')),
    blobs                 TEXT    NOT NULL, -- JSON array of vault blob names (stripes)
    start_time            INTEGER NOT NULL,
    end_time              INTEGER NOT NULL,
    first_lsn             TEXT    NOT NULL,
    last_lsn              TEXT    NOT NULL,
    checkpoint_lsn        TEXT    NOT NULL,
    database_backup_lsn   TEXT    NOT NULL,
    differential_base_lsn TEXT    NOT NULL DEFAULT '',
    size_bytes            INTEGER NOT NULL DEFAULT 0,
    stored_bytes          INTEGER NOT NULL DEFAULT 0,
    retain_until          INTEGER, -- set for ad hoc backups
    expires_at            INTEGER,
    created_at            INTEGER NOT NULL
);
CREATE INDEX recovery_points_item ON recovery_points (item_id, end_time);

-- Alerts raised by failures, resolved when the cause clears.
CREATE TABLE alerts (
    id          INTEGER PRIMARY KEY,
    severity    TEXT    NOT NULL DEFAULT 'error', -- error, warning, info
    code        TEXT    NOT NULL,
    message     TEXT    NOT NULL,
    server_id   INTEGER REFERENCES servers (id) ON DELETE CASCADE,
    item_id     INTEGER REFERENCES items (id) ON DELETE CASCADE,
    job_id      INTEGER REFERENCES jobs (id) ON DELETE SET NULL,
    created_at  INTEGER NOT NULL,
    resolved_at INTEGER
);
CREATE INDEX alerts_open ON alerts (resolved_at, created_at DESC);

-- +goose Down
DROP TABLE alerts;
DROP TABLE recovery_points;
DROP TABLE jobs;
DROP TABLE items;
DROP TABLE policies;
DROP TABLE databases;
DROP TABLE servers;
