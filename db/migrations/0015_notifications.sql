-- +goose Up
-- Notification channels and their rules (JSON, no secrets), the SMTP
-- password sealed by engine/secret, and when the daily summary last went.
CREATE TABLE notification_settings (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    config          TEXT    NOT NULL DEFAULT '{}',
    smtp_password   BLOB,
    last_summary_at INTEGER NOT NULL DEFAULT 0,
    updated_at      INTEGER NOT NULL DEFAULT 0
);

-- The outbox: one row per message and channel, delivered and retried
-- with backoff by engine/notify; the rendered body is kept so a retry
-- sends exactly what the first attempt did.
CREATE TABLE notification_outbox (
    id              INTEGER PRIMARY KEY,
    channel         TEXT    NOT NULL,            -- email, webhook:N, cli
    format          TEXT    NOT NULL,            -- email, generic, teams, slack
    target          TEXT    NOT NULL,            -- the URL or the recipients
    kind            TEXT    NOT NULL,            -- alert, summary, test
    subject         TEXT    NOT NULL DEFAULT '',
    body            TEXT    NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT    NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER
);
CREATE INDEX notification_outbox_due ON notification_outbox (status, next_attempt_at);

-- +goose Down
DROP TABLE notification_outbox;
DROP TABLE notification_settings;
