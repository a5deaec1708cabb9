package db

import (
	"context"
	"strings"
	"time"
)

// This file holds the read queries only the portal needs.

// DayBytes is the data backed up on one UTC day.
type DayBytes struct {
	Day    time.Time // midnight UTC
	Bytes  int64     // logical size of the recovery points that ended that day
	Stored int64     // what they took in the vault after dedup and compression
	Points int
}

// BytesPerDay sums the recovery points (live or soft-deleted) that ended on
// each of the last days UTC days, oldest first; days without backups are
// present with zero.
func (d *DB) BytesPerDay(ctx context.Context, now time.Time, days int) ([]DayBytes, error) {
	if days <= 0 {
		days = 14
	}
	end := now.UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
	start := end.AddDate(0, 0, -days)
	rows, err := d.read.QueryContext(ctx, `SELECT (end_time - ?) / 86400000, sum(size_bytes), sum(stored_bytes), count(*)
		FROM recovery_points WHERE end_time >= ? AND end_time < ? GROUP BY 1`, ms(start), ms(start), ms(end))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]DayBytes, days)
	for i := range out {
		out[i].Day = start.AddDate(0, 0, i)
	}
	for rows.Next() {
		var i int
		var b DayBytes
		if err := rows.Scan(&i, &b.Bytes, &b.Stored, &b.Points); err != nil {
			return nil, err
		}
		if i >= 0 && i < days {
			b.Day = out[i].Day
			out[i] = b
		}
	}
	return out, rows.Err()
}

// JobCounts counts the jobs created since a time by status.
func (d *DB) JobCounts(ctx context.Context, since time.Time) (map[string]int, error) {
	// Naming every status lets the count run on the (status, created_at)
	// index alone, without reading a row.
	rows, err := d.read.QueryContext(ctx, `SELECT status, count(*) FROM jobs
		WHERE status IN ('queued', 'in_progress', 'completed', 'failed', 'cancelled') AND created_at >= ? GROUP BY status`, ms(since))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			return nil, err
		}
		out[s] = n
	}
	return out, rows.Err()
}

// LastBackupStatus returns, for each item (or for the items named), the
// status and error code of its most recent finished backup job.
func (d *DB) LastBackupStatus(ctx context.Context, itemIDs ...int64) (map[int64]Job, error) {
	// Per item, its jobs newest first on jobs_item_id until a finished
	// backup: one short index walk per item, not a scan of its history
	// (the unary + keeps the planner off the operation and status indexes).
	q := `SELECT j.item_id, j.id, j.kind, j.status, j.error_code, j.error_message FROM items i
		JOIN jobs j ON j.id = (SELECT k.id FROM jobs k WHERE k.item_id = i.id AND +k.operation = 'backup'
			AND +k.status IN ('completed', 'failed') ORDER BY k.id DESC LIMIT 1)`
	var args []any
	if len(itemIDs) > 0 {
		q += ` WHERE i.id IN (` + strings.Repeat("?, ", len(itemIDs)-1) + `?)`
		for _, id := range itemIDs {
			args = append(args, id)
		}
	}
	rows, err := d.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64]Job{}
	for rows.Next() {
		var item int64
		var j Job
		if err := rows.Scan(&item, &j.ID, &j.Kind, &j.Status, &j.ErrorCode, &j.ErrorMessage); err != nil {
			return nil, err
		}
		out[item] = j
	}
	return out, rows.Err()
}

// PointTotals is how many live recovery points an item has and their size.
type PointTotals struct {
	Points      int
	Bytes       int64
	StoredBytes int64
}

// ItemPointTotals sums an item's live recovery points.
func (d *DB) ItemPointTotals(ctx context.Context, itemID int64) (PointTotals, error) {
	var t PointTotals
	err := d.read.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(size_bytes), 0), coalesce(sum(stored_bytes), 0)
		FROM recovery_points WHERE item_id = ? AND deleted_at IS NULL`, itemID).Scan(&t.Points, &t.Bytes, &t.StoredBytes)
	return t, err
}

// AlertFilter narrows the portal's alert list.
type AlertFilter struct {
	Open          bool // only unresolved
	Resolved      bool // only resolved
	Limit, Offset int
}

// PageAlerts returns alerts, open first and newest first, a page at a time.
func (d *DB) PageAlerts(ctx context.Context, f AlertFilter) ([]Alert, error) {
	q := `SELECT ` + alertColumns + ` FROM alerts`
	switch {
	case f.Open:
		q += ` WHERE resolved_at IS NULL`
	case f.Resolved:
		q += ` WHERE resolved_at IS NOT NULL`
	}
	if f.Limit <= 0 {
		f.Limit = 50
	}
	rows, err := d.read.QueryContext(ctx, q+` ORDER BY resolved_at IS NOT NULL, created_at DESC, id DESC LIMIT ? OFFSET ?`,
		f.Limit, max(f.Offset, 0))
	if err != nil {
		return nil, err
	}
	return scanAlerts(rows)
}
