package db

import (
	"context"
	"testing"
	"time"
)

func TestPortalReads(t *testing.T) {
	ctx := context.Background()
	d := openTest(t)
	s := seedServer(t, d)
	if _, err := d.SaveDiscovery(ctx, s.ID, InstanceInfo{}, []Database{{Name: "Sales", RecoveryModel: "FULL", State: "ONLINE"}}); err != nil {
		t.Fatal(err)
	}
	dbs, _ := d.ListDatabases(ctx, s.ID)
	pol, err := d.CreatePolicy(ctx, "p", "{}")
	if err != nil {
		t.Fatal(err)
	}
	it, err := d.CreateItem(ctx, dbs[0].ID, pol.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	for _, p := range []struct {
		end  time.Time
		size int64
	}{{now.Add(-time.Hour), 100}, {now.Add(-2 * time.Hour), 50}, {now.Add(-48 * time.Hour), 7}, {now.Add(-30 * 24 * time.Hour), 1}} {
		if _, err := d.CommitPoint(ctx, Point{ItemID: it.ID, Kind: "full", Blobs: []string{"b"}, StartTime: p.end, EndTime: p.end, SizeBytes: p.size, StoredBytes: p.size / 2}); err != nil {
			t.Fatal(err)
		}
	}
	days, err := d.BytesPerDay(ctx, now, 7)
	if err != nil || len(days) != 7 {
		t.Fatalf("BytesPerDay = %d days, %v", len(days), err)
	}
	if last := days[6]; !last.Day.Equal(time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)) || last.Bytes != 150 || last.Stored != 75 || last.Points != 2 {
		t.Fatalf("today = %+v", last)
	}
	if days[4].Bytes != 7 || days[5].Bytes != 0 || days[0].Bytes != 0 {
		t.Fatalf("days = %+v", days)
	}
	tot, err := d.ItemPointTotals(ctx, it.ID)
	if err != nil || tot.Points != 4 || tot.Bytes != 158 {
		t.Fatalf("totals = %+v, %v", tot, err)
	}

	ok, _ := d.CreateJob(ctx, NewJob{Operation: "backup", Kind: "full", ItemID: it.ID})
	d.StartJob(ctx, ok.ID)
	d.FinishJob(ctx, ok.ID, JobCompleted, "", "")
	bad, _ := d.CreateJob(ctx, NewJob{Operation: "backup", Kind: "log", ItemID: it.ID})
	d.StartJob(ctx, bad.ID)
	d.FinishJob(ctx, bad.ID, JobFailed, "UserErrorBackupFailed", "no")
	d.CreateJob(ctx, NewJob{Operation: "backup", Kind: "full", ItemID: it.ID}) // queued: not an outcome
	last, err := d.LastBackupStatus(ctx)
	if err != nil || last[it.ID].ID != bad.ID || last[it.ID].Status != JobFailed || last[it.ID].ErrorCode != "UserErrorBackupFailed" {
		t.Fatalf("last backup = %+v, %v", last, err)
	}
	counts, err := d.JobCounts(ctx, time.Now().Add(-time.Hour))
	if err != nil || counts[JobCompleted] != 1 || counts[JobFailed] != 1 || counts[JobQueued] != 1 {
		t.Fatalf("job counts = %v, %v", counts, err)
	}

	for i := 0; i < 3; i++ {
		d.RaiseAlert(ctx, Alert{Code: "C" + string(rune('a'+i)), Message: "m", ItemID: &it.ID})
	}
	d.ResolveAlertCode(ctx, "Ca", 0, it.ID)
	open, _ := d.PageAlerts(ctx, AlertFilter{Open: true})
	resolved, _ := d.PageAlerts(ctx, AlertFilter{Resolved: true})
	page, _ := d.PageAlerts(ctx, AlertFilter{Limit: 2, Offset: 2})
	if len(open) != 2 || len(resolved) != 1 || resolved[0].Code != "Ca" || len(page) != 1 || page[0].Code != "Ca" {
		t.Fatalf("alerts: open %d, resolved %v, last page %v", len(open), resolved, page)
	}
}
