package db

import (
	"context"
	"time"
)

// This file holds the read queries of the Reports page.

// ReportFilter narrows a report to a time window and, optionally, one
// server or one item.
type ReportFilter struct {
	Since, Until     time.Time
	ServerID, ItemID int64
}

// where adds the filter's server or item to a query over a table aliased
// t whose item_id joins items (jobs, recovery_points).
func (f ReportFilter) where(q string, args []any) (string, []any) {
	if f.ItemID != 0 {
		q += ` AND t.item_id = ?`
		args = append(args, f.ItemID)
	}
	if f.ServerID != 0 {
		q += ` AND t.item_id IN (SELECT i.id FROM items i JOIN databases d ON d.id = i.database_id WHERE d.server_id = ?)`
		args = append(args, f.ServerID)
	}
	return q, args
}

// BackupTotals are the finished backup jobs of one item in a window.
type BackupTotals struct {
	ItemID    int64
	Completed int
	Failed    int
	Duration  time.Duration // summed over completed backups, start to end
	Bytes     int64         // logical size of the points made in the window
	Stored    int64         // what they take in the vault
	Points    int
}

// The report's window in the daily summary (report_days, migration 0022):
// the UTC days from Since's through the one holding the instant before
// Until. The summary keeps whole days, so a window is read in whole days.
func (f ReportFilter) days() (first, last int64) {
	return ms(f.Since) / dayMS, (ms(f.Until) - 1) / dayMS
}

const dayMS = 86400000

// summary is the daily summary a filter reads, aliased t: every item's
// total a day when it names no server or item, else the rows per item.
func (f ReportFilter) summary() string {
	if f.ServerID == 0 && f.ItemID == 0 {
		return "report_totals t"
	}
	return "report_days t"
}

// BackupTotalsByItem sums each item's backups in the window's days
// (finished jobs by the day they were created, points by the day they
// ended), from the daily summary.
func (d *DB) BackupTotalsByItem(ctx context.Context, f ReportFilter) (map[int64]*BackupTotals, error) {
	first, last := f.days()
	// In item order from the covering index: no sort of the window's rows.
	q, args := f.where(`SELECT t.item_id, sum(t.completed), sum(t.failed), sum(t.duration_ms), sum(t.points), sum(t.bytes), sum(t.stored)
		FROM report_days t INDEXED BY report_days_item WHERE t.day >= ? AND t.day <= ?`, []any{first, last})
	out := map[int64]*BackupTotals{}
	err := d.eachRow(ctx, q+` GROUP BY t.item_id`, args, func(s scanner) error {
		var t BackupTotals
		var dur int64
		if err := s.Scan(&t.ItemID, &t.Completed, &t.Failed, &dur, &t.Points, &t.Bytes, &t.Stored); err != nil {
			return err
		}
		t.Duration = time.Duration(dur) * time.Millisecond
		out[t.ItemID] = &t
		return nil
	})
	return out, err
}

// ReportDay is one UTC day of backups.
type ReportDay struct {
	Day       time.Time // midnight UTC
	Completed int
	Failed    int
	Duration  time.Duration // mean of the completed backups; 0 if none
	Bytes     int64         // logical size of the points that ended that day
	Added     int64         // stored bytes of the points that ended that day
	Removed   int64         // stored bytes of the points deleted that day
}

// ReportDays returns every UTC day of the window, oldest first, days
// without backups present with zeros, from the daily summary.
func (d *DB) ReportDays(ctx context.Context, f ReportFilter) ([]ReportDay, error) {
	start := f.Since.UTC().Truncate(24 * time.Hour)
	n := int(f.Until.Sub(start).Hours()/24) + 1
	out := make([]ReportDay, n)
	for i := range out {
		out[i].Day = start.AddDate(0, 0, i)
	}
	first, last := f.days()
	q, args := f.where(`SELECT t.day - ?, sum(t.completed), sum(t.failed), sum(t.duration_ms), sum(t.timed), sum(t.bytes), sum(t.stored), sum(t.removed)
		FROM `+f.summary()+` WHERE t.day >= ? AND t.day <= ?`, []any{ms(start) / dayMS, first, last})
	err := d.eachRow(ctx, q+` GROUP BY t.day`, args, func(s scanner) error {
		var i int
		var r ReportDay
		var dur, timed int64
		if err := s.Scan(&i, &r.Completed, &r.Failed, &dur, &timed, &r.Bytes, &r.Added, &r.Removed); err != nil {
			return err
		}
		if timed > 0 {
			r.Duration = time.Duration(dur/timed) * time.Millisecond
		}
		if i >= 0 && i < n { // a day past the window's edge is counted nowhere
			r.Day = out[i].Day
			out[i] = r
		}
		return nil
	})
	return out, err
}

// StoredBefore is what the points held in the vault at the start of t's
// day: stored bytes of the points that ended before it, less those
// deleted before it.
func (d *DB) StoredBefore(ctx context.Context, f ReportFilter, t time.Time) (int64, error) {
	q, args := f.where(`SELECT coalesce(sum(t.stored - t.removed), 0) FROM `+f.summary()+` WHERE t.day < ?`, []any{ms(t) / dayMS})
	var n int64
	err := d.read.QueryRowContext(ctx, q, args...).Scan(&n)
	return n, err
}

