package mssql

import (
	"context"
	"database/sql"
	"strconv"
	"strings"

	mssql "github.com/microsoft/go-mssqldb"
)

// AvailabilityGroup is an Always On availability group as one of its
// replicas sees it.
type AvailabilityGroup struct {
	GroupID    string // sys.availability_groups.group_id, lower case
	Name       string
	Preference string // automated_backup_preference_desc in lower case: primary, secondary_only, secondary, none
	Listener   string // dns_name:port of its first listener, "" without one
	Replicas   []AGReplica
	Databases  []AGDatabase // the databases joined to it on this replica
}

// AGReplica is one availability replica and, where this replica knows
// it, its state.
type AGReplica struct {
	ReplicaID  string
	ServerName string // replica_server_name: SERVER or SERVER\INSTANCE
	Priority   int    // backup_priority: 1..100, 0 never chosen for backups
	Role       string // role_desc: PRIMARY, SECONDARY, RESOLVING; "" unknown here
	Connected  bool   // connected_state_desc CONNECTED (true when unknown)
	Health     string // synchronization_health_desc
}

// AGDatabase is a database of a group on the local replica.
type AGDatabase struct {
	Name            string
	GroupDatabaseID string // identical on every replica (unlike database_guid)
	State           string // synchronization_state_desc
	Primary         bool
}

// AvailabilityGroups reads the groups this instance hosts a replica of;
// none when Always On is not enabled (SERVERPROPERTY('IsHadrEnabled')).
// Sources: learn.microsoft.com/sql/relational-databases/system-catalog-views/
// sys-availability-groups-transact-sql, sys-availability-replicas-transact-sql,
// sys-availability-group-listeners-transact-sql, and system-dynamic-management-views/
// sys-dm-hadr-availability-replica-states-transact-sql,
// sys-dm-hadr-database-replica-states-transact-sql.
func (c *Conn) AvailabilityGroups(ctx context.Context) ([]AvailabilityGroup, error) {
	var hadr sql.NullInt64
	if err := c.db.QueryRowContext(ctx, `SELECT CAST(SERVERPROPERTY('IsHadrEnabled') AS int)`).Scan(&hadr); err != nil {
		return nil, c.classify(err)
	}
	if hadr.Int64 != 1 {
		return nil, nil
	}
	var out []AvailabilityGroup
	byID := map[string]int{}
	err := c.eachRow(ctx, `SELECT group_id, name, automated_backup_preference_desc FROM sys.availability_groups`, func(r *sql.Rows) error {
		var id mssql.UniqueIdentifier
		var g AvailabilityGroup
		var pref sql.NullString
		if err := r.Scan(&id, &g.Name, &pref); err != nil {
			return err
		}
		g.GroupID, g.Preference = guid(id), strings.ToLower(pref.String)
		byID[g.GroupID] = len(out)
		out = append(out, g)
		return nil
	})
	if err != nil || len(out) == 0 {
		return out, err
	}
	if err := c.agReplicas(ctx, out, byID); err != nil {
		return nil, err
	}
	if err := c.agListeners(ctx, out, byID); err != nil {
		return nil, err
	}
	return out, c.agDatabases(ctx, out, byID)
}

func guid(u mssql.UniqueIdentifier) string { return strings.ToLower(u.String()) }

func (c *Conn) agReplicas(ctx context.Context, out []AvailabilityGroup, byID map[string]int) error {
	states := map[string]AGReplica{}
	err := c.eachRow(ctx, `SELECT replica_id, role_desc, connected_state_desc, synchronization_health_desc
		FROM sys.dm_hadr_availability_replica_states`, func(r *sql.Rows) error {
		var id mssql.UniqueIdentifier
		var role, conn, health sql.NullString
		if err := r.Scan(&id, &role, &conn, &health); err != nil {
			return err
		}
		states[guid(id)] = AGReplica{Role: role.String, Connected: conn.String != "DISCONNECTED", Health: health.String}
		return nil
	})
	if err != nil {
		return err
	}
	return c.eachRow(ctx, `SELECT replica_id, group_id, replica_server_name, backup_priority FROM sys.availability_replicas`, func(r *sql.Rows) error {
		var id, group mssql.UniqueIdentifier
		var rep AGReplica
		if err := r.Scan(&id, &group, &rep.ServerName, &rep.Priority); err != nil {
			return err
		}
		rep.ReplicaID, rep.Connected = guid(id), true
		if st, ok := states[rep.ReplicaID]; ok {
			rep.Role, rep.Connected, rep.Health = st.Role, st.Connected, st.Health
		}
		if i, ok := byID[guid(group)]; ok {
			out[i].Replicas = append(out[i].Replicas, rep)
		}
		return nil
	})
}

