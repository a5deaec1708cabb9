-- +goose Up
-- What a finished job hands back (e.g. the .bak files of a restore as files).
ALTER TABLE jobs ADD COLUMN result TEXT NOT NULL DEFAULT '{}';
-- Retention soft-deletes points for 14 days before their data is collected.
ALTER TABLE recovery_points ADD COLUMN deleted_at INTEGER;
-- The database GUID a point was taken of, so a rebuilt catalog can match it.
ALTER TABLE recovery_points ADD COLUMN database_guid TEXT NOT NULL DEFAULT '';
CREATE INDEX jobs_queue ON jobs (status, id) WHERE status = 'queued';

-- +goose Down
DROP INDEX jobs_queue;
ALTER TABLE recovery_points DROP COLUMN database_guid;
ALTER TABLE recovery_points DROP COLUMN deleted_at;
ALTER TABLE jobs DROP COLUMN result;
