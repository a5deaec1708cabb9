package db

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Job statuses.
const (
	JobQueued     = "queued"
	JobInProgress = "in_progress"
	JobCompleted  = "completed"
	JobFailed     = "failed"
	JobCancelled  = "cancelled"
)

// Job is one operation: configure protection, backup, restore, rediscover,
// retention or verify.
type Job struct {
	ID               int64      `json:"id"`
	Operation        string     `json:"operation"`
	Kind             string     `json:"kind,omitempty"`
	Status           string     `json:"status"`
	ServerID         *int64     `json:"server_id,omitempty"`
	ItemID           *int64     `json:"item_id,omitempty"`
	Params           string     `json:"-"`
	Container        string     `json:"-"` // device container of its blobs; "" for jobs older than migration 7
	ProgressPercent  int        `json:"progress_percent"`
	BytesTransferred int64      `json:"bytes_transferred"`
	Steps            []JobStep  `json:"steps"`
	ErrorCode        string     `json:"-"`
	ErrorMessage     string     `json:"-"`
	Attempt          int        `json:"attempt"`
	CreatedAt        time.Time  `json:"created_at"`
	StartedAt        *time.Time `json:"started_at,omitempty"`
	EndedAt          *time.Time `json:"ended_at,omitempty"`

	// Filled by list queries for display.
	ServerName   string `json:"server_name,omitempty"`
	DatabaseName string `json:"database_name,omitempty"`
	// Replica is the instance a backup ran on (an availability group
	// replica, or the item's own server); ReplicaServerID its server.
	ReplicaServerID *int64 `json:"replica_server_id,omitempty"`
	Replica         string `json:"replica,omitempty"`
	StartedBy       string `json:"started_by,omitempty"` // who asked for it; "" for the server itself
}

// JobStep is one step a job went through, with its times.
type JobStep struct {
	Name    string     `json:"name"`
	Started time.Time  `json:"started_at"`
	Ended   *time.Time `json:"ended_at,omitempty"`
	Detail  string     `json:"detail,omitempty"`
}

// NewJob describes a job to queue.
type NewJob struct {
	Operation string
	Kind      string
	ServerID  int64  // 0 for none
	ItemID    int64  // 0 for none
	Params    any    // stored as JSON
	StartedBy string // the person who asked for it; "" for the server itself
}

const jobColumns = `j.id, j.operation, j.kind, j.status, j.server_id, j.item_id, j.params, j.progress_percent,
	j.bytes_transferred, j.steps, j.error_code, j.error_message, j.attempt, j.created_at, j.started_at, j.ended_at,
	coalesce(s.name, ''), coalesce(d.name, ''), j.container, j.replica_server_id,
	CASE WHEN j.operation = 'backup' THEN coalesce(rs.name, s.name, '') ELSE '' END, j.started_by`

const jobJoins = ` FROM jobs j
	LEFT JOIN items i ON i.id = j.item_id
	LEFT JOIN databases d ON d.id = i.database_id
	LEFT JOIN servers s ON s.id = coalesce(j.server_id, d.server_id)
	LEFT JOIN servers rs ON rs.id = j.replica_server_id`

// ErrAlreadyQueued is returned by CreateJob for a backup of an item and
// kind that is already queued or running (the catalog's
// jobs_one_active_backup index); the Job returned carries that job's id.
var ErrAlreadyQueued = errors.New("a backup of this item and kind is already queued or running")

