package web

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sqlvault/sqlvault/db"
)

// TestServersPageCollapsesLongDatabaseLists: /servers lists the databases
// of a server with few; a server with more shows how many it has and how
// many are protected, and links to its own page, which lists them 50 at a
// time with Previous and Next (the page stayed 1.7 MiB at 10,000
// databases, docs/performance.md "Portal at scale").
func TestServersPageCollapsesLongDatabaseLists(t *testing.T) {
	ts := newTestServer(t)
	ctx := t.Context()
	small, err := ts.db.CreateServer(ctx, db.Server{Name: "small", Host: "small.example", Port: 1433, Username: "sa", PasswordEnc: []byte{1}, Encrypt: "true"})
	if err != nil {
		t.Fatal(err)
	}
	big, err := ts.db.CreateServer(ctx, db.Server{Name: "big", Host: "big.example", Port: 1433, Username: "sa", PasswordEnc: []byte{1}, Encrypt: "true"})
	if err != nil {
		t.Fatal(err)
	}
	found := func(n int, prefix string) []db.Database {
		var out []db.Database
		for i := range n {
			out = append(out, db.Database{Name: fmt.Sprintf("%s%03d", prefix, i), GUID: fmt.Sprintf("%s-%d", prefix, i), RecoveryModel: "FULL", State: "ONLINE"})
		}
		return out
	}
	if _, err := ts.db.SaveDiscovery(ctx, small.ID, db.InstanceInfo{}, found(3, "few")); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.db.SaveDiscovery(ctx, big.ID, db.InstanceInfo{}, found(60, "many")); err != nil {
		t.Fatal(err)
	}
	s := signedIn(t, ts, "rita")
	get := func(path string) string {
		t.Helper()
		r, err := s.c.Get(ts.URL + path)
		if err != nil || r.StatusCode != 200 {
			t.Fatalf("GET %s = %v %v", path, r, err)
		}
		return body(t, r)
	}
	page := get("/servers")
	if !strings.Contains(page, `data-db="few002"`) {
		t.Error("/servers does not list the small server's databases")
	}
	if strings.Contains(page, `data-db="many`) {
		t.Error("/servers lists the big server's 60 databases")
	}
	link := fmt.Sprintf(`href="/servers/%d"`, big.ID)
	if !strings.Contains(page, "60 databases, 0 protected.") || !strings.Contains(page, link) {
		t.Errorf("/servers lacks the big server's counts and %s", link)
	}

	first := get(fmt.Sprintf("/servers/%d", big.ID))
	if n := strings.Count(first, `data-db="many`); n != 50 || !strings.Contains(first, `data-db="many049"`) {
		t.Errorf("first page lists %d databases, want many000 to many049", n)
	}
	next := fmt.Sprintf(`href="/servers/%d?offset=50"`, big.ID)
	if !strings.Contains(first, next) || strings.Contains(first, ">Previous<") {
		t.Errorf("first page: want Next (%s) and no Previous", next)
	}
	second := get(fmt.Sprintf("/servers/%d?offset=50", big.ID))
	if n := strings.Count(second, `data-db="many`); n != 10 || !strings.Contains(second, `data-db="many059"`) {
		t.Errorf("second page lists %d databases, want many050 to many059", n)
	}
	if !strings.Contains(second, fmt.Sprintf(`href="/servers/%d?offset=0"`, big.ID)) || strings.Contains(second, ">Next<") {
		t.Error("second page: want Previous to offset 0 and no Next")
	}
}
