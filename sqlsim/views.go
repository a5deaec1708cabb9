package sqlsim

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sqlvault/sqlvault/sqlsim/tds"
)

// longText are the catalog's text columns longer than sysname, as their
// pages declare them: sys.master_files and RESTORE FILELISTONLY paths,
// backupmediafamily devices (nvarchar(260)), backupset and HEADERONLY
// descriptions (nvarchar(255)), sys.credentials identities (nvarchar(4000)).
var longText = map[string]int{"physical_name": 260, "PhysicalName": 260, "physical_device_name": 260,
	"description": 255, "BackupDescription": 255, "credential_identity": 4000}

func col(name string, t tds.Type) tds.Column {
	c := tds.Column{Name: name, Type: t, Nullable: true}
	switch t {
	case tds.TypeNVarChar:
		c.Length = 128 // sysname, the type of catalog names
		if n, ok := longText[name]; ok {
			c.Length = n
		}
	case tds.TypeNumeric:
		c.Precision, c.Scale = 25, 0
	case tds.TypeDateTime2:
		c.Scale = 7
	}
	return c
}

var recoveryCodes = map[string]int64{"FULL": 1, "BULK_LOGGED": 2, "SIMPLE": 3}

// source resolves a FROM name to a rowset; callers hold in.mu.
func (x *execCtx) source(parts []string) (*rowset, error) {
	full := strings.ToLower(strings.Join(parts, "."))
	name := strings.ToLower(parts[len(parts)-1])
	schema := ""
	if len(parts) >= 2 {
		schema = strings.ToLower(parts[len(parts)-2])
	}
	st := x.s.in.st
	if schema == "sys" {
		switch name {
		case "databases":
			return x.sysDatabases(), nil
		case "master_files":
			return x.sysMasterFiles(), nil
		case "database_recovery_status":
			return x.sysRecoveryStatus(), nil
		case "dm_os_host_info":
			return x.dmOSHostInfo(), nil
		case "dm_hadr_database_replica_states":
			if x.s.in.ag.Load() != nil {
				return x.agDatabaseReplicaStates(), nil // ag_views.go
			}
			return x.dmHadrDatabaseReplicaStates(), nil
		case "availability_groups", "availability_replicas", "availability_group_listeners",
			"availability_databases_cluster", "dm_hadr_availability_replica_states":
			return x.agView(name), nil // ag_views.go
		case "server_principals", "sql_logins":
			return x.sysPrincipals(), nil
		case "server_role_members":
			return x.sysRoleMembers(), nil
		case "credentials":
			return x.sysCredentials(), nil
		case "tables":
			return x.sysTables(parts)
		case "partitions":
			return x.sysPartitions(parts)
		}
		return nil, sqlErr(208, 16, fmt.Sprintf("Invalid object name '%s'.", strings.Join(parts, ".")))
	}
	if strings.HasPrefix(full, "msdb.") || strings.EqualFold(x.s.db, "msdb") {
		switch name {
		case "backupset":
			return x.msdbBackupset(), nil
		case "backupmediafamily":
			return x.msdbMediaFamily(), nil
		case "restorehistory":
			return x.msdbRestoreHistory(), nil
		}
	}
	dbName := x.s.db
	if len(parts) == 3 {
		dbName = parts[0]
	}
	d, ok := st.Databases[strings.ToLower(dbName)]
	if !ok {
		return nil, sqlErr(208, 16, fmt.Sprintf("Invalid object name '%s'.", strings.Join(parts, ".")))
	}
	t, ok := d.table(name)
	if !ok {
		return nil, sqlErr(208, 16, fmt.Sprintf("Invalid object name '%s'.", strings.Join(parts, ".")))
	}
	return tableRowset(t), nil
}

// tableRowset exposes a user table's rows in row id order.
func tableRowset(t *Table) *rowset {
	rs := &rowset{}
	for _, c := range t.Columns {
		rs.cols = append(rs.cols, colForType(c))
	}
	ids := make([]int64, 0, len(t.Rows))
	for id := range t.Rows {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		rs.rows = append(rs.rows, t.Rows[id])
	}
	return rs
}

