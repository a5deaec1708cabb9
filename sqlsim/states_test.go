package sqlsim

import (
	"database/sql"
	"strings"
	"testing"
)

// fileRow is one row of RESTORE FILELISTONLY or sys.master_files.
type fileRow struct{ logical, physical, typ, group string }

func fileList(t *testing.T, db *sql.DB, url string) []fileRow {
	t.Helper()
	rows, err := db.Query("RESTORE FILELISTONLY FROM URL = N'" + url + "'")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []fileRow
	for rows.Next() {
		var f fileRow
		var g sql.NullString
		var size, maxSize, id any
		if err := rows.Scan(&f.logical, &f.physical, &f.typ, &g, &size, &maxSize, &id); err != nil {
			t.Fatal(err)
		}
		f.group = g.String
		out = append(out, f)
	}
	return out
}

const docsDB = `CREATE DATABASE Docs ON PRIMARY (NAME = Docs, FILENAME = '/var/opt/mssql/data/Docs.mdf', SIZE = 8MB),
	FILEGROUP DocsFS CONTAINS FILESTREAM (NAME = DocsFS, FILENAME = '/var/opt/mssql/data/DocsFS'),
	FILEGROUP DocsMem CONTAINS MEMORY_OPTIMIZED_DATA (NAME = DocsMem, FILENAME = '/var/opt/mssql/data/DocsMem')
	LOG ON (NAME = Docs_log, FILENAME = '/var/opt/mssql/data/Docs_log.ldf', FILEGROWTH = 10%)`

// TestFilestreamAndMemoryOptimizedFiles: CREATE DATABASE with FILESTREAM
// and MEMORY_OPTIMIZED_DATA filegroups lists their containers as type 2
// FILESTREAM in sys.master_files and S in RESTORE FILELISTONLY; a RESTORE
// that puts two files on one path fails with 3176; distinct MOVEs restore.
func TestFilestreamAndMemoryOptimizedFiles(t *testing.T) {
	_, db := setupBackups(t)
	exec(t, db, docsDB)
	var types []string
	rows, err := db.Query("SELECT f.name, f.type, f.type_desc FROM sys.master_files f WHERE f.database_id = DB_ID('Docs')")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name, desc string
		var typ int
		rows.Scan(&name, &typ, &desc)
		types = append(types, name+":"+desc)
		if (desc == "FILESTREAM") != (typ == 2) {
			t.Errorf("%s: type %d, %s", name, typ, desc)
		}
	}
	rows.Close()
	if strings.Join(types, " ") != "Docs:ROWS DocsFS:FILESTREAM DocsMem:FILESTREAM Docs_log:LOG" {
		t.Errorf("sys.master_files of Docs: %v", types)
	}

	url := container + "/docs.bak"
	exec(t, db, "BACKUP DATABASE Docs TO URL = N'"+url+"'")
	got := fileList(t, db, url)
	want := []fileRow{{"Docs", "/var/opt/mssql/data/Docs.mdf", "D", "PRIMARY"}, {"DocsFS", "/var/opt/mssql/data/DocsFS", "S", "DocsFS"},
		{"DocsMem", "/var/opt/mssql/data/DocsMem", "S", "DocsMem"}, {"Docs_log", "/var/opt/mssql/data/Docs_log.ldf", "L", ""}}
	if len(got) != len(want) {
		t.Fatalf("FILELISTONLY = %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("FILELISTONLY row %d = %+v, want %+v", i, got[i], want[i])
		}
	}

	clash := "RESTORE DATABASE Docs2 FROM URL = N'" + url + "' WITH MOVE N'Docs' TO N'/d/Docs2.mdf', MOVE N'DocsFS' TO N'/d/Docs2_fs', MOVE N'DocsMem' TO N'/d/Docs2_fs', MOVE N'Docs_log' TO N'/d/Docs2_log.ldf'"
	wantFailure(t, db, clash, []int32{3176, 3119, 3013}, "is claimed by")
	exec(t, db, strings.Replace(clash, "TO N'/d/Docs2_fs', MOVE N'Docs_log'", "TO N'/d/Docs2_mem', MOVE N'Docs_log'", 1))
	var n int
	db.QueryRow("SELECT count(*) FROM sys.master_files WHERE database_id = DB_ID('Docs2') AND type = 2").Scan(&n)
	if n != 2 {
		t.Errorf("Docs2 has %d FILESTREAM containers", n)
	}
}

