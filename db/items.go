package db

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// PolicyRow is a stored policy; Body is engine/policy's JSON.
type PolicyRow struct {
	ID        int64
	Name      string
	Body      string
	Items     int // protected items using it
	CreatedAt time.Time
	UpdatedAt time.Time
}

// CreatePolicy stores a new policy.
func (d *DB) CreatePolicy(ctx context.Context, name, body string) (PolicyRow, error) {
	now := d.nowMS()
	res, err := d.write.ExecContext(ctx, `INSERT INTO policies (name, body, created_at, updated_at) VALUES (?, ?, ?, ?)`,
		name, body, now, now)
	if isUnique(err) {
		return PolicyRow{}, fmt.Errorf("policy %q: %w", name, ErrDuplicate)
	}
	if err != nil {
		return PolicyRow{}, err
	}
	id, _ := res.LastInsertId()
	return d.PolicyByID(ctx, id)
}

// UpdatePolicy replaces a policy's name and body.
func (d *DB) UpdatePolicy(ctx context.Context, id int64, name, body string) error {
	res, err := d.write.ExecContext(ctx, `UPDATE policies SET name = ?, body = ?, updated_at = ? WHERE id = ?`,
		name, body, d.nowMS(), id)
	if isUnique(err) {
		return fmt.Errorf("policy %q: %w", name, ErrDuplicate)
	}
	return affected(res, err)
}

// ErrInUse is returned when deleting something others still refer to.
var ErrInUse = errors.New("in use")

// DeletePolicy removes a policy no item uses.
func (d *DB) DeletePolicy(ctx context.Context, id int64) error {
	return d.tx(ctx, func(tx *sql.Tx) error {
		var n int
		tx.QueryRowContext(ctx, `SELECT count(*) FROM items WHERE policy_id = ? AND state = 'protected'`, id).Scan(&n)
		if n > 0 {
			return fmt.Errorf("policy protects %d items: %w", n, ErrInUse)
		}
		tx.ExecContext(ctx, `UPDATE items SET policy_id = NULL WHERE policy_id = ?`, id)
		return affected(tx.ExecContext(ctx, `DELETE FROM policies WHERE id = ?`, id))
	})
}

const policyQuery = `SELECT p.id, p.name, p.body, p.created_at, p.updated_at,
	(SELECT count(*) FROM items i WHERE i.policy_id = p.id AND i.state = 'protected') FROM policies p`

// PolicyByID returns one policy.
func (d *DB) PolicyByID(ctx context.Context, id int64) (PolicyRow, error) {
	rows, err := d.read.QueryContext(ctx, policyQuery+` WHERE p.id = ?`, id)
	if err != nil {
		return PolicyRow{}, err
	}
	out, err := scanPolicies(rows)
	if err == nil && len(out) == 0 {
		err = ErrNotFound
	}
	if err != nil {
		return PolicyRow{}, err
	}
	return out[0], nil
}

// ListPolicies returns every policy by name.
func (d *DB) ListPolicies(ctx context.Context) ([]PolicyRow, error) {
	rows, err := d.read.QueryContext(ctx, policyQuery+` ORDER BY p.name`)
	if err != nil {
		return nil, err
	}
	return scanPolicies(rows)
}

func scanPolicies(rows *sql.Rows) ([]PolicyRow, error) {
	defer rows.Close()
	var out []PolicyRow
	for rows.Next() {
		var p PolicyRow
		var c, u int64
		if err := rows.Scan(&p.ID, &p.Name, &p.Body, &c, &u, &p.Items); err != nil {
			return nil, err
		}
		p.CreatedAt, p.UpdatedAt = fromMS(c), fromMS(u)
		out = append(out, p)
	}
	return out, rows.Err()
}

// Item states.
const (
	ItemProtected      = "protected"
	ItemStopped        = "stopped"         // backups kept
	ItemStoppedDeleted = "stopped_deleted" // backups deleted
)

