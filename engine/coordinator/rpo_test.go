package coordinator_test

import (
	"testing"

	"github.com/sqlvault/sqlvault/db"
)

// After a gap that breaks the chain, the RPO counts from the chain's end
// before it, however recent the backups that landed since; once a full
// heals the chain it counts from the newest point again.
func TestRPOCountsFromTheChainEndBeforeAnUnhealedGap(t *testing.T) {
	s, _, it := protectedSales(t)
	s.insertAt(2)
	s.backup(it, "log")
	points, _ := s.db.ListPoints(s.ctx, it.ID)
	full, log := points[0], points[len(points)-1]
	it, _ = s.db.ItemByID(s.ctx, it.ID)

	clean := s.coord.Health(s.ctx, it)
	if clean.ChainBrokenAt != nil || !clean.HasPoint {
		t.Fatalf("health of an unbroken chain: %+v", clean)
	}
	if _, err := s.db.AddGap(s.ctx, db.Gap{ItemID: it.ID, From: full.EndTime, To: log.StartTime, Breaks: true, Cause: "a log backup taken outside sqlvault"}); err != nil {
		t.Fatal(err)
	}
	broken := s.coord.Health(s.ctx, it)
	if broken.ChainBrokenAt == nil || !broken.ChainBrokenAt.Equal(full.EndTime) {
		t.Fatalf("chain broken at %v, want the full's end %v", broken.ChainBrokenAt, full.EndTime)
	}
	if gain := broken.RPO - clean.RPO; gain < log.EndTime.Sub(full.EndTime) {
		t.Errorf("RPO with the gap %v, without %v: the log after the gap still counts", broken.RPO, clean.RPO)
	}
	if err := s.db.HealGaps(s.ctx, it.ID); err != nil {
		t.Fatal(err)
	}
	if healed := s.coord.Health(s.ctx, it); healed.ChainBrokenAt != nil || healed.RPO >= broken.RPO {
		t.Errorf("after the heal: %+v (broken RPO %v)", healed, broken.RPO)
	}
}
