package coordinator

import (
	"context"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine/mssql"
	"github.com/sqlvault/sqlvault/engine/policy"
)

// Scheduling: each policy's cron entries (robfig/cron, in the policy's time
// zone) fire RunDue for that policy. RunDue asks, per protected item and
// kind, whether a slot has fallen since the item's last job of that kind and
// queues one job if so. The same question, asked at start, catches up slots
// missed while the server was down once, however many there were.

// loadSchedules adds the cron entries of every policy.
func (c *Coordinator) loadSchedules(ctx context.Context) error {
	ps, err := c.Policies(ctx)
	if err != nil {
		return err
	}
	for _, p := range ps {
		if err := c.schedulePolicy(p.Policy); err != nil {
			return err
		}
	}
	return nil
}

// schedulePolicy replaces the policy's cron entries.
func (c *Coordinator) schedulePolicy(p policy.Policy) error {
	c.unschedulePolicy(p.ID)
	var ids []cron.EntryID
	for _, s := range p.CronSpecs() {
		id, err := c.addCron(s.Cron, func() { c.RunDue(context.Background(), p.ID) })
		if err != nil {
			return err
		}
		ids = append(ids, id)
	}
	c.mu.Lock()
	c.entries[p.ID] = ids
	c.mu.Unlock()
	return nil
}

func (c *Coordinator) unschedulePolicy(id int64) {
	c.mu.Lock()
	ids := c.entries[id]
	delete(c.entries, id)
	c.mu.Unlock()
	for _, e := range ids {
		c.cron.Remove(e)
	}
}

// catchUpKey marks the context of catch-up, so its jobs say so.
type catchUpKey struct{}

// catchUp queues what every policy missed while the server was down.
func (c *Coordinator) catchUp(ctx context.Context) {
	ctx = context.WithValue(ctx, catchUpKey{}, true)
	ps, err := c.Policies(ctx)
	if err != nil {
		c.log.Error("catch up schedules", "err", err)
		return
	}
	for _, p := range ps {
		c.RunDue(ctx, p.ID)
	}
}

// RunDue queues the backups of a policy's items whose slot has come (at the
// coordinator's clock). It is what each cron entry runs; tests call it
// with a fake clock.
func (c *Coordinator) RunDue(ctx context.Context, policyID int64) {
	p, err := c.Policy(ctx, policyID)
	if err != nil {
		c.log.Error("scheduled backup", "policy", policyID, "err", err)
		return
	}
	items, err := c.cfg.DB.ListItems(ctx, db.ItemFilter{PolicyID: policyID, State: db.ItemProtected, Limit: 100000})
	if err != nil {
		c.log.Error("scheduled backup", "policy", policyID, "err", err)
		return
	}
	now := c.cfg.Now()
	for _, it := range items {
		c.queueDue(ctx, it, c.dueKinds(ctx, p, it, now))
	}
}

// queueDue queues an item's due backups in dueKinds' order, a full or
// differential before the log, which the dispatcher then starts after it.
func (c *Coordinator) queueDue(ctx context.Context, it db.Item, kinds []string) {
	for _, kind := range kinds {
		if _, err := c.enqueueBackup(ctx, it, kind, 0, "scheduled"); err != nil && !isAlreadyQueued(err) {
			c.log.Warn("scheduled backup", "item", it.ID, "kind", kind, "err", err)
		}
	}
}

// dueKinds are the backups an item needs now. Fulls and differentials are
// one stream (a full outranks a differential; a differential without a
// full in the vault becomes a full, since nothing could be restored from
// it); logs are another, run beside them as SQL Server allows.
func (c *Coordinator) dueKinds(ctx context.Context, p policy.Policy, it db.Item, now time.Time) []string {
	last, err := c.cfg.DB.LastJobTimes(ctx, it.ID)
	if err != nil {
		c.log.Error("scheduled backup", "item", it.ID, "err", err)
		return nil
	}
	var out []string
	switch {
	case due(p, it, last, policy.Full, now):
		out = append(out, mssql.KindFull)
	case it.IsReadOnly: // full backups only (ProtectabilityOf)
	case due(p, it, last, policy.Differential, now):
		if it.LastFull == nil {
			out = append(out, mssql.KindFull)
		} else {
			out = append(out, mssql.KindDifferential)
		}
	}
	if it.LastFull != nil && logsAllowed(it) && due(p, it, last, policy.Log, now) {
		out = append(out, mssql.KindLog)
	}
	return out
}

func logsAllowed(it db.Item) bool {
	return !strings.EqualFold(it.RecoveryModel, "SIMPLE") && !it.IsReadOnly
}

// due reports whether a slot of kind fell after the item's last job of
// that kind (last, by kind; or its protection began) and at or before now.
func due(p policy.Policy, it db.Item, last map[string]time.Time, kind string, now time.Time) bool {
	from := it.CreatedAt
	if t, ok := last[kind]; ok && t.After(from) {
		from = t
	}
	// A full also serves as the differential of its slot.
	if kind == policy.Differential {
		if t, ok := last[policy.Full]; ok && t.After(from) {
			from = t
		}
	}
	return p.Missed(kind, from, now)
}

// NextRun is when the policy's cron entries fire next (zero if none).
func (c *Coordinator) NextRun(policyID int64) time.Time {
	c.mu.Lock()
	ids := c.entries[policyID]
	c.mu.Unlock()
	var next time.Time
	for _, id := range ids {
		if n := c.cron.Entry(id).Next; !n.IsZero() && (next.IsZero() || n.Before(next)) {
			next = n
		}
	}
	return next
}
