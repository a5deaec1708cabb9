package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"
)

// Verification statuses.
const (
	VerifyClean  = "clean"
	VerifyFailed = "failed"
)

// TableRows is one table of a verified copy beside its source.
type TableRows struct {
	Name       string `json:"name"`
	Rows       int64  `json:"rows"`
	SourceRows *int64 `json:"source_rows"` // nil: not recorded at backup time
}

// Verification is the outcome of one verification of a recovery point.
type Verification struct {
	ID              int64       `json:"id"`
	PointID         int64       `json:"recovery_point_id"`
	ItemID          int64       `json:"item_id"`
	JobID           *int64      `json:"job_id"`
	ServerID        *int64      `json:"server_id"`
	DatabaseName    string      `json:"database_name"` // the temporary name restored under
	PointInTime     *time.Time  `json:"point_in_time,omitempty"`
	Level           string      `json:"level"`
	Status          string      `json:"status"`
	ErrorCode       string      `json:"error_code,omitempty"`
	CheckDBMessages []string    `json:"checkdb_messages"`
	Tables          []TableRows `json:"tables"`
	Rows            int64       `json:"rows"`
	At              time.Time   `json:"at"`
	DurationMS      int64       `json:"duration_ms"`
}

// SaveRowCounts records the source's row counts read before a backup job.
func (d *DB) SaveRowCounts(ctx context.Context, jobID int64, tables map[string]int64) error {
	b, _ := json.Marshal(tables)
	_, err := d.write.ExecContext(ctx, `INSERT OR REPLACE INTO backup_row_counts (job_id, counted_at, tables) VALUES (?, ?, ?)`,
		jobID, d.nowMS(), string(b))
	return err
}

// RowCountsOf returns the row counts recorded before a backup job; ok is
// false when none were.
func (d *DB) RowCountsOf(ctx context.Context, jobID int64) (map[string]int64, bool, error) {
	var s string
	err := d.read.QueryRowContext(ctx, `SELECT tables FROM backup_row_counts WHERE job_id = ?`, jobID).Scan(&s)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	out := map[string]int64{}
	return out, true, json.Unmarshal([]byte(s), &out)
}

// SaveVerification records a verification's outcome.
func (d *DB) SaveVerification(ctx context.Context, v Verification) (int64, error) {
	msgs, _ := json.Marshal(orEmpty(v.CheckDBMessages))
	tables, _ := json.Marshal(orEmpty(v.Tables))
	res, err := d.write.ExecContext(ctx, `INSERT INTO verifications (point_id, item_id, job_id, server_id, database_name,
		point_in_time, level, status, error_code, checkdb_messages, tables, total_rows, at, duration_ms)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, v.PointID, v.ItemID, v.JobID, v.ServerID, v.DatabaseName,
		msPtr(v.PointInTime), v.Level, v.Status, v.ErrorCode, string(msgs), string(tables), v.Rows, ms(v.At), v.DurationMS)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

const verificationCols = `id, point_id, item_id, job_id, server_id, database_name, point_in_time, level, status, error_code,
	checkdb_messages, tables, total_rows, at, duration_ms`

// LatestVerifications returns the newest verification of each of the
// item's points, by point id.
func (d *DB) LatestVerifications(ctx context.Context, itemID int64) (map[int64]Verification, error) {
	vs, err := d.queryVerifications(ctx, `WHERE id IN (SELECT max(id) FROM verifications WHERE item_id = ? GROUP BY point_id)`, itemID)
	out := map[int64]Verification{}
	for _, v := range vs {
		out[v.PointID] = v
	}
	return out, err
}

// LatestItemVerifications returns each item's newest verification.
func (d *DB) LatestItemVerifications(ctx context.Context) (map[int64]Verification, error) {
	vs, err := d.queryVerifications(ctx, `WHERE id IN (SELECT max(id) FROM verifications GROUP BY item_id)`)
	out := map[int64]Verification{}
	for _, v := range vs {
		out[v.ItemID] = v
	}
	return out, err
}

// VerificationOfJob returns the verification a job recorded.
func (d *DB) VerificationOfJob(ctx context.Context, jobID int64) (Verification, bool, error) {
	vs, err := d.queryVerifications(ctx, `WHERE job_id = ?`, jobID)
	if err != nil || len(vs) == 0 {
		return Verification{}, false, err
	}
	return vs[len(vs)-1], true, nil
}

func (d *DB) queryVerifications(ctx context.Context, where string, args ...any) ([]Verification, error) {
	var out []Verification
	err := d.eachRow(ctx, `SELECT `+verificationCols+` FROM verifications `+where+` ORDER BY id`, args, func(s scanner) error {
		var v Verification
		var pit sql.NullInt64
		var msgs, tables string
		var at int64
		if err := s.Scan(&v.ID, &v.PointID, &v.ItemID, &v.JobID, &v.ServerID, &v.DatabaseName, &pit, &v.Level, &v.Status,
			&v.ErrorCode, &msgs, &tables, &v.Rows, &at, &v.DurationMS); err != nil {
			return err
		}
		if pit.Valid {
			t := fromMS(pit.Int64)
			v.PointInTime = &t
		}
		v.At = fromMS(at)
		json.Unmarshal([]byte(msgs), &v.CheckDBMessages)
		json.Unmarshal([]byte(tables), &v.Tables)
		out = append(out, v)
		return nil
	})
	return out, err
}
