-- +goose Up
-- Failed sign-ins counted under separate keys (a user name at an address,
-- an address, a user name), so the throttle can refuse an address without
-- locking a user out from elsewhere. Rows older than the throttle's window
-- are deleted as new failures are written.
CREATE TABLE login_failures (
    key          TEXT    PRIMARY KEY,
    failures     INTEGER NOT NULL,
    last_failure INTEGER NOT NULL
);
CREATE INDEX login_failures_last ON login_failures (last_failure);
DROP TABLE login_attempts;

-- +goose Down
DROP TABLE login_failures;
CREATE TABLE login_attempts (
    username     TEXT    NOT NULL COLLATE NOCASE,
    addr         TEXT    NOT NULL,
    failures     INTEGER NOT NULL,
    last_failure INTEGER NOT NULL,
    PRIMARY KEY (username, addr)
);
