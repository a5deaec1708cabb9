package web

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"strings"
	"testing"

	"github.com/sqlvault/sqlvault/db"
)

// TestHostileNamesRenderEscaped: database and instance names with quotes,
// brackets, markup, Unicode and control characters flow from discovery
// through protection and backup to every portal page that shows them,
// escaped, never as markup.
func TestHostileNamesRenderEscaped(t *testing.T) {
	ts := newTestServer(t)
	sim := ts.startSim(t)
	ctx := context.Background()
	names := []string{
		`Sales ]'DB`,
		`<script>alert(1)</script>`,
		`Ünïcødé 数据库`,
		"Tab\there \"quoted\" & <b>",
	}
	for _, n := range names {
		if err := sim.CreateSyntheticDatabase(ctx, n, 1<<20); err != nil {
			t.Fatal(err)
		}
	}
	admin := ts.client(t, db.RoleAdmin)
	serverName := `SQL"01 <i>[prod]</i>`
	reg := admin.want(admin.do("POST", "/api/v1/servers", map[string]any{"name": serverName, "host": "127.0.0.1",
		"port": sim.Port(), "username": "sa", "password": "Sa-Passw0rd!", "encrypt": "disable"}), 201)
	serverID := reg.num("id")
	admin.mustComplete(reg.num("discovery_job_id"))
	re := admin.want(admin.do("POST", fmt.Sprintf("/api/v1/servers/%d/rediscover", serverID), nil), 202)
	admin.mustComplete(re.num("job_id"))

	dbs := admin.want(admin.do("GET", fmt.Sprintf("/api/v1/databases?server_id=%d", serverID), nil), 200).list("databases")
	for _, n := range names {
		find(t, dbs, "name", n) // discovered under its own name, byte for byte
	}
	pol := admin.want(admin.do("POST", "/api/v1/policies", goodPolicy(`Gold "A" <1>`)), 201)
	var items []int64
	var jobs []int64
	for _, n := range names[:2] {
		d := find(t, dbs, "name", n)
		it := admin.want(admin.do("POST", "/api/v1/items", map[string]any{"database_id": num(d, "id"), "policy_id": pol.num("id")}), 201)
		admin.mustComplete(it.num("job_id"))
		items, jobs = append(items, it.num("id")), append(jobs, it.num("job_id"))
	}
	// An alert about the item, as a failing backup would raise.
	if _, _, err := ts.db.RaiseAlert(ctx, db.Alert{Code: "UserErrorBackupFailed", ItemID: &items[1], ServerID: &serverID,
		Message: "backup of " + names[1] + " failed"}); err != nil {
		t.Fatal(err)
	}

	c := browser(t)
	if r := signIn(t, ts, c, "admin", "admin-pw"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in = %d", r.StatusCode)
	}
	all := append(names, serverName)
	pages := []struct {
		path  string
		shows []string // names the page must show (escaped)
	}{
		{"/", nil},
		{"/servers", all},
		{"/items", append([]string{serverName}, names[:2]...)},
		{fmt.Sprintf("/items/%d", items[0]), []string{names[0], serverName}},
		{fmt.Sprintf("/items/%d", items[1]), []string{names[1], serverName}},
		{"/policies", nil},
		{"/jobs", names[:2]},
		{fmt.Sprintf("/jobs?item_id=%d", items[1]), names[1:2]},
		{fmt.Sprintf("/jobs/%d", jobs[0]), names[:1]},
		{fmt.Sprintf("/jobs/%d", jobs[1]), names[1:2]},
		{"/restore", names[:2]},
		{fmt.Sprintf("/restore?item=%d", items[0]), []string{names[0], serverName}},
		{fmt.Sprintf("/restore?item=%d", items[1]), []string{names[1], serverName}},
		{"/alerts", names[1:2]},
		{fmt.Sprintf("/items/%d/stop", items[1]), names[1:2]},
	}
	for _, p := range pages {
		r, err := c.Get(ts.URL + p.path)
		if err != nil {
			t.Fatal(err)
		}
		b := body(t, r)
		if r.StatusCode != 200 {
			t.Errorf("%s = %d", p.path, r.StatusCode)
			continue
		}
		for _, raw := range []string{`<script>alert(1)</script>`, `<i>[prod]</i>`, `"quoted"`, `& <b>`, `]'DB`} {
			if strings.Contains(b, raw) {
				i := strings.Index(b, raw)
				t.Errorf("%s shows %q unescaped: …%s…", p.path, raw, b[max(i-120, 0):min(i+len(raw)+40, len(b))])
			}
		}
		for _, n := range p.shows {
			if !strings.Contains(b, escaped(n)) {
				t.Errorf("%s does not show %q (as %q)", p.path, n, escaped(n))
			}
		}
	}
}

// escaped is a name as templ writes it in text and quoted attributes.
func escaped(s string) string { return html.EscapeString(s) }
