package coordinator_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/coordinator"
	"github.com/sqlvault/sqlvault/engine/vault"
)

// TestRetentionHonoursSoftDeleteSetting: points a stop with delete data
// soft-deleted are purged only once the vault's soft delete period (30
// days here) has passed; while the vault is immutable the vault keeps a
// point whose data is younger than that period even if a catalog (here a
// clock far ahead) says it is due, and the retention job still completes;
// once immutability is off the purge goes through.
func TestRetentionHonoursSoftDeleteSetting(t *testing.T) {
	var ahead atomic.Int64 // how far the coordinator's clock runs ahead
	s := newStackWith(t, func(c *coordinator.Config) {
		c.Now = func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }
	})
	s.exec("CREATE DATABASE [Sales]")
	srv := s.register("sa", saPW)
	d := s.database(srv.ID, "Sales")
	it, job, err := s.coord.Protect(s.ctx, d.ID, s.policy().ID)
	if err != nil {
		t.Fatal(err)
	}
	s.mustComplete(job)
	if _, err := s.coord.UpdateSettings(s.ctx, vault.Settings{Immutability: vault.ImmutabilityDisabled, SoftDeleteDays: 30}); err != nil {
		t.Fatal(err)
	}
	if err := s.coord.StopProtection(s.ctx, it.ID, true); err != nil {
		t.Fatal(err)
	}
	retention := func(days int) int {
		t.Helper()
		ahead.Store(int64(time.Duration(days) * 24 * time.Hour))
		id, err := s.coord.QueueRetention(s.ctx)
		if err != nil {
			t.Fatal(err)
		}
		s.mustComplete(id)
		left, err := s.db.ListDeletedPoints(s.ctx, it.ID)
		if err != nil {
			t.Fatal(err)
		}
		return len(left)
	}
	if n := retention(20); n == 0 {
		t.Fatal("points purged 20 days after deletion with a 30-day soft delete")
	}
	if _, err := s.coord.UpdateSettings(s.ctx, vault.Settings{Immutability: vault.ImmutabilityEnabled, SoftDeleteDays: 30}); err != nil {
		t.Fatal(err)
	}
	if n := retention(31); n == 0 {
		t.Fatal("an immutable vault let data younger than its soft delete period go")
	}
	if err := s.coord.StopProtection(s.ctx, it.ID, true); engine.CodeOf(err) != engine.CodeVaultImmutable {
		t.Fatalf("stop with delete in an immutable vault = %v", err)
	}
	if _, err := s.coord.UpdateSettings(s.ctx, vault.Settings{Immutability: vault.ImmutabilityDisabled, SoftDeleteDays: 30}); err != nil {
		t.Fatal(err)
	}
	if n := retention(31); n != 0 {
		t.Fatalf("%d points left 31 days after deletion with a 30-day soft delete", n)
	}
}

// TestPurgeIsASeparateGuardedStep: a live point cannot be purged (it must
// be soft-deleted first); an immutable vault refuses purging a
// soft-deleted point before its soft delete period ends; with multi-user
// authorization on the purge waits for approval and the point stays
// restorable by undelete; approved, its row and its vault data are gone.
func TestPurgeIsASeparateGuardedStep(t *testing.T) {
	s := newStack(t)
	s.exec("CREATE DATABASE [Sales]")
	srv := s.register("sa", saPW)
	d := s.database(srv.ID, "Sales")
	it, job, err := s.coord.Protect(s.ctx, d.ID, s.policy().ID)
	if err != nil {
		t.Fatal(err)
	}
	s.mustComplete(job)
	pts, err := s.db.ListPoints(s.ctx, it.ID)
	if err != nil || len(pts) == 0 {
		t.Fatalf("points = %v, %v", pts, err)
	}
	pt := pts[0]
	if err := s.coord.PurgePoint(s.ctx, pt.ID); engine.CodeOf(err) != engine.CodeConflict {
		t.Fatalf("purging a live point = %v, want %s", err, engine.CodeConflict)
	}
	if err := s.coord.StopProtection(s.ctx, it.ID, true); err != nil {
		t.Fatal(err)
	}
	settings := func(imm string, mua bool) {
		t.Helper()
		if _, err := s.coord.UpdateSettings(s.ctx, vault.Settings{Immutability: imm, SoftDeleteDays: 14, MultiUserAuth: mua}); err != nil {
			t.Fatal(err)
		}
	}
	settings(vault.ImmutabilityEnabled, false)
	if err := s.coord.PurgePoint(s.ctx, pt.ID); engine.CodeOf(err) != engine.CodeVaultImmutable {
		t.Fatalf("purge in an immutable vault = %v, want %s", err, engine.CodeVaultImmutable)
	}
	settings(vault.ImmutabilityDisabled, true)
	if err := s.coord.PurgePoint(s.ctx, pt.ID); engine.CodeOf(err) != engine.CodeApprovalNeeded {
		t.Fatalf("purge under multi-user authorization = %v, want %s", err, engine.CodeApprovalNeeded)
	}
	if _, err := s.env.Vault.OpenBlob(s.ctx, pt.Blobs[0]); err != nil {
		t.Fatalf("an unapproved purge touched the data: %v", err)
	}
	if err := s.coord.PurgePoint(coordinator.WithApproval(s.ctx, 1), pt.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.PointByID(s.ctx, pt.ID); err != db.ErrNotFound {
		t.Fatalf("purged point's row: %v", err)
	}
	if _, err := s.env.Vault.OpenBlob(s.ctx, pt.Blobs[0]); err == nil {
		t.Fatal("purged point's backup is still readable in the vault")
	}
}