// Item is a protected database.
type Item struct {
	ID            int64      `json:"id"`
	DatabaseID    int64      `json:"database_id"`
	DatabaseName  string     `json:"database_name"`
	ServerID      int64      `json:"server_id"`
	ServerName    string     `json:"server_name"`
	RecoveryModel string     `json:"recovery_model"`
	IsReadOnly    bool       `json:"is_read_only"` // its database, as last discovered
	PolicyID      *int64     `json:"policy_id"`
	PolicyName    string     `json:"policy_name"`
	State         string     `json:"state"`
	Note          string     `json:"note,omitempty"`
	LastFull      *time.Time `json:"last_full_backup"`
	LastDiff      *time.Time `json:"last_differential_backup"`
	LastLog       *time.Time `json:"last_log_backup"`
	LatestPoint   *time.Time `json:"latest_restore_point"`
	CreatedAt     time.Time  `json:"created_at"`
}

// CreateItem protects a database with a policy.
func (d *DB) CreateItem(ctx context.Context, databaseID, policyID int64, note string) (Item, error) {
	res, err := d.write.ExecContext(ctx, `INSERT INTO items (database_id, policy_id, state, note, created_at) VALUES (?, ?, 'protected', ?, ?)`,
		databaseID, policyID, note, d.nowMS())
	if isUnique(err) {
		return Item{}, fmt.Errorf("database %d is already protected: %w", databaseID, ErrDuplicate)
	}
	if err != nil {
		return Item{}, err
	}
	id, _ := res.LastInsertId()
	return d.ItemByID(ctx, id)
}

// SetItemState stops or resumes protection; policyID nil keeps the policy.
func (d *DB) SetItemState(ctx context.Context, id int64, state string, policyID *int64) error {
	if policyID != nil {
		return affected(d.write.ExecContext(ctx, `UPDATE items SET state = ?, policy_id = ? WHERE id = ?`, state, *policyID, id))
	}
	return affected(d.write.ExecContext(ctx, `UPDATE items SET state = ? WHERE id = ?`, state, id))
}

// SetItemNote records why something about the item is as it is, e.g. why
// log backups are off.
func (d *DB) SetItemNote(ctx context.Context, id int64, note string) error {
	return affected(d.write.ExecContext(ctx, `UPDATE items SET note = ? WHERE id = ?`, note, id))
}

const (
	itemColumns = `SELECT i.id, i.database_id, d.name, d.server_id, s.name, d.recovery_model, d.is_read_only, i.policy_id,
	coalesce(p.name, ''), i.state, i.note, i.created_at, `
	// Each a seek on recovery_points_item_kind or recovery_points_item.
	itemPointTimes = `(SELECT max(end_time) FROM recovery_points r WHERE r.item_id = i.id AND r.kind IN ('full', 'copy_only_full')),
	(SELECT max(end_time) FROM recovery_points r WHERE r.item_id = i.id AND r.kind = 'differential'),
	(SELECT max(end_time) FROM recovery_points r WHERE r.item_id = i.id AND r.kind = 'log'),
	(SELECT max(end_time) FROM recovery_points r WHERE r.item_id = i.id)`
	itemFrom = `
	FROM items i JOIN databases d ON d.id = i.database_id JOIN servers s ON s.id = d.server_id
	LEFT JOIN policies p ON p.id = i.policy_id`
	itemQuery = itemColumns + itemPointTimes + itemFrom
	// itemNamesQuery leaves the point times out, for pickers.
	itemNamesQuery = itemColumns + `NULL, NULL, NULL, NULL` + itemFrom
)

// ItemByID returns one item.
func (d *DB) ItemByID(ctx context.Context, id int64) (Item, error) {
	rows, err := d.read.QueryContext(ctx, itemQuery+` WHERE i.id = ?`, id)
	if err != nil {
		return Item{}, err
	}
	out, err := scanItems(rows)
	if err == nil && len(out) == 0 {
		err = ErrNotFound
	}
	if err != nil {
		return Item{}, err
	}
	return out[0], nil
}

