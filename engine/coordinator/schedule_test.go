package coordinator_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
	"github.com/sqlvault/sqlvault/engine/coordinator"
	"github.com/sqlvault/sqlvault/engine/enginetest"
	"github.com/sqlvault/sqlvault/engine/policy"
	"github.com/sqlvault/sqlvault/engine/restore"
)

// clock is the fake clock both the catalog and the coordinator read.
type clock = enginetest.Clock

func at(hh, mm int) time.Time           { return time.Date(2026, 3, 2, hh, mm, 0, 0, time.UTC) }
func (s *stack) restartWith(clk *clock) { s.coord = s.newCoordinator(clk) }

// onClock stops the stack's coordinator and starts one on a fake clock set
// to start, which the test moves.
func (s *stack) onClock(start time.Time) *clock {
	s.coord.Stop()
	clk := enginetest.NewClock(start)
	s.coord = s.newCoordinator(clk)
	return clk
}

func (s *stack) newCoordinator(clk *clock) *coordinator.Coordinator {
	s.t.Helper()
	s.db.SetClock(clk.Now)
	return s.env.Coordinator(s.db, func(c *coordinator.Config) {
		c.Now, c.Limits = clk.Now, policy.Limits{MinLogMinutes: 1, AllowHourly: true}
		c.NoCron = true // the test fires what the clock makes due
	})
}

// kinds lists the backup jobs of an item queued since id, in order.
func (s *stack) kinds(itemID, after int64) []string {
	s.t.Helper()
	jobs, err := s.db.ListJobs(s.ctx, db.JobFilter{ItemID: itemID, Operation: "backup", Limit: 500})
	if err != nil {
		s.t.Fatal(err)
	}
	var out []string
	for i := len(jobs) - 1; i >= 0; i-- {
		if jobs[i].ID > after {
			out = append(out, jobs[i].Kind)
			s.mustComplete(jobs[i].ID)
		}
	}
	return out
}

func (s *stack) lastJobID() int64 {
	jobs, _ := s.db.ListJobs(s.ctx, db.JobFilter{Limit: 1})
	if len(jobs) == 0 {
		return 0
	}
	return jobs[0].ID
}