// colForType is the column a declared type sends: SQL Server's own type
// with its length, precision and scale
// (learn.microsoft.com/sql/t-sql/data-types/data-types-transact-sql).
func colForType(c ColDef) tds.Column {
	base, args, _ := strings.Cut(c.Type, "(")
	args = strings.TrimSuffix(args, ")")
	length := func(dflt int) int { // n of char(n); max is -1
		if strings.EqualFold(args, "max") {
			return -1
		}
		if n, err := strconv.Atoi(args); err == nil {
			return n
		}
		return dflt
	}
	scaleOr7 := func() uint8 {
		if n, err := strconv.Atoi(args); err == nil && n >= 0 && n <= 7 {
			return uint8(n)
		}
		return 7
	}
	cc := col(c.Name, tds.TypeNVarChar)
	switch base {
	case "int":
		cc.Type = tds.TypeInt
	case "smallint":
		cc.Type = tds.TypeSmallInt
	case "tinyint":
		cc.Type = tds.TypeTinyInt
	case "bigint":
		cc.Type = tds.TypeBigInt
	case "bit":
		cc.Type = tds.TypeBit
	case "float", "real":
		cc.Type = tds.TypeFloat
		if base == "real" {
			cc.Length = 4 // FLTN 4
		}
	case "money":
		cc.Type, cc.Length, cc.Precision, cc.Scale = tds.TypeMoney, 8, 19, 4
	case "smallmoney":
		cc.Type, cc.Length, cc.Precision, cc.Scale = tds.TypeMoney, 4, 10, 4
	case "decimal", "numeric":
		cc.Type = tds.TypeDecimal
		if base == "numeric" {
			cc.Type = tds.TypeNumeric
		}
		p, sc := numericPrecision(c.Type)
		cc.Precision, cc.Scale = uint8(p), uint8(sc)
	case "datetime", "smalldatetime":
		cc.Type = tds.TypeDateTime
		if base == "smalldatetime" {
			cc.Length = 4 // DATETIMN 4
		}
	case "datetime2":
		cc.Type, cc.Scale = tds.TypeDateTime2, scaleOr7()
	case "datetimeoffset":
		cc.Type, cc.Scale = tds.TypeDateTimeOffset, scaleOr7()
	case "date":
		cc.Type = tds.TypeDate
	case "time":
		cc.Type, cc.Scale = tds.TypeTime, scaleOr7()
	case "uniqueidentifier":
		cc.Type = tds.TypeUniqueIdentifier
	case "binary":
		cc.Type, cc.Length = tds.TypeBinary, length(1)
	case "varbinary", "image":
		cc.Type, cc.Length = tds.TypeVarBinary, length(1)
		if base == "image" {
			cc.Length = -1
		}
	case "varchar", "text":
		cc.Type, cc.Length = tds.TypeVarChar, length(1)
		if base == "text" {
			cc.Length = -1
		}
	case "char":
		cc.Type, cc.Length = tds.TypeChar, length(1)
	case "nchar":
		cc.Type, cc.Length = tds.TypeNChar, length(1)
	case "sysname": // nvarchar(128) NOT NULL
		cc.Length, cc.Nullable = 128, false
	case "ntext":
		cc.Length = -1
	default: // nvarchar(n)
		cc.Length = length(1)
	}
	return cc
}

