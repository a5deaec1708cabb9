-- +goose Up
-- What discovery reads of a database beyond its state (sys.databases
-- is_read_only and is_in_standby; replica_id with
-- sys.dm_hadr_database_replica_states.is_primary_replica = 0): which
-- backups it allows and whether it can be protected at all.
ALTER TABLE databases ADD COLUMN is_read_only INTEGER NOT NULL DEFAULT 0;
ALTER TABLE databases ADD COLUMN is_in_standby INTEGER NOT NULL DEFAULT 0;
ALTER TABLE databases ADD COLUMN is_ag_secondary INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE databases DROP COLUMN is_ag_secondary;
ALTER TABLE databases DROP COLUMN is_in_standby;
ALTER TABLE databases DROP COLUMN is_read_only;
