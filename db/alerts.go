package db

import (
	"context"
	"database/sql"
	"time"
)

// Alert is a failure that needs attention.
type Alert struct {
	ID         int64      `json:"id"`
	Severity   string     `json:"severity"`
	Code       string     `json:"code"`
	Message    string     `json:"message"`
	ServerID   *int64     `json:"server_id,omitempty"`
	ItemID     *int64     `json:"item_id,omitempty"`
	JobID      *int64     `json:"job_id,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	ResolvedAt *time.Time `json:"resolved_at"`
	// AcknowledgedBy and AcknowledgedAt say who marked the alert as seen;
	// it stays open until what raised it resolves it.
	AcknowledgedBy string     `json:"acknowledged_by,omitempty"`
	AcknowledgedAt *time.Time `json:"acknowledged_at,omitempty"`
}

// RaiseAlert opens an alert unless one with the same code is already open
// for the same server and item (a failing schedule raises one alert, not one
// per run). It reports whether a new alert was opened, with its id.
func (d *DB) RaiseAlert(ctx context.Context, a Alert) (Alert, bool, error) {
	opened := false
	err := d.tx(ctx, func(tx *sql.Tx) error {
		var n int
		tx.QueryRowContext(ctx, `SELECT count(*) FROM alerts WHERE resolved_at IS NULL AND code = ?
			AND coalesce(server_id, 0) = coalesce(?, 0) AND coalesce(item_id, 0) = coalesce(?, 0)`,
			a.Code, a.ServerID, a.ItemID).Scan(&n)
		if n > 0 {
			return nil
		}
		a.Severity, a.CreatedAt = orDefault(a.Severity, "error"), fromMS(d.nowMS())
		res, err := tx.ExecContext(ctx, `INSERT INTO alerts (severity, code, message, server_id, item_id, job_id, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, a.Severity, a.Code, a.Message, a.ServerID, a.ItemID, a.JobID, ms(a.CreatedAt))
		if err != nil {
			return err
		}
		a.ID, _ = res.LastInsertId()
		opened = true
		return nil
	})
	return a, opened, err
}

// ResolveAlerts closes the open alerts of an item (itemID != 0), or of a
// server itself (itemID 0), once their cause has cleared (a later success).
func (d *DB) ResolveAlerts(ctx context.Context, serverID, itemID int64) error {
	if itemID != 0 {
		_, err := d.write.ExecContext(ctx, `UPDATE alerts SET resolved_at = ? WHERE resolved_at IS NULL AND item_id = ?`, d.nowMS(), itemID)
		return err
	}
	_, err := d.write.ExecContext(ctx, `UPDATE alerts SET resolved_at = ? WHERE resolved_at IS NULL
		AND server_id = ? AND item_id IS NULL`, d.nowMS(), serverID)
	return err
}

// AcknowledgeAlert marks an open alert as seen by who; acknowledging it
// again changes nothing. A resolved or missing alert is ErrNotFound.
func (d *DB) AcknowledgeAlert(ctx context.Context, id int64, who string) error {
	res, err := d.write.ExecContext(ctx, `UPDATE alerts SET acknowledged_by = ?, acknowledged_at = ?
		WHERE id = ? AND resolved_at IS NULL AND acknowledged_at IS NULL`, who, d.nowMS(), id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var open bool
		if err := d.read.QueryRowContext(ctx, `SELECT resolved_at IS NULL FROM alerts WHERE id = ?`, id).Scan(&open); err != nil || !open {
			return ErrNotFound
		}
	}
	return nil
}

// ListAlerts returns open alerts first, then recently resolved ones.
func (d *DB) ListAlerts(ctx context.Context, limit int) ([]Alert, error) {
	if limit <= 0 {
		limit = 200
	}
	rows, err := d.read.QueryContext(ctx, `SELECT `+alertColumns+` FROM alerts
		ORDER BY resolved_at IS NOT NULL, created_at DESC LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	return scanAlerts(rows)
}

const alertColumns = `id, severity, code, message, server_id, item_id, job_id, created_at, resolved_at, acknowledged_by, acknowledged_at`

func scanAlerts(rows *sql.Rows) ([]Alert, error) {
	defer rows.Close()
	var out []Alert
	for rows.Next() {
		var a Alert
		var srv, item, job, resolved, acked sql.NullInt64
		var created int64
		if err := rows.Scan(&a.ID, &a.Severity, &a.Code, &a.Message, &srv, &item, &job, &created, &resolved,
			&a.AcknowledgedBy, &acked); err != nil {
			return nil, err
		}
		a.ServerID, a.ItemID, a.JobID = ptr(srv), ptr(item), ptr(job)
		a.CreatedAt, a.ResolvedAt, a.AcknowledgedAt = fromMS(created), nullTime(resolved), nullTime(acked)
		out = append(out, a)
	}
	return out, rows.Err()
}

func ptr(v sql.NullInt64) *int64 {
	if !v.Valid {
		return nil
	}
	return &v.Int64
}
