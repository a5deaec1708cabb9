package coordinator_test

import (
	"context"
	"testing"
	"time"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine/coordinator"
	"github.com/sqlvault/sqlvault/engine/policy"
)

// storedState is the health state the catalog's stored health gives the
// item at the clock's time: the one state whose filter lists it.
func (s *stack) storedState(clk *clock, it db.Item) string {
	s.t.Helper()
	var found []string
	for _, st := range []string{db.HealthHealthy, db.HealthBreached, db.HealthFailed, db.HealthStopped, db.HealthPending} {
		items, err := s.db.ListItemsByHealth(s.ctx, db.ItemFilter{}, st, clk.Now())
		if err != nil {
			s.t.Fatal(err)
		}
		for _, x := range items {
			if x.ID == it.ID {
				found = append(found, st)
			}
		}
	}
	if len(found) != 1 {
		s.t.Fatalf("item %d is listed under %v health states, want exactly one", it.ID, found)
	}
	counts, err := s.db.HealthCounts(s.ctx, clk.Now())
	if err != nil {
		s.t.Fatal(err)
	}
	if counts[found[0]] != 1 {
		s.t.Fatalf("health counts %v: the item's state %s is not counted once", counts, found[0])
	}
	return found[0]
}

// computedState is the health the portal computed per request before it
// was stored: the item's RPO now and its last finished backup.
func (s *stack) computedState(it db.Item) string {
	s.t.Helper()
	it, err := s.db.ItemByID(s.ctx, it.ID)
	if err != nil {
		s.t.Fatal(err)
	}
	last, err := s.db.LastBackupStatus(s.ctx, it.ID)
	if err != nil {
		s.t.Fatal(err)
	}
	var j *db.Job
	if l, ok := last[it.ID]; ok {
		j = &l
	}
	return coordinator.StateOf(it, j, s.coord.Health(s.ctx, it))
}

// The health kept in the catalog is the one computed from the item's
// points and jobs at every transition: each hook (job end, stop, resume,
// policy change) stores it, and the RPO breach follows the clock alone.
func TestStoredHealthFollowsEveryTransition(t *testing.T) {
	s, clk, p, it, _ := healStack(t, false, true)
	target := s.coord.Health(s.ctx, it).Target
	if target <= 0 {
		t.Fatalf("the policy's RPO target is %v", target)
	}
	step := func(what, want string) {
		t.Helper()
		stored, computed := s.storedState(clk, it), s.computedState(it)
		if stored != computed || computed != want {
			t.Fatalf("%s: stored health %s, computed %s, want %s", what, stored, computed, want)
		}
	}
	// sqlsim's points carry its own (real) times: the fake clock follows
	// the newest point, so the RPO is what the test sets.
	newest := func() time.Time { return s.lastBackup(it) }
	clk.Set(newest().Add(time.Second))
	step("after the first full", db.HealthHealthy)

	clk.Set(newest().Add(2 * target)) // exactly twice the target: not over it
	step("at twice the target", db.HealthHealthy)
	clk.Set(newest().Add(2*target + time.Second))
	step("past twice the target, nothing written", db.HealthBreached)

	s.backup(it, "log")
	clk.Set(newest().Add(time.Second))
	step("after a log backup", db.HealthHealthy)

	s.exec("ALTER DATABASE Sales SET OFFLINE") // SQL Server refuses to back it up
	id, err := s.coord.BackupNow(s.ctx, it.ID, "full", 0)
	if err != nil {
		t.Fatal(err)
	}
	if j := s.wait(id); j.Status != db.JobFailed {
		t.Fatalf("the cut backup ended %s", j.Status)
	}
	s.exec("ALTER DATABASE Sales SET ONLINE")
	step("after a failed backup", db.HealthFailed)
	s.backup(it, "full")
	clk.Set(newest().Add(time.Second))
	step("after the next full", db.HealthHealthy)

	if err := s.coord.StopProtection(s.ctx, it.ID, false); err != nil {
		t.Fatal(err)
	}
	clk.Set(newest().Add(10 * target))
	step("stopped, long after its last point", db.HealthStopped)
	if _, err := s.coord.ResumeProtection(s.ctx, it.ID, p.ID); err != nil {
		t.Fatal(err)
	}
	step("resumed with an old point", db.HealthBreached)

	// A gap that breaks the chain moves the RPO back to the chain's end
	// (the first full), past twice the target; the minute's check stores it.
	s.backup(it, "log")
	clk.Set(newest().Add(2 * target))
	step("after a log backup", db.HealthHealthy)
	points, _ := s.db.ListPoints(s.ctx, it.ID)
	if _, err := s.db.AddGap(s.ctx, db.Gap{ItemID: it.ID, From: points[0].EndTime, To: points[len(points)-1].StartTime, Breaks: true, Cause: "test"}); err != nil {
		t.Fatal(err)
	}
	s.coord.CheckHealth(s.ctx)
	step("with a broken chain", db.HealthBreached)
}