// CreateJob queues a job and names its device container. A second active
// backup of one item and kind is refused by the catalog itself, however
// many callers race, with ErrAlreadyQueued and the active job's id.
func (d *DB) CreateJob(ctx context.Context, n NewJob) (Job, error) {
	params, err := json.Marshal(n.Params)
	if err != nil || n.Params == nil {
		params = []byte("{}")
	}
	var id int64
	err = d.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`INSERT INTO jobs (operation, kind, server_id, item_id, params, started_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			n.Operation, n.Kind, nullID(n.ServerID), nullID(n.ItemID), string(params), n.StartedBy, d.nowMS())
		if err != nil {
			return err
		}
		id, _ = res.LastInsertId()
		_, err = tx.ExecContext(ctx, `UPDATE jobs SET container = ? WHERE id = ?`, containerName(id), id)
		return err
	})
	if isUnique(err) && n.Operation == "backup" {
		var active sql.NullInt64
		d.write.QueryRowContext(ctx, `SELECT min(id) FROM jobs WHERE status IN ('queued', 'in_progress')
			AND operation = 'backup' AND kind = ? AND item_id = ?`, n.Kind, n.ItemID).Scan(&active)
		return Job{ID: active.Int64}, fmt.Errorf("queue %s backup of item %d: job %d: %w", n.Kind, n.ItemID, active.Int64, ErrAlreadyQueued)
	}
	if err != nil {
		return Job{}, fmt.Errorf("queue %s job: %w", n.Operation, err)
	}
	return d.JobByID(ctx, id)
}

// containerName is the device container of a job's blobs: its id for
// people, and a random part, because ids start again in a catalog rebuilt
// from the vault and a container must never hold two jobs' blobs.
func containerName(id int64) string {
	b := make([]byte, 6)
	rand.Read(b)
	return fmt.Sprintf("job-%d-%s", id, hex.EncodeToString(b))
}

// JobByID returns one job.
func (d *DB) JobByID(ctx context.Context, id int64) (Job, error) {
	rows, err := d.read.QueryContext(ctx, `SELECT `+jobColumns+jobJoins+` WHERE j.id = ?`, id)
	if err != nil {
		return Job{}, err
	}
	jobs, err := scanJobs(rows)
	if err != nil {
		return Job{}, err
	}
	if len(jobs) == 0 {
		return Job{}, ErrNotFound
	}
	return jobs[0], nil
}

// JobFilter narrows a job list; zero values match everything.
type JobFilter struct {
	Status    string
	Operation string
	ItemID    int64
	ServerID  int64
	Since     time.Time
	Limit     int   // default 50
	BeforeID  int64 // keyset pagination: jobs older than this id
}

// ListJobs returns jobs newest first.
func (d *DB) ListJobs(ctx context.Context, f JobFilter) ([]Job, error) {
	var where []string
	var args []any
	add := func(cond string, v any) { where = append(where, cond); args = append(args, v) }
	// One index leads, newest id first: an item's jobs (jobs_item_id), or
	// those of a status and/or operation; the unary + keeps the planner
	// from sorting the rows of a less selective index.
	plus := ""
	if f.ItemID != 0 {
		plus = "+"
	}
	if f.Status != "" {
		add(plus+"j.status = ?", f.Status)
	}
	if f.Operation != "" {
		add(plus+"j.operation = ?", f.Operation)
	}
	if f.ItemID != 0 {
		add("j.item_id = ?", f.ItemID)
	}
	if f.ServerID != 0 {
		add("coalesce(j.server_id, d.server_id) = ?", f.ServerID)
	}
	if !f.Since.IsZero() {
		// Ids grow with creation times: the jobs since a time are those
		// after the newest one created before it (one seek on
		// jobs_created), which bounds the walk down the id index even when
		// nothing matches.
		add("+j.created_at >= ?", ms(f.Since))
		add("j.id > coalesce((SELECT b.id FROM jobs b WHERE b.created_at < ? ORDER BY b.created_at DESC LIMIT 1), 0)", ms(f.Since))
	}
	if f.BeforeID != 0 {
		add("j.id < ?", f.BeforeID)
	}
	q := `SELECT ` + jobColumns + jobJoins
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 50
	}
	q += fmt.Sprintf(" ORDER BY j.id DESC LIMIT %d", f.Limit)
	rows, err := d.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return scanJobs(rows)
}

func scanJobs(rows *sql.Rows) ([]Job, error) {
	defer rows.Close()
	var out []Job
	for rows.Next() {
		var j Job
		var serverID, itemID, started, ended, replica sql.NullInt64
		var steps string
		var created int64
		if err := rows.Scan(&j.ID, &j.Operation, &j.Kind, &j.Status, &serverID, &itemID, &j.Params,
			&j.ProgressPercent, &j.BytesTransferred, &steps, &j.ErrorCode, &j.ErrorMessage, &j.Attempt,
			&created, &started, &ended, &j.ServerName, &j.DatabaseName, &j.Container, &replica, &j.Replica, &j.StartedBy); err != nil {
			return nil, err
		}
		if serverID.Valid {
			j.ServerID = &serverID.Int64
		}
		if itemID.Valid {
			j.ItemID = &itemID.Int64
		}
		if replica.Valid {
			j.ReplicaServerID = &replica.Int64
		}
		json.Unmarshal([]byte(steps), &j.Steps)
		if j.Steps == nil {
			j.Steps = []JobStep{}
		}
		j.CreatedAt, j.StartedAt, j.EndedAt = fromMS(created), nullTime(started), nullTime(ended)
		out = append(out, j)
	}
	return out, rows.Err()
}

// StartJob moves a queued job to in_progress; it fails if another worker
// took it first.
func (d *DB) StartJob(ctx context.Context, id int64) error {
	res, err := d.write.ExecContext(ctx,
		`UPDATE jobs SET status = 'in_progress', started_at = ? WHERE id = ? AND status = 'queued'`, d.nowMS(), id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("job %d is no longer queued", id)
	}
	return nil
}

// JobProgress records how far a running job is.
func (d *DB) JobProgress(ctx context.Context, id int64, percent int, bytes int64) error {
	_, err := d.write.ExecContext(ctx,
		`UPDATE jobs SET progress_percent = max(progress_percent, ?), bytes_transferred = max(bytes_transferred, ?)
		 WHERE id = ? AND status = 'in_progress'`, min(max(percent, 0), 100), bytes, id)
	return err
}

// JobSteps replaces the job's step list.
func (d *DB) JobSteps(ctx context.Context, id int64, steps []JobStep) error {
	b, _ := json.Marshal(steps)
	_, err := d.write.ExecContext(ctx, `UPDATE jobs SET steps = ? WHERE id = ?`, string(b), id)
	return err
}

// FinishJob ends a job as completed, failed or cancelled, with the error's
// code and message when it failed, and stores the item health given.
func (d *DB) FinishJob(ctx context.Context, id int64, status, code, message string, health ...StoredHealth) error {
	if status != JobCompleted && status != JobFailed && status != JobCancelled {
		return fmt.Errorf("finish job %d: bad status %q", id, status)
	}
	pct := "progress_percent"
	if status == JobCompleted {
		pct = "100"
	}
	// The job's end and the health it leaves its item are one write, so
	// whoever sees the job ended sees its item's health too.
	return d.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE jobs SET status = ?, error_code = ?, error_message = ?, ended_at = ?,
			progress_percent = `+pct+` WHERE id = ?`, status, code, message, d.nowMS(), id); err != nil {
			return err
		}
		return setItemHealth(ctx, tx, health)
	})
}

