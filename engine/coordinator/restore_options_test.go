package coordinator_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/coordinator"
	"github.com/sqlvault/sqlvault/engine/enginetest"
)

func (s *stack) state(database string) (state string, standby bool) {
	s.t.Helper()
	err := s.sql.QueryRowContext(s.ctx, "SELECT state_desc, is_in_standby FROM sys.databases WHERE name = @p1", database).Scan(&state, &standby)
	if err != nil {
		s.t.Fatalf("state of %s: %v", database, err)
	}
	return state, standby
}

// exportLog writes the .trn file of the newest log backup to dir, as a
// user does with a files-mode restore before applying it by hand.
func (s *stack) exportLog(it db.Item, dir string) string {
	s.t.Helper()
	points, _ := s.db.ListPoints(s.ctx, it.ID)
	last := points[len(points)-1]
	job, err := s.coord.Restore(s.ctx, coordinator.RestoreRequest{ItemID: it.ID, RecoveryPointID: last.ID,
		Target: coordinator.RestoreTarget{Mode: coordinator.ModeFiles}})
	if err != nil {
		s.t.Fatal(err)
	}
	s.mustComplete(job)
	res, _ := s.coord.RestoreFiles(s.ctx, job)
	n := len(res.Files) - 1
	f, r, err := s.coord.OpenFile(s.ctx, job, n)
	if err != nil || f.Kind != "log" {
		s.t.Fatalf("the export's last file %+v: %v", f, err)
	}
	b := make([]byte, f.Size)
	if _, err := io.ReadFull(r, b); err != nil {
		s.t.Fatal(err)
	}
	path := dir + f.Name
	if err := os.WriteFile(path, b, 0o644); err != nil {
		s.t.Fatal(err)
	}
	return path
}

// TestNoRecoveryAndStandbyLetALaterLogBeApplied: a restore with recovery
// false leaves the database RESTORING, one with standby leaves it ONLINE,
// read-only and readable; in both a log backup taken afterwards is then
// applied by hand (RESTORE LOG ... FROM DISK ... WITH RECOVERY) and the
// database holds its rows.
func TestNoRecoveryAndStandbyLetALaterLogBeApplied(t *testing.T) {
	s, _, it := protectedSales(t)
	points, _ := s.db.ListPoints(s.ctx, it.ID)
	no := false
	for _, tg := range []coordinator.RestoreTarget{
		{Mode: coordinator.ModeAlternate, DatabaseName: "Sales_norecovery", Recovery: &no},
		{Mode: coordinator.ModeAlternate, DatabaseName: "Sales_standby", Standby: true}} {
		job, err := s.coord.Restore(s.ctx, coordinator.RestoreRequest{ItemID: it.ID, RecoveryPointID: points[0].ID, Target: tg})
		if err != nil {
			t.Fatal(err)
		}
		s.mustComplete(job)
	}
	if st, _ := s.state("Sales_norecovery"); st != "RESTORING" {
		t.Errorf("after a restore WITH NORECOVERY the database is %s, want RESTORING", st)
	}
	if st, standby := s.state("Sales_standby"); st != "ONLINE" || !standby {
		t.Errorf("after a restore WITH STANDBY the database is %s, standby %v; want ONLINE in standby", st, standby)
	}
	if got := s.ids("Sales_standby"); !slices.Equal(got, []int{1}) {
		t.Errorf("the standby database reads %v, want [1]", got)
	}

	s.exec("INSERT INTO Sales.dbo.t VALUES (2, N'after the restore')")
	s.backup(it, "log")
	trn := s.exportLog(it, t.TempDir()+"/")
	for _, name := range []string{"Sales_norecovery", "Sales_standby"} {
		s.exec(fmt.Sprintf("RESTORE LOG [%s] FROM DISK = N'%s' WITH RECOVERY", name, trn))
		if got := s.ids(name); !slices.Equal(got, []int{1, 2}) {
			t.Errorf("%s after the later log holds %v, want [1 2]", name, got)
		}
	}

	// Standby with recovery asked is a contradiction, refused up front.
	yes := true
	_, err := s.coord.Restore(s.ctx, coordinator.RestoreRequest{ItemID: it.ID, RecoveryPointID: points[0].ID,
		Target: coordinator.RestoreTarget{Mode: coordinator.ModeAlternate, DatabaseName: "Sales_x", Standby: true, Recovery: &yes}})
	if coordinator.FieldOf(err) != "target.standby" {
		t.Errorf("standby with recovery: %v", err)
	}
}

