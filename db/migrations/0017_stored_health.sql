-- +goose Up
-- Each item's health kept in the catalog (db/health.go), so the portal's
-- health filter and overview counts read an index instead of computing
-- every item's RPO per request. health is the time-independent part
-- (healthy, pending, failed_last_backup, stopped; '' until first
-- computed); rpo_due_at is when a healthy item's RPO passes twice its
-- target, so "RPO breached" is health = 'healthy' AND rpo_due_at < now.
ALTER TABLE items ADD COLUMN health TEXT NOT NULL DEFAULT '';
ALTER TABLE items ADD COLUMN health_why TEXT NOT NULL DEFAULT '';
ALTER TABLE items ADD COLUMN rpo_due_at INTEGER;
CREATE INDEX items_health ON items (health, rpo_due_at);

-- +goose Down
DROP INDEX items_health;
ALTER TABLE items DROP COLUMN rpo_due_at;
ALTER TABLE items DROP COLUMN health_why;
ALTER TABLE items DROP COLUMN health;
