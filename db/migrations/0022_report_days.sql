-- +goose Up
-- The Reports page's daily summary (db/reports.go): per item and UTC day
-- (day = ms / 86400000), its finished backup jobs by their creation day,
-- and its recovery points' sizes by their end day and their soft
-- deletion by its day. Triggers keep it as jobs finish and points are
-- committed, expire or are restored, so a report reads a row per item
-- and day instead of every job and point of the window. A point purged
-- for good stays in the history it made.
CREATE TABLE report_days (
	day         INTEGER NOT NULL,
	item_id     INTEGER NOT NULL,
	completed   INTEGER NOT NULL DEFAULT 0,
	failed      INTEGER NOT NULL DEFAULT 0,
	duration_ms INTEGER NOT NULL DEFAULT 0, -- summed over the completed backups with a start and an end
	timed       INTEGER NOT NULL DEFAULT 0, -- how many those are
	points      INTEGER NOT NULL DEFAULT 0,
	bytes       INTEGER NOT NULL DEFAULT 0,
	stored      INTEGER NOT NULL DEFAULT 0, -- stored bytes of the points that ended that day
	removed     INTEGER NOT NULL DEFAULT 0, -- stored bytes of the points soft-deleted that day
	PRIMARY KEY (day, item_id)
) WITHOUT ROWID;
-- Covering, so an item's (or every item's) totals over a window are
-- summed in item order from the index alone, without sorting the rows.
CREATE INDEX report_days_item ON report_days (item_id, day, completed, failed, duration_ms, points, bytes, stored);
-- The same summed over every item, a row a day: the unfiltered report's
-- series and the overview's chart read a row per day.
CREATE TABLE report_totals (
	day         INTEGER PRIMARY KEY,
	completed   INTEGER NOT NULL DEFAULT 0,
	failed      INTEGER NOT NULL DEFAULT 0,
	duration_ms INTEGER NOT NULL DEFAULT 0,
	timed       INTEGER NOT NULL DEFAULT 0,
	points      INTEGER NOT NULL DEFAULT 0,
	bytes       INTEGER NOT NULL DEFAULT 0,
	stored      INTEGER NOT NULL DEFAULT 0,
	removed     INTEGER NOT NULL DEFAULT 0
);

-- report_totals follows report_days: every change of a day's row adds
-- its difference to the day's total.
-- +goose StatementBegin
CREATE TRIGGER report_totals_insert AFTER INSERT ON report_days
BEGIN
	INSERT INTO report_totals (day, completed, failed, duration_ms, timed, points, bytes, stored, removed)
	VALUES (NEW.day, NEW.completed, NEW.failed, NEW.duration_ms, NEW.timed, NEW.points, NEW.bytes, NEW.stored, NEW.removed)
	ON CONFLICT (day) DO UPDATE SET completed = completed + excluded.completed, failed = failed + excluded.failed,
		duration_ms = duration_ms + excluded.duration_ms, timed = timed + excluded.timed, points = points + excluded.points,
		bytes = bytes + excluded.bytes, stored = stored + excluded.stored, removed = removed + excluded.removed;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER report_totals_update AFTER UPDATE ON report_days
BEGIN
	UPDATE report_totals SET completed = completed + NEW.completed - OLD.completed, failed = failed + NEW.failed - OLD.failed,
		duration_ms = duration_ms + NEW.duration_ms - OLD.duration_ms, timed = timed + NEW.timed - OLD.timed,
		points = points + NEW.points - OLD.points, bytes = bytes + NEW.bytes - OLD.bytes,
		stored = stored + NEW.stored - OLD.stored, removed = removed + NEW.removed - OLD.removed
	WHERE day = NEW.day;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER report_days_job_finished AFTER UPDATE OF status ON jobs
WHEN NEW.operation = 'backup' AND NEW.item_id IS NOT NULL AND NEW.status IN ('completed', 'failed')
	AND OLD.status NOT IN ('completed', 'failed')