// Whoever sees a job ended sees the health it left its item: the two are
// one write. The hook runs right after the job's end is written; a failed
// backup must already list the item as failed there, and the next full as
// healthy.
func TestAnEndedJobAndItsItemsHealthAreOneWrite(t *testing.T) {
	s, clk, _, it, _ := healStack(t, false, true)
	s.coord.Stop()
	seen := make(chan string, 8)
	s.coord = s.env.Coordinator(s.db, func(c *coordinator.Config) {
		c.Now, c.Limits, c.NoCron = clk.Now, policy.Limits{MinLogMinutes: 1, AllowHourly: true}, true
		c.Hook = func(point string) {
			if point != "job-ended" {
				return
			}
			failed, err := s.db.ListItemsByHealth(context.Background(), db.ItemFilter{}, db.HealthFailed, clk.Now())
			switch {
			case err != nil:
				seen <- err.Error()
			case len(failed) == 1 && failed[0].ID == it.ID:
				seen <- db.HealthFailed
			default:
				seen <- "not " + db.HealthFailed
			}
		}
	})
	s.exec("ALTER DATABASE Sales SET OFFLINE")
	id, err := s.coord.BackupNow(s.ctx, it.ID, "full", 0)
	if err != nil {
		t.Fatal(err)
	}
	if j := s.wait(id); j.Status != db.JobFailed {
		t.Fatalf("the backup of an offline database ended %s", j.Status)
	}
	if got := <-seen; got != db.HealthFailed {
		t.Errorf("as the failed backup's end was written, the item was %s", got)
	}
	s.exec("ALTER DATABASE Sales SET ONLINE")
	s.backup(it, "full")
	if got := <-seen; got == db.HealthFailed {
		t.Errorf("as the next full's end was written, the item was still %s", got)
	}
}

// A catalog whose items have no stored health yet (just migrated) gets it
// at the coordinator's start.
func TestHealthIsFilledInAtStart(t *testing.T) {
	s, clk, _, it, _ := healStack(t, false, true)
	if err := s.db.SetItemHealth(s.ctx, []db.StoredHealth{{ItemID: it.ID, State: ""}}); err != nil {
		t.Fatal(err)
	}
	if missing, _ := s.db.ItemsWithoutHealth(s.ctx); len(missing) != 1 {
		t.Fatalf("items without health: %d, want 1", len(missing))
	}
	s.coord.Stop()
	s.restartWith(clk)
	if missing, _ := s.db.ItemsWithoutHealth(s.ctx); len(missing) != 0 {
		t.Fatalf("after the start, %d items still have no health", len(missing))
	}
	if got, want := s.storedState(clk, it), s.computedState(it); got != want || got != db.HealthHealthy {
		t.Fatalf("stored %s, computed %s", got, want)
	}
}

// lastBackup is the time of the item's newest point, as its health reads it.
func (s *stack) lastBackup(it db.Item) time.Time {
	s.t.Helper()
	fresh, err := s.db.ItemByID(s.ctx, it.ID)
	if err != nil || fresh.LatestPoint == nil {
		s.t.Fatalf("item %d has no point: %v", it.ID, err)
	}
	return s.coord.Health(s.ctx, fresh).Last
}
