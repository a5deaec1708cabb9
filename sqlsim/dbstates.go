package sqlsim

import (
	"fmt"
	"strings"

	"github.com/sqlvault/sqlvault/sqlsim/tds"
)

// stateCodes are sys.databases' state numbers for each state_desc
// (learn.microsoft.com/sql/relational-databases/system-catalog-views/sys-databases-transact-sql).
var stateCodes = map[string]int64{"ONLINE": 0, "RESTORING": 1, "RECOVERING": 2, "RECOVERY_PENDING": 3,
	"SUSPECT": 4, "EMERGENCY": 5, "OFFLINE": 6}

// setState is ALTER DATABASE ... SET ONLINE | OFFLINE | EMERGENCY
// (learn.microsoft.com/sql/t-sql/statements/alter-database-transact-sql-set-options);
// callers hold in.mu.
func setState(d *Database, state string) error {
	if d.SourceID != 0 {
		return sqlErr(5093, 16, "The operation cannot be performed on a database snapshot.")
	}
	if d.State == "RESTORING" {
		return sqlErr(5052, 16, fmt.Sprintf("ALTER DATABASE is not permitted while a database is in the Restoring state."))
	}
	d.State = state
	return nil
}

// readOnlyErr refuses a write to a read-only, standby or snapshot database.
func readOnlyErr(d *Database) error {
	if d.ReadOnly || d.Standby {
		return sqlErr(3906, 16, fmt.Sprintf("Failed to update database \"%s\" because the database is read-only.", d.Name))
	}
	return nil
}

// snapshotOf makes d a database snapshot of src: read-only, the source's
// data as of now, sparse files named by the ON clause
// (learn.microsoft.com/sql/relational-databases/databases/create-a-database-snapshot-transact-sql).
func snapshotOf(d, src *Database, files []DBFile) {
	d.SourceID, d.ReadOnly = src.ID, true
	d.GUID, d.Recovery, d.Compat = src.GUID, src.Recovery, src.Compat
	d.Tables, d.Pages = src.cloneTables(), src.Pages
	d.Files = files
}

// SetDatabaseState puts a database in a state_desc no statement reaches in
// the simulator, such as SUSPECT or RECOVERY_PENDING (a damaged or
// missing file on a real server), or back ONLINE.
func (in *Instance) SetDatabaseState(name, state string) error {
	state = strings.ToUpper(state)
	if _, ok := stateCodes[state]; !ok {
		return fmt.Errorf("sqlsim: unknown database state %q", state)
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	d, ok := in.st.Databases[strings.ToLower(name)]
	if !ok {
		return fmt.Errorf("sqlsim: no database %s", name)
	}
	d.State = state
	return in.save()
}

// markAGSecondaries flags the databases Config.AGSecondaries names, at
// start (newDatabase flags those created later); callers hold in.mu.
func (in *Instance) markAGSecondaries() {
	for _, d := range in.st.Databases {
		d.AGSecondary = in.isAGSecondary(d.Name)
	}
}

func (in *Instance) isAGSecondary(name string) bool {
	for _, n := range in.cfg.AGSecondaries {
		if strings.EqualFold(n, name) {
			return true
		}
	}
	return false
}

// agReplicaID is the local replica's id in sys.databases.replica_id and
// sys.dm_hadr_database_replica_states; the group's is agGroupID.
var (
	agReplicaID = [16]byte{0x5e, 0xc0, 0x4d, 0xa1, 0, 1, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, 1}
	agGroupID   = [16]byte{0x5e, 0xc0, 0x4d, 0xa1, 0, 2, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0, 2}
)

// dmHadrDatabaseReplicaStates follows sys.dm_hadr_database_replica_states
// (learn.microsoft.com/sql/relational-databases/system-dynamic-management-views/sys-dm-hadr-database-replica-states-transact-sql):
// one local row per database in an availability group, here only the
// secondaries Config.AGSecondaries names.
func (x *execCtx) dmHadrDatabaseReplicaStates() *rowset {
	rs := &rowset{cols: []tds.Column{col("database_id", tds.TypeInt), col("group_id", tds.TypeUniqueIdentifier),
		col("replica_id", tds.TypeUniqueIdentifier), col("group_database_id", tds.TypeUniqueIdentifier),
		col("is_local", tds.TypeBit), col("is_primary_replica", tds.TypeBit),
		col("synchronization_state_desc", tds.TypeNVarChar), col("database_state_desc", tds.TypeNVarChar)}}
	for _, d := range x.databases() {
		if d.AGSecondary {
			rs.rows = append(rs.rows, []any{int64(d.ID), agGroupID, agReplicaID, d.GUID, true, false, "SYNCHRONIZING", d.State})
		}
	}
	return rs
}
