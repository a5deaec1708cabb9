package db

import (
	"context"
	"time"
)

// The Reports queries as they were before the daily summary (migration
// 0022): each reads the window's jobs and points. They are the oracle of
// reports_test.go, which checks the summary gives the same figures.

// oracleBackupTotalsByItem sums each item's backups in the window (finished
// jobs by their end, points by their end time).
func (d *DB) oracleBackupTotalsByItem(ctx context.Context, f ReportFilter) (map[int64]*BackupTotals, error) {
	out := map[int64]*BackupTotals{}
	get := func(id int64) *BackupTotals {
		if out[id] == nil {
			out[id] = &BackupTotals{ItemID: id}
		}
		return out[id]
	}
	q, args := f.where(`SELECT t.item_id, sum(t.status = 'completed'), sum(t.status = 'failed'),
		coalesce(sum(CASE WHEN t.status = 'completed' THEN t.ended_at - t.started_at END), 0)
		FROM jobs t INDEXED BY jobs_report WHERE t.operation = 'backup' AND t.status IN ('completed', 'failed') AND t.item_id IS NOT NULL
		AND t.created_at >= ? AND t.created_at < ?`, []any{ms(f.Since), ms(f.Until)})
	rows, err := d.read.QueryContext(ctx, q+` GROUP BY t.item_id`, args...)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var id, dur int64
		var ok, failed int
		if err := rows.Scan(&id, &ok, &failed, &dur); err != nil {
			rows.Close()
			return nil, err
		}
		t := get(id)
		t.Completed, t.Failed, t.Duration = ok, failed, time.Duration(dur)*time.Millisecond
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	q, args = f.where(`SELECT t.item_id, count(*), sum(t.size_bytes), sum(t.stored_bytes) FROM recovery_points t INDEXED BY recovery_points_report
		WHERE t.end_time >= ? AND t.end_time < ?`, []any{ms(f.Since), ms(f.Until)})
	rows, err = d.read.QueryContext(ctx, q+` GROUP BY t.item_id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var n int
		var size, stored int64
		if err := rows.Scan(&id, &n, &size, &stored); err != nil {
			return nil, err
		}
		t := get(id)
		t.Points, t.Bytes, t.Stored = n, size, stored
	}
	return out, rows.Err()
}

// oracleReportDays returns every UTC day of the window, oldest first, days
// without backups present with zeros.
func (d *DB) oracleReportDays(ctx context.Context, f ReportFilter) ([]ReportDay, error) {
	start := f.Since.UTC().Truncate(24 * time.Hour)
	n := int(f.Until.Sub(start).Hours()/24) + 1
	out := make([]ReportDay, n)
	for i := range out {
		out[i].Day = start.AddDate(0, 0, i)
	}
	at := func(i int) *ReportDay {
		if i < 0 || i >= n {
			return &ReportDay{} // a row past the window's edge: counted nowhere
		}
		return &out[i]
	}
	q, args := f.where(`SELECT (t.created_at - ?) / 86400000, sum(t.status = 'completed'), sum(t.status = 'failed'),
		coalesce(avg(CASE WHEN t.status = 'completed' THEN t.ended_at - t.started_at END), 0)
		FROM jobs t INDEXED BY jobs_report WHERE t.operation = 'backup' AND t.status IN ('completed', 'failed')
		AND t.created_at >= ? AND t.created_at < ?`, []any{ms(start), ms(f.Since), ms(f.Until)})
	err := d.eachRow(ctx, q+` GROUP BY 1`, args, func(s scanner) error {
		var i, ok, failed int
		var dur float64
		if err := s.Scan(&i, &ok, &failed, &dur); err != nil {
			return err
		}
		r := at(i)
		r.Completed, r.Failed, r.Duration = ok, failed, time.Duration(dur)*time.Millisecond
		return nil
	})
	if err != nil {
		return nil, err
	}
	q, args = f.where(`SELECT (t.end_time - ?) / 86400000, sum(t.size_bytes), sum(t.stored_bytes) FROM recovery_points t INDEXED BY recovery_points_report
		WHERE t.end_time >= ? AND t.end_time < ?`, []any{ms(start), ms(f.Since), ms(f.Until)})
	err = d.eachRow(ctx, q+` GROUP BY 1`, args, func(s scanner) error {
		var i int
		var size, stored int64
		if err := s.Scan(&i, &size, &stored); err != nil {
			return err
		}
		r := at(i)
		r.Bytes, r.Added = size, stored
		return nil
	})
	if err != nil {
		return nil, err
	}
	q, args = f.where(`SELECT (t.deleted_at - ?) / 86400000, sum(t.stored_bytes) FROM recovery_points t INDEXED BY recovery_points_deleted
		WHERE t.deleted_at >= ? AND t.deleted_at < ?`, []any{ms(start), ms(f.Since), ms(f.Until)})
	err = d.eachRow(ctx, q+` GROUP BY 1`, args, func(s scanner) error {
		var i int
		var stored int64
		if err := s.Scan(&i, &stored); err != nil {
			return err
		}
		at(i).Removed = stored
		return nil
	})
	return out, err
}

// oracleStoredBefore is what the points held in the vault at t: stored bytes
// of points that ended before t and were not deleted by then.
func (d *DB) oracleStoredBefore(ctx context.Context, f ReportFilter, t time.Time) (int64, error) {
	q, args := f.where(`SELECT coalesce(sum(t.stored_bytes), 0) FROM recovery_points t INDEXED BY recovery_points_report
		WHERE t.end_time < ? AND (t.deleted_at IS NULL OR t.deleted_at >= ?)`, []any{ms(t), ms(t)})
	var n int64
	err := d.read.QueryRowContext(ctx, q, args...).Scan(&n)
	return n, err
}
