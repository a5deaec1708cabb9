-- +goose Up
-- Indexes the portal needs with a big catalog (1,000 items, 1,000,000 jobs).

-- An item's jobs newest (highest id) first: its last backup outcome, the
-- jobs list of one item.
CREATE INDEX jobs_item_id ON jobs (item_id, id);
-- The jobs list filtered by status and/or operation, newest (highest id) first.
CREATE INDEX jobs_status_id ON jobs (status, id);
CREATE INDEX jobs_operation_id ON jobs (operation, id);
CREATE INDEX jobs_operation_status_id ON jobs (operation, status, id);
-- An item's newest point of each kind (last full, differential, log).
CREATE INDEX recovery_points_item_kind ON recovery_points (item_id, kind, end_time);
-- The bytes backed up per day on the overview, read from the index alone.
CREATE INDEX recovery_points_end ON recovery_points (end_time, size_bytes, stored_bytes);

-- +goose Down
DROP INDEX recovery_points_end;
DROP INDEX recovery_points_item_kind;
DROP INDEX jobs_operation_status_id;
DROP INDEX jobs_operation_id;
DROP INDEX jobs_status_id;
DROP INDEX jobs_item_id;
