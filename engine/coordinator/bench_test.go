package coordinator_test

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine/coordinator"
	"github.com/sqlvault/sqlvault/engine/policy"
)

// TestLogSlot200 protects N databases (200, or SQLVAULT_BENCH_DATABASES)
// of one sqlsim instance under 15-minute logs, lets the first fulls run,
// then fires SQLVAULT_BENCH_SLOTS (default 4) log slots and prints the
// RPO every database had across the run (worst and median of samples
// every 10 s) and the log jobs' throughput. A figure, not a CI test:
//
//	SQLVAULT_BENCH=1 go test ./engine/coordinator -run LogSlot200 -v
//
// The clock is compressed, honestly: it runs at real speed while any job
// is queued or running (every backup runs whole: T-SQL to sqlsim, BACKUP
// LOG through the device, vault, msdb, catalog commit), and jumps over
// idle time only, straight to the next slot; a slot that comes while the
// last one still drains fires on time.
func TestLogSlot200(t *testing.T) {
	if os.Getenv("SQLVAULT_BENCH") == "" {
		t.Skip("a benchmark figure: run with SQLVAULT_BENCH=1 go test ./engine/coordinator -run LogSlot200 -v")
	}
	n, slots := envInt("SQLVAULT_BENCH_DATABASES", 200), envInt("SQLVAULT_BENCH_SLOTS", 4)
	s := newStack(t)
	s.coord.Stop()
	origin := time.Date(2026, 3, 2, 8, 0, 10, 0, time.UTC)
	clk := &jumpClock{fake: origin, real: time.Now()}
	s.db.SetClock(clk.Now)
	s.coord = s.env.Coordinator(s.db, func(c *coordinator.Config) { c.Now = clk.Now })
	start := time.Now()
	items := s.protectQuiet(t, n)
	fulls := time.Since(start)
	first := origin.Truncate(15 * time.Minute).Add(15 * time.Minute)
	if clk.Now().After(first) {
		t.Fatalf("the first fulls took past the first slot (%v)", clk.Now())
	}
	var slotTook []time.Duration
	for k := range slots {
		at := first.Add(time.Duration(k) * 15 * time.Minute)
		s.untilIdleOr(clk, at)
		fired := time.Now()
		s.coord.RunDue(s.ctx, *items[0].PolicyID)
		s.untilIdleOr(clk, at.Add(15*time.Minute))
		slotTook = append(slotTook, time.Since(fired))
	}
	s.drain(t, time.Duration(n)*5*time.Second)
	end := clk.Now()
	failed, _ := s.db.ListJobs(s.ctx, db.JobFilter{Status: db.JobFailed, Limit: 10})
	if len(failed) > 0 {
		t.Fatalf("%d jobs failed, e.g. %s %s", len(failed), failed[0].ErrorCode, failed[0].ErrorMessage)
	}
	ends, logs := s.backupEnds(t, items)
	worst, median := rpoSamples(ends, first, end, 10*time.Second)
	t.Logf("%d databases, %d slots: first fulls in %s; log slots took %v; %d log jobs, job p50 %v p90 %v, %.1f a second while a slot drained",
		n, slots, fulls.Round(time.Second), roundAll(slotTook), len(logs), jobPct(logs, 0.5), jobPct(logs, 0.9), float64(len(logs))/sum(slotTook).Seconds())
	t.Logf("RPO sampled every 10 s from the first slot to the end: worst %v, median %v (goal: worst under 20 min)", worst.Round(time.Second), median.Round(time.Second))
	if worst > 20*time.Minute {
		t.Errorf("worst RPO over 20 minutes")
	}
}

// jumpClock runs at real speed from fake; jump moves it forward.
type jumpClock struct {
	mu   sync.Mutex
	fake time.Time
	real time.Time
}

func (c *jumpClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fake.Add(time.Since(c.real))
}

func (c *jumpClock) jump(to time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d := to.Sub(c.fake.Add(time.Since(c.real))); d > 0 {
		c.fake = c.fake.Add(d)
	}
}

