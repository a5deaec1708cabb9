package sqlsim

import (
	"context"
	"fmt"
	"strings"

	"github.com/sqlvault/sqlvault/sqlsim/tds"
)

// The availability group catalog views and DMVs, as a replica answers
// them (README.md "Availability groups"). Callers hold in.mu; these take
// the group's mu after it.

func desc60(name string) tds.Column { c := col(name, tds.TypeNVarChar); c.Length = 60; return c }

// agView answers sys.availability_groups, sys.availability_replicas,
// sys.availability_group_listeners, sys.availability_databases_cluster
// and sys.dm_hadr_availability_replica_states; no rows outside a group.
func (x *execCtx) agView(name string) *rowset {
	g := x.s.in.ag.Load()
	var rs *rowset
	switch name {
	case "availability_groups":
		rs = &rowset{cols: []tds.Column{col("group_id", tds.TypeUniqueIdentifier), col("name", tds.TypeNVarChar),
			col("resource_id", tds.TypeNVarChar), col("resource_group_id", tds.TypeNVarChar), col("failure_condition_level", tds.TypeInt),
			col("health_check_timeout", tds.TypeInt), col("automated_backup_preference", tds.TypeTinyInt),
			desc60("automated_backup_preference_desc"), col("version", tds.TypeSmallInt), col("basic_features", tds.TypeBit),
			col("dtc_support", tds.TypeBit), col("db_failover", tds.TypeBit), col("is_distributed", tds.TypeBit),
			col("cluster_type", tds.TypeTinyInt), desc60("cluster_type_desc"), col("required_synchronized_secondaries_to_commit", tds.TypeInt),
			col("sequence_number", tds.TypeBigInt), col("is_contained", tds.TypeBit)}}
	case "availability_replicas":
		rs = &rowset{cols: []tds.Column{col("replica_id", tds.TypeUniqueIdentifier), col("group_id", tds.TypeUniqueIdentifier),
			col("replica_metadata_id", tds.TypeInt), col("replica_server_name", tds.TypeNVarChar), col("endpoint_url", tds.TypeNVarChar),
			col("availability_mode", tds.TypeTinyInt), desc60("availability_mode_desc"), col("failover_mode", tds.TypeTinyInt),
			desc60("failover_mode_desc"), col("session_timeout", tds.TypeInt), col("primary_role_allow_connections", tds.TypeTinyInt),
			desc60("primary_role_allow_connections_desc"), col("secondary_role_allow_connections", tds.TypeTinyInt),
			desc60("secondary_role_allow_connections_desc"), col("create_date", tds.TypeDateTime), col("modify_date", tds.TypeDateTime),
			col("backup_priority", tds.TypeInt), col("read_only_routing_url", tds.TypeNVarChar), col("seeding_mode", tds.TypeTinyInt),
			desc60("seeding_mode_desc")}}
		rs.cols[3].Length = 256
	case "availability_group_listeners":
		rs = &rowset{cols: []tds.Column{col("group_id", tds.TypeUniqueIdentifier), col("listener_id", tds.TypeNVarChar),
			col("dns_name", tds.TypeNVarChar), col("port", tds.TypeInt), col("is_conformant", tds.TypeBit),
			col("ip_configuration_string_from_cluster", tds.TypeNVarChar)}}
		rs.cols[2].Length = 63
	case "availability_databases_cluster":
		rs = &rowset{cols: []tds.Column{col("group_id", tds.TypeUniqueIdentifier), col("group_database_id", tds.TypeUniqueIdentifier),
			col("database_name", tds.TypeNVarChar), col("truncation_lsn", tds.TypeNumeric)}}
	default:
		rs = replicaStateCols()
	}
	if g == nil {
		return rs
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	switch name {
	case "availability_groups":
		// /sql/relational-databases/system-catalog-views/sys-availability-groups-transact-sql
		rs.rows = append(rs.rows, []any{g.id, g.name, guidString(g.id), guidString(g.id), int64(3), int64(30000),
			backupPreferences[g.pref], g.pref, int64(1), false, false, false, false, int64(0), "WSFC", int64(0), int64(1), false})
	case "availability_replicas":
		// /sql/relational-databases/system-catalog-views/sys-availability-replicas-transact-sql
		for i, r := range g.replicas {
			// automatic failover needs synchronous commit (availability-modes page)
			mode, modeDesc, failover, failoverDesc := int64(1), "SYNCHRONOUS_COMMIT", int64(0), "AUTOMATIC"
			if r.async {
				mode, modeDesc, failover, failoverDesc = 0, "ASYNCHRONOUS_COMMIT", 1, "MANUAL"
			}
			rs.rows = append(rs.rows, []any{r.id, g.id, int64(65536 + i), r.name,
				"TCP://" + r.host + ":5022", mode, modeDesc, failover, failoverDesc,
				int64(10), int64(3), "ALL", int64(0), "NO", g.created, g.created, int64(r.priority), nil, int64(1), "AUTOMATIC"})
		}
	case "availability_group_listeners":
		// /sql/relational-databases/system-catalog-views/sys-availability-group-listeners-transact-sql
		if g.listener != "" {
			rs.rows = append(rs.rows, []any{g.id, g.name + "_" + g.listener, g.listener, int64(g.port), true, ""})
		}
	case "availability_databases_cluster":
		// /sql/relational-databases/system-catalog-views/sys-availability-databases-cluster-transact-sql
		for _, d := range g.dbs {
			rs.rows = append(rs.rows, []any{g.id, d.groupDB, d.name, nil})
		}
	default:
		x.replicaStateRows(g, rs)
	}
	return rs
}

func replicaStateCols() *rowset {
	return &rowset{cols: []tds.Column{col("replica_id", tds.TypeUniqueIdentifier), col("group_id", tds.TypeUniqueIdentifier),
		col("is_local", tds.TypeBit), col("role", tds.TypeTinyInt), desc60("role_desc"), col("operational_state", tds.TypeTinyInt),
		desc60("operational_state_desc"), col("recovery_health", tds.TypeTinyInt), desc60("recovery_health_desc"),
		col("synchronization_health", tds.TypeTinyInt), desc60("synchronization_health_desc"), col("connected_state", tds.TypeTinyInt),
		desc60("connected_state_desc"), col("last_connect_error_number", tds.TypeInt), col("last_connect_error_description", tds.TypeNVarChar),
		col("last_connect_error_timestamp", tds.TypeDateTime)}}
}

// replicaStateRows follows sys.dm_hadr_availability_replica_states
// (/sql/relational-databases/system-dynamic-management-views/sys-dm-hadr-availability-replica-states-transact-sql):
// the primary has a row for every replica, a secondary only its own; a
// replica cut off sees itself RESOLVING and DISCONNECTED, and the
// primary sees it DISCONNECTED, NOT_HEALTHY, its role unknown (NULL).
// Callers hold g.mu.
func (x *execCtx) replicaStateRows(g *Group, rs *rowset) {
	me := g.replicaLocked(x.s.in)
	if me == nil {
		return
	}
	for _, r := range g.replicas {
		local := r == me
		if !local && !(me.primary && !me.down) {
			continue
		}
		role, roleDesc := any(int64(2)), any("SECONDARY")
		var op, opDesc, rec, recDesc any
		conn, connDesc, health, healthDesc := int64(1), "CONNECTED", int64(2), "HEALTHY"
		switch {
		case r.down:
			role, roleDesc = nil, nil
			if local {
				role, roleDesc = int64(0), "RESOLVING"
			}
			conn, connDesc, health, healthDesc = 0, "DISCONNECTED", 0, "NOT_HEALTHY"
		case r.primary:
			role, roleDesc = int64(1), "PRIMARY"
		}
		if local {
			op, opDesc, rec, recDesc = int64(2), "ONLINE", int64(1), "ONLINE"
			if r.down {
				op, opDesc = int64(3), "OFFLINE"
			}
		}
		rs.rows = append(rs.rows, []any{r.id, g.id, local, role, roleDesc, op, opDesc, rec, recDesc, health, healthDesc,
			conn, connDesc, nil, nil, nil})
	}
}

// agDatabaseReplicaStates follows sys.dm_hadr_database_replica_states
// (/sql/relational-databases/system-dynamic-management-views/sys-dm-hadr-database-replica-states-transact-sql):
// on the primary a row per group database per replica, on a secondary
// its own rows only. Synchronous commit: SYNCHRONIZED while connected,
// NOT SYNCHRONIZING when cut off; an asynchronous-commit secondary
// SYNCHRONIZING, never a commit participant.
func (x *execCtx) agDatabaseReplicaStates() *rowset {
	rs := &rowset{cols: []tds.Column{col("database_id", tds.TypeInt), col("group_id", tds.TypeUniqueIdentifier),
		col("replica_id", tds.TypeUniqueIdentifier), col("group_database_id", tds.TypeUniqueIdentifier),
		col("is_local", tds.TypeBit), col("is_primary_replica", tds.TypeBit), col("synchronization_state", tds.TypeTinyInt),
		desc60("synchronization_state_desc"), col("is_commit_participant", tds.TypeBit), col("synchronization_health", tds.TypeTinyInt),
		desc60("synchronization_health_desc"), col("database_state", tds.TypeTinyInt), desc60("database_state_desc"),
		col("is_suspended", tds.TypeBit), col("last_hardened_lsn", tds.TypeNumeric), col("last_redone_lsn", tds.TypeNumeric),
		col("last_commit_lsn", tds.TypeNumeric), col("end_of_log_lsn", tds.TypeNumeric), col("log_send_queue_size", tds.TypeBigInt),
		col("redo_queue_size", tds.TypeBigInt)}}
	g := x.s.in.ag.Load()
	g.mu.Lock()
	defer g.mu.Unlock()
	me := g.replicaLocked(x.s.in)
	if me == nil {
		return rs
	}
	for _, gd := range g.dbs {
		d, ok := x.s.in.st.Databases[strings.ToLower(gd.name)]
		if !ok || me.left[strings.ToLower(gd.name)] {
			continue
		}
		lsn := lsnDecimal(lsnOf(d.LogN + 1))
		for _, r := range g.replicas {
			local := r == me
			if (!local && !(me.primary && !me.down)) || r.left[strings.ToLower(gd.name)] {
				continue
			}
			st, stDesc, h, hDesc := int64(2), "SYNCHRONIZED", int64(2), "HEALTHY"
			switch {
			case r.down:
				st, stDesc, h, hDesc = 0, "NOT SYNCHRONIZING", 0, "NOT_HEALTHY"
			case r.async && !r.primary: // asynchronous commit never waits for it
				st, stDesc = 1, "SYNCHRONIZING"
			case r.in == nil && !r.primary && r.synced[strings.ToLower(gd.name)] != d.fingerprint():
				// a remote secondary that has not fetched the last change yet (ag_peer.go)
				st, stDesc = 1, "SYNCHRONIZING"
			}
			rs.rows = append(rs.rows, []any{int64(d.ID), g.id, r.id, gd.groupDB, local, r.primary && !r.down, st, stDesc,
				!r.down && !r.async, h, hDesc, stateCodes[d.State], d.State, false, lsn, lsn, lsn, lsn, int64(0), int64(0)})
		}
	}
	return rs
}

// agIDs are sys.databases.replica_id and group_database_id of a group
// database on this replica.
func (in *Instance) agIDs(name string) (replica, groupDB [16]byte, ok bool) {
	_, rep, db := in.agRole(name)
	if db == nil {
		return replica, groupDB, false
	}
	return rep.id, db.groupDB, true
}

// backupIsPreferred is sys.fn_hadr_backup_is_preferred_replica: 1 for a
// database in no group, 0 for one that does not exist (SQL Server 2022
// CU2 and later).
func (x *execCtx) backupIsPreferred(name string) bool {
	if _, ok := x.s.in.st.Databases[strings.ToLower(name)]; !ok {
		return false
	}
	g, _, db := x.s.in.agRole(name)
	if db == nil {
		return true
	}
	return g.preferred(x.s.in)
}

// alterAG is ALTER AVAILABILITY GROUP [g] FAILOVER | SET
// (AUTOMATED_BACKUP_PREFERENCE = p) | MODIFY REPLICA ON N'server' WITH
// (BACKUP_PRIORITY = n) | ADD DATABASE [db] | REMOVE DATABASE [db]
// (/sql/t-sql/statements/alter-availability-group-transact-sql). FAILOVER
// runs on the secondary that becomes primary; the others on the primary.
func (x *execCtx) alterAG(p *parser) error {
	if err := p.expect("GROUP"); err != nil {
		return err
	}
	name, err := p.name()
	if err != nil {
		return err
	}
	in := x.s.in
	g := in.ag.Load()
	if g == nil || !strings.EqualFold(g.name, name) {
		// 15151 (/sql/relational-databases/errors-events/database-engine-events-and-errors-15000-to-15999)
		return sqlErr(15151, 16, fmt.Sprintf("Cannot alter the availability group '%s', because it does not exist or you do not have permission.", name))
	}
	if !x.s.login.Sysadmin {
		return sqlErr(15151, 16, fmt.Sprintf("Cannot alter the availability group '%s', because it does not exist or you do not have permission.", name))
	}
	isPrimary := g.Primary() == in
	switch {
	case p.accept("FAILOVER"):
		if isPrimary {
			return sqlErr(50000, 16, "sqlsim: FAILOVER runs on the secondary replica that is to become the primary; this replica is the primary.")
		}
		err = g.Failover(in)
	case !isPrimary:
		return sqlErr(50000, 16, "sqlsim: this ALTER AVAILABILITY GROUP runs on the primary replica.")
	case p.accept("SET"):
		err = x.agSet(p, g)
	case p.accept("MODIFY"):
		err = x.agModifyReplica(p, g)
	case p.accept("ADD"):
		err = x.agAddDatabase(p, g)
	case p.accept("REMOVE"):
		err = x.agRemoveDatabase(p, g)
	default:
		return p.syntaxErr()
	}
	if err != nil {
		if m, ok := err.(*tds.Message); ok {
			return m
		}
		return sqlErr(50000, 16, err.Error())
	}
	for !p.atStmtEnd() {
		p.next()
	}
	return x.w.Done(0, false)
}

// agSet is SET (AUTOMATED_BACKUP_PREFERENCE = { PRIMARY | SECONDARY_ONLY | SECONDARY | NONE }).
func (x *execCtx) agSet(p *parser, g *Group) error {
	if !p.acceptOp("(") || !p.accept("AUTOMATED_BACKUP_PREFERENCE") || !p.acceptOp("=") {
		return p.syntaxErr()
	}
	pref := p.next().text
	if _, ok := backupPreferences[strings.ToUpper(pref)]; !ok {
		return p.syntaxErr()
	}
	if err := p.expectOp(")"); err != nil {
		return err
	}
	return g.SetPreference(pref)
}

// agModifyReplica is MODIFY REPLICA ON N'server' WITH (BACKUP_PRIORITY = n).
func (x *execCtx) agModifyReplica(p *parser, g *Group) error {
	if err := p.expect("REPLICA"); err != nil {
		return err
	}
	if err := p.expect("ON"); err != nil {
		return err
	}
	v, err := x.value(p)
	if err != nil {
		return err
	}
	if !p.accept("WITH") || !p.acceptOp("(") || !p.accept("BACKUP_PRIORITY") || !p.acceptOp("=") {
		return p.syntaxErr()
	}
	var n int
	if _, err := fmt.Sscan(p.next().text, &n); err != nil {
		return p.syntaxErr()
	}
	if err := p.expectOp(")"); err != nil {
		return err
	}
	g.mu.Lock()
	known := g.byNameLocked(fmt.Sprint(v)) != nil
	g.mu.Unlock()
	if !known {
		return sqlErr(50000, 16, fmt.Sprintf("sqlsim: '%v' is not a replica of availability group '%s'.", v, g.name))
	}
	return g.setPriority(fmt.Sprint(v), n)
}

// agAddDatabase is ADD DATABASE [db] on the primary
// (/sql/t-sql/statements/alter-availability-group-transact-sql): the
// database (FULL recovery) joins and is seeded on the secondaries, as
// SEEDING_MODE = AUTOMATIC (seeding_mode_desc in sys.availability_replicas) does.
func (x *execCtx) agAddDatabase(p *parser, g *Group) error {
	if err := p.expect("DATABASE"); err != nil {
		return err
	}
	name, err := p.name()
	if err != nil {
		return err
	}
	return g.AddDatabase(context.Background(), name)
}

// agRemoveDatabase is REMOVE DATABASE [db] on the primary: the primary
// database stays ONLINE, the secondary databases go RESTORING
// (/sql/database-engine/availability-groups/windows/remove-a-primary-database-from-an-availability-group-sql-server).
func (x *execCtx) agRemoveDatabase(p *parser, g *Group) error {
	if err := p.expect("DATABASE"); err != nil {
		return err
	}
	name, err := p.name()
	if err != nil {
		return err
	}
	g.mu.Lock()
	i := -1
	for k, d := range g.dbs {
		if strings.EqualFold(d.name, name) {
			i = k
		}
	}
	if i < 0 {
		g.mu.Unlock()
		return sqlErr(50000, 16, fmt.Sprintf("sqlsim: database '%s' is not in availability group '%s'.", name, g.name))
	}
	g.dbs = append(g.dbs[:i:i], g.dbs[i+1:]...)
	g.version++
	g.mu.Unlock()
	g.removed(name)
	g.changed()
	return nil
}

// removed forgets database name's replication state and leaves every
// local secondary copy RESTORING, as REMOVE DATABASE does.
func (g *Group) removed(name string) {
	var secondaries []*Instance
	g.mu.Lock()
	for _, r := range g.replicas {
		delete(r.synced, strings.ToLower(name))
		delete(r.left, strings.ToLower(name))
		if r.in != nil && !r.primary {
			secondaries = append(secondaries, r.in)
		}
	}
	g.mu.Unlock()
	for _, o := range secondaries {
		o.mu.Lock()
		if d, ok := o.st.Databases[strings.ToLower(name)]; ok {
			d.State = "RESTORING"
			o.save()
		}
		o.mu.Unlock()
	}
}