// dbRow is what discovery reads of a database in sys.databases.
type dbRow struct {
	state             string
	readOnly, standby bool
	source            sql.NullInt64
	replica           sql.NullString
}

func dbState(t *testing.T, db *sql.DB, name string) dbRow {
	t.Helper()
	var r dbRow
	err := db.QueryRow(`SELECT state_desc, is_read_only, is_in_standby, source_database_id, CAST(replica_id AS nvarchar(36))
		FROM sys.databases WHERE name = @p1`, name).Scan(&r.state, &r.readOnly, &r.standby, &r.source, &r.replica)
	if err != nil {
		t.Fatalf("sys.databases row of %s: %v", name, err)
	}
	return r
}

// TestDatabaseStates: each state discovery must tell apart shows in
// sys.databases as SQL Server documents it.
func TestDatabaseStates(t *testing.T) {
	s, db := setupBackups(t)
	exec(t, db, "INSERT INTO Sales.dbo.orders (id) VALUES (1)")

	exec(t, db, "ALTER DATABASE Sales SET READ_ONLY")
	if r := dbState(t, db, "Sales"); r.state != "ONLINE" || !r.readOnly {
		t.Errorf("read-only Sales: %+v", r)
	}
	_, err := db.Exec("INSERT INTO Sales.dbo.orders (id) VALUES (2)")
	if sqlNumber(err) != 3906 {
		t.Errorf("insert into a read-only database: %v", err)
	}
	exec(t, db, "ALTER DATABASE Sales SET READ_WRITE")

	for _, st := range []string{"OFFLINE", "EMERGENCY", "ONLINE"} {
		exec(t, db, "ALTER DATABASE Sales SET "+st)
		if r := dbState(t, db, "Sales"); r.state != st {
			t.Errorf("after SET %s: %+v", st, r)
		}
	}
	for _, st := range []string{"SUSPECT", "RECOVERY_PENDING", "ONLINE"} {
		if err := s.SetDatabaseState("Sales", st); err != nil {
			t.Fatal(err)
		}
		var code int
		db.QueryRow("SELECT state FROM sys.databases WHERE name = 'Sales'").Scan(&code)
		if r := dbState(t, db, "Sales"); r.state != st || int64(code) != stateCodes[st] {
			t.Errorf("after SetDatabaseState(%s): %+v, state %d", st, r, code)
		}
	}

	// A snapshot names its source and is read-only.
	exec(t, db, "CREATE DATABASE Sales_snap ON (NAME = Sales, FILENAME = '/var/opt/mssql/data/Sales_snap.ss') AS SNAPSHOT OF Sales")
	var salesID int64
	db.QueryRow("SELECT database_id FROM sys.databases WHERE name = 'Sales'").Scan(&salesID)
	if r := dbState(t, db, "Sales_snap"); !r.source.Valid || r.source.Int64 != salesID || !r.readOnly {
		t.Errorf("snapshot: %+v", r)
	}
	if n := count(t, db, "SELECT count(*) FROM Sales_snap.dbo.orders"); n != 1 {
		t.Errorf("snapshot holds %d rows", n)
	}

	// RESTORE ... WITH STANDBY: online, in standby and read-only, and a
	// later log restore continues from it.
	exec(t, db, "USE master")
	exec(t, db, "BACKUP DATABASE Sales TO URL = N'"+container+"/s.bak'")
	exec(t, db, "INSERT INTO Sales.dbo.orders (id) VALUES (2)")
	exec(t, db, "BACKUP LOG Sales TO URL = N'"+container+"/s1.trn'")
	exec(t, db, "RESTORE DATABASE Sales_sb FROM URL = N'"+container+"/s.bak' WITH STANDBY = N'/var/opt/mssql/data/sb.tuf', MOVE N'Sales' TO N'/d/sb.mdf', MOVE N'Sales_log' TO N'/d/sb.ldf'")
	if r := dbState(t, db, "Sales_sb"); r.state != "ONLINE" || !r.standby || !r.readOnly {
		t.Errorf("standby: %+v", r)
	}
	if n := count(t, db, "SELECT count(*) FROM Sales_sb.dbo.orders"); n != 1 {
		t.Errorf("standby database holds %d rows before the log", n)
	}
	exec(t, db, "RESTORE LOG Sales_sb FROM URL = N'"+container+"/s1.trn' WITH RECOVERY")
	if r := dbState(t, db, "Sales_sb"); r.state != "ONLINE" || r.standby || r.readOnly {
		t.Errorf("recovered from standby: %+v", r)
	}
	if n := count(t, db, "SELECT count(*) FROM Sales_sb.dbo.orders"); n != 2 {
		t.Errorf("recovered database holds %d rows", n)
	}
}

