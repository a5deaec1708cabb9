package coordinator_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/coordinator"
)

// TestTestGrantIsScratch: a DBA pastes a test grant's CREATE CREDENTIAL
// into the instance and runs BACKUP TO URL by hand; the backup lands in
// the vault but is no recovery point, and when the grant ends it is
// deleted and the SAS is refused.
func TestTestGrantIsScratch(t *testing.T) {
	s := newStack(t)
	s.exec("CREATE DATABASE [Sales]")
	if _, err := s.coord.OpenTestGrant(30 * time.Second); engine.CodeOf(err) != engine.CodeInvalidRequest {
		t.Fatalf("a 30-second test grant = %v, want %s", err, engine.CodeInvalidRequest)
	}
	g := coordinator.OpenShortTestGrant(s.coord, 3*time.Second)
	s.exec(g.CredentialSQL)
	s.exec(fmt.Sprintf("BACKUP DATABASE [Sales] TO URL = '%s/by-hand.bak'", g.URL))
	ms, err := s.env.Vault.List(s.ctx, g.Container+"/")
	if err != nil || len(ms) != 1 {
		t.Fatalf("scratch blobs = %v, %v; want the one backup", ms, err)
	}
	if ms[0].Labels != nil {
		t.Fatalf("a scratch backup carries labels %v: it would be kept as a recovery point", ms[0].Labels)
	}
	if items, err := s.db.ListItems(s.ctx, db.ItemFilter{}); err != nil || len(items) != 0 {
		t.Fatalf("items after a test backup = %v, %v", items, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ms, err = s.env.Vault.List(s.ctx, g.Container+"/")
		if err == nil && len(ms) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("scratch blobs still there after the grant ended: %v, %v", ms, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := s.sql.ExecContext(s.ctx, fmt.Sprintf("BACKUP DATABASE [Sales] TO URL = '%s/again.bak'", g.URL)); err == nil {
		t.Fatal("BACKUP TO URL with an ended test grant succeeded")
	}
}