func (x *execCtx) databases() []*Database {
	var out []*Database
	for _, d := range x.s.in.st.Databases {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// sysDatabases follows sys.databases (learn.microsoft.com/sql/relational-databases/system-catalog-views/sys-databases-transact-sql).
func (x *execCtx) sysDatabases() *rowset {
	rs := &rowset{cols: []tds.Column{col("name", tds.TypeNVarChar), col("database_id", tds.TypeInt), col("source_database_id", tds.TypeInt),
		col("create_date", tds.TypeDateTime), col("compatibility_level", tds.TypeTinyInt), col("collation_name", tds.TypeNVarChar),
		col("user_access", tds.TypeTinyInt), col("user_access_desc", tds.TypeNVarChar), col("is_read_only", tds.TypeBit),
		col("state", tds.TypeTinyInt), col("state_desc", tds.TypeNVarChar), col("is_in_standby", tds.TypeBit),
		col("recovery_model", tds.TypeTinyInt), col("recovery_model_desc", tds.TypeNVarChar), col("is_encrypted", tds.TypeBit),
		col("log_reuse_wait_desc", tds.TypeNVarChar), col("replica_id", tds.TypeUniqueIdentifier), col("group_database_id", tds.TypeUniqueIdentifier)}}
	for _, d := range x.databases() {
		var source, replica, groupDB any
		if d.SourceID != 0 {
			source = int64(d.SourceID)
		}
		if d.AGSecondary {
			replica, groupDB = agReplicaID, d.GUID
		}
		if r, g, ok := x.s.in.agIDs(d.Name); ok {
			replica, groupDB = r, g
		}
		rs.rows = append(rs.rows, []any{d.Name, int64(d.ID), source, d.Created, int64(d.Compat), "SQL_Latin1_General_CP1_CI_AS",
			int64(0), "MULTI_USER", d.ReadOnly || d.Standby, stateCodes[d.State], d.State, d.Standby,
			recoveryCodes[d.Recovery], d.Recovery, false, "NOTHING", replica, groupDB})
	}
	return rs
}

func (x *execCtx) sysMasterFiles() *rowset {
	rs := &rowset{cols: []tds.Column{col("database_id", tds.TypeInt), col("file_id", tds.TypeInt), col("type", tds.TypeTinyInt),
		col("type_desc", tds.TypeNVarChar), col("name", tds.TypeNVarChar), col("physical_name", tds.TypeNVarChar),
		col("state_desc", tds.TypeNVarChar), col("size", tds.TypeInt), col("max_size", tds.TypeInt), col("growth", tds.TypeInt)}}
	for _, d := range x.databases() {
		files := d.Files
		if len(files) == 0 {
			files = defaultFiles(d.Name)
		}
		for i, f := range files {
			t, size := fileTypeCodes[f.Type], int64(0) // FILESTREAM and full-text folders count no pages
			switch f.Type {
			case "D":
				size = max(d.Pages, 128)
			case "L":
				size = 1024 + int64(len(d.Log))/32
			}
			rs.rows = append(rs.rows, []any{int64(d.ID), int64(i + 1), t.code, t.desc, f.Logical, f.Physical, "ONLINE", size, int64(-1), int64(8192)})
		}
	}
	return rs
}

func (x *execCtx) sysRecoveryStatus() *rowset {
	rs := &rowset{cols: []tds.Column{col("database_id", tds.TypeInt), col("database_guid", tds.TypeUniqueIdentifier),
		col("family_guid", tds.TypeUniqueIdentifier), col("last_log_backup_lsn", tds.TypeNumeric)}}
	for _, d := range x.databases() {
		if d.State != "ONLINE" {
			continue // as SQL Server, only databases that are online
		}
		// last_log_backup_lsn is NULL when no log backup can be taken: the
		// SIMPLE recovery model, or FULL with no database backup since
		// ("pseudo-simple", 4214 on BACKUP LOG).
		var last any
		if d.ChainOpen && d.Recovery != "SIMPLE" {
			last = lsnDecimal(lsnIfSet(d.LastLogBack))
		}
		rs.rows = append(rs.rows, []any{int64(d.ID), d.GUID, d.GUID, last})
	}
	return rs
}

func lsnIfSet(n int64) int64 {
	if n == 0 {
		return 0
	}
	return lsnOf(n)
}

func (x *execCtx) sysPrincipals() *rowset {
	rs := &rowset{cols: []tds.Column{col("name", tds.TypeNVarChar), col("principal_id", tds.TypeInt), col("type", tds.TypeNVarChar),
		col("type_desc", tds.TypeNVarChar), col("is_disabled", tds.TypeBit), col("create_date", tds.TypeDateTime)}}
	rs.rows = append(rs.rows, []any{"sysadmin", int64(3), "R", "SERVER_ROLE", false, time.Date(2003, 4, 8, 9, 10, 35, 0, time.UTC)})
	for i, l := range x.sortedLogins() {
		rs.rows = append(rs.rows, []any{l.Name, int64(256 + i), "S", "SQL_LOGIN", false, l.Created})
	}
	return rs
}

func (x *execCtx) sortedLogins() []*Login {
	var ls []*Login
	for _, l := range x.s.in.st.Logins {
		ls = append(ls, l)
	}
	sort.Slice(ls, func(i, j int) bool { return ls[i].Name < ls[j].Name })
	return ls
}

func (x *execCtx) sysRoleMembers() *rowset {
	rs := &rowset{cols: []tds.Column{col("role_principal_id", tds.TypeInt), col("member_principal_id", tds.TypeInt)}}
	for i, l := range x.sortedLogins() {
		if l.Sysadmin {
			rs.rows = append(rs.rows, []any{int64(3), int64(256 + i)})
		}
	}
	return rs
}

func (x *execCtx) sysCredentials() *rowset {
	rs := &rowset{cols: []tds.Column{col("credential_id", tds.TypeInt), col("name", tds.TypeNVarChar), col("credential_identity", tds.TypeNVarChar),
		col("create_date", tds.TypeDateTime), col("modify_date", tds.TypeDateTime), col("target_type", tds.TypeNVarChar)}}
	var cs []*Credential
	for _, c := range x.s.in.st.Credentials {
		cs = append(cs, c)
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].ID < cs[j].ID })
	for _, c := range cs {
		rs.rows = append(rs.rows, []any{int64(c.ID), c.Name, c.Identity, c.Created, c.Created, nil})
	}
	return rs
}

func (x *execCtx) sysTables(parts []string) (*rowset, error) {
	dbName := x.s.db
	if len(parts) == 3 {
		dbName = parts[0]
	}
	d, ok := x.s.in.st.Databases[strings.ToLower(dbName)]
	if !ok {
		return nil, sqlErr(208, 16, "Invalid object name 'sys.tables'.")
	}
	rs := &rowset{cols: []tds.Column{col("name", tds.TypeNVarChar), col("object_id", tds.TypeInt)}}
	var names []string
	for _, t := range d.Tables {
		names = append(names, t.Name)
	}
	sort.Strings(names)
	for i, n := range names {
		rs.rows = append(rs.rows, []any{n, int64(1000 + i)})
	}
	return rs, nil
}

