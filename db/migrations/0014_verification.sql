-- +goose Up
-- Row counts of a backup's source database read just before BACKUP ran
-- (sys.partitions), by backup job: a verification compares the restored
-- copy with them. tables is JSON {"name": rows}.
CREATE TABLE backup_row_counts (
    job_id     INTEGER PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
    counted_at INTEGER NOT NULL,
    tables     TEXT NOT NULL
);

-- One verification of a recovery point (or of a point in time after it):
-- where it was restored, what DBCC CHECKDB said, each table's rows beside
-- the source's, how long it took. status is clean or failed; level is
-- checkdb, physical_only or verifyonly. checkdb_messages and tables are
-- JSON lists.
CREATE TABLE verifications (
    id               INTEGER PRIMARY KEY,
    point_id         INTEGER NOT NULL REFERENCES recovery_points (id) ON DELETE CASCADE,
    item_id          INTEGER NOT NULL REFERENCES items (id) ON DELETE CASCADE,
    job_id           INTEGER REFERENCES jobs (id) ON DELETE SET NULL,
    server_id        INTEGER REFERENCES servers (id) ON DELETE SET NULL,
    database_name    TEXT NOT NULL,
    point_in_time    INTEGER,
    level            TEXT NOT NULL,
    status           TEXT NOT NULL,
    error_code       TEXT NOT NULL DEFAULT '',
    checkdb_messages TEXT NOT NULL DEFAULT '[]',
    tables           TEXT NOT NULL DEFAULT '[]',
    total_rows       INTEGER NOT NULL DEFAULT 0,
    at               INTEGER NOT NULL,
    duration_ms      INTEGER NOT NULL
);
CREATE INDEX verifications_point ON verifications (point_id, id);
CREATE INDEX verifications_item ON verifications (item_id, at);

-- +goose Down
DROP TABLE verifications;
DROP TABLE backup_row_counts;
