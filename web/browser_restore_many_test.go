package web

import (
	"context"
	"database/sql"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine/enginetest"
	"github.com/sqlvault/sqlvault/engine/policy"
)

// TestBrowserRestoreSeveralDatabasesToOneSecond: two databases of one
// instance, rows committed a second before, at and after a known second
// (the simulator's clock is a fake one). In the portal an operator picks
// the instance, ticks both databases (the latest second both reach is
// shown), enters the second, reviews and starts one job; its page lists
// both databases restored, and SQL Server holds in each copy exactly the
// rows committed by that second. Restoring over the originals without
// ticking Overwrite is refused by that field, as for one database.
func TestBrowserRestoreSeveralDatabasesToOneSecond(t *testing.T) {
	t0 := time.Date(2027, 5, 4, 9, 0, 0, 0, time.UTC)
	clock := enginetest.NewClock(t0)
	ts := newTestServer(t)
	cfg := ts.env.SimConfig("Sa-Passw0rd!")
	cfg.Now = clock.Now
	sim := ts.env.StartSim(cfg)
	dsn := "sqlserver://sa:Sa-Passw0rd!@127.0.0.1:" + strconv.Itoa(sim.Port()) + "?encrypt=disable"
	names := []string{"Orders", "Stock"}
	for _, n := range names {
		sqlExec(t, dsn, "CREATE DATABASE "+n, "USE "+n+"; CREATE TABLE t (id int)")
	}
	ctx := context.Background()
	srv := ts.registerSim(t, sim)
	items := ts.protect(t, srv, policy.Policy{Name: "Daily", Full: policy.FullSchedule{Frequency: "daily", Time: "22:00", Timezone: "UTC"},
		Log: policy.LogSchedule{Enabled: true, EveryMinutes: 15}, Retention: policy.Retention{DailyDays: 30, LogDays: 15}}, names...)
	at := t0.Add(10 * time.Minute)
	for i, d := range []time.Duration{-time.Second, 0, time.Second} {
		clock.Set(at.Add(d))
		sqlExec(t, dsn, "INSERT INTO Orders.dbo.t VALUES ("+strconv.Itoa(i+1)+")", "INSERT INTO Stock.dbo.t VALUES ("+strconv.Itoa(11+i)+")")
	}
	clock.Set(at.Add(5 * time.Minute))
	for _, it := range items {
		job, err := ts.coord.BackupNow(ctx, it.ID, "log", 0)
		if err != nil {
			t.Fatal(err)
		}
		waitJob(t, ts, job)
	}
	common, err := ts.coord.CommonRanges(ctx, []int64{items[0].ID, items[1].ID})
	if err != nil || len(common) == 0 {
		t.Fatalf("no second both databases reach: %v %v", common, err)
	}
	latest := common[len(common)-1].To.UTC().Format("2006-01-02 15:04:05")

	bctx := newBrowser(t)
	do := browserSteps(t, bctx)
	do("sign in and choose the instance", chromedp.EmulateViewport(1280, 900),
		chromedp.Navigate(ts.URL+"/restore"),
		chromedp.WaitVisible(`#username`),
		chromedp.SendKeys(`#username`, "olga"),
		chromedp.SendKeys(`#password`, "olga-pw"),
		chromedp.Submit(`#password`),
		chromedp.WaitVisible(`#r-many-server`),
		chromedp.SetValue(css(`#r-many-server`), strconvI(srv.ID)),
		chromedp.Submit(`#r-many-server`),
		chromedp.WaitVisible(`#many-form`),
		htmxReady(`#many-form fieldset[hx-get]`))
	do("tick both databases: the latest second both reach is shown",
		chromedp.Click(`#m-item-`+strconvI(items[0].ID)),
		waitFor(`document.querySelector('#many-when').dataset.ticked === '1'`),
		chromedp.Click(`#m-item-`+strconvI(items[1].ID)),
		waitFor(`document.querySelector('#many-when').dataset.ticked === '2'`),
		waitFor(`(() => { const e = document.querySelector('#m-latest'); return !!e && e.textContent === '`+latest+`' && document.querySelector('#m-at').value === '`+latest+`' })()`))
	want := at.Format("2006-01-02 15:04:05")
	do("enter the second and review",
		clear(`#m-at`),
		chromedp.SendKeys(`#m-at`, want),
		chromedp.Click(`//button[normalize-space(.)="Review restore"]`),
		chromedp.WaitVisible(`#many-confirm`),
		waitFor(`document.querySelector('#many-confirm').innerText.includes('Orders_restored') && document.querySelector('#many-confirm').innerText.includes('Stock_restored')`))
	do("start the one job: its page lists both databases restored",
		chromedp.Click(`//button[normalize-space(.)="Start restore"]`),
		chromedp.WaitVisible(`#many-outcomes`),
		waitFor(`(() => { const rows = [...document.querySelectorAll('#many-outcomes tbody tr')];
			return rows.length === 2 && rows[0].innerText.includes('Orders_restored') && rows[1].innerText.includes('Stock_restored') && rows.every(r => r.dataset.state === 'restored') })()`))

	jobs, err := ts.db.ListJobs(ctx, db.JobFilter{Operation: "restore", Limit: 10})
	if err != nil || len(jobs) != 1 || jobs[0].Status != db.JobCompleted {
		t.Fatalf("restore jobs %+v (%v), want one completed job for both databases", jobs, err)
	}
	conn, err := sql.Open("sqlserver", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for name, wantIDs := range map[string][]int{"Orders_restored": {1, 2}, "Stock_restored": {11, 12}} {
		rows, err := conn.Query("SELECT id FROM " + name + ".dbo.t ORDER BY id")
		if err != nil {
			t.Fatal(err)
		}
		var got []int
		for rows.Next() {
			var id int
			rows.Scan(&id)
			got = append(got, id)
		}
		rows.Close()
		if !slices.Equal(got, wantIDs) {
			t.Errorf("%s restored to %s holds %v, want %v", name, want, got, wantIDs)
		}
	}

	// Over the originals, Overwrite unticked: refused by that field, nothing queued.
	s := signedIn(t, ts, "olga")
	resp := s.post(t, ts, "/restore", url.Values{"many": {"1"}, "server": {strconvI(srv.ID)}, "items": {strconvI(items[0].ID), strconvI(items[1].ID)},
		"at": {want}, "mode": {"original"}, "server_id": {strconvI(srv.ID)}})
	page := body(t, resp)
	if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusSeeOther || !strings.Contains(page, `id="err-overwrite"`) {
		t.Errorf("original without Overwrite answered %d; the Overwrite field's error shown: %v", resp.StatusCode, strings.Contains(page, `id="err-overwrite"`))
	}
	if jobs, _ := ts.db.ListJobs(ctx, db.JobFilter{Operation: "restore", Limit: 10}); len(jobs) != 1 {
		t.Errorf("%d restore jobs after the refusal, want still 1", len(jobs))
	}
}