// msdbBackupset follows msdb.dbo.backupset (learn.microsoft.com/sql/relational-databases/system-tables/backupset-transact-sql).
func (x *execCtx) msdbBackupset() *rowset {
	rs := &rowset{cols: []tds.Column{col("backup_set_id", tds.TypeInt), col("media_set_id", tds.TypeInt), col("name", tds.TypeNVarChar),
		col("description", tds.TypeNVarChar), col("database_name", tds.TypeNVarChar), col("server_name", tds.TypeNVarChar),
		col("machine_name", tds.TypeNVarChar), col("type", tds.TypeNVarChar), col("is_copy_only", tds.TypeBit),
		col("first_lsn", tds.TypeNumeric), col("last_lsn", tds.TypeNumeric), col("checkpoint_lsn", tds.TypeNumeric),
		col("database_backup_lsn", tds.TypeNumeric), col("differential_base_lsn", tds.TypeNumeric),
		col("backup_start_date", tds.TypeDateTime), col("backup_finish_date", tds.TypeDateTime),
		col("backup_size", tds.TypeNumeric), col("compressed_backup_size", tds.TypeNumeric),
		col("database_guid", tds.TypeUniqueIdentifier), col("recovery_model", tds.TypeNVarChar), col("time_zone", tds.TypeSmallInt),
		col("user_name", tds.TypeNVarChar)}}
	rs.cols[16].Precision, rs.cols[17].Precision = 20, 20
	flav := x.s.in.flav
	for _, b := range x.s.in.st.Backupsets {
		// Dates are the host's local time; time_zone is the offset in
		// 15-minute intervals in force when the backup started.
		rs.rows = append(rs.rows, []any{b.ID, b.MediaSetID, b.Name, b.Description, b.Database, x.s.in.ServerName(), x.s.in.cfg.MachineName,
			b.Type, b.CopyOnly, lsnDecimal(b.FirstLSN), lsnDecimal(b.LastLSN), lsnDecimal(b.CheckpointLSN),
			lsnDecimal(b.DatabaseBackupLSN), lsnDecimal(b.DifferentialBaseLSN), flav.local(b.Start), flav.local(b.Finish),
			tds.DecimalFromInt64(b.Size, 0), tds.DecimalFromInt64(b.CompressedSize, 0), b.DatabaseGUID, b.Recovery,
			flav.timeZoneColumn(b.Start), b.UserName})
	}
	return rs
}

// msdbMediaFamily follows msdb.dbo.backupmediafamily: one row per device,
// device_type 2 for a disk file and 9 for Azure Storage (a URL).
func (x *execCtx) msdbMediaFamily() *rowset {
	rs := &rowset{cols: []tds.Column{col("media_set_id", tds.TypeInt), col("family_sequence_number", tds.TypeTinyInt),
		col("physical_device_name", tds.TypeNVarChar), col("device_type", tds.TypeTinyInt)}}
	rs.cols[2].Length = 260
	for _, b := range x.s.in.st.Backupsets {
		for i, u := range b.URLs {
			name, typ := u, int64(9)
			if isDisk(u) {
				name, typ = diskPath(u), 2
			}
			rs.rows = append(rs.rows, []any{b.MediaSetID, int64(i + 1), name, typ})
		}
	}
	return rs
}

// msdbRestoreHistory follows msdb.dbo.restorehistory
// (learn.microsoft.com/sql/relational-databases/system-tables/restorehistory-transact-sql):
// restore_date is the host's local time.
func (x *execCtx) msdbRestoreHistory() *rowset {
	rs := &rowset{cols: []tds.Column{col("restore_history_id", tds.TypeInt), col("restore_date", tds.TypeDateTime),
		col("destination_database_name", tds.TypeNVarChar), col("user_name", tds.TypeNVarChar), col("backup_set_id", tds.TypeInt),
		col("restore_type", tds.TypeNVarChar), col("replace", tds.TypeBit), col("recovery", tds.TypeBit), col("stop_at", tds.TypeDateTime)}}
	flav := x.s.in.flav
	for _, r := range x.s.in.st.Restores {
		var set, stop any
		if r.BackupSetID != 0 {
			set = r.BackupSetID
		}
		if r.StopAt != nil {
			stop = flav.local(*r.StopAt)
		}
		rs.rows = append(rs.rows, []any{r.ID, flav.local(r.Date), r.Database, r.UserName, set, r.Type, r.Replace, r.Recovery, stop})
	}
	return rs
}
