package report

import (
	"context"
	"time"

	"github.com/sqlvault/sqlvault/db"
)

// compliance measures, for each protected item with a target, the share
// of the window during which its RPO stayed within twice the target (the
// rule of the RPO alert): the time past that bound inside each gap
// between consecutive points, and after its last restorable instant,
// counts against it. An item's window starts at its first point.
func compliance(ctx context.Context, d *db.DB, f db.ReportFilter, items []Item) (map[int64]*float64, error) {
	var least time.Duration
	for _, it := range items {
		if measured(it) && (least == 0 || 2*it.Target < least) {
			least = 2 * it.Target
		}
	}
	out := map[int64]*float64{}
	if least == 0 {
		return out, nil
	}
	gaps, err := d.PointGaps(ctx, f, least, lookback)
	if err != nil {
		return nil, err
	}
	firsts, err := d.FirstPoints(ctx, f, lookback)
	if err != nil {
		return nil, err
	}
	byItem := map[int64][]db.PointGap{}
	for _, g := range gaps {
		byItem[g.ItemID] = append(byItem[g.ItemID], g)
	}
	for _, it := range items {
		first, ok := firsts[it.ID]
		if !measured(it) || !ok {
			continue
		}
		v := Compliance(f.Since, f.Until, first, f.Until.Add(-it.RPO), byItem[it.ID], 2*it.Target)
		if v >= 0 {
			out[it.ID] = &v
		}
	}
	return out, nil
}

func measured(it Item) bool { return it.State == db.ItemProtected && it.Target > 0 && it.HasRPO }

// Compliance is the share of [since, until] (from the first point on)
// during which the time since the last point stayed within bound, given
// the gaps between points and the last restorable instant; -1 if nothing
// of the window is measured.
func Compliance(since, until, first, last time.Time, gaps []db.PointGap, bound time.Duration) float64 {
	start := since
	if first.After(start) {
		start = first
	}
	span := until.Sub(start)
	if span <= 0 {
		return -1
	}
	var breach time.Duration
	for _, g := range gaps {
		breach += overlap(g.From.Add(bound), g.To, start, until)
	}
	breach += overlap(last.Add(bound), until, start, until)
	return 1 - min(1, float64(breach)/float64(span))
}

// overlap is the length of [a, b] inside [lo, hi].
func overlap(a, b, lo, hi time.Time) time.Duration {
	if a.Before(lo) {
		a = lo
	}
	if b.After(hi) {
		b = hi
	}
	if !b.After(a) {
		return 0
	}
	return b.Sub(a)
}