// TestScheduleWithFakeClock runs a policy with hourly fulls, differentials
// at half past and logs every minute across slots of a fake clock, then a
// restart after downtime: missed slots are caught up once, and a job that
// was running when the process died ends interrupted and runs again.
func TestScheduleWithFakeClock(t *testing.T) {
	s := newStack(t)
	clk := s.onClock(at(9, 59))
	s.exec("CREATE DATABASE Sales")
	s.exec("USE Sales; CREATE TABLE t (id int)")
	srv := s.register("sa", saPW)
	p, err := s.coord.CreatePolicy(s.ctx, policy.Policy{Name: "Demo", Full: policy.FullSchedule{Frequency: "hourly", Time: "00:00", Timezone: "UTC"},
		Differential: policy.DiffSchedule{Enabled: true, Time: "00:30"}, Log: policy.LogSchedule{Enabled: true, EveryMinutes: 1},
		Retention: policy.Retention{DailyDays: 7, DifferentialDays: 7, LogDays: 2}})
	if err != nil {
		t.Fatal(err)
	}
	// Its cron entries are live at once (real clock: within a minute).
	if next := s.coord.NextRun(p.ID); next.IsZero() || time.Until(next) > time.Minute {
		t.Fatalf("next run of a new policy = %v", next)
	}
	clk.Set(at(9, 59).Add(10 * time.Second))
	it, _, err := s.coord.Protect(s.ctx, s.database(srv.ID, "Sales").ID, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	mark := int64(0)
	if got := s.kinds(it.ID, mark); !slices.Equal(got, []string{"full"}) {
		t.Fatalf("on protection: %v", got)
	}
	step := func(tm time.Time, want ...string) {
		t.Helper()
		mark = s.lastJobID()
		clk.Set(tm)
		s.coord.RunDue(s.ctx, p.ID)
		s.coord.RunDue(s.ctx, p.ID) // a second firing of the same slot queues nothing
		if got := s.kinds(it.ID, mark); !slices.Equal(got, want) {
			t.Fatalf("at %s: jobs %v, want %v", tm.Format("15:04:05"), got, want)
		}
	}
	step(at(9, 59).Add(30*time.Second), []string{}...) // no slot yet
	step(at(10, 0), "full", "log")                     // the log follows the full
	step(at(10, 1), "log")
	step(at(10, 2), "log")
	step(at(10, 30), "differential", "log")
	step(at(10, 31), "log")

	// Downtime: the process dies with a job running and misses 20 slots.
	s.coord.Stop()
	running, _ := s.db.CreateJob(s.ctx, db.NewJob{Operation: "backup", Kind: "log", ItemID: it.ID, ServerID: srv.ID})
	s.db.StartJob(s.ctx, running.ID)
	clk.Set(at(10, 52))
	s.restartWith(clk)
	if j := s.wait(running.ID); j.Status != db.JobFailed || j.ErrorCode != string(engine.CodeInterrupted) {
		t.Fatalf("interrupted job = %s %s", j.Status, j.ErrorCode)
	}
	jobs, _ := s.db.ListJobs(s.ctx, db.JobFilter{ItemID: it.ID, Limit: 10})
	var logs, retries int
	for _, j := range jobs {
		if j.ID > running.ID {
			s.mustComplete(j.ID)
			logs += map[bool]int{true: 1}[j.Kind == "log"]
			retries += map[bool]int{true: 1}[j.Attempt == 2]
		}
	}
	// One retry of the interrupted log; the caught-up slot is served by it
	// (one log job is queued or running at a time), never 20 of them.
	if logs < 1 || logs > 2 || retries != 1 {
		t.Fatalf("after restart: %d log jobs, %d retries: %+v", logs, retries, jobs)
	}
}

// TestRetentionOnFortyDays builds 40 days of history under a policy (a
// weekly full on Sunday, differentials the other days, logs every 4 h) and
// expires it: exactly the points past their expiry and needed by no kept
// point go, and every kept point can still be restored.
func TestRetentionOnFortyDays(t *testing.T) {
	pol := policy.Policy{Name: "p", Full: policy.FullSchedule{Frequency: "weekly", Days: []string{"sunday"}, Time: "22:00", Timezone: "UTC"},
		Differential: policy.DiffSchedule{Enabled: true, Days: []string{"monday", "tuesday", "wednesday", "thursday", "friday", "saturday"}, Time: "22:00"},
		Log:          policy.LogSchedule{Enabled: true, EveryMinutes: 240},
		Retention:    policy.Retention{DailyDays: 14, WeeklyWeeks: 4, DifferentialDays: 7, LogDays: 7}}
	if err := pol.Validate(); err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 1, 4, 0, 0, 0, 0, time.UTC) // a Sunday
	var points []db.Point
	lsn := 1000
	ckpt := ""
	id := int64(0)
	var prevFull time.Time
	add := func(kind string, end time.Time) {
		id++
		first := lsn
		lsn += 10
		p := db.Point{ID: id, Kind: kind, StartTime: end.Add(-time.Minute), EndTime: end,
			FirstLSN: fmt.Sprint(first), LastLSN: fmt.Sprint(lsn), CheckpointLSN: fmt.Sprint(lsn - 5)}
		switch kind {
		case "full":
			ckpt = p.CheckpointLSN
			exp := pol.Expiry(policy.Full, end, pol.Classify(end, prevFull))
			p.ExpiresAt, prevFull = &exp, end
		case "differential":
			p.DatabaseBackupLSN = ckpt
			exp := pol.Expiry(policy.Differential, end, policy.FirstOf{})
			p.ExpiresAt = &exp
		case "log":
			// A log starts where the previous log ended.
			p.FirstLSN = lastLogLSN(points)
			exp := pol.Expiry(policy.Log, end, policy.FirstOf{})
			p.ExpiresAt = &exp
		}
		points = append(points, p)
	}
	add("full", start.Add(-2*time.Hour)) // Saturday 22:00 before the first Sunday: the chain's start
	for d := 0; d < 40; d++ {
		day := start.AddDate(0, 0, d)
		for h := 0; h < 24; h += 4 {
			add("log", day.Add(time.Duration(h)*time.Hour))
		}
		if day.Weekday() == time.Sunday {
			add("full", day.Add(22*time.Hour))
		} else {
			add("differential", day.Add(22*time.Hour))
		}
	}
	now := start.AddDate(0, 0, 40)
	drop := coordinator.Expire(points, now)
	dropped := map[int64]bool{}
	for _, d := range drop {
		dropped[d] = true
	}
	var kept []restore.Point
	for _, p := range points {
		live := p.ExpiresAt.After(now)
		if live && dropped[p.ID] {
			t.Errorf("point %d (%s, %s) is not expired but was dropped", p.ID, p.Kind, p.EndTime)
		}
		if !dropped[p.ID] {
			kept = append(kept, restore.Point{ID: p.ID, Kind: p.Kind, Start: p.StartTime, End: p.EndTime, FirstLSN: p.FirstLSN,
				LastLSN: p.LastLSN, CheckpointLSN: p.CheckpointLSN, DatabaseBackupLSN: p.DatabaseBackupLSN})
		}
	}
	if len(drop) == 0 || len(kept) == len(points) {
		t.Fatalf("nothing expired from %d points", len(points))
	}
	for _, p := range kept {
		if _, err := restore.Build(kept, restore.Target{PointID: p.ID}); err != nil {
			t.Errorf("kept point %d (%s at %s) is not restorable: %v", p.ID, p.Kind, p.End, err)
		}
	}
	// The weekly full four weeks back is kept by the weekly rule, beyond
	// the 14 daily days.
	var oldestKeptFull time.Time
	for _, p := range kept {
		if p.Kind == "full" && (oldestKeptFull.IsZero() || p.End.Before(oldestKeptFull)) {
			oldestKeptFull = p.End
		}
	}
	if now.Sub(oldestKeptFull) < 21*24*time.Hour {
		t.Errorf("oldest kept full is from %s; weekly retention should keep older ones", oldestKeptFull)
	}
	t.Logf("40 days: %d points, %d expired, %d kept", len(points), len(drop), len(kept))
}

