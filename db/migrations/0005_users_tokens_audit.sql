-- +goose Up
-- Users can be disabled: a disabled user cannot sign in and has no sessions.
ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;

-- Sessions get an integer id that the portal and the API can name (the
-- cookie's hash must not serve as one), the client that opened them and
-- when they were last used. Sessions are short-lived, so the table is
-- rebuilt with the rows it has.
CREATE TABLE sessions_new (
    id           INTEGER PRIMARY KEY,
    id_hash      TEXT    NOT NULL UNIQUE,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token   TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    last_seen_at INTEGER,
    addr         TEXT    NOT NULL DEFAULT '',
    user_agent   TEXT    NOT NULL DEFAULT ''
);
INSERT INTO sessions_new (id_hash, user_id, csrf_token, created_at, expires_at)
    SELECT id_hash, user_id, csrf_token, created_at, expires_at FROM sessions;
DROP TABLE sessions;
ALTER TABLE sessions_new RENAME TO sessions;
CREATE INDEX sessions_expires ON sessions (expires_at);
CREATE INDEX sessions_user ON sessions (user_id);

-- Tokens name who made them and may expire. A token made by a user stops
-- working while that user is disabled and goes with the user.
ALTER TABLE api_tokens ADD COLUMN created_by TEXT NOT NULL DEFAULT '';
ALTER TABLE api_tokens ADD COLUMN creator_id INTEGER REFERENCES users (id) ON DELETE CASCADE;
ALTER TABLE api_tokens ADD COLUMN expires_at INTEGER;

-- The audit log: who did what, from where, when, and how it ended.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    actor       TEXT    NOT NULL,
    addr        TEXT    NOT NULL DEFAULT '',
    action      TEXT    NOT NULL,
    method      TEXT    NOT NULL DEFAULT '',
    route       TEXT    NOT NULL DEFAULT '',
    target_type TEXT    NOT NULL DEFAULT '',
    target_id   TEXT    NOT NULL DEFAULT '',
    status      INTEGER NOT NULL DEFAULT 0,
    outcome     TEXT    NOT NULL CHECK (outcome IN ('success', 'denied', 'failed')),
    detail      TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_actor ON audit_log (actor COLLATE NOCASE, id);
CREATE INDEX audit_log_action ON audit_log (action, id);
CREATE INDEX audit_log_at ON audit_log (at);

-- Entries are append-only, whatever code runs against the catalog.
-- +goose StatementBegin
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit log entries cannot be changed');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit log entries cannot be deleted');
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER audit_log_no_delete;
DROP TRIGGER audit_log_no_update;
DROP TABLE audit_log;
ALTER TABLE api_tokens DROP COLUMN expires_at;
ALTER TABLE api_tokens DROP COLUMN creator_id;
ALTER TABLE api_tokens DROP COLUMN created_by;
ALTER TABLE users DROP COLUMN disabled;
