package coordinator_test

import (
	"database/sql"
	"slices"
	"strings"
	"testing"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/coordinator"
)

// TestRecoveryTakesOnlyItsJobsBlobs: a backup of HR is interrupted while
// its container holds Sales' committed full (as job-N containers did when
// a rebuilt catalog numbered jobs from 1 again). At restart recovery
// neither commits Sales' full as HR's point nor deletes it: the job is
// retried, and Sales still restores from its full.
func TestRecoveryTakesOnlyItsJobsBlobs(t *testing.T) {
	s, srv, sales := protectedSales(t)
	s.exec("CREATE DATABASE HR")
	job, _ := s.coord.Rediscover(s.ctx, srv.ID)
	s.mustComplete(job)
	hr, full, err := s.coord.Protect(s.ctx, s.database(srv.ID, "HR").ID, *sales.PolicyID)
	if err != nil {
		t.Fatal(err)
	}
	s.mustComplete(full)
	salesFull, _ := s.db.ListPoints(s.ctx, sales.ID)
	s.coord.Stop()

	j, err := s.db.CreateJob(s.ctx, db.NewJob{Operation: "backup", Kind: "log", ItemID: hr.ID, ServerID: srv.ID})
	if err != nil || s.db.StartJob(s.ctx, j.ID) != nil {
		t.Fatalf("queue the interrupted job: %v", err)
	}
	salesContainer, _, _ := strings.Cut(salesFull[0].Blobs[0], "/")
	raw, err := sql.Open("sqlite", s.db.Path())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`UPDATE jobs SET container = ? WHERE id = ?`, salesContainer, j.ID); err != nil {
		t.Fatal(err)
	}
	raw.Close()

	s.coord = s.env.Coordinator(s.db, nil)
	if got, _ := s.db.JobByID(s.ctx, j.ID); got.Status != db.JobFailed || got.ErrorCode != string(engine.CodeInterrupted) {
		t.Fatalf("the interrupted job = %s %s", got.Status, got.ErrorCode)
	}
	if pts, _ := s.db.ListPoints(s.ctx, hr.ID); len(pts) != 1 || pts[0].Kind != "full" {
		t.Fatalf("HR's points after recovery = %+v", pts)
	}
	left, err := s.env.Vault.List(s.ctx, salesContainer+"/")
	if err != nil || len(left) != len(salesFull[0].Blobs) {
		t.Fatalf("Sales' full in the vault after recovery: %d blobs, %v", len(left), err)
	}
	rj, err := s.coord.Restore(s.ctx, coordinator.RestoreRequest{ItemID: sales.ID, RecoveryPointID: salesFull[0].ID,
		Target: coordinator.RestoreTarget{Mode: coordinator.ModeAlternate, DatabaseName: "Sales_check"}})
	if err != nil {
		t.Fatal(err)
	}
	s.mustComplete(rj)
	if got := s.ids("Sales_check"); !slices.Equal(got, []int{1}) {
		t.Fatalf("Sales restored from its full: %v", got)
	}
}
