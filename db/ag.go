package db

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// AG is an Always On availability group as the catalog knows it.
type AG struct {
	ID         int64        `json:"id"`
	GroupID    string       `json:"group_id"`
	Name       string       `json:"name"`
	Preference string       `json:"preference"` // primary, secondary_only, secondary, none
	Listener   string       `json:"listener,omitempty"`
	Replicas   []AGReplica  `json:"replicas"`
	Databases  []AGDatabase `json:"databases"`
}

// AGReplica is one replica of a group and the server registered for it.
type AGReplica struct {
	ReplicaID       string `json:"-"`
	ServerID        *int64 `json:"server_id"` // nil: not registered in sqlvault
	Name            string `json:"name"`
	Role            string `json:"role"`
	Priority        int    `json:"priority"`
	Synchronization string `json:"synchronization"`
	Connected       bool   `json:"connected"`
	// Of the registered server: whether it is reachable with sysadmin.
	ServerStatus     string `json:"server_status,omitempty"`
	ServerStatusCode string `json:"server_status_code,omitempty"`
}

// AGDatabase is a database joined to a group, one per group_database_id.
type AGDatabase struct {
	Name            string `json:"name"`
	GroupDatabaseID string `json:"group_database_id"`
	ItemID          *int64 `json:"item_id"`
}

// AGFound is what discovery read of one group on one replica: the group,
// its replicas, and the local databases joined to it by name.
type AGFound struct {
	GroupID, Name, Preference, Listener string
	Replicas                            []AGReplica
	Databases                           []AGLocalDatabase
}

// AGLocalDatabase is a group database on the replica discovered.
type AGLocalDatabase struct {
	Name, GroupDatabaseID, SynchronizationState string
}

// SaveAG records a group as discovered from serverID: the group and its
// replicas are upserted (their roles and health are the newest any
// replica reported), replicaServer maps a replica name to its registered
// server, and the server's local databases are tied to the group.
func (d *DB) SaveAG(ctx context.Context, serverID int64, g AGFound, replicaServer func(name string) *int64) (int64, error) {
	var agID int64
	err := d.tx(ctx, func(tx *sql.Tx) error {
		now := d.nowMS()
		err := tx.QueryRowContext(ctx, `INSERT INTO availability_groups (group_id, name, preference, listener, discovered_at)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (group_id) DO UPDATE SET name = excluded.name, preference = excluded.preference,
			listener = CASE WHEN excluded.listener != '' THEN excluded.listener ELSE listener END, discovered_at = excluded.discovered_at
			RETURNING id`, strings.ToLower(g.GroupID), g.Name, g.Preference, g.Listener, now).Scan(&agID)
		if err != nil {
			return err
		}
		for _, r := range g.Replicas {
			if _, err := tx.ExecContext(ctx, `INSERT INTO ag_replicas (ag_id, replica_id, name, server_id, role, priority,
				synchronization, connected) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (ag_id, replica_id) DO UPDATE SET
				name = excluded.name, server_id = coalesce(excluded.server_id, server_id),
				role = CASE WHEN excluded.role != '' THEN excluded.role ELSE role END, priority = excluded.priority,
				synchronization = CASE WHEN excluded.synchronization != '' THEN excluded.synchronization ELSE synchronization END,
				connected = excluded.connected`,
				agID, strings.ToLower(r.ReplicaID), r.Name, replicaServer(r.Name), r.Role, r.Priority, r.Synchronization, r.Connected); err != nil {
				return err
			}
		}
		return tieDatabases(ctx, tx, serverID, agID, g.Databases)
	})
	return agID, err
}

// tieDatabases marks which live databases of a server belong to the group.
func tieDatabases(ctx context.Context, tx *sql.Tx, serverID, agID int64, dbs []AGLocalDatabase) error {
	if _, err := tx.ExecContext(ctx, `UPDATE databases SET ag_id = NULL, group_database_id = '', synchronization_state = ''
		WHERE server_id = ? AND ag_id = ?`, serverID, agID); err != nil {
		return err
	}
	for _, x := range dbs {
		if _, err := tx.ExecContext(ctx, `UPDATE databases SET ag_id = ?, group_database_id = ?, synchronization_state = ?
			WHERE server_id = ? AND name = ? AND gone = 0`, agID, strings.ToLower(x.GroupDatabaseID), x.SynchronizationState,
			serverID, x.Name); err != nil {
			return err
		}
	}
	return nil
}

