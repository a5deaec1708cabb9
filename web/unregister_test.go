package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/sqlvault/sqlvault/db"
)

// TestPortalUnregisterServer uses the server card's Unregister button: it
// is refused, with the way out on the card, while the server protects a
// database and while it keeps backups; after stop with delete data the
// server is gone.
func TestPortalUnregisterServer(t *testing.T) {
	ts := newTestServer(t)
	sim := ts.startSim(t)
	simExec(t, saDB(t, sim), "CREATE DATABASE [Sales]")
	admin := ts.client(t, db.RoleAdmin)
	reg := admin.want(admin.do("POST", "/api/v1/servers", map[string]any{"name": "SQL01", "host": "127.0.0.1", "port": sim.Port(),
		"username": "sa", "password": "Sa-Passw0rd!", "encrypt": "disable"}), 201)
	admin.mustComplete(reg.num("discovery_job_id"))
	sales := find(t, admin.do("GET", "/api/v1/databases", nil).list("databases"), "name", "Sales")
	pol := admin.want(admin.do("POST", "/api/v1/policies", goodPolicy("P")), 201)
	item := admin.want(admin.do("POST", "/api/v1/items", map[string]any{"database_id": num(sales, "id"), "policy_id": pol.num("id")}), 201)
	admin.mustComplete(item.num("job_id"))

	s := signedIn(t, ts, "admin")
	page, err := s.c.Get(ts.URL + "/servers")
	if err != nil {
		t.Fatal(err)
	}
	path := fmt.Sprintf("/servers/%d/unregister", reg.num("id"))
	if b := body(t, page); !strings.Contains(b, `action="`+path+`"`) || !strings.Contains(b, ">Unregister</button>") {
		t.Fatal("the server card has no Unregister button")
	}
	unregister := func() (int, string) {
		r, err := s.c.PostForm(ts.URL+path, url.Values{"_csrf": {s.csrf}})
		if err != nil {
			t.Fatal(err)
		}
		return r.StatusCode, body(t, r)
	}
	for _, tc := range []struct{ stop, want string }{
		{"", "stop its protection first"},
		{`{"delete_data": false}`, "stop protection with delete data first"},
	} {
		if tc.stop != "" {
			admin.want(admin.do("POST", fmt.Sprintf("/api/v1/items/%d/stop", item.num("id")), map[string]any{"delete_data": false}), 200)
		}
		if code, b := unregister(); code != http.StatusConflict || !strings.Contains(b, tc.want) || !strings.Contains(b, "UserErrorConflict") {
			t.Fatalf("unregister (%s) = %d, want 409 with %q", tc.stop, code, tc.want)
		}
	}
	admin.want(admin.do("POST", fmt.Sprintf("/api/v1/items/%d/stop", item.num("id")), map[string]any{"delete_data": true}), 200)
	if code, _ := unregister(); code != http.StatusSeeOther {
		t.Fatalf("unregister after stop with delete data = %d", code)
	}
	if l := admin.do("GET", "/api/v1/servers", nil).list("servers"); len(l) != 0 {
		t.Fatalf("servers after unregister = %v", l)
	}
}
