package coordinator_test

import (
	"slices"
	"testing"

	"github.com/sqlvault/sqlvault/engine/coordinator"
)

// A log of another incarnation of the database (dropped and created again:
// a new database_guid) never joins this one's chain, even when its LSNs
// seem to continue it: it is not planned on this full, the log ranges stop
// where this incarnation's logs end, and a point in time there still
// restores exactly its rows.
func TestChainNeverCrossesIncarnations(t *testing.T) {
	s, _, it := protectedSales(t)
	at := s.insertAt(2)
	s.backup(it, "log")
	points, _ := s.db.ListPoints(s.ctx, it.ID)
	full, log := points[0], points[len(points)-1]
	if full.DatabaseGUID == "" || full.DatabaseGUID != log.DatabaseGUID {
		t.Fatalf("points do not carry the database guid: %q %q", full.DatabaseGUID, log.DatabaseGUID)
	}
	before, _ := s.coord.LogRanges(s.ctx, it.ID)

	other := log
	other.ID, other.JobID = 0, nil
	other.Blobs = []string{"job-other/Sales_log.trn"}
	other.StartTime, other.EndTime = log.EndTime, log.EndTime.Add(60e9)
	other.FirstLSN, other.LastLSN = log.LastLSN, log.LastLSN+"0"
	other.DatabaseGUID = "00000000-0000-0000-0000-0000000000aa"
	stranger, err := s.db.CommitPoint(s.ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.coord.Plan(s.ctx, it.ID, stranger.ID, nil); err == nil {
		t.Fatal("a log of another incarnation was planned on this incarnation's full")
	}
	after, _ := s.coord.LogRanges(s.ctx, it.ID)
	if !slices.Equal(before, after) {
		t.Fatalf("log ranges with another incarnation's log = %+v, want %+v", after, before)
	}
	job, err := s.coord.Restore(s.ctx, coordinator.RestoreRequest{ItemID: it.ID, PointInTime: &at,
		Target: coordinator.RestoreTarget{Mode: coordinator.ModeAlternate, DatabaseName: "Sales_pit"}})
	if err != nil {
		t.Fatal(err)
	}
	s.mustComplete(job)
	if got := s.ids("Sales_pit"); !slices.Equal(got, []int{1, 2}) {
		t.Errorf("point-in-time restore holds %v, want [1 2]", got)
	}
}
