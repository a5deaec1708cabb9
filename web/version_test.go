package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine"
)

// TestRegisteringSQLServer2014IsRefused: a sqlsim that says 12.0 is
// refused at registration with UserErrorSQLVersionUnsupported and its
// action, over the API and in the portal's form, and nothing is registered.
func TestRegisteringSQLServer2014IsRefused(t *testing.T) {
	ts := newTestServer(t)
	cfg := ts.env.SimConfig("Sa-Passw0rd!")
	cfg.ProductVersion = "12.0.6024.0"
	sim := ts.env.StartSim(cfg)
	code := string(engine.CodeSQLVersionUnsupported)

	admin := ts.client(t, db.RoleAdmin)
	a := admin.do("POST", "/api/v1/servers", map[string]any{"name": "OLD01", "host": "127.0.0.1", "port": sim.Port(),
		"username": "sa", "password": "Sa-Passw0rd!", "encrypt": "disable"})
	if a.status != http.StatusBadRequest && a.status != http.StatusUnprocessableEntity {
		t.Fatalf("API registration = %s, want 400 or 422", a)
	}
	admin.want(a, a.status, code)
	if !strings.Contains(a.str("message"), "12.0.6024.0") || !strings.Contains(a.str("action"), "2016") {
		t.Fatalf("API error does not name the version and what is needed: %s", a)
	}

	c := browser(t)
	if r := signIn(t, ts, c, "admin", "admin-pw"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in = %d", r.StatusCode)
	}
	r, _ := c.Get(ts.URL + "/servers")
	token := csrfField.FindStringSubmatch(body(t, r))[1]
	r, err := c.PostForm(ts.URL+"/servers", url.Values{"_csrf": {token}, "name": {"OLD01"}, "host": {"127.0.0.1"},
		"port": {strconv.Itoa(sim.Port())}, "username": {"sa"}, "password": {"Sa-Passw0rd!"}, "encrypt": {"disable"}})
	if err != nil {
		t.Fatal(err)
	}
	b := body(t, r)
	if r.StatusCode < 400 || !strings.Contains(b, code) || !strings.Contains(b, "Upgrade the instance to SQL Server 2016") {
		t.Fatalf("form registration = %d, want the form with %s and its action:\n%.3000s", r.StatusCode, code, b)
	}
	if l := admin.do("GET", "/api/v1/servers", nil).list("servers"); len(l) != 0 {
		t.Fatalf("refused registrations left servers: %v", l)
	}
}
