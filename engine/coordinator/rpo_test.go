package coordinator_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine/coordinator"
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

// TestLogBackupsAreNotStarvedByFulls holds a full backup in flight in the
// only job slot, with 250 more jobs queued behind it: a log backup of
// another database still runs and commits (logs have slots of their own
// and are read apart from the queue's head), while the log of a database
// whose full is queued before it waits for that full, as before.
func TestLogBackupsAreNotStarvedByFulls(t *testing.T) {
	var armed atomic.Bool
	release := make(chan struct{})
	s := newStackWith(t, func(c *coordinator.Config) {
		c.PerInstance, c.Global = 1, 1
		c.Hook = func(point string) {
			if point == "backup-before-commit" && armed.CompareAndSwap(true, false) {
				<-release
			}
		}
	})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	t.Cleanup(free) // before the stack's: a failed test must not leave the full held
	for _, n := range []string{"A", "B", "C"} {
		s.exec("CREATE DATABASE " + n)
		s.exec("USE " + n + "; CREATE TABLE t (id int); INSERT INTO t VALUES (1)")
	}
	srv := s.register("sa", saPW)
	p := s.policy()
	items := map[string]db.Item{}
	for _, n := range []string{"A", "B", "C"} {
		it, job, err := s.coord.Protect(s.ctx, s.database(srv.ID, n).ID, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		s.mustComplete(job)
		items[n] = it
	}
	armed.Store(true)
	heldFull := s.queue(items["A"], "full")
	s.waitFor("the full of A to hold the job slot", func() bool { return !armed.Load() })
	fullB := s.queue(items["B"], "full")
	logB := s.queue(items["B"], "log")
	var others []int64
	for range 250 {
		j, err := s.db.CreateJob(s.ctx, db.NewJob{Operation: "rediscover", ServerID: srv.ID})
		if err != nil {
			t.Fatal(err)
		}
		others = append(others, j.ID)
	}
	logC := s.mustComplete(s.queue(items["C"], "log"))
	if pts, _ := s.db.ListPoints(s.ctx, items["C"].ID); len(pts) != 2 || pts[1].Kind != "log" {
		t.Errorf("C's points after its log: %+v", pts)
	}
	if j, _ := s.db.JobByID(s.ctx, logB); j.Status != db.JobQueued {
		t.Errorf("B's log, queued after B's full, is %s while that full waits", j.Status)
	}
	for _, id := range others {
		if err := s.coord.Cancel(s.ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	free()
	s.mustComplete(heldFull)
	full, log := s.mustComplete(fullB), s.mustComplete(logB)
	if log.StartedAt.Before(*full.EndedAt) {
		t.Errorf("B's log started at %v, before B's full ended at %v", log.StartedAt, full.EndedAt)
	}
	t.Logf("C's log took %v while A's full held the only job slot", logC.EndedAt.Sub(*logC.StartedAt))
}

func (s *stack) queue(it db.Item, kind string) int64 {
	s.t.Helper()
	id, err := s.coord.BackupNow(s.ctx, it.ID, kind, 0)
	if err != nil {
		s.t.Fatal(err)
	}
	return id
}

// waitFor polls cond until it holds, failing the test after 30 s.
func (s *stack) waitFor(what string, cond func() bool) {
	s.t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			s.t.Fatalf("waited 30 s for %s", what)
		}
	}
}