BEGIN
	INSERT INTO report_days (day, item_id, completed, failed, duration_ms, timed)
	VALUES (NEW.created_at / 86400000, NEW.item_id, NEW.status = 'completed', NEW.status = 'failed',
		CASE WHEN NEW.status = 'completed' THEN coalesce(NEW.ended_at - NEW.started_at, 0) ELSE 0 END,
		NEW.status = 'completed' AND NEW.ended_at IS NOT NULL AND NEW.started_at IS NOT NULL)
	ON CONFLICT (day, item_id) DO UPDATE SET completed = completed + excluded.completed, failed = failed + excluded.failed,
		duration_ms = duration_ms + excluded.duration_ms, timed = timed + excluded.timed;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER report_days_job_inserted AFTER INSERT ON jobs
WHEN NEW.operation = 'backup' AND NEW.item_id IS NOT NULL AND NEW.status IN ('completed', 'failed')
BEGIN
	INSERT INTO report_days (day, item_id, completed, failed, duration_ms, timed)
	VALUES (NEW.created_at / 86400000, NEW.item_id, NEW.status = 'completed', NEW.status = 'failed',
		CASE WHEN NEW.status = 'completed' THEN coalesce(NEW.ended_at - NEW.started_at, 0) ELSE 0 END,
		NEW.status = 'completed' AND NEW.ended_at IS NOT NULL AND NEW.started_at IS NOT NULL)
	ON CONFLICT (day, item_id) DO UPDATE SET completed = completed + excluded.completed, failed = failed + excluded.failed,
		duration_ms = duration_ms + excluded.duration_ms, timed = timed + excluded.timed;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER report_days_point_committed AFTER INSERT ON recovery_points
BEGIN
	INSERT INTO report_days (day, item_id, points, bytes, stored)
	VALUES (NEW.end_time / 86400000, NEW.item_id, 1, NEW.size_bytes, NEW.stored_bytes)
	ON CONFLICT (day, item_id) DO UPDATE SET points = points + 1, bytes = bytes + excluded.bytes, stored = stored + excluded.stored;
	INSERT INTO report_days (day, item_id, removed) SELECT NEW.deleted_at / 86400000, NEW.item_id, NEW.stored_bytes
	WHERE NEW.deleted_at IS NOT NULL
	ON CONFLICT (day, item_id) DO UPDATE SET removed = removed + excluded.removed;
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER report_days_point_deleted AFTER UPDATE OF deleted_at ON recovery_points
WHEN OLD.deleted_at IS NOT NEW.deleted_at
BEGIN
	UPDATE report_days SET removed = removed - OLD.stored_bytes
	WHERE OLD.deleted_at IS NOT NULL AND day = OLD.deleted_at / 86400000 AND item_id = OLD.item_id;
	INSERT INTO report_days (day, item_id, removed) SELECT NEW.deleted_at / 86400000, NEW.item_id, NEW.stored_bytes
	WHERE NEW.deleted_at IS NOT NULL
	ON CONFLICT (day, item_id) DO UPDATE SET removed = removed + excluded.removed;
END;
-- +goose StatementEnd

-- The history before this migration.
INSERT INTO report_days (day, item_id, completed, failed, duration_ms, timed)
SELECT created_at / 86400000, item_id, sum(status = 'completed'), sum(status = 'failed'),
	coalesce(sum(CASE WHEN status = 'completed' THEN ended_at - started_at END), 0),
	sum(status = 'completed' AND ended_at IS NOT NULL AND started_at IS NOT NULL)
FROM jobs WHERE operation = 'backup' AND item_id IS NOT NULL AND status IN ('completed', 'failed') GROUP BY 1, 2;
INSERT INTO report_days (day, item_id, points, bytes, stored)
SELECT end_time / 86400000, item_id, count(*), sum(size_bytes), sum(stored_bytes) FROM recovery_points WHERE true GROUP BY 1, 2
ON CONFLICT (day, item_id) DO UPDATE SET points = excluded.points, bytes = excluded.bytes, stored = excluded.stored;
INSERT INTO report_days (day, item_id, removed)
SELECT deleted_at / 86400000, item_id, sum(stored_bytes) FROM recovery_points WHERE deleted_at IS NOT NULL GROUP BY 1, 2
ON CONFLICT (day, item_id) DO UPDATE SET removed = excluded.removed;

-- +goose Down
DROP TRIGGER report_totals_update;
DROP TRIGGER report_totals_insert;
DROP TABLE report_totals;
DROP TRIGGER report_days_point_deleted;
DROP TRIGGER report_days_point_committed;
DROP TRIGGER report_days_job_inserted;
DROP TRIGGER report_days_job_finished;
DROP TABLE report_days;
