package coordinator_test

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine/enginetest"
	"github.com/sqlvault/sqlvault/engine/policy"
)

// TestLogSlot200 protects 200 databases on one instance under 15-minute
// logs and measures how long a log slot (200 log backups, 4 at a time on
// the instance) takes from the cron firing to the last commit; the worst
// RPO in a day is the interval plus that time. A figure, not a CI test:
//
//	SQLVAULT_BENCH=1 go test ./engine/coordinator -run LogSlot200 -v
func TestLogSlot200(t *testing.T) {
	if os.Getenv("SQLVAULT_BENCH") == "" {
		t.Skip("a benchmark figure: run with SQLVAULT_BENCH=1 go test ./engine/coordinator -run LogSlot200 -v")
	}
	s := newStack(t)
	s.coord.Stop()
	clk := enginetest.NewClock(time.Date(2026, 3, 2, 8, 0, 10, 0, time.UTC))
	s.coord = s.newCoordinator(clk)
	const n = 200
	for i := range n {
		s.exec(fmt.Sprintf("CREATE DATABASE db%03d", i))
		s.exec(fmt.Sprintf("USE db%03d; CREATE TABLE t (id int); INSERT INTO t VALUES (1)", i))
	}
	srv := s.register("sa", saPW)
	p, err := s.coord.CreatePolicy(s.ctx, policy.Policy{Name: "15m", Full: policy.FullSchedule{Frequency: "daily", Time: "22:00", Timezone: "UTC"},
		Log: policy.LogSchedule{Enabled: true, EveryMinutes: 15}, Retention: policy.Retention{DailyDays: 7, LogDays: 7}})
	if err != nil {
		t.Fatal(err)
	}
	dbs, _ := s.db.ListDatabases(s.ctx, srv.ID)
	start := time.Now()
	for _, d := range dbs {
		if !d.IsSystem {
			if _, _, err := s.coord.Protect(s.ctx, d.ID, p.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	s.drain(t, 10*time.Minute)
	fulls := time.Since(start)
	var worst time.Duration
	for slot := 1; slot <= 4; slot++ {
		clk.Set(time.Date(2026, 3, 2, 8, 15*slot, 0, 0, time.UTC))
		start = time.Now()
		s.coord.RunDue(s.ctx, p.ID)
		s.drain(t, 15*time.Minute)
		worst = max(worst, time.Since(start))
	}
	failed, _ := s.db.ListJobs(s.ctx, db.JobFilter{Status: db.JobFailed, Limit: 10})
	if len(failed) > 0 {
		t.Fatalf("%d jobs failed, e.g. %s %s", len(failed), failed[0].ErrorCode, failed[0].ErrorMessage)
	}
	t.Logf("%d databases: first fulls in %s; a 15-minute log slot of %d log backups takes at most %s; worst RPO %s (goal: under 20 min)",
		n, fulls.Round(time.Second), n, worst.Round(100*time.Millisecond), (15*time.Minute + worst).Round(time.Second))
	if 15*time.Minute+worst > 20*time.Minute {
		t.Errorf("worst RPO over 20 minutes")
	}
}

// drain waits until no job is queued or running.
func (s *stack) drain(t *testing.T, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		q, _ := s.db.ListJobs(s.ctx, db.JobFilter{Status: db.JobQueued, Limit: 1})
		r, _ := s.db.ListJobs(s.ctx, db.JobFilter{Status: db.JobInProgress, Limit: 1})
		if len(q)+len(r) == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("jobs still running after %s", limit)
}
