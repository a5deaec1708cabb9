package sqlsim

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-sql/sqlexp"
)

const container = "https://backup.sqlvault.test/sqlvault"

func setupBackups(t *testing.T) (*sim, *sql.DB) {
	s := startSim(t, "")
	db := s.db(t, "sa", "Sa-Passw0rd!")
	setupSales(t, db, container, "sv=2020-10-02&sig=x")
	return s, db
}

// setupSales makes the SAS credential for the container and the Sales
// database with its orders table.
func setupSales(t *testing.T, db *sql.DB, container, sas string) {
	exec(t, db, "CREATE CREDENTIAL ["+container+"] WITH IDENTITY = 'SHARED ACCESS SIGNATURE', SECRET = '"+sas+"'")
	exec(t, db, "CREATE DATABASE Sales")
	exec(t, db, "USE Sales; CREATE TABLE orders (id int, note nvarchar(100), at datetime2)")
}

// insertAt inserts row id at simulated time t.
func insertAt(t *testing.T, s *sim, db *sql.DB, id int, at time.Time) {
	s.clock.Set(at)
	exec(t, db, "INSERT INTO Sales.dbo.orders (id, note, at) VALUES (@p1, @p2, @p3)", id, fmt.Sprintf("order %d", id), at)
}

func backupAt(t *testing.T, s *sim, db *sql.DB, at time.Time, stmt string) {
	s.clock.Set(at)
	exec(t, db, stmt)
}

