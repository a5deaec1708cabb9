package db

import "context"

// OpenItemAlerts returns the items with an open alert of code (raised
// for the item alone, no server), so a check over every item resolves
// only those instead of asking once per item.
func (d *DB) OpenItemAlerts(ctx context.Context, code string) (map[int64]bool, error) {
	out := map[int64]bool{}
	err := d.eachRow(ctx, `SELECT DISTINCT item_id FROM alerts WHERE resolved_at IS NULL AND code = ?
		AND item_id IS NOT NULL AND coalesce(server_id, 0) = 0`, []any{code}, func(s scanner) error {
		var id int64
		if err := s.Scan(&id); err != nil {
			return err
		}
		out[id] = true
		return nil
	})
	return out, err
}
