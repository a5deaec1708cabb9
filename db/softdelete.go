package db

import "context"

// ListSoftDeleted returns the newest soft-deleted points of every item,
// at most limit, for the portal's list of what can still be undeleted.
func (d *DB) ListSoftDeleted(ctx context.Context, limit int) ([]Point, error) {
	return d.queryPoints(ctx, `WHERE id IN (SELECT id FROM recovery_points WHERE deleted_at IS NOT NULL
		ORDER BY deleted_at DESC LIMIT ?)`, limit)
}
