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
	// InstanceKey is what the instance says it is (see coordinator's
	// instanceKey); "" until sqlvault has asked it.
	InstanceKey string `json:"-"`
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
	auto_protect_policy_id, discovered_at, created_at, coalesce(instance_key, '')`

// ErrDuplicate is returned when a unique name is taken.
var ErrDuplicate = errors.New("already exists")

// ErrInstanceRegistered is returned when another server row already holds
// the instance key.
var ErrInstanceRegistered = errors.New("instance already registered")

// uniqueErr names what a UNIQUE violation on servers was about.
func serverUniqueErr(err error, s Server) error {
	if strings.Contains(err.Error(), "servers.instance_key") {
		return fmt.Errorf("instance %s: %w", s.InstanceKey, ErrInstanceRegistered)
	}
	return fmt.Errorf("server %q: %w", s.Name, ErrDuplicate)
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// CreateServer registers an instance.
func (d *DB) CreateServer(ctx context.Context, s Server) (Server, error) {
	res, err := d.write.ExecContext(ctx, `INSERT INTO servers (name, host, port, instance_name, username, password_enc,
		encrypt, trust_server_certificate, status, status_code, status_message, version, edition, default_data_path,
		default_log_path, auto_protect_policy_id, created_at, instance_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		s.Name, s.Host, s.Port, s.InstanceName, s.Username, s.PasswordEnc, s.Encrypt, s.TrustServerCertificate,
		orDefault(s.Status, StatusUnknown), s.StatusCode, s.StatusMessage, s.Version, s.Edition, s.DefaultDataPath,
		s.DefaultLogPath, s.AutoProtectPolicyID, d.nowMS(), nullString(s.InstanceKey))
	if err != nil {
		if isUnique(err) {
			return Server{}, serverUniqueErr(err, s)
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

// ServerByInstanceKey returns the server registered for an instance.
func (d *DB) ServerByInstanceKey(ctx context.Context, key string) (Server, error) {
	rows, err := d.read.QueryContext(ctx, `SELECT `+serverColumns+` FROM servers WHERE instance_key = ?`, key)
	if err != nil {
		return Server{}, err
	}
	out, err := scanServers(rows)
	if err == nil && len(out) == 0 {
		err = ErrNotFound
	}
	if err != nil {
		return Server{}, err
	}
	return out[0], nil
}

// SetServerInstanceKey records what the instance says it is, once known
// (ErrInstanceRegistered if another server holds it).
func (d *DB) SetServerInstanceKey(ctx context.Context, id int64, key string) error {
	_, err := d.write.ExecContext(ctx, `UPDATE servers SET instance_key = ? WHERE id = ?`, nullString(key), id)
	if isUnique(err) {
		return fmt.Errorf("instance %s: %w", key, ErrInstanceRegistered)
	}
	return err
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
			&s.DefaultDataPath, &s.DefaultLogPath, &auto, &disc, &created, &s.InstanceKey); err != nil {
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
	IsReadOnly         bool      `json:"is_read_only"`
	IsInStandby        bool      `json:"is_in_standby"`
	IsAGSecondary      bool      `json:"is_ag_secondary"`
	Gone               bool      `json:"gone"`
	Note               string    `json:"note,omitempty"`
	ItemID             *int64    `json:"item_id"`
	DiscoveredAt       time.Time `json:"discovered_at"`

	// AGID is the availability group it is joined to (db/ag.go), the
	// same database on every replica by GroupDatabaseID; its item is the
	// group's.
	AGID            *int64 `json:"availability_group_id,omitempty"`
	GroupDatabaseID string `json:"-"`
	SyncState       string `json:"synchronization_state,omitempty"`
}

// DiscoveryResult says what changed in a discovery.
type DiscoveryResult struct {
	New, Gone, Changed []string
	// Replaced are databases dropped and recreated under the same name (a
	// new database_guid) whose old incarnation had an item.
	Replaced []Replacement
}

// Replacement is a recreated database: the old row keeps its item and
// points, marked gone; the new one is a new row without an item.
type Replacement struct {
	Name          string
	OldDatabaseID int64
	OldItemID     int64
	NewDatabaseID int64
	// OldItemProtected: the old item was under a policy (now stopped).
	OldItemProtected bool
}

// knownDatabase is a database row as SaveDiscovery compares it.
type knownDatabase struct {
	id                  int64
	guid, recoveryModel string
	gone                bool
	itemID              sql.NullInt64
	itemState           sql.NullString
}

// SaveDiscovery records what discovery found on a server in one
// transaction: new databases are added, missing ones are marked gone (their
// backups stay), a changed recovery model is noted on the database, and a
// database whose database_guid changed under the same name is a new
// database: the old row, if it has an item, stays beside it, marked gone.
func (d *DB) SaveDiscovery(ctx context.Context, serverID int64, info InstanceInfo, found []Database) (DiscoveryResult, error) {
	var r DiscoveryResult
	now := d.nowMS()
	err := d.tx(ctx, func(tx *sql.Tx) error {
		known, err := knownDatabases(ctx, tx, serverID)
		if err != nil {
			return err
		}
		seen := map[int64]bool{}
		for _, f := range found {
			prev, existed := known[f.Name]
			sameDB := existed && (prev.guid == "" || f.GUID == "" || prev.guid == f.GUID)
			switch {
			case sameDB:
				seen[prev.id] = true
				note := ""
				if prev.gone {
					r.New = append(r.New, f.Name)
				} else if !strings.EqualFold(prev.recoveryModel, f.RecoveryModel) {
					r.Changed = append(r.Changed, f.Name)
					note = fmt.Sprintf("recovery model changed from %s to %s", prev.recoveryModel, f.RecoveryModel)
				}
				if err := updateDiscovered(ctx, tx, prev.id, f, note, now); err != nil {
					return err
				}
			case existed && prev.itemID.Valid:
				// Recreated: the old incarnation keeps its item and points.
				seen[prev.id] = true
				if err := markReplaced(ctx, tx, prev.id, now); err != nil {
					return err
				}
				id, err := insertDiscovered(ctx, tx, serverID, f, now)
				if err != nil {
					return err
				}
				r.Replaced = append(r.Replaced, Replacement{Name: f.Name, OldDatabaseID: prev.id, OldItemID: prev.itemID.Int64,
					NewDatabaseID: id, OldItemProtected: prev.itemState.String == ItemProtected})
			case existed:
				// Recreated with nothing kept of the old one: same row.
				seen[prev.id] = true
				r.New = append(r.New, f.Name)
				if err := updateDiscovered(ctx, tx, prev.id, f, "", now); err != nil {
					return err
				}
			default:
				r.New = append(r.New, f.Name)
				if _, err := insertDiscovered(ctx, tx, serverID, f, now); err != nil {
					return err
				}
			}
		}
		for name, prev := range known {
			if !seen[prev.id] && !prev.gone {
				r.Gone = append(r.Gone, name)
				if _, err := tx.ExecContext(ctx, `UPDATE databases SET gone = 1, state = 'GONE', note = 'dropped from the instance; backups kept'
					WHERE id = ?`, prev.id); err != nil {
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

// knownDatabases maps each name on the server to its live row, or to its
// newest gone one when none is live.
func knownDatabases(ctx context.Context, tx *sql.Tx, serverID int64) (map[string]knownDatabase, error) {
	rows, err := tx.QueryContext(ctx, `SELECT d.id, d.name, d.database_guid, d.recovery_model, d.gone, i.id, i.state
		FROM databases d LEFT JOIN items i ON i.database_id = d.id WHERE d.server_id = ? ORDER BY d.gone DESC, d.id`, serverID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]knownDatabase{}
	for rows.Next() {
		var k knownDatabase
		var name string
		if err := rows.Scan(&k.id, &name, &k.guid, &k.recoveryModel, &k.gone, &k.itemID, &k.itemState); err != nil {
			return nil, err
		}
		out[name] = k // live rows come last and win
	}
	return out, rows.Err()
}

func insertDiscovered(ctx context.Context, tx *sql.Tx, serverID int64, f Database, now int64) (int64, error) {
	res, err := tx.ExecContext(ctx, `INSERT INTO databases (server_id, name, database_guid, state, recovery_model,
		compatibility_level, size_bytes, is_system, gone, note, discovered_at, is_read_only, is_in_standby, is_ag_secondary)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, '', ?, ?, ?, ?)`,
		serverID, f.Name, f.GUID, f.State, f.RecoveryModel, f.CompatibilityLevel, f.SizeBytes, f.IsSystem, now,
		f.IsReadOnly, f.IsInStandby, f.IsAGSecondary)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

func updateDiscovered(ctx context.Context, tx *sql.Tx, id int64, f Database, note string, now int64) error {
	_, err := tx.ExecContext(ctx, `UPDATE databases SET database_guid = CASE WHEN ? != '' THEN ? ELSE database_guid END,
		state = ?, recovery_model = ?, compatibility_level = ?, size_bytes = ?, is_system = ?, gone = 0,
		note = CASE WHEN ? != '' THEN ? WHEN gone = 1 THEN '' ELSE note END, discovered_at = ?,
		is_read_only = ?, is_in_standby = ?, is_ag_secondary = ? WHERE id = ?`,
		f.GUID, f.GUID, f.State, f.RecoveryModel, f.CompatibilityLevel, f.SizeBytes, f.IsSystem, note, note, now,
		f.IsReadOnly, f.IsInStandby, f.IsAGSecondary, id)
	return err
}

// RetireDatabase marks a database row as an older incarnation of its
// name (see markReplaced), e.g. when a rebuilt catalog meets a newer one.
func (d *DB) RetireDatabase(ctx context.Context, id int64) error {
	return d.tx(ctx, func(tx *sql.Tx) error { return markReplaced(ctx, tx, id, d.nowMS()) })
}

// markReplaced retires a database's old incarnation and stops its item,
// which keeps its points.
func markReplaced(ctx context.Context, tx *sql.Tx, id, now int64) error {
	at := fromMS(now).Format("2006-01-02 15:04 UTC")
	if _, err := tx.ExecContext(ctx, `UPDATE databases SET gone = 1, state = 'REPLACED',
		note = ? WHERE id = ?`, "dropped and recreated on the instance at "+at+"; the backups of this incarnation are kept", id); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `UPDATE items SET state = CASE WHEN state = 'protected' THEN 'stopped' ELSE state END,
		note = ? WHERE database_id = ?`,
		"the database was replaced (dropped and recreated) at "+at+": this item's points stay restorable; a new item protects the new database", id)
	return err
}

const databaseQuery = `SELECT d.id, d.server_id, s.name, d.name, d.database_guid, d.state, d.recovery_model,
	d.compatibility_level, d.size_bytes, d.is_system, d.gone, d.note,
	coalesce(i.id, (SELECT g.id FROM items g WHERE g.ag_id = d.ag_id AND g.group_database_id = d.group_database_id)), d.discovered_at,
	d.is_read_only, d.is_in_standby, d.is_ag_secondary, d.ag_id, d.group_database_id, d.synchronization_state
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
		var item, ag sql.NullInt64
		var disc int64
		if err := rows.Scan(&x.ID, &x.ServerID, &x.ServerName, &x.Name, &x.GUID, &x.State, &x.RecoveryModel,
			&x.CompatibilityLevel, &x.SizeBytes, &x.IsSystem, &x.Gone, &x.Note, &item, &disc,
			&x.IsReadOnly, &x.IsInStandby, &x.IsAGSecondary, &ag, &x.GroupDatabaseID, &x.SyncState); err != nil {
			return nil, err
		}
		if item.Valid {
			x.ItemID = &item.Int64
		}
		if ag.Valid {
			x.AGID = &ag.Int64
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
