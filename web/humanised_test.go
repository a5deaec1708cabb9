package web

import (
	"context"
	"fmt"
	"html"
	"regexp"
	"strconv"
	"testing"

	"github.com/sqlvault/sqlvault/db"
)

var (
	scriptOrStyle = regexp.MustCompile(`(?is)<(script|style)\b.*?</(script|style)>`)
	titleAttr     = regexp.MustCompile(`(?i)\stitle="([^"]*)"`)
	anyTag        = regexp.MustCompile(`(?s)<[^>]*>`)
	isoTime       = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d`)
)

// visibleText is what a person reads on a page: its text and its
// tooltips, without markup, scripts or other attributes (where machine
// values such as datetime= and value= belong).
func visibleText(page string) string {
	page = scriptOrStyle.ReplaceAllString(page, " ")
	var tips string
	for _, m := range titleAttr.FindAllStringSubmatch(page, -1) {
		tips += " " + m[1]
	}
	return html.UnescapeString(anyTag.ReplaceAllString(page, " ") + tips)
}

// byteFigures are the catalog's byte counts of the fixture (points, jobs,
// databases) over 9,999: none may reach a page as a bare number.
func byteFigures(t *testing.T, ts *testServer, itemID int64) map[int64]string {
	t.Helper()
	ctx := context.Background()
	out := map[int64]string{}
	add := func(n int64, what string) {
		if n > 9999 {
			out[n] = what
		}
	}
	points, err := ts.db.ListPoints(ctx, itemID)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range points {
		add(p.SizeBytes, "a point's size")
		add(p.StoredBytes, "a point's stored bytes")
	}
	tot, _ := ts.db.ItemPointTotals(ctx, itemID)
	add(tot.Bytes, "the item's total")
	add(tot.StoredBytes, "the item's stored total")
	jobs, _ := ts.db.ListJobs(ctx, db.JobFilter{Limit: 100})
	for _, j := range jobs {
		add(j.BytesTransferred, fmt.Sprintf("job %d's bytes transferred", j.ID))
	}
	servers, _ := ts.db.ListServers(ctx)
	for _, s := range servers {
		dbs, _ := ts.db.ListDatabases(ctx, s.ID)
		for _, d := range dbs {
			add(d.SizeBytes, "database "+d.Name+"'s size")
		}
	}
	if len(out) == 0 {
		t.Fatal("the fixture has no byte count over 9,999 to look for")
	}
	return out
}

// Every portal page shows byte counts with a unit and times in the
// portal's own form, never a raw count of bytes or an ISO 8601 string.
func TestPagesShowHumanisedBytesAndTimes(t *testing.T) {
	ts := newTestServer(t)
	itemID, serverID := reportFixture(t, ts)
	figures := byteFigures(t, ts, itemID)
	jobs, err := ts.db.ListJobs(context.Background(), db.JobFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	pages := []string{"/", "/servers", fmt.Sprintf("/servers/%d", serverID), "/items", "/items?health=" + db.HealthFailed,
		fmt.Sprintf("/items/%d", itemID), fmt.Sprintf("/items/%d/stop?delete_data=delete", itemID), "/policies", "/jobs",
		"/restore", fmt.Sprintf("/restore?item=%d", itemID), "/alerts", "/reports?days=7", "/audit", "/settings"}
	for _, j := range jobs {
		pages = append(pages, fmt.Sprintf("/jobs/%d", j.ID))
	}
	s := signedIn(t, ts, "admin")
	for _, path := range pages {
		code, page := s.get(t, ts, path)
		if code == 404 {
			continue // a page this build does not have
		}
		if code != 200 {
			t.Errorf("%s = %d", path, code)
			continue
		}
		text := visibleText(page)
		for n, what := range figures {
			bare := regexp.MustCompile(`(^|[^\d.,])` + strconv.FormatInt(n, 10) + `([^\d.,]|$)`)
			if m := bare.FindString(text); m != "" {
				t.Errorf("%s shows %s as a bare number of bytes: %q", path, what, m)
			}
		}
		if m := isoTime.FindString(text); m != "" {
			t.Errorf("%s shows an ISO 8601 time %q where people read times", path, m)
		}
	}
}