// TestAGSecondaryMarker: Config.AGSecondaries shows a database as a local
// secondary replica in sys.databases and sys.dm_hadr_database_replica_states.
func TestAGSecondaryMarker(t *testing.T) {
	s := startSimWith(t, "", func(c *Config) { c.AGSecondaries = []string{"Replica"} })
	db := s.db(t, "sa", "Sa-Passw0rd!")
	exec(t, db, "CREATE DATABASE Replica; CREATE DATABASE Plain")
	s.Close()
	s = startSimWith(t, s.dir, func(c *Config) { c.AGSecondaries = []string{"Replica"} })
	db = s.db(t, "sa", "Sa-Passw0rd!")
	if r := dbState(t, db, "Replica"); !r.replica.Valid {
		t.Errorf("Replica has no replica_id: %+v", r)
	}
	if r := dbState(t, db, "Plain"); r.replica.Valid {
		t.Errorf("Plain has a replica_id: %+v", r)
	}
	var name string
	var primary bool
	err := db.QueryRow(`SELECT d.name, r.is_primary_replica FROM sys.dm_hadr_database_replica_states r
		JOIN sys.databases d ON d.database_id = r.database_id WHERE r.is_local = 1`).Scan(&name, &primary)
	if err != nil || name != "Replica" || primary {
		t.Errorf("dm_hadr_database_replica_states: %s primary=%v, %v", name, primary, err)
	}
	var hadr int
	db.QueryRow("SELECT CAST(SERVERPROPERTY('IsHadrEnabled') AS int)").Scan(&hadr)
	if hadr != 1 {
		t.Errorf("IsHadrEnabled = %d with an availability group replica", hadr)
	}
}

// TestRestoreLeavesRestoringFault: the knob makes RESTORE WITH RECOVERY
// succeed yet leave the database RESTORING.
func TestRestoreLeavesRestoringFault(t *testing.T) {
	s, db := setupBackups(t)
	exec(t, db, "USE master")
	exec(t, db, "BACKUP DATABASE Sales TO URL = N'"+container+"/s.bak'")
	s.SetFault(Fault{RestoreLeavesRestoring: true})
	exec(t, db, "RESTORE DATABASE Sales2 FROM URL = N'"+container+"/s.bak' WITH RECOVERY, MOVE N'Sales' TO N'/d/s2.mdf', MOVE N'Sales_log' TO N'/d/s2.ldf'")
	if r := dbState(t, db, "Sales2"); r.state != "RESTORING" {
		t.Errorf("with the fault: %+v", r)
	}
	s.SetFault(Fault{})
	exec(t, db, "RESTORE DATABASE Sales2 WITH RECOVERY")
	if r := dbState(t, db, "Sales2"); r.state != "ONLINE" {
		t.Errorf("after RESTORE WITH RECOVERY: %+v", r)
	}
}
