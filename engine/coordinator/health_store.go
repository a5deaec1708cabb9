package coordinator

import (
	"context"
	"time"

	"github.com/sqlvault/sqlvault/db"
)

// StateOf classifies an item as the overview counts it and the item list
// filters it: stopped, last backup failed, RPO breached, awaiting its
// first point, or healthy (in that order of precedence). last is the
// item's most recent finished backup job, if any.
func StateOf(it db.Item, last *db.Job, h ItemHealth) string {
	switch {
	case it.State != db.ItemProtected:
		return db.HealthStopped
	case last != nil && last.Status == db.JobFailed:
		return db.HealthFailed
	case h.Breaching:
		return db.HealthBreached
	case !h.HasPoint:
		return db.HealthPending
	}
	return db.HealthHealthy
}

// storedHealth is the item's health as the catalog keeps it: the state
// without the RPO breach, and when the breach begins, so that the
// catalog's query at any later time gives what StateOf would.
func storedHealth(it db.Item, last *db.Job, h ItemHealth) db.StoredHealth {
	timeless := h
	timeless.Breaching = false
	s := db.StoredHealth{ItemID: it.ID, State: StateOf(it, last, timeless)}
	switch {
	case s.State == db.HealthFailed:
		s.Why = last.ErrorCode + ": " + last.ErrorMessage
	case h.ChainBrokenAt != nil:
		s.Why = "the log chain broke at " + h.ChainBrokenAt.UTC().Format(time.RFC3339)
	}
	// The breach rule of HealthOf: protected, a target, a point, and an RPO
	// over twice the target.
	if it.State == db.ItemProtected && h.Target > 0 && h.HasPoint {
		due := h.Last.Add(2 * h.Target)
		s.RPODue = &due
	}
	return s
}

// storeHealth stores the health of items whose ItemHealth is known.
func (c *Coordinator) storeHealth(ctx context.Context, items []db.Item, healths []ItemHealth) error {
	if len(items) == 0 {
		return nil
	}
	rows, err := c.healthRows(ctx, items, healths, nil)
	if err != nil {
		return err
	}
	return c.cfg.DB.SetItemHealth(ctx, rows)
}

// healthRows is the stored health of items, each with its last finished
// backup job; ended, if given, is a job whose end is not written yet and
// counts as its item's last backup (see healthAfter).
func (c *Coordinator) healthRows(ctx context.Context, items []db.Item, healths []ItemHealth, ended *db.Job) ([]db.StoredHealth, error) {
	var ids []int64
	if len(items) <= 100 { // a few: ask for those; many: for all
		for _, it := range items {
			ids = append(ids, it.ID)
		}
	}
	last, err := c.cfg.DB.LastBackupStatus(ctx, ids...)
	if err != nil {
		return nil, err
	}
	// A backup that completed or failed, as LastBackupStatus counts them,
	// is the last unless a newer one ended first.
	if j := ended; j != nil && j.ItemID != nil && j.Operation == "backup" && (j.Status == db.JobCompleted || j.Status == db.JobFailed) {
		if l, ok := last[*j.ItemID]; !ok || l.ID < j.ID {
			last[*j.ItemID] = *j
		}
	}
	rows := make([]db.StoredHealth, len(items))
	for i, it := range items {
		var j *db.Job
		if l, ok := last[it.ID]; ok {
			j = &l
		}
		rows[i] = storedHealth(it, j, healths[i])
	}
	return rows, nil
}

// RefreshHealth computes and stores the health of the items f selects
// (every item with the zero filter).
func (c *Coordinator) RefreshHealth(ctx context.Context, f db.ItemFilter) error {
	f.Limit = 1000000
	items, err := c.cfg.DB.ListItems(ctx, f)
	if err != nil {
		return err
	}
	return c.storeHealth(ctx, items, c.HealthOf(ctx, items))
}

// refreshItemHealth stores one item's health after something changed it
// (protection started, stopped or resumed, its policy changed); a
// failure is logged, and the minute's check stores it again.
func (c *Coordinator) refreshItemHealth(ctx context.Context, id int64) {
	it, err := c.cfg.DB.ItemByID(ctx, id)
	if err == nil {
		err = c.storeHealth(ctx, []db.Item{it}, c.HealthOf(ctx, []db.Item{it}))
	}
	if err != nil {
		c.log.Warn("store item health", "item", id, "err", err)
	}
}

// EnsureHealth stores the health of the items whose health was never
// stored (a catalog just migrated, an item made by a path without a
// hook), so a health filter or count read from the catalog misses none.
func (c *Coordinator) EnsureHealth(ctx context.Context) error {
	items, err := c.cfg.DB.ItemsWithoutHealth(ctx)
	if err != nil || len(items) == 0 {
		return err
	}
	return c.storeHealth(ctx, items, c.HealthOf(ctx, items))
}

// finishJob writes the end of j (its Status, ErrorCode and ErrorMessage
// set) and the health it leaves: its item's in the same write, so whoever
// sees the job ended sees the item's health; for a job of no item
// (rediscovery, retention), every item it may have touched, just after.
func (c *Coordinator) finishJob(ctx context.Context, j db.Job) {
	var health []db.StoredHealth
	if j.ItemID != nil {
		h, err := c.healthAfter(ctx, j)
		if err != nil {
			c.log.Warn("store item health", "job", j.ID, "err", err) // the minute's check stores it
		} else {
			health = append(health, h)
		}
	}
	if err := c.cfg.DB.FinishJob(ctx, j.ID, j.Status, j.ErrorCode, j.ErrorMessage, health...); err != nil {
		c.log.Error("record the job's end", "job", j.ID, "err", err)
		return
	}
	c.hook("job-ended")
	var err error
	switch {
	case j.ItemID != nil:
	case j.ServerID != nil:
		err = c.RefreshHealth(ctx, db.ItemFilter{ServerID: *j.ServerID})
	case j.Operation == "retention":
		err = c.RefreshHealth(ctx, db.ItemFilter{})
	}
	if err != nil {
		c.log.Warn("store item health", "job", j.ID, "err", err)
	}
}

// healthAfter is the health j's item has once j has ended as j says.
func (c *Coordinator) healthAfter(ctx context.Context, j db.Job) (db.StoredHealth, error) {
	it, err := c.cfg.DB.ItemByID(ctx, *j.ItemID)
	if err != nil {
		return db.StoredHealth{}, err
	}
	items := []db.Item{it}
	rows, err := c.healthRows(ctx, items, c.HealthOf(ctx, items), &j)
	if err != nil {
		return db.StoredHealth{}, err
	}
	return rows[0], nil
}
