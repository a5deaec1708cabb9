package coordinator

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/restore"
)

// CommonRanges are the spans every one of the items can be restored to,
// to the second: the seconds a multi-database restore may choose.
func (c *Coordinator) CommonRanges(ctx context.Context, itemIDs []int64) ([]restore.Range, error) {
	var common []restore.Range
	for i, id := range itemIDs {
		rs, err := c.LogRanges(ctx, id)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			common = rs
			continue
		}
		common = intersect(common, rs)
	}
	return common, nil
}

// intersect keeps the seconds that lie in a range of a and in one of b
// (ends included, as LogRanges' are).
func intersect(a, b []restore.Range) []restore.Range {
	var out []restore.Range
	for _, x := range a {
		for _, y := range b {
			from, to := later(x.From, y.From), earlier(x.To, y.To)
			if !from.After(to) {
				out = append(out, restore.Range{From: from, To: to})
			}
		}
	}
	slices.SortFunc(out, func(p, q restore.Range) int { return p.From.Compare(q.From) })
	var merged []restore.Range
	for _, r := range out {
		if n := len(merged); n > 0 && !r.From.After(merged[n-1].To) {
			merged[n-1].To = later(merged[n-1].To, r.To)
			continue
		}
		merged = append(merged, r)
	}
	return merged
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// restoreMany checks a restore of several databases of one instance to
// one point in time and queues it as one job.
func (c *Coordinator) restoreMany(ctx context.Context, r RestoreRequest) (int64, error) {
	r, err := c.CheckRestoreMany(ctx, r)
	if err != nil {
		return 0, err
	}
	return c.enqueue(ctx, db.NewJob{Operation: "restore", Kind: r.Target.Mode, ItemID: r.ItemID, ServerID: r.Target.ServerID, Params: r})
}

// CheckRestoreMany checks a multi-database restore as restoreMany would
// queue it and returns it settled (each database's target name, the
// target instance), so the portal can show what will run before it does.
func (c *Coordinator) CheckRestoreMany(ctx context.Context, r RestoreRequest) (RestoreRequest, error) {
	if len(r.Items) == 0 {
		return r, invalid("items", "choose the databases to restore")
	}
	if r.PointInTime == nil || r.RecoveryPointID != 0 {
		return r, invalid("point_in_time", "several databases are restored to one point in time; give point_in_time, not recovery_point_id")
	}
	if r.Target.Mode != ModeOriginal && r.Target.Mode != ModeAlternate {
		return r, invalid("target.mode", "several databases are restored as original or alternate")
	}
	if r.ItemID != 0 && r.ItemID != r.Items[0].ItemID {
		return r, invalid("item_id", "with items, leave item_id out or make it the first of items")
	}
	r.Items = slices.Clone(r.Items)
	var source int64
	seen, names := map[int64]bool{}, map[string]bool{}
	for i := range r.Items {
		one := r.one(i)
		it, err := c.checkRestore(ctx, &one)
		if err != nil {
			return r, &engine.Error{Code: engine.CodeOf(err), Err: err, Message: fmt.Sprintf("items[%d]: %s", i, engine.MessageOf(err))}
		}
		if i == 0 {
			source, r.Target.ServerID = it.ServerID, one.Target.ServerID
		}
		name := strings.ToLower(one.Target.DatabaseName)
		switch {
		case it.ServerID != source:
			return r, invalid("items", "%s is on another instance; one job restores databases of one instance", it.DatabaseName)
		case seen[it.ID]:
			return r, invalid("items", "item %d is named twice", it.ID)
		case names[name]:
			return r, invalid("items", "two databases would be restored as %s", one.Target.DatabaseName)
		}
		seen[it.ID], names[name] = true, true
		r.Items[i].DatabaseName = one.Target.DatabaseName
	}
	r.ItemID, r.Target.DatabaseName = r.Items[0].ItemID, r.Items[0].DatabaseName
	return r, nil
}

// one is the single-database request for the i-th of several items.
func (r RestoreRequest) one(i int) RestoreRequest {
	it := r.Items[i]
	t := r.Target
	t.DatabaseName, t.Files = it.DatabaseName, it.Files
	return RestoreRequest{ItemID: it.ItemID, PointInTime: r.PointInTime, Target: t}
}

// runMany restores each database of a multi-database job in turn, to the
// same second; the job fails at the first that fails, naming those done.
func (c *Coordinator) runMany(ctx context.Context, j db.Job, st *steps, r RestoreRequest) error {
	var done []string
	for i := range r.Items {
		one := r.one(i)
		st.begin(fmt.Sprintf("Database %d of %d", i+1, len(r.Items)), one.Target.DatabaseName)
		if err := c.restoreOne(ctx, j, st, one); err != nil {
			if len(done) == 0 {
				return err
			}
			return &engine.Error{Code: engine.CodeOf(err), Err: err, Message: fmt.Sprintf("%s: %s (already restored to %s: %s)",
				one.Target.DatabaseName, engine.MessageOf(err), r.PointInTime.UTC().Format(time.RFC3339), strings.Join(done, ", "))}
		}
		done = append(done, one.Target.DatabaseName)
	}
	return nil
}
