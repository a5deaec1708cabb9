-- +goose Up
-- Who started a job (a signed-in user or an API token's owner; '' for
-- the scheduler and the server itself), for the job page.
ALTER TABLE jobs ADD COLUMN started_by TEXT NOT NULL DEFAULT '';
-- An alert a person has acknowledged: still open until what raised it
-- resolves it, but marked as seen, by whom and when.
ALTER TABLE alerts ADD COLUMN acknowledged_by TEXT NOT NULL DEFAULT '';
ALTER TABLE alerts ADD COLUMN acknowledged_at INTEGER;
-- The Reports page reads a window of backup jobs and of recovery points;
-- these cover its queries, so a month of a big catalog is read from the
-- index alone instead of a table row per job (db/reports.go).
CREATE INDEX jobs_report ON jobs (operation, created_at, status, item_id, started_at, ended_at);
CREATE INDEX recovery_points_report ON recovery_points (end_time, item_id, size_bytes, stored_bytes, deleted_at);
CREATE INDEX recovery_points_deleted ON recovery_points (deleted_at, item_id, stored_bytes) WHERE deleted_at IS NOT NULL;

-- +goose Down
DROP INDEX recovery_points_deleted;
DROP INDEX recovery_points_report;
DROP INDEX jobs_report;
ALTER TABLE alerts DROP COLUMN acknowledged_at;
ALTER TABLE alerts DROP COLUMN acknowledged_by;
ALTER TABLE jobs DROP COLUMN started_by;
