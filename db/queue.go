package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// QueuedJobs returns queued jobs, oldest first, for the dispatcher.
func (d *DB) QueuedJobs(ctx context.Context, limit int) ([]Job, error) {
	rows, err := d.read.QueryContext(ctx, `SELECT `+jobColumns+jobJoins+` WHERE j.status = 'queued' ORDER BY j.id LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	return scanJobs(rows)
}

// QueuedLogs returns queued log backups, oldest first, leaving out those
// queued after a full or differential of their item that is still queued
// (the dispatcher starts them once it has ended). The dispatcher reads
// them apart from QueuedJobs so a backlog of fulls cannot hide them.
func (d *DB) QueuedLogs(ctx context.Context, limit int) ([]Job, error) {
	rows, err := d.read.QueryContext(ctx, `SELECT `+jobColumns+jobJoins+` WHERE j.status = 'queued'
		AND j.operation = 'backup' AND j.kind = 'log' AND NOT EXISTS (SELECT 1 FROM jobs b
			WHERE b.item_id = j.item_id AND b.id < j.id AND b.status = 'queued' AND b.operation = 'backup'
			AND b.kind IN ('full', 'differential'))
		ORDER BY j.id LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	return scanJobs(rows)
}

// CreateRetryJob queues a job again after an interruption, counting attempts.
func (d *DB) CreateRetryJob(ctx context.Context, n NewJob, attempt int) (Job, error) {
	j, err := d.CreateJob(ctx, n)
	if err != nil {
		return j, err
	}
	if _, err := d.write.ExecContext(ctx, `UPDATE jobs SET attempt = ? WHERE id = ?`, attempt, j.ID); err != nil {
		return j, err
	}
	j.Attempt = attempt
	return j, nil
}

// JobBytes records bytes moved by a running job without touching its percent.
func (d *DB) JobBytes(ctx context.Context, id int64, bytes int64) error {
	_, err := d.write.ExecContext(ctx, `UPDATE jobs SET bytes_transferred = max(bytes_transferred, ?)
		WHERE id = ? AND status = 'in_progress'`, bytes, id)
	return err
}

// SetJobResult stores what a job hands back, as JSON.
func (d *DB) SetJobResult(ctx context.Context, id int64, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = d.write.ExecContext(ctx, `UPDATE jobs SET result = ? WHERE id = ?`, string(b), id)
	return err
}

// JobResult reads what a job handed back into v.
func (d *DB) JobResult(ctx context.Context, id int64, v any) error {
	var s string
	if err := d.read.QueryRowContext(ctx, `SELECT result FROM jobs WHERE id = ?`, id).Scan(&s); err != nil {
		return notFound(err)
	}
	return json.Unmarshal([]byte(s), v)
}

// LastJobTimes returns, per kind, when the newest backup job of the item was
// queued: the scheduler's memory of the last slot it served.
func (d *DB) LastJobTimes(ctx context.Context, itemID int64) (map[string]time.Time, error) {
	rows, err := d.read.QueryContext(ctx, `SELECT kind, max(created_at) FROM jobs
		WHERE item_id = ? AND operation = 'backup' GROUP BY kind`, itemID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var kind string
		var at int64
		if err := rows.Scan(&kind, &at); err != nil {
			return nil, err
		}
		out[kind] = fromMS(at)
	}
	return out, rows.Err()
}

// QueueDepth counts queued jobs.
func (d *DB) QueueDepth(ctx context.Context) (int, error) {
	var n int
	err := d.read.QueryRowContext(ctx, `SELECT count(*) FROM jobs WHERE status = 'queued'`).Scan(&n)
	return n, err
}

// SetItemPolicy moves an item to another policy.
func (d *DB) SetItemPolicy(ctx context.Context, id, policyID int64) error {
	return affected(d.write.ExecContext(ctx, `UPDATE items SET policy_id = ? WHERE id = ?`, policyID, id))
}

// SoftDeletePoints marks points expired by retention; their data stays until
// PurgePoints removes them, so an admin can undo.
func (d *DB) SoftDeletePoints(ctx context.Context, ids []int64) error {
	now := d.nowMS()
	for _, id := range ids {
		if _, err := d.write.ExecContext(ctx, `UPDATE recovery_points SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL`, now, id); err != nil {
			return fmt.Errorf("soft-delete point %d: %w", id, err)
		}
	}
	return nil
}

// UndeletePoint brings a soft-deleted point back, kept for days more.
func (d *DB) UndeletePoint(ctx context.Context, id int64, keepUntil time.Time) error {
	return affected(d.write.ExecContext(ctx, `UPDATE recovery_points SET deleted_at = NULL, retain_until = ?
		WHERE id = ? AND deleted_at IS NOT NULL`, ms(keepUntil), id))
}

// PurgeablePoints returns points soft-deleted before cutoff.
func (d *DB) PurgeablePoints(ctx context.Context, cutoff time.Time) ([]Point, error) {
	return d.queryPoints(ctx, `WHERE deleted_at IS NOT NULL AND deleted_at < ?`, ms(cutoff))
}

// AllBlobs returns the vault blobs every catalogued point references,
// soft-deleted ones included: garbage collection must keep them.
func (d *DB) AllBlobs(ctx context.Context) (map[string]bool, error) {
	rows, err := d.read.QueryContext(ctx, `SELECT blobs FROM recovery_points`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		var blobs []string
		json.Unmarshal([]byte(s), &blobs)
		for _, b := range blobs {
			out[b] = true
		}
	}
	return out, rows.Err()
}

// PointByID returns one recovery point, soft-deleted or not.
func (d *DB) PointByID(ctx context.Context, id int64) (Point, error) {
	ps, err := d.queryPoints(ctx, `WHERE id = ?`, id)
	if err != nil {
		return Point{}, err
	}
	if len(ps) == 0 {
		return Point{}, ErrNotFound
	}
	return ps[0], nil
}

func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

// ActiveServerJob returns a queued or running job of the operation for the
// server (0: jobs with no server), so it is not queued twice.
func (d *DB) ActiveServerJob(ctx context.Context, operation string, serverID int64) (int64, error) {
	// Led by status: the active jobs are few, an operation's many.
	var id sql.NullInt64
	err := d.read.QueryRowContext(ctx, `SELECT min(id) FROM jobs WHERE status IN ('queued', 'in_progress')
		AND +operation = ? AND coalesce(server_id, 0) = ?`, operation, serverID).Scan(&id)
	return id.Int64, err
}

// AddDatabase records a database not (yet) seen by discovery, e.g. one
// rebuilt from the vault.
func (d *DB) AddDatabase(ctx context.Context, serverID int64, db Database) error {
	_, err := d.write.ExecContext(ctx, `INSERT INTO databases (server_id, name, database_guid, state, recovery_model, note,
		discovered_at) VALUES (?, ?, ?, ?, ?, ?, ?)`, serverID, db.Name, db.GUID, orDefault(db.State, "UNKNOWN"),
		orDefault(db.RecoveryModel, "FULL"), db.Note, d.nowMS())
	return err
}

// CreateStoppedItem records a database's backups without a policy, as a
// stopped item that keeps its data.
func (d *DB) CreateStoppedItem(ctx context.Context, databaseID int64) (int64, error) {
	res, err := d.write.ExecContext(ctx, `INSERT INTO items (database_id, policy_id, state, note, created_at)
		VALUES (?, NULL, 'stopped', 'rebuilt from the vault: choose a policy to resume', ?)`, databaseID, d.nowMS())
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// ResolveAlertCode closes the open alerts of one code for a server or item.
func (d *DB) ResolveAlertCode(ctx context.Context, code string, serverID, itemID int64) error {
	_, err := d.write.ExecContext(ctx, `UPDATE alerts SET resolved_at = ? WHERE resolved_at IS NULL AND code = ?
		AND coalesce(server_id, 0) = ? AND coalesce(item_id, 0) = ?`, d.nowMS(), code, serverID, itemID)
	return err
}

// UpdateServerConnection replaces how sqlvault reaches and logs in to a
// server.
func (d *DB) UpdateServerConnection(ctx context.Context, s Server) error {
	res, err := d.write.ExecContext(ctx, `UPDATE servers SET host = ?, port = ?, instance_name = ?, username = ?,
		password_enc = ?, encrypt = ?, trust_server_certificate = ?, instance_key = ? WHERE id = ?`,
		s.Host, s.Port, s.InstanceName, s.Username, s.PasswordEnc, s.Encrypt, s.TrustServerCertificate, nullString(s.InstanceKey), s.ID)
	if isUnique(err) {
		return serverUniqueErr(err, s)
	}
	return affected(res, err)
}

// DeleteServer removes a server with its databases, items, points, jobs'
// links and alerts; the caller has made sure no backup data is kept.
func (d *DB) DeleteServer(ctx context.Context, id int64) error {
	return d.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM items WHERE database_id IN (SELECT id FROM databases WHERE server_id = ?)`, id); err != nil {
			return err
		}
		return affected(tx.ExecContext(ctx, `DELETE FROM servers WHERE id = ?`, id))
	})
}

// ServerPoints returns every recovery point of a server's items, live and
// soft-deleted.
func (d *DB) ServerPoints(ctx context.Context, serverID int64) ([]Point, error) {
	return d.queryPoints(ctx, `WHERE item_id IN (SELECT i.id FROM items i JOIN databases d ON d.id = i.database_id WHERE d.server_id = ?)`, serverID)
}

// ReserveJobIDs makes the next job's id greater than last (a catalog
// rebuilt from the vault would otherwise number jobs from 1 again) by
// recording the rebuild as a completed job with id last+1, if no job has
// an id that high already.
func (d *DB) ReserveJobIDs(ctx context.Context, last int64, detail string) error {
	now := d.nowMS()
	steps, _ := json.Marshal([]JobStep{{Name: "Rebuild catalog from the vault", Started: fromMS(now), Ended: ptrTime(fromMS(now)), Detail: detail}})
	_, err := d.write.ExecContext(ctx, `INSERT INTO jobs (id, operation, status, progress_percent, steps, created_at, started_at, ended_at)
		SELECT ?, 'rebuild', 'completed', 100, ?, ?, ?, ? WHERE ? > coalesce((SELECT max(id) FROM jobs), 0)`,
		last+1, string(steps), now, now, now, last)
	return err
}

func ptrTime(t time.Time) *time.Time { return &t }
