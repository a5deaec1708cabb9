package coordinator_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/coordinator"
	"github.com/sqlvault/sqlvault/sqlsim"
)

// TestTailLogBeforeOverwriteBulkLogged: a BULK_LOGGED source keeps a log
// chain too, so its tail is backed up before an overwrite and the rows
// written after the last backup can be restored.
func TestTailLogBeforeOverwriteBulkLogged(t *testing.T) {
	s, _, it := protectedSales(t)
	s.exec("ALTER DATABASE Sales SET RECOVERY BULK_LOGGED")
	s.exec("INSERT INTO Sales.dbo.t VALUES (2, N'after the full')")
	points, _ := s.db.ListPoints(s.ctx, it.ID)
	job, err := s.coord.Restore(s.ctx, coordinator.RestoreRequest{ItemID: it.ID, RecoveryPointID: points[0].ID,
		Target: coordinator.RestoreTarget{Mode: coordinator.ModeOriginal, Overwrite: true}})
	if err != nil {
		t.Fatal(err)
	}
	s.mustComplete(job)
	points, _ = s.db.ListPoints(s.ctx, it.ID)
	if len(points) != 2 || points[1].Kind != "log" {
		t.Fatalf("no tail-log point for the BULK_LOGGED source: %+v", points)
	}
	job, err = s.coord.Restore(s.ctx, coordinator.RestoreRequest{ItemID: it.ID, RecoveryPointID: points[1].ID,
		Target: coordinator.RestoreTarget{Mode: coordinator.ModeAlternate, DatabaseName: "Sales_tail"}})
	if err != nil {
		t.Fatal(err)
	}
	s.mustComplete(job)
	if got := s.ids("Sales_tail"); !slices.Equal(got, []int{1, 2}) {
		t.Errorf("restore to the tail holds %v", got)
	}
}

// TestRestoreLeftRestoringFailsJob: when the last RESTORE ... WITH
// RECOVERY succeeds but leaves the database RESTORING, the job fails with
// UserErrorRestoreLeftRestoring naming the statement that brings it online.
func TestRestoreLeftRestoringFailsJob(t *testing.T) {
	s, _, it := protectedSales(t)
	points, _ := s.db.ListPoints(s.ctx, it.ID)
	s.sim.SetFault(sqlsim.Fault{RestoreLeavesRestoring: true})
	job, err := s.coord.Restore(s.ctx, coordinator.RestoreRequest{ItemID: it.ID, RecoveryPointID: points[0].ID,
		Target: coordinator.RestoreTarget{Mode: coordinator.ModeAlternate, DatabaseName: "Sales_stuck"}})
	if err != nil {
		t.Fatal(err)
	}
	j := s.wait(job)
	if j.Status != db.JobFailed || j.ErrorCode != string(engine.CodeRestoreLeftRestoring) {
		t.Fatalf("job %s %s: %s", j.Status, j.ErrorCode, j.ErrorMessage)
	}
	stmt := "RESTORE DATABASE [Sales_stuck] WITH RECOVERY"
	if !strings.Contains(j.ErrorMessage, stmt) {
		t.Errorf("the message does not name %q: %s", stmt, j.ErrorMessage)
	}
	s.sim.SetFault(sqlsim.Fault{})
	s.exec(stmt) // the action works as the message says
	if got := s.ids("Sales_stuck"); !slices.Equal(got, []int{1}) {
		t.Errorf("recovered by hand: %v", got)
	}
}

// TestAlternateRestoreOfFilestreamDatabase restores under a new name a
// database with two data files, FILESTREAM and memory-optimized
// containers, a full-text catalog and two log files: every file gets its
// own path in the default folders.
func TestAlternateRestoreOfFilestreamDatabase(t *testing.T) {
	s := newStack(t)
	dir := "/var/opt/mssql/data/"
	s.exec(`CREATE DATABASE Docs ON PRIMARY (NAME = Docs, FILENAME = '` + dir + `Docs.mdf'), (NAME = Docs2, FILENAME = '` + dir + `Docs2.ndf'),
		FILEGROUP FS CONTAINS FILESTREAM (NAME = DocsFS, FILENAME = '` + dir + `DocsFS'),
		FILEGROUP Mem CONTAINS MEMORY_OPTIMIZED_DATA (NAME = DocsMem, FILENAME = '` + dir + `DocsMem')
		LOG ON (NAME = Docs_log, FILENAME = '` + dir + `Docs_log.ldf'), (NAME = Docs_log2, FILENAME = '` + dir + `Docs_log2.ldf')`)
	if err := s.sim.AddFullTextCatalog("Docs", "DocsFT", dir+"DocsFT"); err != nil {
		t.Fatal(err)
	}
	s.exec("USE Docs; CREATE TABLE t (id int)")
	s.exec("INSERT INTO Docs.dbo.t VALUES (1), (2)")
	srv := s.register("sa", saPW)
	it, job, err := s.coord.Protect(s.ctx, s.database(srv.ID, "Docs").ID, s.policy().ID)
	if err != nil {
		t.Fatal(err)
	}
	s.mustComplete(job)
	points, _ := s.db.ListPoints(s.ctx, it.ID)
	job, err = s.coord.Restore(s.ctx, coordinator.RestoreRequest{ItemID: it.ID, RecoveryPointID: points[0].ID,
		Target: coordinator.RestoreTarget{Mode: coordinator.ModeAlternate, DatabaseName: "Docs_copy"}})
	if err != nil {
		t.Fatal(err)
	}
	s.mustComplete(job)
	if got := s.ids("Docs_copy"); !slices.Equal(got, []int{1, 2}) {
		t.Errorf("Docs_copy holds %v", got)
	}
	rows, err := s.sql.QueryContext(s.ctx, `SELECT f.type_desc, f.physical_name FROM sys.master_files f
		JOIN sys.databases d ON d.database_id = f.database_id WHERE d.name = 'Docs_copy'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := map[string]bool{}
	types := map[string]int{}
	for rows.Next() {
		var typ, phys string
		rows.Scan(&typ, &phys)
		if seen[phys] || !strings.HasPrefix(phys, dir+"Docs_copy") {
			t.Errorf("%s file at %s (used twice or outside the default folder)", typ, phys)
		}
		seen[phys] = true
		types[typ]++
	}
	if types["ROWS"] != 2 || types["FILESTREAM"] != 2 || types["FULLTEXT"] != 1 || types["LOG"] != 2 {
		t.Errorf("restored files by type: %v", types)
	}
}
