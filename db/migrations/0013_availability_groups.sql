-- +goose Up
-- Always On availability groups as discovery reads them from any replica
-- (sys.availability_groups, sys.availability_replicas,
-- sys.dm_hadr_availability_replica_states). A group is known by its
-- group_id; each replica by its replica_id, tied to the registered server
-- of that instance once one exists.
CREATE TABLE availability_groups (
    id            INTEGER PRIMARY KEY,
    group_id      TEXT    NOT NULL UNIQUE, -- sys.availability_groups.group_id, lower case
    name          TEXT    NOT NULL,
    preference    TEXT    NOT NULL DEFAULT 'secondary', -- primary, secondary_only, secondary, none
    listener      TEXT    NOT NULL DEFAULT '',
    discovered_at INTEGER NOT NULL
);

CREATE TABLE ag_replicas (
    id              INTEGER PRIMARY KEY,
    ag_id           INTEGER NOT NULL REFERENCES availability_groups (id) ON DELETE CASCADE,
    replica_id      TEXT    NOT NULL,
    name            TEXT    NOT NULL, -- replica_server_name: SERVER or SERVER\INSTANCE
    server_id       INTEGER REFERENCES servers (id) ON DELETE SET NULL,
    role            TEXT    NOT NULL DEFAULT '', -- PRIMARY, SECONDARY, RESOLVING, '' unknown
    priority        INTEGER NOT NULL DEFAULT 50, -- backup_priority 0..100, 0 never
    synchronization TEXT    NOT NULL DEFAULT '', -- synchronization_health_desc
    connected       INTEGER NOT NULL DEFAULT 1,
    UNIQUE (ag_id, replica_id)
);

-- A database joined to a group is the same database on every replica:
-- the group and its group_database_id (identical on each replica) say
-- which, where database_guid differs from replica to replica.
ALTER TABLE databases ADD COLUMN ag_id INTEGER REFERENCES availability_groups (id) ON DELETE SET NULL;
ALTER TABLE databases ADD COLUMN group_database_id TEXT NOT NULL DEFAULT '';
ALTER TABLE databases ADD COLUMN synchronization_state TEXT NOT NULL DEFAULT '';

-- One item per group database, whichever replica it was protected from.
ALTER TABLE items ADD COLUMN ag_id INTEGER REFERENCES availability_groups (id);
ALTER TABLE items ADD COLUMN group_database_id TEXT;
CREATE UNIQUE INDEX items_ag_database ON items (ag_id, group_database_id) WHERE ag_id IS NOT NULL;

-- The instance a backup job ran on (a replica of its item's group).
ALTER TABLE jobs ADD COLUMN replica_server_id INTEGER REFERENCES servers (id) ON DELETE SET NULL;

-- +goose Down
-- SQLite cannot drop a column that is a foreign key: the columns stay.
DROP INDEX items_ag_database;
DROP TABLE ag_replicas;
DROP TABLE availability_groups;
