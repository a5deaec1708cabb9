package coordinator

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/mssql"
	"github.com/sqlvault/sqlvault/engine/policy"
)

// overdueGrace is how long past its policy's period an item may go
// unverified before an alert opens: a verification waits for an idle
// instance.
const overdueGrace = 24 * time.Hour

// QueueDueVerifications queues the verifications policies ask for (the
// latest full with its chain to the newest log, every N days or after
// every full) while the verification instance is idle, and raises an
// alert for an item not verified within its policy's period.
func (c *Coordinator) QueueDueVerifications(ctx context.Context) {
	items, err := c.cfg.DB.ListItems(ctx, db.ItemFilter{State: db.ItemProtected, Limit: 1000000, NoPointTimes: true})
	if err != nil {
		c.log.Warn("due verifications: list items", "err", err)
		return
	}
	last, err := c.cfg.DB.LatestItemVerifications(ctx)
	if err != nil {
		c.log.Warn("due verifications: read verifications", "err", err)
		return
	}
	// The never verified first, then the longest unverified: one instance
	// verifies one database at a time.
	sort.SliceStable(items, func(i, k int) bool {
		a, okA := last[items[i].ID]
		b, okB := last[items[k].ID]
		if okA != okB {
			return !okA
		}
		return a.At.Before(b.At)
	})
	for _, it := range items {
		pol, err := c.itemPolicy(ctx, it)
		if err != nil || pol.Verify == nil || !pol.Verify.Enabled {
			continue
		}
		lv, ok := last[it.ID]
		c.verifyIfDue(ctx, it, *pol.Verify, lv, ok)
	}
}

func (c *Coordinator) verifyIfDue(ctx context.Context, it db.Item, v policy.Verify, last db.Verification, verified bool) {
	points, err := c.cfg.DB.ListPoints(ctx, it.ID)
	if err != nil || len(points) == 0 {
		return
	}
	full, ok := latestFull(incarnations(points)[0])
	if !ok {
		return
	}
	now := c.cfg.Now()
	since := full.EndTime // unverified since its first full
	if verified {
		since = last.At
	}
	if now.Sub(since) > v.Period()+overdueGrace {
		c.raise(ctx, db.Alert{Code: string(engine.CodeVerificationOverdue), ItemID: &it.ID,
			Message: fmt.Sprintf("%s has not been verified since %s; its policy asks for a verification every %s",
				it.DatabaseName, since.UTC().Format(time.RFC3339), v.Period())})
	}
	due := !verified || (v.AfterFull && last.At.Before(full.EndTime)) || (v.EveryDays > 0 && now.Sub(last.At) >= v.Period())
	if !due || !c.idle(ctx, v.ServerID, it.ID) {
		return
	}
	d, err := c.cfg.DB.DatabaseByID(ctx, it.DatabaseID)
	if err != nil || (v.MaxBytes > 0 && d.SizeBytes > v.MaxBytes) {
		return
	}
	level := v.Level
	if cmpOr(level, policy.LevelCheckDB) == policy.LevelCheckDB && v.PhysicalOnlyAbove > 0 && d.SizeBytes > v.PhysicalOnlyAbove {
		level = policy.LevelPhysicalOnly
	}
	if _, err := c.VerifyItem(ctx, it.ID, VerifyRequest{ServerID: v.ServerID, Level: level}); err != nil {
		c.log.Warn("scheduled verification not queued", "item", it.ID, "err", err)
	}
}

func latestFull(points []db.Point) (db.Point, bool) {
	for i := len(points) - 1; i >= 0; i-- {
		if points[i].Kind == mssql.KindFull || points[i].Kind == mssql.KindCopyOnlyFull {
			return points[i], true
		}
	}
	return db.Point{}, false
}

// idle reports whether the verification instance runs and waits for no
// job, and the item has no verification queued or running.
func (c *Coordinator) idle(ctx context.Context, serverID, itemID int64) bool {
	c.mu.Lock()
	busy := c.jobs.perServer[serverID]+c.logs.perServer[serverID] > 0
	c.mu.Unlock()
	if busy {
		return false
	}
	queued, err := c.cfg.DB.QueuedJobs(ctx, 500)
	if err != nil {
		return false
	}
	for _, j := range queued {
		if (j.ServerID != nil && *j.ServerID == serverID) || (j.Operation == "verify" && j.ItemID != nil && *j.ItemID == itemID) {
			return false
		}
	}
	return true
}
