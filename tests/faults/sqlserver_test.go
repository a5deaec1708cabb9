package faults

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/sqlsim"
)

// TestConnectionCutMidRestore: SQL Server's connection drops while a
// RESTORE reads the backup. The job fails with a connection code and an
// action, the target is not left half-made, and the same restore run
// again completes with the rows.
func TestConnectionCutMidRestore(t *testing.T) {
	s := newStack(t)
	s.exec("CREATE DATABASE [Sales]")
	s.exec("USE [Sales]; CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2)")
	_, it, _ := s.protect("Sales")
	s.exec("INSERT INTO Sales.dbo.t VALUES (3)")
	if j := s.backup(it.ID, "log"); j.Status != db.JobCompleted {
		t.Fatalf("log backup = %+v", j)
	}
	points, _ := s.db.ListPoints(s.ctx, it.ID)
	last := points[len(points)-1]

	s.sim.SetFault(sqlsim.Fault{RestoreCutAtPercent: 50})
	j := s.restore(it.ID, last.ID, "Sales_cut")
	if j.Status != db.JobFailed || j.ErrorCode == "" || engine.Code(j.ErrorCode).Action() == engine.CodeInternal.Action() {
		t.Fatalf("restore over a cut connection = %s %s: %s", j.Status, j.ErrorCode, j.ErrorMessage)
	}
	if j.ErrorCode != string(engine.CodeConnectionLost) {
		t.Errorf("cut restore code = %s (%s), want %s", j.ErrorCode, j.ErrorMessage, engine.CodeConnectionLost)
	}
	var n int
	if err := s.sa.QueryRowContext(s.ctx, "SELECT COUNT(*) FROM sys.databases WHERE name = 'Sales_cut' AND state_desc = 'ONLINE'").Scan(&n); err != nil || n != 0 {
		t.Fatalf("an ONLINE Sales_cut exists after the cut restore (%d, %v)", n, err)
	}

	s.sim.SetFault(sqlsim.Fault{})
	if j := s.restore(it.ID, last.ID, "Sales_cut"); j.Status != db.JobCompleted {
		t.Fatalf("restore again = %s %s: %s", j.Status, j.ErrorCode, j.ErrorMessage)
	}
	if got := s.rows("Sales_cut.dbo.t"); got != 3 {
		t.Fatalf("restored %d rows, want 3", got)
	}
}

// TestInstanceDownAtScheduleTime: the instance is stopped when a log slot
// comes. The scheduled job fails UserErrorInstanceUnreachable, the server
// turns unhealthy with an open alert; once the instance is back (same data,
// same port) the next slot's backup succeeds, the server is healthy again
// and the alerts are resolved.
func TestInstanceDownAtScheduleTime(t *testing.T) {
	s := newStack(t)
	s.exec("CREATE DATABASE [Sales]")
	s.exec("USE [Sales]; CREATE TABLE t (id int); INSERT INTO t VALUES (1)")
	srv, it, pol := s.protect("Sales")
	port := s.sim.Port()
	s.sim.Close()

	s.advance(20 * time.Minute)
	s.coord.RunDue(s.ctx, pol.ID)
	jobs, _ := s.db.ListJobs(s.ctx, db.JobFilter{ItemID: it.ID, Operation: "backup", Limit: 10})
	if len(jobs) == 0 || jobs[0].Kind != "log" {
		t.Fatalf("no scheduled log backup queued: %+v", jobs)
	}
	j := s.wait(jobs[0].ID)
	if j.Status != db.JobFailed || j.ErrorCode != string(engine.CodeInstanceUnreachable) {
		t.Fatalf("scheduled backup with the instance down = %s %s: %s", j.Status, j.ErrorCode, j.ErrorMessage)
	}
	if got, _ := s.db.ServerByID(s.ctx, srv.ID); got.Status != db.StatusUnhealthy || got.StatusCode != string(engine.CodeInstanceUnreachable) {
		t.Fatalf("server with its instance down = %s %s", got.Status, got.StatusCode)
	}
	if open := openAlerts(t, s, engine.CodeInstanceUnreachable); open == 0 {
		t.Fatal("no open alert for the unreachable instance")
	}

	s.startSim(fmt.Sprintf("127.0.0.1:%d", port))
	s.exec("INSERT INTO Sales.dbo.t VALUES (2)")
	s.advance(20 * time.Minute)
	s.coord.RunDue(s.ctx, pol.ID)
	jobs, _ = s.db.ListJobs(s.ctx, db.JobFilter{ItemID: it.ID, Operation: "backup", Limit: 10})
	if jobs[0].ID == j.ID {
		t.Fatal("the next slot queued no backup")
	}
	if j := s.mustComplete(jobs[0].ID); j.Kind != "log" {
		t.Fatalf("next scheduled backup = %+v", j)
	}
	if got, _ := s.db.ServerByID(s.ctx, srv.ID); got.Status != db.StatusHealthy {
		t.Errorf("server after a successful backup = %s %s %s, want healthy", got.Status, got.StatusCode, got.StatusMessage)
	}
	if open := openAlerts(t, s, ""); open != 0 {
		t.Errorf("%d alerts still open after the instance came back", open)
	}
	points, _ := s.db.ListPoints(s.ctx, it.ID)
	if r := s.restore(it.ID, points[len(points)-1].ID, "Sales_back"); r.Status != db.JobCompleted || s.rows("Sales_back.dbo.t") != 2 {
		t.Fatalf("restore after the outage = %+v", r)
	}
}

// TestLoginLosesSysadmin: the service login is dropped from sysadmin
// between backups. The next backup fails UserErrorSQLNoSysadminMembership
// with the permission-script action; once the membership is back the
// backup succeeds.
func TestLoginLosesSysadmin(t *testing.T) {
	s := newStack(t)
	s.exec("CREATE DATABASE [Sales]")
	s.exec("USE [Sales]; CREATE TABLE t (id int); INSERT INTO t VALUES (1)")
	srv, it, _ := s.protect("Sales")
	s.exec("ALTER SERVER ROLE sysadmin DROP MEMBER [svc]")
	j := s.backup(it.ID, "log")
	if j.Status != db.JobFailed || j.ErrorCode != string(engine.CodeNoSysadmin) {
		t.Fatalf("backup without sysadmin = %s %s: %s", j.Status, j.ErrorCode, j.ErrorMessage)
	}
	if !strings.Contains(engine.CodeNoSysadmin.Action(), "permission script") {
		t.Errorf("action %q does not point at the permission script", engine.CodeNoSysadmin.Action())
	}
	if got, _ := s.db.ServerByID(s.ctx, srv.ID); got.StatusCode != string(engine.CodeNoSysadmin) {
		t.Errorf("server status after losing sysadmin = %s %s", got.Status, got.StatusCode)
	}
	if script, err := s.coord.PermissionScript(s.ctx, srv.ID, "", false); err != nil || !strings.Contains(script, "svc") {
		t.Errorf("permission script: %v\n%.300s", err, script)
	}
	s.exec("ALTER SERVER ROLE sysadmin ADD MEMBER [svc]")
	if j := s.backup(it.ID, "log"); j.Status != db.JobCompleted {
		t.Fatalf("backup once sysadmin is back = %s %s: %s", j.Status, j.ErrorCode, j.ErrorMessage)
	}
}

func openAlerts(t *testing.T, s *stack, code engine.Code) int {
	t.Helper()
	alerts, err := s.db.ListAlerts(s.ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, a := range alerts {
		if a.ResolvedAt == nil && (code == "" || a.Code == string(code)) {
			n++
		}
	}
	return n
}