// ItemFilter narrows an item list.
type ItemFilter struct {
	ServerID, PolicyID int64
	State              string
	Search             string // part of the database name
	Limit, Offset      int
	NoPointTimes       bool // leave LastFull … LatestPoint nil (a picker needs only names)
}

// ListItems returns items by server and database name.
func (d *DB) ListItems(ctx context.Context, f ItemFilter) ([]Item, error) {
	q := itemQuery
	if f.NoPointTimes {
		q = itemNamesQuery
	}
	q, args := itemFilter(q, f)
	return d.pageOfItems(ctx, q, args, f)
}

// pageOfItems runs an item query in the lists' order, one page of f's
// limit (1,000 unless set) and offset.
func (d *DB) pageOfItems(ctx context.Context, q string, args []any, f ItemFilter) ([]Item, error) {
	if f.Limit <= 0 {
		f.Limit = 1000
	}
	q += fmt.Sprintf(` ORDER BY s.name, d.name LIMIT %d OFFSET %d`, f.Limit, max(f.Offset, 0))
	rows, err := d.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return scanItems(rows)
}

// CountItems counts the items ListItems would return without its limit.
func (d *DB) CountItems(ctx context.Context, f ItemFilter) (int, error) {
	q, args := itemFilter(`SELECT count(*) FROM items i JOIN databases d ON d.id = i.database_id`, f)
	var n int
	err := d.read.QueryRowContext(ctx, q, args...).Scan(&n)
	return n, err
}

func itemFilter(q string, f ItemFilter) (string, []any) {
	q, args := q+` WHERE 1 = 1`, []any{}
	if f.ServerID != 0 {
		q, args = q+` AND d.server_id = ?`, append(args, f.ServerID)
	}
	if f.PolicyID != 0 {
		q, args = q+` AND i.policy_id = ?`, append(args, f.PolicyID)
	}
	if f.State != "" {
		q, args = q+` AND i.state = ?`, append(args, f.State)
	}
	if f.Search != "" {
		like := strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(f.Search)
		q, args = q+` AND d.name LIKE ? ESCAPE '\'`, append(args, "%"+like+"%")
	}
	return q, args
}

func scanItems(rows *sql.Rows) ([]Item, error) {
	defer rows.Close()
	var out []Item
	for rows.Next() {
		var it Item
		var pol, full, diff, lg, latest sql.NullInt64
		var created int64
		if err := rows.Scan(&it.ID, &it.DatabaseID, &it.DatabaseName, &it.ServerID, &it.ServerName, &it.RecoveryModel, &it.IsReadOnly,
			&pol, &it.PolicyName, &it.State, &it.Note, &created, &full, &diff, &lg, &latest); err != nil {
			return nil, err
		}
		if pol.Valid {
			it.PolicyID = &pol.Int64
		}
		it.CreatedAt = fromMS(created)
		it.LastFull, it.LastDiff, it.LastLog, it.LatestPoint = nullTime(full), nullTime(diff), nullTime(lg), nullTime(latest)
		out = append(out, it)
	}
	return out, rows.Err()
}

// Point is a committed recovery point.
type Point struct {
	ID                  int64      `json:"id"`
	ItemID              int64      `json:"item_id"`
	JobID               *int64     `json:"job_id"`
	Kind                string     `json:"type"`
	Blobs               []string   `json:"-"` // vault blob names: internal
	StartTime           time.Time  `json:"start_time"`
	EndTime             time.Time  `json:"end_time"`
	FirstLSN            string     `json:"first_lsn"`
	LastLSN             string     `json:"last_lsn"`
	CheckpointLSN       string     `json:"checkpoint_lsn"`
	DatabaseBackupLSN   string     `json:"database_backup_lsn"`
	DifferentialBaseLSN string     `json:"differential_base_lsn,omitempty"`
	SizeBytes           int64      `json:"size_bytes"`
	StoredBytes         int64      `json:"stored_bytes"`
	RetainUntil         *time.Time `json:"retain_until,omitempty"`
	ExpiresAt           *time.Time `json:"expires_at"`
	CreatedAt           time.Time  `json:"created_at"`
	DeletedAt           *time.Time `json:"deleted_at,omitempty"` // soft-deleted by retention
	DatabaseGUID        string     `json:"-"`
}

