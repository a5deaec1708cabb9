package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Server is a registered SQL Server instance.
type Server struct {
	ID                     int64      `json:"id"`
	Name                   string     `json:"name"`
	Host                   string     `json:"host"`
	Port                   int        `json:"port"`
	InstanceName           string     `json:"instance_name"`
	Username               string     `json:"username"`
	PasswordEnc            []byte     `json:"-"`
	Encrypt                string     `json:"encrypt"`
	TrustServerCertificate bool       `json:"trust_server_certificate"`
	Status                 string     `json:"status"`
	StatusCode             string     `json:"status_code"`
	StatusMessage          string     `json:"status_message"`
	Version                string     `json:"version"`
	Edition                string     `json:"edition"`
	DefaultDataPath        string     `json:"default_data_path"`
	DefaultLogPath         string     `json:"default_log_path"`
	AutoProtectPolicyID    *int64     `json:"auto_protect_policy_id"`
	DiscoveredAt           *time.Time `json:"discovered_at"`
	CreatedAt              time.Time  `json:"created_at"`
}

// Server health states.
const (
	StatusHealthy   = "healthy"
	StatusWarning   = "warning"
	StatusUnhealthy = "unhealthy"
	StatusUnknown   = "unknown"
)

const serverColumns = `id, name, host, port, instance_name, username, password_enc, encrypt, trust_server_certificate,
	status, status_code, status_message, version, edition, default_data_path, default_log_path,
	auto_protect_policy_id, discovered_at, created_at`

// ErrDuplicate is returned when a unique name is taken.
var ErrDuplicate = errors.New("already exists")

// CreateServer registers an instance.
func (d *DB) CreateServer(ctx context.Context, s Server) (Server, error) {
	res, err := d.write.ExecContext(ctx, `INSERT INTO servers (name, host, port, instance_name, username, password_enc,
		encrypt, trust_server_certificate, status, status_code, status_message, version, edition, default_data_path,
		default_log_path, auto_protect_policy_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.Name, s.Host, s.Port, s.InstanceName, s.Username, s.PasswordEnc, s.Encrypt, s.TrustServerCertificate,
		orDefault(s.Status, StatusUnknown), s.StatusCode, s.StatusMessage, s.Version, s.Edition, s.DefaultDataPath,
		s.DefaultLogPath, s.AutoProtectPolicyID, d.nowMS())
	if err != nil {
		if isUnique(err) {
			return Server{}, fmt.Errorf("server %q: %w", s.Name, ErrDuplicate)
		}
		return Server{}, err
	}
	id, _ := res.LastInsertId()
	return d.ServerByID(ctx, id)
}

// ServerByID returns one server.
func (d *DB) ServerByID(ctx context.Context, id int64) (Server, error) {
	rows, err := d.read.QueryContext(ctx, `SELECT `+serverColumns+` FROM servers WHERE id = ?`, id)
	if err != nil {
		return Server{}, err
	}
	out, err := scanServers(rows)
	if err != nil {
		return Server{}, err
	}
	if len(out) == 0 {
		return Server{}, ErrNotFound
	}
	return out[0], nil
}

// ListServers returns every server by name.
func (d *DB) ListServers(ctx context.Context) ([]Server, error) {
	rows, err := d.read.QueryContext(ctx, `SELECT `+serverColumns+` FROM servers ORDER BY name`)
	if err != nil {
		return nil, err
	}
	return scanServers(rows)
}

func scanServers(rows *sql.Rows) ([]Server, error) {
	defer rows.Close()
	var out []Server
	for rows.Next() {
		var s Server
		var auto, disc sql.NullInt64
		var created int64
		if err := rows.Scan(&s.ID, &s.Name, &s.Host, &s.Port, &s.InstanceName, &s.Username, &s.PasswordEnc, &s.Encrypt,
			&s.TrustServerCertificate, &s.Status, &s.StatusCode, &s.StatusMessage, &s.Version, &s.Edition,
			&s.DefaultDataPath, &s.DefaultLogPath, &auto, &disc, &created); err != nil {
			return nil, err
		}
		if auto.Valid {
			s.AutoProtectPolicyID = &auto.Int64
		}
		s.DiscoveredAt, s.CreatedAt = nullTime(disc), fromMS(created)
		out = append(out, s)
	}
	return out, rows.Err()
}

// SetServerStatus records the instance's health and, when unhealthy, the
// error code and message a person sees.
func (d *DB) SetServerStatus(ctx context.Context, id int64, status, code, message string) error {
	_, err := d.write.ExecContext(ctx, `UPDATE servers SET status = ?, status_code = ?, status_message = ? WHERE id = ?`,
		status, code, message, id)
	return err
}

// SetServerAutoProtect turns auto-protection of new databases on (with a
// policy) or off (nil).
func (d *DB) SetServerAutoProtect(ctx context.Context, id int64, policyID *int64) error {
	_, err := d.write.ExecContext(ctx, `UPDATE servers SET auto_protect_policy_id = ? WHERE id = ?`, policyID, id)
	return err
}

// InstanceInfo is what discovery learns about the instance itself.
type InstanceInfo struct {
	Version, Edition, DefaultDataPath, DefaultLogPath string
}

// Database is one database on a server, as last discovered.
type Database struct {
	ID                 int64     `json:"id"`
	ServerID           int64     `json:"server_id"`
	ServerName         string    `json:"server_name"`
	Name               string    `json:"name"`
	GUID               string    `json:"database_guid"`
	State              string    `json:"state"`
	RecoveryModel      string    `json:"recovery_model"`
	CompatibilityLevel int       `json:"compatibility_level"`
	SizeBytes          int64     `json:"size_bytes"`
	IsSystem           bool      `json:"is_system"`
	Gone               bool      `json:"gone"`
	Note               string    `json:"note,omitempty"`
	ItemID             *int64    `json:"item_id"`
	DiscoveredAt       time.Time `json:"discovered_at"`
}

// DiscoveryResult says what changed in a discovery.
type DiscoveryResult struct {
	New, Gone, Changed []string
}

// SaveDiscovery records what discovery found on a server in one
// transaction: new databases are added, missing ones are marked gone (their
// backups stay), and a changed recovery model is noted on the database.
func (d *DB) SaveDiscovery(ctx context.Context, serverID int64, info InstanceInfo, found []Database) (DiscoveryResult, error) {
	var r DiscoveryResult
	now := d.nowMS()
	err := d.tx(ctx, func(tx *sql.Tx) error {
		old := map[string]Database{}
		rows, err := tx.QueryContext(ctx, `SELECT name, recovery_model, gone FROM databases WHERE server_id = ?`, serverID)
		if err != nil {
			return err
		}
		for rows.Next() {
			var db Database
			if err := rows.Scan(&db.Name, &db.RecoveryModel, &db.Gone); err != nil {
				rows.Close()
				return err
			}
			old[db.Name] = db
		}
		rows.Close()
		seen := map[string]bool{}
		for _, f := range found {
			seen[f.Name] = true
			prev, existed := old[f.Name]
			note := ""
			switch {
			case !existed || prev.Gone:
				r.New = append(r.New, f.Name)
			case !strings.EqualFold(prev.RecoveryModel, f.RecoveryModel):
				r.Changed = append(r.Changed, f.Name)
				note = fmt.Sprintf("recovery model changed from %s to %s", prev.RecoveryModel, f.RecoveryModel)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO databases (server_id, name, database_guid, state, recovery_model,
				compatibility_level, size_bytes, is_system, gone, note, discovered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)
				ON CONFLICT (server_id, name) DO UPDATE SET database_guid = excluded.database_guid, state = excluded.state,
				recovery_model = excluded.recovery_model, compatibility_level = excluded.compatibility_level,
				size_bytes = excluded.size_bytes, is_system = excluded.is_system, gone = 0,
				note = CASE WHEN excluded.note != '' THEN excluded.note ELSE databases.note END,
				discovered_at = excluded.discovered_at`,
				serverID, f.Name, f.GUID, f.State, f.RecoveryModel, f.CompatibilityLevel, f.SizeBytes, f.IsSystem, note, now); err != nil {
				return err
			}
		}
		for name, prev := range old {
			if !seen[name] && !prev.Gone {
				r.Gone = append(r.Gone, name)
				if _, err := tx.ExecContext(ctx, `UPDATE databases SET gone = 1, state = 'GONE', note = 'dropped from the instance; backups kept'
					WHERE server_id = ? AND name = ?`, serverID, name); err != nil {
					return err
				}
			}
		}
		_, err = tx.ExecContext(ctx, `UPDATE servers SET version = ?, edition = ?, default_data_path = ?, default_log_path = ?,
			discovered_at = ? WHERE id = ?`, info.Version, info.Edition, info.DefaultDataPath, info.DefaultLogPath, now, serverID)
		return err
	})
	return r, err
}

