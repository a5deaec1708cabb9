package web

import (
	"context"
	"encoding/csv"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/sqlvault/sqlvault/db"
)

// reportFixture protects Sales with two completed full backups and adds
// one failed backup job, with the coordinator stopped so nothing else
// runs: answers the item and server ids.
func reportFixture(t *testing.T, ts *testServer) (itemID, serverID int64) {
	t.Helper()
	admin := ts.client(t, db.RoleAdmin)
	itemID, serverID, _ = protected(t, ts, admin)
	j := admin.want(admin.do("POST", fmt.Sprintf("/api/v1/items/%d/backup", itemID), map[string]any{"type": "full"}), 202)
	admin.mustComplete(j.num("job_id"))
	ts.coord.Stop()
	ctx := context.Background()
	failed, err := ts.db.CreateJob(ctx, db.NewJob{Operation: "backup", Kind: "differential", ItemID: itemID})
	if err == nil {
		err = ts.db.StartJob(ctx, failed.ID)
	}
	if err == nil {
		err = ts.db.FinishJob(ctx, failed.ID, db.JobFailed, "UserErrorInstanceUnreachable", "test: the instance did not answer")
	}
	if err != nil {
		t.Fatal(err)
	}
	return itemID, serverID
}

// The report's figures are the catalog's: its backup counts are the
// finished backup jobs, its sizes the item's recovery points, its last
// day's storage what the live points take; the CSV says the same, and a
// server the item is not on has none of it.
func TestReportsAgreeWithJobsAndPoints(t *testing.T) {
	ts := newTestServer(t)
	itemID, serverID := reportFixture(t, ts)
	reader := ts.client(t, db.RoleReader)
	completed := len(reader.want(reader.do("GET", fmt.Sprintf("/api/v1/jobs?operation=backup&status=completed&item_id=%d", itemID), nil), 200).list("jobs"))
	var size, stored float64
	points := reader.points(itemID, false)
	for _, p := range points {
		size += p.(map[string]any)["size_bytes"].(float64)
		stored += p.(map[string]any)["stored_bytes"].(float64)
	}
	if completed < 2 || len(points) < 2 {
		t.Fatalf("fixture: %d completed backups, %d points", completed, len(points))
	}

	items := reader.want(reader.do("GET", "/api/v1/reports/items?days=7", nil), 200).list("items")
	if len(items) != 1 {
		t.Fatalf("report items = %v", items)
	}
	row := items[0].(map[string]any)
	if num(row, "item_id") != itemID || num(row, "backups_completed") != int64(completed) || num(row, "backups_failed") != 1 {
		t.Fatalf("item row = %v, want %d completed and 1 failed", row, completed)
	}
	if rate := row["success_rate"].(float64); math.Abs(rate-float64(completed)/float64(completed+1)) > 1e-9 {
		t.Errorf("success rate = %v", rate)
	}
	if num(row, "points") != int64(len(points)) || row["backup_bytes"].(float64) != size || row["stored_bytes"].(float64) != stored {
		t.Errorf("item row sizes = %v, want %d points of %v bytes (%v stored)", row, len(points), size, stored)
	}
	if row["rpo_compliance"] != 1.0 || row["last_verification"] != "" {
		t.Errorf("fresh item: rpo_compliance %v, last_verification %q", row["rpo_compliance"], row["last_verification"])
	}

	srv := reader.want(reader.do("GET", "/api/v1/reports/servers?days=7", nil), 200).list("servers")
	if len(srv) != 1 || num(srv[0].(map[string]any), "items") != 1 || num(srv[0].(map[string]any), "backups_failed") != 1 {
		t.Errorf("servers = %v", srv)
	}
	days := reader.want(reader.do("GET", "/api/v1/reports/days?days=7", nil), 200)
	var sum int64
	for _, d := range days.list("days") {
		sum += num(d.(map[string]any), "backups_completed")
	}
	all := days.list("days")
	last := all[len(all)-1].(map[string]any)
	if len(all) != 8 || sum != int64(completed) || last["stored_bytes_at_end"].(float64) != stored {
		t.Errorf("days: %d of them, %d backups in all, last %v; want 8, %d, %v stored", len(all), sum, last, completed, stored)
	}
	if f, _ := days.m["forecast"].(map[string]any); f["known"] != false {
		t.Errorf("forecast from one day of data = %v, want unknown", days.m["forecast"])
	}

	r := reader.do("GET", "/api/v1/reports/items?days=7&format=csv", nil)
	rows, err := csv.NewReader(strings.NewReader(string(r.raw))).ReadAll()
	if err != nil || r.status != 200 || len(rows) != 2 || rows[0][5] != "backups_completed" || rows[1][5] != strconv.Itoa(completed) || rows[1][2] != "Sales" {
		t.Fatalf("items CSV = %d %q (%v)", r.status, rows, err)
	}
	other := reader.want(reader.do("GET", fmt.Sprintf("/api/v1/reports/items?server_id=%d", serverID+1000), nil), 200)
	if len(other.list("items")) != 0 {
		t.Errorf("another server's report holds %v", other.list("items"))
	}
	reader.want(reader.do("GET", "/api/v1/reports/nonsense", nil), 404, "UserErrorNotFound")

	s := signedIn(t, ts, "rita")
	code, page := s.get(t, ts, "/reports?days=7")
	for _, want := range []string{`<svg class="chart"`, "Vault storage and 30-day forecast", ">Sales<", "/api/v1/reports/items?days=7&amp;format=csv"} {
		if code != http.StatusOK || !strings.Contains(page, want) {
			t.Errorf("reports page (%d) lacks %q", code, want)
		}
	}
}

// The Reports page in a browser: reached from the navigation, its charts
// drawn, the item table filled, and its CSV link answering a CSV.
func TestBrowserReportsPage(t *testing.T) {
	ts := newTestServer(t)
	reportFixture(t, ts)
	ctx := newBrowser(t)
	err := chromedp.Do(ctx,
		chromedp.Navigate(ts.URL+"/login"),
		chromedp.WaitVisible(`#username`),
		chromedp.SendKeys(`#username`, "rita"),
		chromedp.SendKeys(`#password`, "rita-pw"),
		chromedp.Submit(`#password`),
		chromedp.WaitVisible(`nav.side`),
		navBoosted,
		chromedp.Click(`//nav//a[normalize-space(.)="Reports"]`),
		chromedp.WaitVisible(`//main/h1[normalize-space(.)="Reports"]`),
		chromedp.WaitVisible(`svg.chart polyline`),
	)
	if err != nil {
		t.Fatal(err)
	}
	bars, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('svg.chart rect.barfill').length`))
	if err != nil || bars == 0 {
		t.Fatalf("the charts have %d bars (%v)", bars, err)
	}
	cell, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`section[aria-labelledby="ri-h"] tbody td a`)))
	if err != nil || cell != "Sales" {
		t.Fatalf("first item of the report = %q (%v)", cell, err)
	}
	if err := chromedp.Do(ctx, screenshot(shots(t), "reports")); err != nil {
		t.Fatal(err)
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`fetch(document.querySelector('a[href*="reports/items"][href*="format=csv"]').href).then(r => r.text()).then(t => t.split("\n")[0])`, chromedp.EvalAwaitPromise))
	if err != nil || !strings.HasPrefix(got, "item_id,server,database") {
		t.Fatalf("the CSV link answers %q (%v)", got, err)
	}
}