// LinkReplicaServer ties the replicas named like a newly registered
// server's instance to it.
func (d *DB) LinkReplicaServer(ctx context.Context, serverID int64, names []string) error {
	for _, n := range names {
		if _, err := d.write.ExecContext(ctx, `UPDATE ag_replicas SET server_id = ? WHERE upper(name) = upper(?) AND server_id IS NULL`,
			serverID, n); err != nil {
			return err
		}
	}
	return nil
}

// ListAGs returns every group with its replicas (by priority) and databases.
func (d *DB) ListAGs(ctx context.Context) ([]AG, error) {
	return d.queryAGs(ctx, ``)
}

// AGByID returns one group.
func (d *DB) AGByID(ctx context.Context, id int64) (AG, error) {
	out, err := d.queryAGs(ctx, ` WHERE id = ?`, id)
	if err == nil && len(out) == 0 {
		err = ErrNotFound
	}
	if err != nil {
		return AG{}, err
	}
	return out[0], nil
}

func (d *DB) queryAGs(ctx context.Context, where string, args ...any) ([]AG, error) {
	rows, err := d.read.QueryContext(ctx, `SELECT id, group_id, name, preference, listener FROM availability_groups`+where+` ORDER BY name`, args...)
	if err != nil {
		return nil, err
	}
	var out []AG
	for rows.Next() {
		var g AG
		if err := rows.Scan(&g.ID, &g.GroupID, &g.Name, &g.Preference, &g.Listener); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, g)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		if out[i].Replicas, err = d.agReplicas(ctx, out[i].ID); err != nil {
			return nil, err
		}
		if out[i].Databases, err = d.agDatabases(ctx, out[i].ID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (d *DB) agReplicas(ctx context.Context, agID int64) ([]AGReplica, error) {
	rows, err := d.read.QueryContext(ctx, `SELECT r.replica_id, r.server_id, r.name, r.role, r.priority, r.synchronization,
		r.connected, coalesce(s.status, ''), coalesce(s.status_code, '')
		FROM ag_replicas r LEFT JOIN servers s ON s.id = r.server_id WHERE r.ag_id = ? ORDER BY r.priority DESC, r.name`, agID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []AGReplica{}
	for rows.Next() {
		var r AGReplica
		var sid sql.NullInt64
		if err := rows.Scan(&r.ReplicaID, &sid, &r.Name, &r.Role, &r.Priority, &r.Synchronization, &r.Connected,
			&r.ServerStatus, &r.ServerStatusCode); err != nil {
			return nil, err
		}
		if sid.Valid {
			r.ServerID = &sid.Int64
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (d *DB) agDatabases(ctx context.Context, agID int64) ([]AGDatabase, error) {
	rows, err := d.read.QueryContext(ctx, `SELECT min(d.name), d.group_database_id,
		(SELECT i.id FROM items i WHERE i.ag_id = d.ag_id AND i.group_database_id = d.group_database_id)
		FROM databases d WHERE d.ag_id = ? AND d.gone = 0 GROUP BY d.group_database_id ORDER BY 1`, agID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []AGDatabase{}
	for rows.Next() {
		var x AGDatabase
		var item sql.NullInt64
		if err := rows.Scan(&x.Name, &x.GroupDatabaseID, &item); err != nil {
			return nil, err
		}
		if item.Valid {
			x.ItemID = &item.Int64
		}
		out = append(out, x)
	}
	return out, rows.Err()
}

// AGMembership is which group database a discovered database, or an
// item, is.
type AGMembership struct {
	AGID            int64
	AGName          string
	GroupDatabaseID string
}

// DatabaseAG returns the group a database row is joined to (ok false: none).
func (d *DB) DatabaseAG(ctx context.Context, databaseID int64) (AGMembership, bool, error) {
	var m AGMembership
	err := d.read.QueryRowContext(ctx, `SELECT g.id, g.name, d.group_database_id FROM databases d
		JOIN availability_groups g ON g.id = d.ag_id WHERE d.id = ? AND d.group_database_id != ''`, databaseID).
		Scan(&m.AGID, &m.AGName, &m.GroupDatabaseID)
	if err == sql.ErrNoRows {
		return m, false, nil
	}
	return m, err == nil, err
}

// ItemAG returns the group database an item protects (ok false: none).
func (d *DB) ItemAG(ctx context.Context, itemID int64) (AGMembership, bool, error) {
	var m AGMembership
	err := d.read.QueryRowContext(ctx, `SELECT g.id, g.name, i.group_database_id FROM items i
		JOIN availability_groups g ON g.id = i.ag_id WHERE i.id = ?`, itemID).Scan(&m.AGID, &m.AGName, &m.GroupDatabaseID)
	if err == sql.ErrNoRows {
		return m, false, nil
	}
	return m, err == nil, err
}

// ItemGroups maps each item of a group database to its group's name, for
// lists that show items under their group.
func (d *DB) ItemGroups(ctx context.Context) (map[int64]string, error) {
	rows, err := d.read.QueryContext(ctx, `SELECT i.id, g.name FROM items i JOIN availability_groups g ON g.id = i.ag_id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64]string{}
	for rows.Next() {
		var id int64
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			return nil, err
		}
		out[id] = name
	}
	return out, rows.Err()
}

// GroupItem returns the item protecting a group database, if any.
func (d *DB) GroupItem(ctx context.Context, m AGMembership) (int64, bool, error) {
	var id int64
	err := d.read.QueryRowContext(ctx, `SELECT id FROM items WHERE ag_id = ? AND group_database_id = ?`, m.AGID, m.GroupDatabaseID).Scan(&id)
	if err == sql.ErrNoRows {
		return 0, false, nil
	}
	return id, err == nil, err
}

// CreateGroupItem protects a group database with a policy: one item for
// the group, whichever replica's row databaseID is.
func (d *DB) CreateGroupItem(ctx context.Context, databaseID, policyID int64, note string, m AGMembership) (Item, error) {
	res, err := d.write.ExecContext(ctx, `INSERT INTO items (database_id, policy_id, state, note, created_at, ag_id, group_database_id)
		VALUES (?, ?, 'protected', ?, ?, ?, ?)`, databaseID, policyID, note, d.nowMS(), m.AGID, m.GroupDatabaseID)
	if isUnique(err) {
		return Item{}, fmt.Errorf("group database %s of %s is already protected: %w", m.GroupDatabaseID, m.AGName, ErrDuplicate)
	}
	if err != nil {
		return Item{}, err
	}
	id, _ := res.LastInsertId()
	return d.ItemByID(ctx, id)
}

// GroupReplicaDatabase is a group database's row on one replica's server.
type GroupReplicaDatabase struct {
	Replica  AGReplica
	Database *Database // nil: the server has not discovered it (yet)
}

// GroupDatabaseReplicas lists, for each replica of the group, its
// registration and the row of the group database on it.
func (d *DB) GroupDatabaseReplicas(ctx context.Context, m AGMembership) ([]GroupReplicaDatabase, error) {
	reps, err := d.agReplicas(ctx, m.AGID)
	if err != nil {
		return nil, err
	}
	out := make([]GroupReplicaDatabase, len(reps))
	for i, r := range reps {
		out[i].Replica = r
		if r.ServerID == nil {
			continue
		}
		if out[i].Database, err = d.GroupDatabaseOn(ctx, *r.ServerID, m); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// GroupDatabaseOn is the live row of a group database on a server, nil
// when the server has not discovered it.
func (d *DB) GroupDatabaseOn(ctx context.Context, serverID int64, m AGMembership) (*Database, error) {
	var id int64
	err := d.read.QueryRowContext(ctx, `SELECT id FROM databases WHERE server_id = ? AND ag_id = ? AND group_database_id = ?
		AND gone = 0`, serverID, m.AGID, m.GroupDatabaseID).Scan(&id)
	if err == sql.ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	x, err := d.DatabaseByID(ctx, id)
	if err != nil {
		return nil, err
	}
	return &x, nil
}

// SetReplicaState records what a replica said of itself at a backup.
func (d *DB) SetReplicaState(ctx context.Context, agID int64, name, role, sync string, connected bool) error {
	_, err := d.write.ExecContext(ctx, `UPDATE ag_replicas SET role = ?, synchronization = ?, connected = ?
		WHERE ag_id = ? AND upper(name) = upper(?)`, role, sync, connected, agID, name)
	return err
}

// SetJobReplica records the instance a backup job runs on.
func (d *DB) SetJobReplica(ctx context.Context, jobID, serverID int64) error {
	_, err := d.write.ExecContext(ctx, `UPDATE jobs SET replica_server_id = ? WHERE id = ?`, serverID, jobID)
	return err
}
