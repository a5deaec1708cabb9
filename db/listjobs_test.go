package db

import (
	"context"
	"testing"
	"time"
)

// TestListJobsFiltersAndLastOutcome checks the queries the portal leads by
// one index: an item's jobs, status and operation, since a time (bounded by
// id), the active-job lookups and each item's last finished backup.
func TestListJobsFiltersAndLastOutcome(t *testing.T) {
	ctx := context.Background()
	d := openTest(t)
	s := seedServer(t, d)
	if _, err := d.SaveDiscovery(ctx, s.ID, InstanceInfo{}, []Database{{Name: "A"}, {Name: "B"}}); err != nil {
		t.Fatal(err)
	}
	dbs, _ := d.ListDatabases(ctx, s.ID)
	pol, _ := d.CreatePolicy(ctx, "p", "{}")
	a, _ := d.CreateItem(ctx, dbs[0].ID, pol.ID, "")
	b, _ := d.CreateItem(ctx, dbs[1].ID, pol.ID, "")
	start := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	var ids []int64
	for i := range 40 {
		now := start.Add(time.Duration(i) * time.Hour)
		d.SetClock(func() time.Time { return now })
		item, op := a.ID, "backup"
		if i%2 == 1 {
			item = b.ID
		}
		if i%5 == 4 {
			op = "verify"
		}
		kind := "log"
		if i == 38 { // a's log of job 36 is still queued: one backup per item and kind
			kind = "differential"
		}
		j, err := d.CreateJob(ctx, NewJob{Operation: op, Kind: kind, ItemID: item, ServerID: s.ID})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
		if i < 36 {
			d.StartJob(ctx, j.ID)
			status := JobCompleted
			if i%3 == 0 {
				status = JobFailed
			}
			d.FinishJob(ctx, j.ID, status, "", "")
		}
	}
	count := func(f JobFilter) int {
		t.Helper()
		f.Limit = 500
		jobs, err := d.ListJobs(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		for k := 1; k < len(jobs); k++ {
			if jobs[k].ID >= jobs[k-1].ID {
				t.Fatalf("%+v: not newest first", f)
			}
		}
		return len(jobs)
	}
	for _, c := range []struct {
		f    JobFilter
		want int
	}{
		{JobFilter{}, 40},
		{JobFilter{ItemID: a.ID}, 20},
		{JobFilter{ItemID: a.ID, Status: JobFailed}, 6}, // i even, i%3 == 0, i < 36: 0 6 12 18 24 30
		{JobFilter{ItemID: b.ID, Operation: "verify"}, 4},
		{JobFilter{Status: JobQueued}, 4},
		{JobFilter{Operation: "backup", Status: JobCompleted}, 19},
		{JobFilter{Since: start.Add(30 * time.Hour)}, 10},
		{JobFilter{Since: start.Add(30 * time.Hour), Status: JobFailed}, 2}, // 30, 33
		{JobFilter{Since: start.Add(-time.Hour)}, 40},
		{JobFilter{Since: start.Add(100 * time.Hour)}, 0},
		{JobFilter{Since: start.Add(30 * time.Hour), BeforeID: ids[35]}, 5},
	} {
		if n := count(c.f); n != c.want {
			t.Errorf("ListJobs(%+v) = %d jobs, want %d", c.f, n, c.want)
		}
	}
	if id, err := d.ActiveJob(ctx, "backup", "log", a.ID); err != nil || id != ids[36] {
		t.Errorf("ActiveJob = %d, %v; want %d", id, err, ids[36])
	}
	if id, err := d.ActiveJob(ctx, "backup", "full", a.ID); err != nil || id != 0 {
		t.Errorf("ActiveJob of no job = %d, %v", id, err)
	}
	if id, err := d.ActiveServerJob(ctx, "rediscover", s.ID); err != nil || id != 0 {
		t.Errorf("ActiveServerJob of no job = %d, %v", id, err)
	}
	// a's newest finished job (34) is a verify: its last backup is 32.
	last, err := d.LastBackupStatus(ctx)
	if err != nil || len(last) != 2 || last[a.ID].ID != ids[32] || last[b.ID].ID != ids[35] || last[b.ID].Status != JobCompleted {
		t.Fatalf("LastBackupStatus = %+v, %v", last, err)
	}
	if one, _ := d.LastBackupStatus(ctx, b.ID); len(one) != 1 || one[b.ID].ID != ids[35] {
		t.Fatalf("LastBackupStatus(b) = %+v", one)
	}
}
