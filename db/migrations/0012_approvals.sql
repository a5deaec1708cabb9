-- +goose Up
-- Multi-user authorization: a destructive operation becomes a request a
-- second admin approves or rejects before it expires. The requester can
-- never be the decider (the CHECK holds even if a handler forgot).
CREATE TABLE approvals (
    id           INTEGER PRIMARY KEY,
    operation    TEXT    NOT NULL,            -- e.g. item.stop_delete
    target_type  TEXT    NOT NULL,
    target_id    TEXT    NOT NULL DEFAULT '',
    summary      TEXT    NOT NULL,
    params       TEXT    NOT NULL DEFAULT '{}',
    requested_by TEXT    NOT NULL,
    requested_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    status       TEXT    NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'approved', 'rejected', 'expired')),
    decided_by   TEXT,
    decided_at   INTEGER,
    result       TEXT    NOT NULL DEFAULT '',  -- the approved operation's outcome
    CHECK (decided_by IS NULL OR decided_by <> requested_by COLLATE NOCASE)
);
CREATE INDEX approvals_status ON approvals (status, id);

-- +goose Down
DROP TABLE approvals;