// ActiveJob returns the id of a queued or running job of the same operation
// and kind for the item, so a job is not queued twice.
func (d *DB) ActiveJob(ctx context.Context, operation, kind string, itemID int64) (int64, error) {
	// Led by status: the active jobs are few, an item's jobs many.
	var id sql.NullInt64
	err := d.read.QueryRowContext(ctx, `SELECT min(id) FROM jobs WHERE status IN ('queued', 'in_progress')
		AND operation = ? AND kind = ? AND +item_id = ?`, operation, kind, itemID).Scan(&id)
	return id.Int64, err
}

// Summary counts what the overview shows.
type Summary struct {
	Servers, Items, JobsCompleted, JobsFailed, JobsRunning, OpenAlerts int
}

// Summary counts servers, protected items, recent jobs by status and open alerts.
func (d *DB) Summary(ctx context.Context, since time.Time) (Summary, error) {
	var s Summary
	err := d.read.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM servers),
		(SELECT count(*) FROM items WHERE state = 'protected'),
		(SELECT count(*) FROM jobs WHERE status = 'completed' AND created_at >= ?),
		(SELECT count(*) FROM jobs WHERE status = 'failed' AND created_at >= ?),
		(SELECT count(*) FROM jobs WHERE status IN ('queued', 'in_progress')),
		(SELECT count(*) FROM alerts WHERE resolved_at IS NULL)`, ms(since), ms(since)).
		Scan(&s.Servers, &s.Items, &s.JobsCompleted, &s.JobsFailed, &s.JobsRunning, &s.OpenAlerts)
	return s, err
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}
