package web

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine/coordinator"
	"github.com/sqlvault/sqlvault/engine/policy"
	"github.com/sqlvault/sqlvault/sqlsim"
)

// TestBrowserProtectsAGroupDatabase: with both replicas of an
// availability group registered, Protected servers shows the group with
// its replicas and roles; protecting its database from the secondary's
// list makes one backup item, shown under the group on both pages, whose
// first full ran on the primary.
func TestBrowserProtectsAGroupDatabase(t *testing.T) {
	ts := newTestServer(t)
	var sims []*sqlsim.Instance
	for _, m := range []string{"SQLAG1", "SQLAG2"} {
		cfg := ts.env.SimConfig("Sa-Passw0rd!")
		cfg.MachineName = m
		sims = append(sims, ts.env.StartSim(cfg))
	}
	sqlExec(t, "sqlserver://sa:Sa-Passw0rd!@127.0.0.1:"+strconv.Itoa(sims[0].Port())+"?encrypt=disable",
		"CREATE DATABASE Sales", "USE Sales; CREATE TABLE t (id int)", "INSERT INTO Sales.dbo.t VALUES (1)")
	g, err := sqlsim.NewGroup("SalesAG", "salesag:1433", "secondary", sims...)
	if err != nil && (errors.Is(err, errors.ErrUnsupported) || strings.Contains(err.Error(), "not yet implemented")) {
		t.Skip("sqlsim simulates no availability groups yet:", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := g.AddDatabase(ctx, "Sales"); err != nil {
		t.Fatal(err)
	}
	for i, in := range sims {
		_, job, err := ts.coord.RegisterServer(ctx, coordinator.ServerInput{Name: "SQLAG" + strconv.Itoa(i+1), Host: "127.0.0.1",
			Port: in.Port(), Username: "sa", Password: "Sa-Passw0rd!", Encrypt: "disable"})
		if err != nil {
			t.Fatal(err)
		}
		waitAGJob(t, ts.db, job)
	}
	if _, err := ts.coord.CreatePolicy(ctx, policy.Policy{Name: "Daily", Full: policy.FullSchedule{Frequency: "daily", Time: "22:00", Timezone: "UTC"},
		Log: policy.LogSchedule{Enabled: true, EveryMinutes: 15}, Retention: policy.Retention{DailyDays: 30, LogDays: 15}}); err != nil {
		t.Fatal(err)
	}
	bctx := newBrowser(t)
	do := browserSteps(t, bctx)
	do("sign in", chromedp.EmulateViewport(1280, 900), chromedp.Navigate(ts.URL+"/servers"),
		chromedp.WaitVisible(css(`#username`)), chromedp.SendKeys(css(`#username`), "admin"),
		chromedp.SendKeys(css(`#password`), "admin-pw"), chromedp.Click(css(`button[type=submit]`)),
		chromedp.WaitVisible(css(`section.ag tr[data-replica="SQLAG1"]`)),
	)
	primary, _ := chromedp.Run(bctx, chromedp.Text(css(`section.ag tr[data-replica="SQLAG1"]`)))
	secondary, _ := chromedp.Run(bctx, chromedp.Text(css(`section.ag tr[data-replica="SQLAG2"]`)))
	if !strings.Contains(primary, "PRIMARY") || !strings.Contains(secondary, "SECONDARY") {
		t.Errorf("replica rows: %q, %q", primary, secondary)
	}
	do("protect from the secondary", chromedp.WaitVisible(css(`#dbs-2 tr[data-db="Sales"] button`)),
		chromedp.Click(css(`#dbs-2 tr[data-db="Sales"] button`)),
		chromedp.WaitVisible(css(`#item-summary`)),
		waitFor(`document.querySelector('[data-testid=latest]').textContent.trim() !== '—'`),
	)
	// The item's header names its group and primary, not the replica's server.
	if h, _ := chromedp.Run(bctx, chromedp.Text(css(`main h1`))); h != "Sales in availability group SalesAG (primary: SQLAG1)" {
		t.Errorf("item header %q, want the group and its primary", h)
	}
	// The restore wizard says which replica an original restore replaces.
	protected, _ := ts.db.ListItems(ctx, db.ItemFilter{})
	if len(protected) == 0 {
		t.Fatal("no item")
	}
	do("restore wizard", chromedp.Navigate(ts.URL+"/restore?item="+strconv.FormatInt(protected[0].ID, 10)), chromedp.WaitVisible(css(`#r-orig-replica`)))
	if p, _ := chromedp.Run(bctx, chromedp.Text(css(`#r-orig-replica p`))); !strings.Contains(p, "SQLAG1, the primary replica of SalesAG") {
		t.Errorf("the wizard's original target says %q, want the primary SQLAG1", p)
	}
	do("items", chromedp.Navigate(ts.URL+"/items"),
		waitFor(`document.querySelector('main table').textContent.includes('availability group SalesAG')`))
	do("servers", chromedp.Navigate(ts.URL+"/servers"),
		chromedp.WaitVisible(css(`section.ag li[data-ag-db="Sales"] a`)))
	items, _ := ts.db.ListItems(ctx, db.ItemFilter{})
	if len(items) != 1 {
		t.Fatalf("%d items, want one for the group database", len(items))
	}
	jobs, _ := ts.db.ListJobs(ctx, db.JobFilter{ItemID: items[0].ID, Operation: "backup"})
	if len(jobs) != 1 || jobs[0].Replica != "SQLAG1" {
		t.Errorf("first full: %+v, want it on the primary SQLAG1", jobs)
	}
}

// waitAGJob polls a job until it ends.
func waitAGJob(t *testing.T, catalog *db.DB, id int64) {
	t.Helper()
	for range 1500 {
		j, err := catalog.JobByID(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if j.Status == db.JobCompleted {
			return
		}
		if j.Status == db.JobFailed || j.Status == db.JobCancelled {
			t.Fatalf("job %d %s: %s", id, j.Status, j.ErrorMessage)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("job %d did not finish", id)
}
