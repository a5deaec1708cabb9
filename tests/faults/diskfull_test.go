package faults

import (
	"strings"
	"testing"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
)

// TestVaultDiskFull: the vault's disk fills up during a backup. The job
// fails with UserErrorVaultStorageFull and a message naming the full
// vault, no point is committed, every earlier point still restores, and
// once space is freed the next backup completes.
func TestVaultDiskFull(t *testing.T) {
	s := newStack(t)
	s.exec("CREATE DATABASE [Sales]")
	s.exec("USE [Sales]; CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2)")
	_, it, _ := s.protect("Sales")
	s.exec("INSERT INTO Sales.dbo.t VALUES (3)")
	if j := s.backup(it.ID, "log"); j.Status != db.JobCompleted {
		t.Fatalf("log backup = %+v", j)
	}
	before, _ := s.db.ListPoints(s.ctx, it.ID)

	s.backend.fill(4096) // a few KiB left on the disk
	s.exec("INSERT INTO Sales.dbo.t VALUES (4)")
	j := s.backup(it.ID, "full")
	if j.Status != db.JobFailed || j.ErrorCode != string(engine.CodeVaultFull) {
		t.Fatalf("backup on a full disk = %s %s: %s, want failed with %s", j.Status, j.ErrorCode, j.ErrorMessage, engine.CodeVaultFull)
	}
	if !strings.Contains(strings.ToLower(j.ErrorMessage), "vault") || !strings.Contains(strings.ToLower(j.ErrorMessage), "full") {
		t.Fatalf("message %q does not say the vault is full", j.ErrorMessage)
	}
	if s.backend.fails.Load() == 0 {
		t.Fatal("the backend never refused a write")
	}
	after, _ := s.db.ListPoints(s.ctx, it.ID)
	if len(after) != len(before) {
		t.Fatalf("points %d -> %d: the failed backup committed one", len(before), len(after))
	}
	alerts, _ := s.db.ListAlerts(s.ctx, 50)
	found := false
	for _, a := range alerts {
		found = found || a.Code == string(engine.CodeVaultFull)
	}
	if !found {
		t.Errorf("no %s alert: %+v", engine.CodeVaultFull, alerts)
	}

	// Restores read only: the disk is still full and they work.
	if r := s.restore(it.ID, before[len(before)-1].ID, "Sales_full_disk"); r.Status != db.JobCompleted {
		t.Fatalf("restore with the vault's disk full = %+v", r)
	}
	if n := s.rows("Sales_full_disk.dbo.t"); n != 3 {
		t.Fatalf("restored %d rows, want 3", n)
	}

	s.backend.free()
	if j := s.backup(it.ID, "full"); j.Status != db.JobCompleted {
		t.Fatalf("backup after freeing space = %s %s %s", j.Status, j.ErrorCode, j.ErrorMessage)
	}
	rep, err := s.vault.Verify(s.ctx)
	if err != nil || !rep.OK() {
		t.Fatalf("verify after the disk-full episode: %v %+v", err, rep)
	}
}
