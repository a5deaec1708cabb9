package restore

import "testing"

// TestPlanStaysOnTheNewFork: a restore over the database to full #1 starts
// a new recovery fork whose LSNs are numbered again from there; full #4
// and log #5 of the new fork are below the old fork's log #3. A time after
// full #4 is reached by #4 and #5 only, never through the old fork's logs.
func TestPlanStaysOnTheNewFork(t *testing.T) {
	points := []Point{
		{ID: 1, Kind: Full, Start: at(0), End: at(10), FirstLSN: lsn(1), LastLSN: lsn(2), CheckpointLSN: lsn(2)},
		{ID: 2, Kind: Log, Start: at(19), End: at(20), FirstLSN: lsn(2), LastLSN: lsn(6)},
		{ID: 3, Kind: Log, Start: at(24), End: at(25), FirstLSN: lsn(6), LastLSN: lsn(8)}, // the tail before the restore
		{ID: 4, Kind: Full, Start: at(30), End: at(31), FirstLSN: lsn(3), LastLSN: lsn(4), CheckpointLSN: lsn(4)},
		{ID: 5, Kind: Log, Start: at(40), End: at(41), FirstLSN: lsn(3), LastLSN: lsn(5)},
	}
	target := at(35)
	plan, err := Build(points, Target{Time: &target})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(plan); got != "4,5@35m0s" {
		t.Errorf("plan = %s, want 4,5@35m0s", got)
	}
	// On the old fork, before the restore, the old logs still serve.
	old := at(22)
	plan, err = Build(points, Target{Time: &old})
	if err != nil || ids(plan) != "1,2,3@22m0s" {
		t.Errorf("plan to %v = %s, %v", old.Sub(t0), ids(plan), err)
	}
}