// TestRelocatedFilesLandWhereAsked: the proposal lists the backup's files
// with the instance's default folder under the new name; a restore that
// moves the data file elsewhere puts it exactly there (sys.master_files)
// and the log where proposed; a logical name the backup lacks is refused.
func TestRelocatedFilesLandWhereAsked(t *testing.T) {
	s, _, it := protectedSales(t)
	points, _ := s.db.ListPoints(s.ctx, it.ID)
	req := coordinator.RestoreRequest{ItemID: it.ID, RecoveryPointID: points[0].ID,
		Target: coordinator.RestoreTarget{Mode: coordinator.ModeAlternate, DatabaseName: "Sales_moved"}}
	files, err := s.coord.ProposeFiles(s.ctx, req)
	if err != nil || len(files) != 2 {
		t.Fatalf("proposed files = %+v, %v", files, err)
	}
	var data, logFile coordinator.ProposedFile
	for _, f := range files {
		if f.Type == "L" {
			logFile = f
		} else {
			data = f
		}
	}
	var dataDir string
	s.sql.QueryRowContext(s.ctx, "SELECT CAST(SERVERPROPERTY('InstanceDefaultLogPath') AS nvarchar(260))").Scan(&dataDir)
	if !strings.HasPrefix(logFile.PhysicalName, dataDir) || !strings.Contains(logFile.PhysicalName, "Sales_moved") || logFile.BackupPath == logFile.PhysicalName {
		t.Errorf("proposed log file %+v, want it in %s under the new name", logFile, dataDir)
	}

	want := `/srv/elsewhere/sales_moved_data.mdf`
	req.Target.Files = []coordinator.FileMove{{LogicalName: strings.ToUpper(data.LogicalName), PhysicalName: want}}
	job, err := s.coord.Restore(s.ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	s.mustComplete(job)
	got := map[string]string{}
	rows, err := s.sql.QueryContext(s.ctx, "SELECT name, physical_name FROM sys.master_files WHERE database_id = DB_ID(N'Sales_moved')")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n, p string
		rows.Scan(&n, &p)
		got[n] = p
	}
	rows.Close()
	if got[data.LogicalName] != want || got[logFile.LogicalName] != logFile.PhysicalName {
		t.Errorf("files of the restored database %v, want %s at %s and %s at %s", got, data.LogicalName, want, logFile.LogicalName, logFile.PhysicalName)
	}
	if got := s.ids("Sales_moved"); !slices.Equal(got, []int{1}) {
		t.Errorf("the relocated database holds %v", got)
	}

	req.Target.DatabaseName = "Sales_moved2"
	req.Target.Files = []coordinator.FileMove{{LogicalName: "NoSuchFile", PhysicalName: "/srv/x.mdf"}}
	if _, err := s.coord.ProposeFiles(s.ctx, req); coordinator.FieldOf(err) != "target.files" || !strings.Contains(engine.MessageOf(err), data.LogicalName) {
		t.Errorf("a file the backup lacks: %v", err)
	}
}

// TestMultiDatabaseRestoreToOneSecond: two databases of one instance with
// rows committed at known seconds (a fake clock) are restored in one job
// to the same second; each holds exactly the rows committed up to it.
func TestMultiDatabaseRestoreToOneSecond(t *testing.T) {
	t0 := time.Date(2027, 5, 4, 9, 0, 0, 0, time.UTC)
	clock := enginetest.NewClock(t0)
	ctx := context.Background()
	catalog, err := db.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { catalog.Close() })
	env := enginetest.Start(t)
	cfg := env.SimConfig(saPW)
	cfg.Now = clock.Now
	sim := env.StartSim(cfg)
	conn, err := sql.Open("sqlserver", fmt.Sprintf("sqlserver://sa:%s@127.0.0.1:%d?encrypt=disable", saPW, sim.Port()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	s := &stack{t: t, ctx: ctx, db: catalog, env: env, sim: sim, coord: env.Coordinator(catalog, nil), sql: conn}

	names := []string{"Orders", "Stock"}
	for _, n := range names {
		s.exec("CREATE DATABASE " + n)
		s.exec("USE " + n + "; CREATE TABLE t (id int, note nvarchar(50))")
	}
	srv := s.register("sa", saPW)
	pol := s.policy()
	var items []db.Item
	for _, n := range names {
		it, job, err := s.coord.Protect(s.ctx, s.database(srv.ID, n).ID, pol.ID)
		if err != nil {
			t.Fatal(err)
		}
		s.mustComplete(job)
		items = append(items, it)
	}
	at := t0.Add(10 * time.Minute)
	for i, d := range []time.Duration{-time.Second, 0, time.Second} {
		clock.Set(at.Add(d))
		for k, n := range names {
			s.exec("INSERT INTO "+n+".dbo.t VALUES (@p1, N'row')", 10*k+i+1)
		}
	}
	clock.Set(at.Add(5 * time.Minute))
	for _, it := range items {
		s.backup(it, "log")
	}

	job, err := s.coord.Restore(s.ctx, coordinator.RestoreRequest{PointInTime: &at,
		Target: coordinator.RestoreTarget{Mode: coordinator.ModeAlternate},
		Items:  []coordinator.RestoreItem{{ItemID: items[0].ID, DatabaseName: "Orders_pit"}, {ItemID: items[1].ID, DatabaseName: "Stock_pit"}}})
	if err != nil {
		t.Fatal(err)
	}
	s.mustComplete(job)
	if got := s.ids("Orders_pit"); !slices.Equal(got, []int{1, 2}) {
		t.Errorf("Orders restored to %v holds %v, want [1 2]", at, got)
	}
	if got := s.ids("Stock_pit"); !slices.Equal(got, []int{11, 12}) {
		t.Errorf("Stock restored to %v holds %v, want [11 12]", at, got)
	}
	jobs, _ := s.db.ListJobs(s.ctx, db.JobFilter{Operation: "restore", Limit: 10})
	if len(jobs) != 1 {
		t.Errorf("%d restore jobs, want one for both databases", len(jobs))
	}

	// Both under one name would collide: refused before anything runs.
	_, err = s.coord.Restore(s.ctx, coordinator.RestoreRequest{PointInTime: &at, Target: coordinator.RestoreTarget{Mode: coordinator.ModeAlternate},
		Items: []coordinator.RestoreItem{{ItemID: items[0].ID, DatabaseName: "Same"}, {ItemID: items[1].ID, DatabaseName: "same"}}})
	if coordinator.FieldOf(err) != "items" {
		t.Errorf("two databases restored as one name: %v", err)
	}
}