func (c *Conn) agListeners(ctx context.Context, out []AvailabilityGroup, byID map[string]int) error {
	return c.eachRow(ctx, `SELECT group_id, dns_name, port FROM sys.availability_group_listeners`, func(r *sql.Rows) error {
		var group mssql.UniqueIdentifier
		var name string
		var port sql.NullInt64
		if err := r.Scan(&group, &name, &port); err != nil {
			return err
		}
		if i, ok := byID[guid(group)]; ok && out[i].Listener == "" {
			out[i].Listener = name
			if port.Valid {
				out[i].Listener += ":" + strconv.FormatInt(port.Int64, 10)
			}
		}
		return nil
	})
}

func (c *Conn) agDatabases(ctx context.Context, out []AvailabilityGroup, byID map[string]int) error {
	return c.eachRow(ctx, `SELECT d.name, r.group_id, r.group_database_id, r.synchronization_state_desc, r.is_primary_replica
		FROM sys.dm_hadr_database_replica_states r JOIN sys.databases d ON d.database_id = r.database_id WHERE r.is_local = 1`,
		func(r *sql.Rows) error {
			var x AGDatabase
			var group, gdb mssql.UniqueIdentifier
			var state sql.NullString
			var primary sql.NullBool
			if err := r.Scan(&x.Name, &group, &gdb, &state, &primary); err != nil {
				return err
			}
			x.GroupDatabaseID, x.State, x.Primary = guid(gdb), state.String, primary.Bool
			if i, ok := byID[guid(group)]; ok {
				out[i].Databases = append(out[i].Databases, x)
			}
			return nil
		})
}

// ReplicaProbe is what a replica says, just before a backup, of itself and
// of one group database on it.
type ReplicaProbe struct {
	Role      string // role_desc of the local replica
	Connected bool   // connected to the primary (or is it)
	State     string // the database's synchronization_state_desc
	Preferred bool   // sys.fn_hadr_backup_is_preferred_replica(database)
}

// ProbeReplica asks the instance for its role in the group of database,
// the database's synchronization state and whether it is the preferred
// backup replica (learn.microsoft.com/sql/relational-databases/
// system-functions/sys-fn-hadr-backup-is-preferred-replica-transact-sql).
func (c *Conn) ProbeReplica(ctx context.Context, database string) (ReplicaProbe, error) {
	var p ReplicaProbe
	var replica mssql.UniqueIdentifier
	var state sql.NullString
	err := c.db.QueryRowContext(ctx, `SELECT r.replica_id, r.synchronization_state_desc FROM sys.dm_hadr_database_replica_states r
		JOIN sys.databases d ON d.database_id = r.database_id WHERE r.is_local = 1 AND d.name = @p1`, database).Scan(&replica, &state)
	if err != nil {
		return p, c.classify(err)
	}
	p.State = state.String
	var role, conn sql.NullString
	err = c.db.QueryRowContext(ctx, `SELECT role_desc, connected_state_desc FROM sys.dm_hadr_availability_replica_states
		WHERE replica_id = @p1`, replica).Scan(&role, &conn)
	if err != nil && err != sql.ErrNoRows {
		return p, c.classify(err)
	}
	p.Role, p.Connected = role.String, conn.String != "DISCONNECTED"
	var pref sql.NullBool
	if err := c.db.QueryRowContext(ctx, `SELECT sys.fn_hadr_backup_is_preferred_replica(@p1)`, database).Scan(&pref); err != nil {
		return p, c.classify(err)
	}
	p.Preferred = pref.Bool
	return p, nil
}

// LeaveGroupStatement takes a database out of its group on this replica so
// that it can be restored over (RESTORE is refused on group databases):
// on the primary ALTER AVAILABILITY GROUP ... REMOVE DATABASE, on a
// secondary ALTER DATABASE ... SET HADR OFF
// (learn.microsoft.com/sql/database-engine/availability-groups/windows/
// remove-a-primary-database-from-an-availability-group-sql-server and
// remove-a-secondary-database-from-an-availability-group-sql-server).
func LeaveGroupStatement(group, database string, primary bool) string {
	if primary {
		return "ALTER AVAILABILITY GROUP " + QuoteName(group) + " REMOVE DATABASE " + QuoteName(database)
	}
	return "ALTER DATABASE " + QuoteName(database) + " SET HADR OFF"
}

// LeaveGroup runs LeaveGroupStatement.
func (c *Conn) LeaveGroup(ctx context.Context, group, database string, primary bool) error {
	_, err := c.db.ExecContext(ctx, LeaveGroupStatement(group, database, primary))
	return c.classify(err)
}
