package coordinator

import (
	"context"
	"time"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
)

// extendLocks has storage with an object lock hold every catalogued
// point as long as the catalog now keeps it: a point's backup set its
// retention from the expiry of the day, and an undelete, a longer soft
// delete period or a chain still needing it keeps it longer. The lock
// never shortens, so a date that moved earlier changes nothing.
func (c *Coordinator) extendLocks(ctx context.Context, now time.Time) (int, error) {
	items, err := c.cfg.DB.ListItems(ctx, db.ItemFilter{Limit: 1000000, NoPointTimes: true})
	if err != nil {
		return 0, err
	}
	until := map[string]time.Time{}
	for _, it := range items {
		live, err := c.cfg.DB.ListPoints(ctx, it.ID)
		if err != nil {
			return 0, err
		}
		deleted, err := c.cfg.DB.ListDeletedPoints(ctx, it.ID)
		if err != nil {
			return 0, err
		}
		lockDates(live, deleted, now, c.softDelete(), until)
	}
	n, err := c.cfg.Vault.ExtendRetention(ctx, until)
	if err != nil {
		return n, engine.Wrap(engine.CodeStorageRetention, err, "the vault's bucket refused extending the Object Lock retention of a point the catalog keeps longer")
	}
	return n, nil
}

// lockDates adds to until the date each blob of these points must be
// held until. A live point: its expiry or on-demand retain date, but not
// before the next day (retention keeps it at least until a later pass
// decides), then the soft delete period. A soft-deleted point: the end of
// its soft delete period, until which it can be undeleted.
func lockDates(live, deleted []db.Point, now time.Time, soft time.Duration, until map[string]time.Time) {
	next := now.UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
	put := func(p db.Point, t time.Time) {
		for _, b := range p.Blobs {
			if t.After(until[b]) {
				until[b] = t
			}
		}
	}
	for _, p := range live {
		keep := next
		for _, t := range []*time.Time{p.ExpiresAt, p.RetainUntil} {
			if t != nil && t.After(keep) {
				keep = *t
			}
		}
		put(p, keep.Add(soft))
	}
	for _, p := range deleted {
		if p.DeletedAt != nil {
			put(p, p.DeletedAt.Add(soft))
		}
	}
}
