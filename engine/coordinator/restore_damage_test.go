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

// A restore over the original whose first RESTORE fails before anything
// is applied must not leave the database RESTORING behind its tail-log
// backup: it comes back online holding every row it had, and the job says so.
func TestFailedRestoreOverOriginalBringsTheDatabaseBack(t *testing.T) {
	s, _, it := protectedSales(t)
	s.exec("INSERT INTO Sales.dbo.t VALUES (2, N'after the full')")
	points, _ := s.db.ListPoints(s.ctx, it.ID)
	s.sim.SetFault(sqlsim.Fault{RestoreCutAtPercent: 50})
	job, err := s.coord.Restore(s.ctx, coordinator.RestoreRequest{ItemID: it.ID, RecoveryPointID: points[0].ID,
		Target: coordinator.RestoreTarget{Mode: coordinator.ModeOriginal, Overwrite: true}})
	if err != nil {
		t.Fatal(err)
	}
	j := s.wait(job)
	s.sim.SetFault(sqlsim.Fault{})
	if j.Status != db.JobFailed || !strings.Contains(j.ErrorMessage, "brought back online") {
		t.Fatalf("job %s %s: %s; want failed, saying the database was brought back", j.Status, j.ErrorCode, j.ErrorMessage)
	}
	if got := s.ids("Sales"); !slices.Equal(got, []int{1, 2}) {
		t.Fatalf("after the failed restore Sales holds %v, want [1 2] (online, as before)", got)
	}
}

// A restore that fails after a link was applied leaves the database
// RESTORING: the job and an alert on the item say it is offline and name
// the statement to run.
func TestFailedRestoreAfterALinkSaysTheDatabaseIsOffline(t *testing.T) {
	var cut func()
	s := newStackWith(t, func(c *coordinator.Config) {
		c.Hook = func(point string) {
			if point == "restore-between-links" && cut != nil {
				cut()
			}
		}
	})
	s.exec("CREATE DATABASE Sales")
	s.exec("USE Sales; CREATE TABLE t (id int, note nvarchar(50))")
	s.exec("INSERT INTO Sales.dbo.t VALUES (1, N'before the full')")
	srv := s.register("sa", saPW)
	it, first, err := s.coord.Protect(s.ctx, s.database(srv.ID, "Sales").ID, s.policy().ID)
	if err != nil {
		t.Fatal(err)
	}
	s.mustComplete(first)
	s.exec("INSERT INTO Sales.dbo.t VALUES (2, N'in the log')")
	s.backup(it, "log")
	points, _ := s.db.ListPoints(s.ctx, it.ID)
	last := points[len(points)-1]
	cut = func() { s.sim.SetFault(sqlsim.Fault{RestoreCutAtPercent: 50}) }
	job, err := s.coord.Restore(s.ctx, coordinator.RestoreRequest{ItemID: it.ID, RecoveryPointID: last.ID,
		Target: coordinator.RestoreTarget{Mode: coordinator.ModeAlternate, DatabaseName: "Sales_copy"}})
	if err != nil {
		t.Fatal(err)
	}
	j := s.wait(job)
	s.sim.SetFault(sqlsim.Fault{})
	stmt := "DROP DATABASE [Sales_copy]"
	if j.Status != db.JobFailed || j.ErrorCode != string(engine.CodeRestoreLeftRestoring) || !strings.Contains(j.ErrorMessage, stmt) {
		t.Fatalf("job %s %s: %s; want %s naming %s", j.Status, j.ErrorCode, j.ErrorMessage, engine.CodeRestoreLeftRestoring, stmt)
	}
	alerts, _ := s.db.ListAlerts(s.ctx, 0)
	found := false
	for _, a := range alerts {
		found = found || (a.Code == string(engine.CodeRestoreLeftRestoring) && a.ItemID != nil && *a.ItemID == it.ID && strings.Contains(a.Message, "offline"))
	}
	if !found {
		t.Errorf("no alert on the item says the database is offline: %+v", alerts)
	}
}

// System databases are never restore targets; the action points to
// Microsoft's procedure.
func TestRestoreRefusesSystemDatabaseTargets(t *testing.T) {
	s, _, it := protectedSales(t)
	points, _ := s.db.ListPoints(s.ctx, it.ID)
	for _, name := range []string{"master", "MSDB", " model", "tempdb"} {
		_, err := s.coord.Restore(s.ctx, coordinator.RestoreRequest{ItemID: it.ID, RecoveryPointID: points[0].ID,
			Target: coordinator.RestoreTarget{Mode: coordinator.ModeAlternate, DatabaseName: name, Overwrite: true}})
		if engine.CodeOf(err) != engine.CodeSystemDatabaseTarget || !strings.Contains(engine.CodeOf(err).Action(), "single-user") {
			t.Errorf("restore over %q: %v", name, err)
		}
	}
}

// Overwriting another protected database in alternate mode first backs
// up its tail into its own item: what it committed since its last backup
// can still be restored.
func TestOverwritingAProtectedDatabaseKeepsItsTail(t *testing.T) {
	s, srv, sales := protectedSales(t)
	s.exec("CREATE DATABASE HR")
	s.exec("USE HR; CREATE TABLE t (id int, note nvarchar(50))")
	s.exec("INSERT INTO HR.dbo.t VALUES (10, N'before its full')")
	rj, err := s.coord.Rediscover(s.ctx, srv.ID)
	if err != nil {
		t.Fatal(err)
	}
	s.mustComplete(rj)
	hrDB := s.database(srv.ID, "HR")
	hr, job, err := s.coord.Protect(s.ctx, hrDB.ID, *sales.PolicyID)
	if err != nil {
		t.Fatal(err)
	}
	s.mustComplete(job)
	s.exec("INSERT INTO HR.dbo.t VALUES (11, N'after its full')")

	points, _ := s.db.ListPoints(s.ctx, sales.ID)
	job, err = s.coord.Restore(s.ctx, coordinator.RestoreRequest{ItemID: sales.ID, RecoveryPointID: points[0].ID,
		Target: coordinator.RestoreTarget{Mode: coordinator.ModeAlternate, DatabaseName: "HR", Overwrite: true}})
	if err != nil {
		t.Fatal(err)
	}
	s.mustComplete(job)
	hrPoints, _ := s.db.ListPoints(s.ctx, hr.ID)
	tail := hrPoints[len(hrPoints)-1]
	if len(hrPoints) != 2 || tail.Kind != "log" {
		t.Fatalf("HR's item holds %+v, want its full and the tail-log backup", hrPoints)
	}
	job, err = s.coord.Restore(s.ctx, coordinator.RestoreRequest{ItemID: hr.ID, RecoveryPointID: tail.ID,
		Target: coordinator.RestoreTarget{Mode: coordinator.ModeAlternate, DatabaseName: "HR_tail"}})
	if err != nil {
		t.Fatal(err)
	}
	s.mustComplete(job)
	if got := s.ids("HR_tail"); !slices.Equal(got, []int{10, 11}) {
		t.Errorf("HR's tail restores %v, want [10 11]", got)
	}
}
