-- +goose Up
-- The Reports page's RPO compliance (db.PointGaps) looks for gaps between
-- an item's consecutive recovery points longer than twice the RPO. It read
-- every point of the window through a window function (300,000 points at
-- 10,000 items: the slowest of the page's queries). Each point now keeps
-- its predecessor's end time (in end_time, then id, order: the same order
-- the window function used), kept by triggers whatever the order points
-- are committed or deleted in, and an index on the gap finds the long
-- ones with one range seek.
ALTER TABLE recovery_points ADD COLUMN prev_end_time INTEGER;

UPDATE recovery_points SET prev_end_time = (SELECT max(p.end_time) FROM recovery_points p
	WHERE p.item_id = recovery_points.item_id AND p.end_time <= recovery_points.end_time
	AND (p.end_time < recovery_points.end_time OR p.id < recovery_points.id));

CREATE INDEX recovery_points_gap ON recovery_points (end_time - prev_end_time, end_time, item_id, prev_end_time);

-- +goose StatementBegin
CREATE TRIGGER recovery_points_prev_insert AFTER INSERT ON recovery_points
BEGIN
	UPDATE recovery_points SET prev_end_time = (SELECT max(p.end_time) FROM recovery_points p
		WHERE p.item_id = NEW.item_id AND p.end_time <= NEW.end_time AND (p.end_time < NEW.end_time OR p.id < NEW.id))
	WHERE id = NEW.id;
	-- committed before a later point of its item: that point's predecessor now
	UPDATE recovery_points SET prev_end_time = NEW.end_time WHERE id = (SELECT p.id FROM recovery_points p
		WHERE p.item_id = NEW.item_id AND p.end_time >= NEW.end_time AND (p.end_time > NEW.end_time OR p.id > NEW.id)
		ORDER BY p.end_time, p.id LIMIT 1);
END;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE TRIGGER recovery_points_prev_delete AFTER DELETE ON recovery_points
BEGIN
	UPDATE recovery_points SET prev_end_time = OLD.prev_end_time WHERE id = (SELECT p.id FROM recovery_points p
		WHERE p.item_id = OLD.item_id AND p.end_time >= OLD.end_time AND (p.end_time > OLD.end_time OR p.id > OLD.id)
		ORDER BY p.end_time, p.id LIMIT 1);
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER recovery_points_prev_delete;
DROP TRIGGER recovery_points_prev_insert;
DROP INDEX recovery_points_gap;
ALTER TABLE recovery_points DROP COLUMN prev_end_time;
