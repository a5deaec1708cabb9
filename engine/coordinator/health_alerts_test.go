package coordinator_test

import (
	"testing"
	"time"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
)

// openRPOAlerts counts the item's open RPO alerts.
func (s *stack) openRPOAlerts(it db.Item) int {
	s.t.Helper()
	alerts, err := s.db.ListAlerts(s.ctx, 1000)
	if err != nil {
		s.t.Fatal(err)
	}
	n := 0
	for _, a := range alerts {
		if a.Code == string(engine.CodeRPOBreached) && a.ResolvedAt == nil && a.ItemID != nil && *a.ItemID == it.ID {
			n++
		}
	}
	return n
}

// The minute's health check raises one RPO alert when an item's RPO
// passes twice its target, raises no second one while it stays breached,
// and resolves it once a backup brings the RPO back.
func TestHealthCheckRaisesAndResolvesRPOAlerts(t *testing.T) {
	s, clk, _, it, _ := healStack(t, false, true)
	target := s.coord.Health(s.ctx, it).Target
	newest := func() time.Time { return s.lastBackup(it) }
	clk.Set(newest().Add(time.Second))
	s.coord.CheckHealth(s.ctx)
	if n := s.openRPOAlerts(it); n != 0 {
		t.Fatalf("%d RPO alerts for a healthy item", n)
	}
	clk.Set(newest().Add(2*target + time.Second))
	s.coord.CheckHealth(s.ctx)
	s.coord.CheckHealth(s.ctx)
	if n := s.openRPOAlerts(it); n != 1 {
		t.Fatalf("%d open RPO alerts after two checks of a breached item, want 1", n)
	}
	s.backup(it, "log")
	clk.Set(newest().Add(time.Second))
	s.coord.CheckHealth(s.ctx)
	if n := s.openRPOAlerts(it); n != 0 {
		t.Fatalf("%d open RPO alerts after a log backup brought the RPO back", n)
	}
}
