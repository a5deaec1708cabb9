-- +goose Up
-- A break in an item's log chain, found when a backup lands or before one
-- runs: what caused it (a backup taken outside sqlvault, a restore over the
-- original, ...), the span it leaves without point-in-time restore, and
-- whether it stops the chain (only a full starts it again). A full that
-- commits heals the item's open gaps.
CREATE TABLE chain_gaps (
    id        INTEGER PRIMARY KEY,
    item_id   INTEGER NOT NULL REFERENCES items (id) ON DELETE CASCADE,
    point_id  INTEGER REFERENCES recovery_points (id) ON DELETE SET NULL,
    job_id    INTEGER REFERENCES jobs (id) ON DELETE SET NULL,
    from_time INTEGER NOT NULL,
    to_time   INTEGER NOT NULL,
    breaks    INTEGER NOT NULL,
    cause     TEXT NOT NULL,
    found_at  INTEGER NOT NULL,
    healed_at INTEGER
);
CREATE INDEX chain_gaps_item ON chain_gaps (item_id, found_at);

-- +goose Down
DROP TABLE chain_gaps;
