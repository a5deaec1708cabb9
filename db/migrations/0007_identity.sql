-- +goose NO TRANSACTION
-- +goose Up
-- Identity in the catalog, so that no race can register one instance twice,
-- protect one database twice, queue one backup twice or reuse a container.
-- The databases table is rebuilt (SQLite cannot drop its UNIQUE (server_id,
-- name)): a dropped and recreated database is a new row beside the old one,
-- which keeps its item and points. SQLite's procedure for that is to turn
-- foreign keys off outside the transaction (sqlite.org/lang_altertable.html).
PRAGMA foreign_keys = OFF;
BEGIN;

-- What the instance says it is (MachineName\InstanceName, upper case);
-- NULL until sqlvault has asked it (e.g. a server rebuilt from the vault).
ALTER TABLE servers ADD COLUMN instance_key TEXT;
CREATE UNIQUE INDEX servers_instance_key ON servers (instance_key) WHERE instance_key IS NOT NULL;

CREATE TABLE databases_new (
    id                  INTEGER PRIMARY KEY,
    server_id           INTEGER NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    name                TEXT    NOT NULL,
    database_guid       TEXT    NOT NULL DEFAULT '',
    state               TEXT    NOT NULL DEFAULT 'ONLINE',
    recovery_model      TEXT    NOT NULL DEFAULT 'FULL',
    compatibility_level INTEGER NOT NULL DEFAULT 0,
    size_bytes          INTEGER NOT NULL DEFAULT 0,
    is_system           INTEGER NOT NULL DEFAULT 0,
    gone                INTEGER NOT NULL DEFAULT 0, -- dropped (or replaced) on the instance; backups kept
    note                TEXT    NOT NULL DEFAULT '',
    discovered_at       INTEGER NOT NULL
);
INSERT INTO databases_new SELECT * FROM databases;
DROP TABLE databases;
ALTER TABLE databases_new RENAME TO databases;
-- One live database per name on an instance; gone ones (dropped, or an
-- older incarnation of a recreated database) stay beside it.
CREATE UNIQUE INDEX databases_live_name ON databases (server_id, name) WHERE gone = 0;
CREATE INDEX databases_server_name ON databases (server_id, name);

-- At most one queued or running backup of an item per kind, whatever fires
-- at once. Duplicates an older catalog holds are cancelled first.
UPDATE jobs SET status = 'cancelled', error_code = 'UserErrorJobCancelled',
    error_message = 'a duplicate of another queued backup of the same item and kind',
    ended_at = CAST(strftime('%s', 'now') AS INTEGER) * 1000
WHERE operation = 'backup' AND status IN ('queued', 'in_progress') AND item_id IS NOT NULL
    AND id NOT IN (SELECT min(id) FROM jobs WHERE operation = 'backup' AND status IN ('queued', 'in_progress')
        AND item_id IS NOT NULL GROUP BY item_id, kind);
CREATE UNIQUE INDEX jobs_one_active_backup ON jobs (item_id, kind)
    WHERE operation = 'backup' AND status IN ('queued', 'in_progress');

-- The device container of a job's blobs, unique for the life of the vault
-- (job ids restart with a rebuilt catalog); '' for older jobs: job-ID.
ALTER TABLE jobs ADD COLUMN container TEXT NOT NULL DEFAULT '';

COMMIT;
PRAGMA foreign_keys = ON;

-- +goose Down
-- The databases table keeps its rebuilt form: two rows of one name may exist.
DROP INDEX jobs_one_active_backup;
ALTER TABLE jobs DROP COLUMN container;
DROP INDEX servers_instance_key;
ALTER TABLE servers DROP COLUMN instance_key;
