package coordinator_test

import (
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/coordinator"
	"github.com/sqlvault/sqlvault/sqlsim"
)

// TestLogBackupFinishedBeforeACrash: the process dies after SQL Server
// finished a log backup (and truncated its log) but before sqlvault
// labelled it. At restart msdb confirms the backup, so it becomes the
// recovery point instead of a retry that would break the log chain.
func TestLogBackupFinishedBeforeACrash(t *testing.T) {
	s, _, it := protectedSales(t)
	s.coord.Stop()
	var crash atomic.Bool
	hook := func(c *coordinator.Config) {
		c.Hook = func(point string) {
			if crash.Load() && point == "backup-before-label" {
				runtime.Goexit() // the job's goroutine stops dead, as in a kill
			}
		}
	}
	c := s.env.Coordinator(s.db, hook)
	s.coord = c
	s.exec("INSERT INTO Sales.dbo.t VALUES (2, N'in the lost log')")
	crash.Store(true)
	job, err := c.BackupNow(s.ctx, it.ID, "log", 0)
	if err != nil {
		t.Fatal(err)
	}
	// The job reaches its last step and stops there, still in progress.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if j, _ := s.db.JobByID(s.ctx, job); j.Status == db.JobInProgress && len(j.Steps) >= 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the log backup did not reach its commit step")
		}
	}
	c.Stop()
	crash.Store(false)

	restarted := s.env.Coordinator(s.db, hook)
	s.coord = restarted
	if j := s.wait(job); j.Status != db.JobCompleted {
		t.Fatalf("interrupted log backup = %s %s", j.Status, j.ErrorCode)
	}
	points, _ := s.db.ListPoints(s.ctx, it.ID)
	first, last := s.msdbLSNs("Sales", "L")
	if len(points) != 2 || points[1].FirstLSN != first || points[1].LastLSN != last {
		t.Fatalf("points after restart = %+v; msdb log %s-%s", points, first, last)
	}
	// The chain goes on: the next log backup restores through it.
	s.exec("INSERT INTO Sales.dbo.t VALUES (3, N'next log')")
	s.backup(it, "log")
	points, _ = s.db.ListPoints(s.ctx, it.ID)
	rj, err := restarted.Restore(s.ctx, coordinator.RestoreRequest{ItemID: it.ID, RecoveryPointID: points[len(points)-1].ID,
		Target: coordinator.RestoreTarget{Mode: coordinator.ModeAlternate, DatabaseName: "Sales_after"}})
	if err != nil {
		t.Fatal(err)
	}
	s.mustComplete(rj)
	if got := s.ids("Sales_after"); !slices.Equal(got, []int{1, 2, 3}) {
		t.Errorf("restore through the recovered log: %v", got)
	}
}

// TestShutdownLeavesJobsToRecovery: a graceful stop in the middle of a
// backup neither fails nor cancels it; the next start retries it.
func TestShutdownLeavesJobsToRecovery(t *testing.T) {
	s := newStack(t)
	if err := s.sim.CreateSyntheticDatabase(s.ctx, "Big", 32<<20); err != nil {
		t.Fatal(err)
	}
	srv := s.register("sa", saPW)
	s.sim.SetFault(sqlsim.Fault{DeviceDelay: 300 * time.Millisecond})
	_, job, err := s.coord.Protect(s.ctx, s.database(srv.ID, "Big").ID, s.policy().ID)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if j, _ := s.db.JobByID(s.ctx, job); j.BytesTransferred > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the backup did not start transferring")
		}
	}
	s.coord.Stop()
	if j, _ := s.db.JobByID(s.ctx, job); j.Status != db.JobInProgress {
		t.Fatalf("after a graceful stop the job is %s %s", j.Status, j.ErrorCode)
	}
	s.sim.SetFault(sqlsim.Fault{})
	s.coord = s.env.Coordinator(s.db, nil)
	if j := s.wait(job); j.ErrorCode != string(engine.CodeInterrupted) {
		t.Fatalf("interrupted job = %s %s", j.Status, j.ErrorCode)
	}
	retries, _ := s.db.ListJobs(s.ctx, db.JobFilter{Operation: "backup", Limit: 5})
	if len(retries) < 2 || retries[0].Attempt != 2 {
		t.Fatalf("no retry queued: %+v", retries)
	}
	s.mustComplete(retries[0].ID)
}