// untilIdleOr waits until the clock reaches at, or until no job is queued
// or running, then jumps to at: nothing happens in idle time.
func (s *stack) untilIdleOr(clk *jumpClock, at time.Time) {
	for clk.Now().Before(at) {
		q, _ := s.db.ListJobs(s.ctx, db.JobFilter{Status: db.JobQueued, Limit: 1})
		r, _ := s.db.ListJobs(s.ctx, db.JobFilter{Status: db.JobInProgress, Limit: 1})
		if len(q)+len(r) == 0 {
			clk.jump(at)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// backupEnds are, per item, the times its completed backups ended (the
// commit of a point: the RPO counts from there), and the log jobs.
func (s *stack) backupEnds(t *testing.T, items []db.Item) (map[int64][]time.Time, []db.Job) {
	ends := map[int64][]time.Time{}
	var logs []db.Job
	for _, it := range items {
		jobs, err := s.db.ListJobs(s.ctx, db.JobFilter{ItemID: it.ID, Operation: "backup", Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		for i := len(jobs) - 1; i >= 0; i-- { // oldest first
			j := jobs[i]
			if j.Status == db.JobCompleted && j.EndedAt != nil {
				ends[it.ID] = append(ends[it.ID], *j.EndedAt)
				if j.Kind == "log" {
					logs = append(logs, j)
				}
			}
		}
	}
	return ends, logs
}

// rpoSamples samples every database's RPO (time since its last backup
// ended) every step from from to to: the worst and the median sample.
func rpoSamples(ends map[int64][]time.Time, from, to time.Time, step time.Duration) (worst, median time.Duration) {
	var all []time.Duration
	for _, e := range ends {
		i := 0
		for at := from; !at.After(to); at = at.Add(step) {
			for i+1 < len(e) && !e[i+1].After(at) {
				i++
			}
			if len(e) > 0 && !e[i].After(at) {
				all = append(all, at.Sub(e[i]))
			}
		}
	}
	slices.Sort(all)
	if len(all) == 0 {
		return 0, 0
	}
	return all[len(all)-1], all[len(all)/2]
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func sum(d []time.Duration) (t time.Duration) {
	for _, x := range d {
		t += x
	}
	return t
}

func roundAll(d []time.Duration) []time.Duration {
	out := make([]time.Duration, len(d))
	for i, x := range d {
		out[i] = x.Round(100 * time.Millisecond)
	}
	return out
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

// TestLogJobProfile times log backups of quiet databases end to end with
// the real clock: first one at a time (a log job's own latency, and the
// median of each step the job records), then all at once under the
// coordinator's limits (throughput). A figure, not a CI test:
//
//	SQLVAULT_BENCH=1 go test ./engine/coordinator -run LogJobProfile -v
func TestLogJobProfile(t *testing.T) {
	if os.Getenv("SQLVAULT_BENCH") == "" {
		t.Skip("a benchmark figure: run with SQLVAULT_BENCH=1 go test ./engine/coordinator -run LogJobProfile -v")
	}
	n := envInt("SQLVAULT_BENCH_DATABASES", 40)
	s := newStack(t)
	items := s.protectQuiet(t, n)
	var one []db.Job
	for _, it := range items {
		id, err := s.coord.BackupNow(s.ctx, it.ID, "log", 0)
		if err != nil {
			t.Fatal(err)
		}
		one = append(one, s.mustComplete(id))
	}
	t.Logf("%d log backups one at a time: job p50 %v p90 %v", n, jobPct(one, 0.5), jobPct(one, 0.9))
	for _, l := range stepMedians(one) {
		t.Log("  " + l)
	}
	start := time.Now()
	var ids []int64
	for _, it := range items {
		id, err := s.coord.BackupNow(s.ctx, it.ID, "log", 0)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	var all []db.Job
	for _, id := range ids {
		all = append(all, s.mustComplete(id))
	}
	took := time.Since(start)
	t.Logf("%d log backups queued at once: %v, %.1f a second; job p50 %v p90 %v", n, took.Round(time.Millisecond),
		float64(n)/took.Seconds(), jobPct(all, 0.5), jobPct(all, 0.9))
}

// protectQuiet creates n one-row databases, protects them under a
// 15-minute log policy and waits for their first fulls.
func (s *stack) protectQuiet(t *testing.T, n int) []db.Item {
	for i := range n {
		s.exec(fmt.Sprintf("CREATE DATABASE db%04d", i))
		s.exec(fmt.Sprintf("USE db%04d; CREATE TABLE t (id int); INSERT INTO t VALUES (1)", i))
	}
	srv := s.register("sa", saPW)
	p, err := s.coord.CreatePolicy(s.ctx, policy.Policy{Name: "15m", Full: policy.FullSchedule{Frequency: "daily", Time: "22:00", Timezone: "UTC"},
		Log: policy.LogSchedule{Enabled: true, EveryMinutes: 15}, Retention: policy.Retention{DailyDays: 7, LogDays: 7}})
	if err != nil {
		t.Fatal(err)
	}
	dbs, _ := s.db.ListDatabases(s.ctx, srv.ID)
	var items []db.Item
	for _, d := range dbs {
		if d.IsSystem {
			continue
		}
		it, _, err := s.coord.Protect(s.ctx, d.ID, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, it)
	}
	s.drain(t, time.Duration(n)*3*time.Second)
	return items
}

func jobPct(jobs []db.Job, p float64) time.Duration {
	var d []time.Duration
	for _, j := range jobs {
		if j.StartedAt != nil && j.EndedAt != nil {
			d = append(d, j.EndedAt.Sub(*j.StartedAt))
		}
	}
	return pctOf(d, p)
}

func pctOf(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[min(len(d)-1, int(float64(len(d))*p))].Round(time.Millisecond)
}

// stepMedians is each step's median time over the jobs, in step order.
func stepMedians(jobs []db.Job) []string {
	var names []string
	by := map[string][]time.Duration{}
	for _, j := range jobs {
		for _, st := range j.Steps {
			if st.Ended == nil {
				continue
			}
			if _, ok := by[st.Name]; !ok {
				names = append(names, st.Name)
			}
			by[st.Name] = append(by[st.Name], st.Ended.Sub(st.Started))
		}
	}
	var out []string
	for _, n := range names {
		out = append(out, fmt.Sprintf("%-26s p50 %v", n, pctOf(by[n], 0.5)))
	}
	return out
}
