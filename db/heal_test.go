package db

import (
	"context"
	"testing"
	"time"
)

// TestHealCatalog: a running log turns into a full unless a full of the
// item is already active (that job's id comes back); gaps are listed and
// healed; the chain's alerts outlive a later log's success.
func TestHealCatalog(t *testing.T) {
	ctx := context.Background()
	d := openTest(t)
	s := seedServer(t, d)
	d.SaveDiscovery(ctx, s.ID, InstanceInfo{}, []Database{{Name: "Sales", RecoveryModel: "FULL", State: "ONLINE"}})
	dbs, _ := d.ListDatabases(ctx, s.ID)
	pol, _ := d.CreatePolicy(ctx, "Daily", `{"name":"Daily"}`)
	it, err := d.CreateItem(ctx, dbs[0].ID, pol.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	log, _ := d.CreateJob(ctx, NewJob{Operation: "backup", Kind: "log", ItemID: it.ID, ServerID: s.ID})
	d.StartJob(ctx, log.ID)
	if active, err := d.SetJobKind(ctx, log.ID, "full"); err != nil || active != 0 {
		t.Fatalf("turn the log into a full: %d, %v", active, err)
	}
	if j, _ := d.JobByID(ctx, log.ID); j.Kind != "full" {
		t.Errorf("job kind = %s", j.Kind)
	}
	log2, err := d.CreateJob(ctx, NewJob{Operation: "backup", Kind: "log", ItemID: it.ID, ServerID: s.ID})
	if err != nil {
		t.Fatal(err)
	}
	if active, err := d.SetJobKind(ctx, log2.ID, "full"); err != nil || active != log.ID {
		t.Errorf("with a full active: %d, %v, want job %d", active, err, log.ID)
	}
	if j, _ := d.JobByID(ctx, log2.ID); j.Kind != "log" {
		t.Errorf("the second log became %s", j.Kind)
	}

	from := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	if _, err := d.AddGap(ctx, Gap{ItemID: it.ID, JobID: &log.ID, From: from, To: from.Add(time.Minute), Breaks: true, Cause: "a log backup taken outside sqlvault"}); err != nil {
		t.Fatal(err)
	}
	gaps, _ := d.Gaps(ctx, it.ID)
	if len(gaps) != 1 || !gaps[0].From.Equal(from) || gaps[0].HealedAt != nil || *gaps[0].JobID != log.ID {
		t.Fatalf("gaps = %+v", gaps)
	}
	d.HealGaps(ctx, it.ID)
	if gaps, _ = d.Gaps(ctx, it.ID); gaps[0].HealedAt == nil {
		t.Errorf("gap not healed: %+v", gaps[0])
	}

	d.RaiseAlert(ctx, Alert{Code: "UserErrorLogChainBroken", Message: "broken", ItemID: &it.ID})
	d.RaiseAlert(ctx, Alert{Code: "UserErrorRPOBreached", Message: "late", ItemID: &it.ID})
	d.ResolveAlertsExcept(ctx, it.ID, "UserErrorLogChainBroken")
	for _, a := range mustAlerts(t, d) {
		if open := a.ResolvedAt == nil; open != (a.Code == "UserErrorLogChainBroken") {
			t.Errorf("alert %s open = %v", a.Code, open)
		}
	}
}

func mustAlerts(t *testing.T, d *DB) []Alert {
	as, err := d.ListAlerts(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	return as
}