// CommitPoint records a recovery point; called only once the backup is
// complete and its data durable in the vault.
func (d *DB) CommitPoint(ctx context.Context, p Point) (Point, error) {
	blobs, _ := json.Marshal(p.Blobs)
	res, err := d.write.ExecContext(ctx, `INSERT INTO recovery_points (item_id, job_id, kind, blobs, start_time, end_time,
		first_lsn, last_lsn, checkpoint_lsn, database_backup_lsn, differential_base_lsn, size_bytes, stored_bytes,
		retain_until, expires_at, created_at, database_guid) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		p.ItemID, p.JobID, p.Kind, string(blobs), ms(p.StartTime), ms(p.EndTime), p.FirstLSN, p.LastLSN, p.CheckpointLSN,
		p.DatabaseBackupLSN, p.DifferentialBaseLSN, p.SizeBytes, p.StoredBytes, msPtr(p.RetainUntil), msPtr(p.ExpiresAt), d.nowMS(),
		p.DatabaseGUID)
	if err != nil {
		return Point{}, fmt.Errorf("commit recovery point: %w", err)
	}
	p.ID, _ = res.LastInsertId()
	return p, nil
}

// ListPoints returns an item's live recovery points (not soft-deleted),
// oldest first.
func (d *DB) ListPoints(ctx context.Context, itemID int64) ([]Point, error) {
	return d.queryPoints(ctx, `WHERE item_id = ? AND deleted_at IS NULL`, itemID)
}

// ListDeletedPoints returns an item's soft-deleted points, oldest first.
func (d *DB) ListDeletedPoints(ctx context.Context, itemID int64) ([]Point, error) {
	return d.queryPoints(ctx, `WHERE item_id = ? AND deleted_at IS NOT NULL`, itemID)
}

func (d *DB) queryPoints(ctx context.Context, where string, args ...any) ([]Point, error) {
	rows, err := d.read.QueryContext(ctx, `SELECT id, item_id, job_id, kind, blobs, start_time, end_time, first_lsn, last_lsn,
		checkpoint_lsn, database_backup_lsn, differential_base_lsn, size_bytes, stored_bytes, retain_until, expires_at,
		created_at, deleted_at, database_guid FROM recovery_points `+where+` ORDER BY end_time, id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Point
	for rows.Next() {
		var p Point
		var job, retain, exp, deleted sql.NullInt64
		var blobs string
		var start, end, created int64
		if err := rows.Scan(&p.ID, &p.ItemID, &job, &p.Kind, &blobs, &start, &end, &p.FirstLSN, &p.LastLSN, &p.CheckpointLSN,
			&p.DatabaseBackupLSN, &p.DifferentialBaseLSN, &p.SizeBytes, &p.StoredBytes, &retain, &exp, &created,
			&deleted, &p.DatabaseGUID); err != nil {
			return nil, err
		}
		if job.Valid {
			p.JobID = &job.Int64
		}
		json.Unmarshal([]byte(blobs), &p.Blobs)
		p.StartTime, p.EndTime, p.CreatedAt = fromMS(start), fromMS(end), fromMS(created)
		p.RetainUntil, p.ExpiresAt, p.DeletedAt = nullTime(retain), nullTime(exp), nullTime(deleted)
		out = append(out, p)
	}
	return out, rows.Err()
}

// DeletePoints removes recovery points (retention or stop with delete).
func (d *DB) DeletePoints(ctx context.Context, ids []int64) error {
	return d.tx(ctx, func(tx *sql.Tx) error {
		for _, id := range ids {
			if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_points WHERE id = ?`, id); err != nil {
				return err
			}
		}
		return nil
	})
}

func msPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return ms(*t)
}

func affected(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}