const databaseQuery = `SELECT d.id, d.server_id, s.name, d.name, d.database_guid, d.state, d.recovery_model,
	d.compatibility_level, d.size_bytes, d.is_system, d.gone, d.note, i.id, d.discovered_at
	FROM databases d JOIN servers s ON s.id = d.server_id LEFT JOIN items i ON i.database_id = d.id`

// ListDatabases returns the databases of a server (or of all, serverID 0).
func (d *DB) ListDatabases(ctx context.Context, serverID int64) ([]Database, error) {
	q, args := databaseQuery+` ORDER BY s.name, d.is_system, d.name`, []any{}
	if serverID != 0 {
		q, args = databaseQuery+` WHERE d.server_id = ? ORDER BY d.is_system, d.name`, []any{serverID}
	}
	rows, err := d.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return scanDatabases(rows)
}

// DatabaseByID returns one database.
func (d *DB) DatabaseByID(ctx context.Context, id int64) (Database, error) {
	rows, err := d.read.QueryContext(ctx, databaseQuery+` WHERE d.id = ?`, id)
	if err != nil {
		return Database{}, err
	}
	out, err := scanDatabases(rows)
	if err != nil {
		return Database{}, err
	}
	if len(out) == 0 {
		return Database{}, ErrNotFound
	}
	return out[0], nil
}

func scanDatabases(rows *sql.Rows) ([]Database, error) {
	defer rows.Close()
	var out []Database
	for rows.Next() {
		var x Database
		var item sql.NullInt64
		var disc int64
		if err := rows.Scan(&x.ID, &x.ServerID, &x.ServerName, &x.Name, &x.GUID, &x.State, &x.RecoveryModel,
			&x.CompatibilityLevel, &x.SizeBytes, &x.IsSystem, &x.Gone, &x.Note, &item, &disc); err != nil {
			return nil, err
		}
		if item.Valid {
			x.ItemID = &item.Int64
		}
		x.DiscoveredAt = fromMS(disc)
		out = append(out, x)
	}
	return out, rows.Err()
}

func isUnique(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint")
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