// PointGap is a stretch between two consecutive recovery points of an item.
type PointGap struct {
	ItemID   int64
	From, To time.Time
}

// PointGaps returns, per item, the gaps longer than min between
// consecutive point end times that end inside the window (the point
// before the window is looked for up to lookback before it).
func (d *DB) PointGaps(ctx context.Context, f ReportFilter, min, lookback time.Duration) ([]PointGap, error) {
	// Each point keeps its predecessor's end time (migration 0023): the
	// long gaps are one range of the gap index, not a pass over the
	// window's points. A predecessor before the lookback counts as none,
	// as a window function over the points from there would see none.
	q, args := f.where(`SELECT t.item_id, t.prev_end_time, t.end_time FROM recovery_points t INDEXED BY recovery_points_gap
		WHERE t.end_time - t.prev_end_time > ? AND t.end_time >= ? AND t.end_time < ? AND t.prev_end_time >= ?`,
		[]any{min.Milliseconds(), ms(f.Since), ms(f.Until), ms(f.Since.Add(-lookback))})
	return d.scanPointGaps(ctx, q, args)
}

// scanPointGaps reads gaps as rows of item_id, gap start, gap end (ms).
func (d *DB) scanPointGaps(ctx context.Context, q string, args []any) ([]PointGap, error) {
	var out []PointGap
	err := d.eachRow(ctx, q, args, func(s scanner) error {
		var g PointGap
		var from, to int64
		if err := s.Scan(&g.ItemID, &from, &to); err != nil {
			return err
		}
		g.From, g.To = fromMS(from), fromMS(to)
		out = append(out, g)
		return nil
	})
	return out, err
}

// FirstPoints returns each item's first point end time at or after since
// minus lookback: where its RPO starts to count in the window.
func (d *DB) FirstPoints(ctx context.Context, f ReportFilter, lookback time.Duration) (map[int64]time.Time, error) {
	// On (item_id, end_time): grouped in index order.
	q, args := f.where(`SELECT t.item_id, min(t.end_time) FROM recovery_points t INDEXED BY recovery_points_item WHERE t.end_time >= ? AND t.end_time < ?`,
		[]any{ms(f.Since.Add(-lookback)), ms(f.Until)})
	out := map[int64]time.Time{}
	err := d.eachRow(ctx, q+` GROUP BY t.item_id`, args, func(s scanner) error {
		var id, t int64
		if err := s.Scan(&id, &t); err != nil {
			return err
		}
		out[id] = fromMS(t)
		return nil
	})
	return out, err
}

// LastVerifications returns each item's newest finished verify job.
func (d *DB) LastVerifications(ctx context.Context) (map[int64]Job, error) {
	out := map[int64]Job{}
	err := d.eachRow(ctx, `SELECT j.item_id, j.id, j.status, j.error_code, j.ended_at FROM jobs j
		JOIN (SELECT item_id, max(id) AS id FROM jobs WHERE operation = 'verify' AND status IN ('completed', 'failed')
		AND item_id IS NOT NULL GROUP BY item_id) v ON v.id = j.id`, nil, func(s scanner) error {
		var item int64
		var j Job
		var ended *int64
		if err := s.Scan(&item, &j.ID, &j.Status, &j.ErrorCode, &ended); err != nil {
			return err
		}
		if ended != nil {
			t := fromMS(*ended)
			j.EndedAt = &t
		}
		out[item] = j
		return nil
	})
	return out, err
}

// eachRow runs a read query and calls fn for each row.
func (d *DB) eachRow(ctx context.Context, q string, args []any, fn func(scanner) error) error {
	rows, err := d.read.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// SummaryBytesPerDay is BytesPerDay from the daily summary: the points
// that ended on each of the last days UTC days, oldest first (a point
// purged since still counts on its day).
func (d *DB) SummaryBytesPerDay(ctx context.Context, now time.Time, days int) ([]DayBytes, error) {
	if days <= 0 {
		days = 14
	}
	end := now.UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
	start := end.AddDate(0, 0, -days)
	out := make([]DayBytes, days)
	for i := range out {
		out[i].Day = start.AddDate(0, 0, i)
	}
	first := ms(start) / dayMS
	err := d.eachRow(ctx, `SELECT day - ?, bytes, stored, points FROM report_totals WHERE day >= ? AND day < ?`,
		[]any{first, first, ms(end) / dayMS}, func(s scanner) error {
			var i int
			var b DayBytes
			if err := s.Scan(&i, &b.Bytes, &b.Stored, &b.Points); err != nil {
				return err
			}
			if i >= 0 && i < days {
				b.Day = out[i].Day
				out[i] = b
			}
			return nil
		})
	return out, err
}

// ReportItems is ListItems with only the latest point's time (what an
// item's RPO needs), one index seek per item instead of four: the Reports
// page lists every item.
func (d *DB) ReportItems(ctx context.Context, f ItemFilter) ([]Item, error) {
	q, args := itemFilter(itemColumns+`NULL, NULL, NULL, (SELECT max(end_time) FROM recovery_points r WHERE r.item_id = i.id)`+itemFrom, f)
	rows, err := d.read.QueryContext(ctx, q+` ORDER BY s.name, d.name`, args...)
	if err != nil {
		return nil, err
	}
	return scanItems(rows)
}