func lastLogLSN(points []db.Point) string {
	for i := len(points) - 1; i >= 0; i-- {
		if points[i].Kind == "log" || points[i].Kind == "full" && i == 0 {
			return points[i].LastLSN
		}
	}
	return points[0].LastLSN
}

// TestSimultaneousFiringsQueueOnce fires the two cron entries of a policy
// whose hourly full and per-minute log share 10:00 in the same second, in
// goroutines as robfig/cron runs them, with a Backup now of a full beside
// them: exactly one full and one log are queued, the full first, and
// SQL Server takes the log after the full has finished. Run with -race.
func TestSimultaneousFiringsQueueOnce(t *testing.T) {
	s := newStack(t)
	clk := s.onClock(at(9, 59))
	s.exec("CREATE DATABASE Sales")
	srv := s.register("sa", saPW)
	p, err := s.coord.CreatePolicy(s.ctx, policy.Policy{Name: "Hourly", Full: policy.FullSchedule{Frequency: "hourly", Time: "00:00", Timezone: "UTC"},
		Log: policy.LogSchedule{Enabled: true, EveryMinutes: 1}, Retention: policy.Retention{DailyDays: 7, LogDays: 2}})
	if err != nil {
		t.Fatal(err)
	}
	it, full, err := s.coord.Protect(s.ctx, s.database(srv.ID, "Sales").ID, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	s.mustComplete(full)
	mark := s.lastJobID()
	clk.Set(at(10, 0))
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); s.coord.RunDue(s.ctx, p.ID) }()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if _, err := s.coord.BackupNow(s.ctx, it.ID, "full", 0); err != nil && engine.CodeOf(err) != engine.CodeAlreadyInProgress {
			t.Errorf("backup now: %v", err)
		}
	}()
	wg.Wait()
	if got := s.kinds(it.ID, mark); !slices.Equal(got, []string{"full", "log"}) {
		t.Fatalf("queued %v, want one full then one log", got)
	}
	var fullEnd, logStart time.Time
	var fullID, logID int64
	if err := s.sql.QueryRowContext(s.ctx, `SELECT backup_set_id, backup_finish_date FROM msdb.dbo.backupset
		WHERE database_name = 'Sales' AND type = 'D' ORDER BY backup_set_id DESC`).Scan(&fullID, &fullEnd); err != nil {
		t.Fatal(err)
	}
	if err := s.sql.QueryRowContext(s.ctx, `SELECT backup_set_id, backup_start_date FROM msdb.dbo.backupset
		WHERE database_name = 'Sales' AND type = 'L' ORDER BY backup_set_id DESC`).Scan(&logID, &logStart); err != nil {
		t.Fatal(err)
	}
	if logID < fullID || logStart.Before(fullEnd) {
		t.Fatalf("log backup set %d began %v, before full %d ended %v", logID, logStart, fullID, fullEnd)
	}
}