func count(t *testing.T, db *sql.DB, q string) int {
	t.Helper()
	var n int
	if err := db.QueryRow(q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// TestPointInTimeRestore: rows at known times, a full, a differential and
// log backups; a restore under a new name WITH STOPAT = T holds exactly the
// rows committed at or before T, and full + differential alone hold the rows
// up to the differential.
func TestPointInTimeRestore(t *testing.T) {
	s, db := setupBackups(t)
	pointInTimeScenario(t, s, db, container)
}

func pointInTimeScenario(t *testing.T, s *sim, db *sql.DB, container string) {
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	insertAt(t, s, db, 1, at(1))
	backupAt(t, s, db, at(2), "BACKUP DATABASE Sales TO URL = N'"+container+"/full.bak' WITH CHECKSUM, STATS = 10")
	insertAt(t, s, db, 2, at(3))
	insertAt(t, s, db, 3, at(4))
	backupAt(t, s, db, at(5), "BACKUP LOG Sales TO URL = N'"+container+"/log1.trn'")
	insertAt(t, s, db, 4, at(6))
	backupAt(t, s, db, at(7), "BACKUP DATABASE Sales TO URL = N'"+container+"/diff.bak' WITH DIFFERENTIAL")
	insertAt(t, s, db, 5, at(8))
	insertAt(t, s, db, 6, at(10))
	backupAt(t, s, db, at(11), "BACKUP LOG Sales TO URL = N'"+container+"/log2.trn'")
	insertAt(t, s, db, 7, at(12))
	backupAt(t, s, db, at(13), "BACKUP LOG Sales TO URL = N'"+container+"/log3.trn'")

	// Point in time between rows 5 (8m) and 6 (10m), via full + diff + log2.
	stop := at(9).Format("2006-01-02T15:04:05")
	exec(t, db, "USE master")
	exec(t, db, "RESTORE DATABASE Sales_pit FROM URL = N'"+container+"/full.bak' WITH NORECOVERY, MOVE N'Sales' TO N'/var/opt/mssql/data/Sales_pit.mdf', MOVE N'Sales_log' TO N'/var/opt/mssql/data/Sales_pit_log.ldf'")
	exec(t, db, "RESTORE DATABASE Sales_pit FROM URL = N'"+container+"/diff.bak' WITH NORECOVERY")
	exec(t, db, "RESTORE LOG Sales_pit FROM URL = N'"+container+"/log2.trn' WITH RECOVERY, STOPAT = N'"+stop+"'")
	if n := count(t, db, "SELECT COUNT(*) FROM Sales_pit.dbo.orders"); n != 5 {
		t.Fatalf("rows after STOPAT 9m = %d, want 5 (ids 1-5)", n)
	}
	if n := count(t, db, "SELECT MAX(id) FROM Sales_pit.dbo.orders"); n != 5 {
		t.Fatalf("max id = %d, want 5", n)
	}

	// Full + differential alone: rows up to the differential (1-4).
	exec(t, db, "RESTORE DATABASE Sales_diff FROM URL = N'"+container+"/full.bak' WITH NORECOVERY, MOVE N'Sales' TO N'/d/Sales_diff.mdf', MOVE N'Sales_log' TO N'/d/Sales_diff.ldf'")
	exec(t, db, "RESTORE DATABASE Sales_diff FROM URL = N'"+container+"/diff.bak' WITH RECOVERY")
	if n := count(t, db, "SELECT COUNT(*) FROM Sales_diff.dbo.orders"); n != 4 {
		t.Fatalf("rows after full+diff = %d, want 4", n)
	}

	// The full and the whole log chain, without the differential, to 12m.
	exec(t, db, "RESTORE DATABASE Sales_all FROM URL = N'"+container+"/full.bak' WITH NORECOVERY, MOVE N'Sales' TO N'/d/a.mdf', MOVE N'Sales_log' TO N'/d/a.ldf'")
	for _, l := range []string{"log1", "log2"} {
		exec(t, db, "RESTORE LOG Sales_all FROM URL = N'"+container+"/"+l+".trn' WITH NORECOVERY")
	}
	exec(t, db, "RESTORE LOG Sales_all FROM URL = N'"+container+"/log3.trn' WITH RECOVERY")
	if n := count(t, db, "SELECT COUNT(*) FROM Sales_all.dbo.orders"); n != 7 {
		t.Fatalf("rows after the whole chain = %d, want 7", n)
	}

	// msdb has the history with SQL Server's LSN relations.
	var fullCkpt, diffBase, log1First, fullLast string
	db.QueryRow(`SELECT bs.checkpoint_lsn, bs.last_lsn FROM msdb.dbo.backupset bs JOIN msdb.dbo.backupmediafamily mf ON mf.media_set_id = bs.media_set_id WHERE mf.physical_device_name = @p1`, container+"/full.bak").Scan(&fullCkpt, &fullLast)
	db.QueryRow(`SELECT bs.database_backup_lsn FROM msdb.dbo.backupset bs JOIN msdb.dbo.backupmediafamily mf ON mf.media_set_id = bs.media_set_id WHERE mf.physical_device_name = @p1`, container+"/diff.bak").Scan(&diffBase)
	db.QueryRow(`SELECT bs.first_lsn FROM msdb.dbo.backupset bs JOIN msdb.dbo.backupmediafamily mf ON mf.media_set_id = bs.media_set_id WHERE mf.physical_device_name = @p1`, container+"/log1.trn").Scan(&log1First)
	if fullCkpt == "" || diffBase != fullCkpt {
		t.Fatalf("differential's database_backup_lsn %s != full's checkpoint_lsn %s", diffBase, fullCkpt)
	}
	if log1First > fullLast || len(log1First) != 17 {
		t.Fatalf("first log starts at %s after the full's last LSN %s", log1First, fullLast)
	}
}

func TestBackupRulesAndErrors(t *testing.T) {
	s, db := setupBackups(t)
	exec(t, db, "CREATE DATABASE Rep; ALTER DATABASE Rep SET RECOVERY SIMPLE")
	cases := []struct {
		q    string
		want int32
	}{
		{"BACKUP LOG Sales TO URL = N'" + container + "/l.trn'", 4214}, // no full yet
		{"BACKUP DATABASE Sales TO URL = N'" + container + "/d.bak' WITH DIFFERENTIAL", 3035},
		{"BACKUP LOG Rep TO URL = N'" + container + "/r.trn'", 4208},                // SIMPLE
		{"BACKUP DATABASE Sales TO URL = N'https://10.0.0.5/sqlvault/x.bak'", 3201}, // IP address
		{"BACKUP DATABASE Sales TO URL = N'https://backup.sqlvault.test:8443/sqlvault/x.bak'", 3201},
		{"BACKUP DATABASE Sales TO URL = N'https://other.test/c/x.bak'", 3201}, // no credential
		{"BACKUP DATABASE Nope TO URL = N'" + container + "/n.bak'", 911},
	}
	for _, c := range cases {
		_, err := db.Exec(c.q)
		if sqlNumber(err) != 3013 && sqlNumber(err) != c.want {
			t.Errorf("%s: %v", c.q, err)
			continue
		}
		if !strings.Contains(fmt.Sprint(err), "") || !hasNumber(err, c.want) {
			t.Errorf("%s: %v, want error %d", c.q, err, c.want)
		}
	}
	exec(t, db, "BACKUP DATABASE Sales TO URL = N'"+container+"/f.bak'")
	exec(t, db, "INSERT INTO Sales.dbo.orders (id) VALUES (1)")
	exec(t, db, "BACKUP LOG Sales TO URL = N'"+container+"/l1.trn'")
	exec(t, db, "INSERT INTO Sales.dbo.orders (id) VALUES (2)")
	exec(t, db, "BACKUP LOG Sales TO URL = N'"+container+"/l2.trn'")
	// Overwriting the source without its tail backed up is refused (3159).
	exec(t, db, "USE master")
	if _, err := db.Exec("RESTORE DATABASE Sales FROM URL = N'" + container + "/f.bak'"); !hasNumber(err, 3159) {
		t.Fatalf("restore over Sales: %v, want 3159", err)
	}
	// Restoring under a new name without MOVE collides with Sales' files.
	if _, err := db.Exec("RESTORE DATABASE Copy FROM URL = N'" + container + "/f.bak'"); !hasNumber(err, 1834) {
		t.Fatalf("restore as Copy without MOVE: %v, want 1834", err)
	}
	mv := " WITH NORECOVERY, MOVE N'Sales' TO N'/d/c.mdf', MOVE N'Sales_log' TO N'/d/c.ldf'"
	exec(t, db, "RESTORE DATABASE Copy FROM URL = N'"+container+"/f.bak'"+mv)
	if _, err := db.Exec("RESTORE LOG Copy FROM URL = N'" + container + "/l2.trn' WITH NORECOVERY"); !hasNumber(err, 4305) {
		t.Fatalf("log too recent: %v, want 4305", err)
	}
	exec(t, db, "RESTORE LOG Copy FROM URL = N'"+container+"/l1.trn' WITH NORECOVERY")
	if _, err := db.Exec("RESTORE LOG Copy FROM URL = N'" + container + "/l1.trn' WITH NORECOVERY"); !hasNumber(err, 4326) {
		t.Fatalf("log too early: %v, want 4326", err)
	}
	var state string
	db.QueryRow("SELECT state_desc FROM sys.databases WHERE name = 'Copy'").Scan(&state)
	if state != "RESTORING" {
		t.Fatalf("Copy is %s, want RESTORING", state)
	}
	exec(t, db, "RESTORE DATABASE Copy WITH RECOVERY")
	if n := count(t, db, "SELECT COUNT(*) FROM Copy.dbo.orders"); n != 1 {
		t.Fatalf("Copy has %d rows, want 1", n)
	}
	// A tail-log backup WITH NORECOVERY then allows overwriting Sales.
	exec(t, db, "BACKUP LOG Sales TO URL = N'"+container+"/tail.trn' WITH NORECOVERY")
	exec(t, db, "RESTORE DATABASE Sales FROM URL = N'"+container+"/f.bak' WITH NORECOVERY")
	for _, l := range []string{"l1", "l2", "tail"} {
		exec(t, db, "RESTORE LOG Sales FROM URL = N'"+container+"/"+l+".trn' WITH NORECOVERY")
	}
	exec(t, db, "RESTORE DATABASE Sales WITH RECOVERY")
	if n := count(t, db, "SELECT COUNT(*) FROM Sales.dbo.orders"); n != 2 {
		t.Fatalf("Sales after tail restore has %d rows, want 2", n)
	}
	_ = s
}

func hasNumber(err error, n int32) bool {
	for _, x := range numbers(err) {
		if x == n {
			return true
		}
	}
	return false
}

func numbers(err error) []int32 {
	var out []int32
	if e, ok := err.(interface{ SQLErrorNumber() int32 }); ok {
		out = append(out, e.SQLErrorNumber())
	}
	if me := (mssqlErr(err)); me != nil {
		out = append(out, me.Number)
		for _, a := range me.All {
			out = append(out, a.Number)
		}
	}
	return out
}

func TestStatsProgressAndHeaders(t *testing.T) {
	s, db := setupBackups(t)
	if err := s.CreateSyntheticDatabase(context.Background(), "Big", 64<<20); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn, _ := db.Conn(ctx)
	defer conn.Close()
	msgs := &sqlexp.ReturnMessage{}
	rows, err := conn.QueryContext(ctx, "BACKUP DATABASE Big TO URL = N'"+container+"/big1.bak', URL = N'"+container+"/big2.bak' WITH STATS = 25, MAXTRANSFERSIZE = 4194304", msgs)
	if err != nil {
		t.Fatal(err)
	}
	var notices []string
loop:
	for {
		switch m := msgs.Message(ctx).(type) {
		case sqlexp.MsgNotice:
			notices = append(notices, m.Message.String())
		case sqlexp.MsgError:
			t.Fatal(m.Error)
		case sqlexp.MsgNextResultSet:
			if !rows.NextResultSet() {
				break loop
			}
		case sqlexp.MsgNext:
			for rows.Next() {
			}
		}
	}
	rows.Close()
	got := strings.Join(notices, "|")
	for _, want := range []string{"25 percent processed.", "100 percent processed.", "BACKUP DATABASE successfully processed 8192 pages"} {
		if !strings.Contains(got, want) {
			t.Fatalf("notices %q lack %q", got, want)
		}
	}
	s.blobs.mu.Lock()
	a, b := len(s.blobs.blobs[container+"/big1.bak"]), len(s.blobs.blobs[container+"/big2.bak"])
	s.blobs.mu.Unlock()
	if a < 30<<20 || b < 30<<20 {
		t.Fatalf("stripes of %d and %d bytes, want the 64 MiB split over both", a, b)
	}
	var typ, pages int
	var dbName string
	if err := db.QueryRow("RESTORE HEADERONLY FROM URL = N'"+container+"/big1.bak', URL = N'"+container+"/big2.bak'").Scan(
		new(sql.NullString), new(sql.NullString), &typ, new(bool), new(int), new(int), new(string), &dbName, new(time.Time), &pages,
		new(string), new(string), new(string), new(sql.NullString), new(time.Time), new(time.Time), new(string), new(bool), new(sql.NullString), new([]byte)); err != nil {
		t.Fatal(err)
	}
	if typ != 1 || dbName != "Big" {
		t.Fatalf("HEADERONLY type %d db %s", typ, dbName)
	}
	exec(t, db, "RESTORE VERIFYONLY FROM URL = N'"+container+"/big1.bak', URL = N'"+container+"/big2.bak'")
	rows2, err := db.Query("RESTORE FILELISTONLY FROM URL = N'" + container + "/big1.bak', URL = N'" + container + "/big2.bak'")
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for rows2.Next() {
		var l, p, ty string
		var fg sql.NullString
		var size, maxSize string
		var id int
		rows2.Scan(&l, &p, &ty, &fg, &size, &maxSize, &id)
		files = append(files, l+":"+ty)
	}
	if strings.Join(files, ",") != "Big:D,Big_log:L" {
		t.Fatalf("FILELISTONLY = %v", files)
	}
	// A damaged stripe fails verification.
	s.blobs.mu.Lock()
	s.blobs.blobs[container+"/big2.bak"][1<<20] ^= 0xff
	s.blobs.mu.Unlock()
	if _, err := db.Exec("RESTORE VERIFYONLY FROM URL = N'" + container + "/big1.bak', URL = N'" + container + "/big2.bak'"); !hasNumber(err, 3183) {
		t.Fatalf("verify of a damaged backup: %v, want 3183", err)
	}
}
