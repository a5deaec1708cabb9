package web

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// TestAuditActionsNameEveryWrite: each write route the server registers
// gets an action "target.verb", and the portal's form and the API's
// route for one operation get the same action.
func TestAuditActionsNameEveryWrite(t *testing.T) {
	ts := newTestServer(t)
	shape := regexp.MustCompile(`^[a-z_]+\.[a-z_]+$`)
	n := 0
	for _, r := range probeRoutes(t, ts) {
		if r.Method == http.MethodGet || r.Method == "echo_route_not_found" || publicRoutes[r.Method+" "+r.Path] {
			continue
		}
		if a, target := actionOf(r.Method, r.Path); !shape.MatchString(a) || target == "" {
			t.Errorf("%s %s: action %q, target %q", r.Method, r.Path, a, target)
		}
		n++
	}
	if n < 30 {
		t.Fatalf("only %d write routes", n)
	}
	for _, pair := range [][2]string{
		{"POST /policies", "POST /api/v1/policies"},
		{"POST /policies/:id", "PUT /api/v1/policies/:id"},
		{"POST /policies/:id/delete", "DELETE /api/v1/policies/:id"},
		{"POST /items/:id/backup", "POST /api/v1/items/:id/backup"},
		{"POST /jobs/:id/cancel", "POST /api/v1/jobs/:id/cancel"},
		{"POST /restore", "POST /api/v1/restores"},
		{"POST /servers", "POST /api/v1/servers"},
		{"POST /tokens", "POST /api/v1/tokens"},
		{"POST /tokens/:id/delete", "DELETE /api/v1/tokens/:id"},
		{"POST /users", "POST /api/v1/users"},
		{"POST /users/:id/delete", "DELETE /api/v1/users/:id"},
		{"POST /sessions/:id/end", "DELETE /api/v1/sessions/:id"},
	} {
		m1, r1, _ := strings.Cut(pair[0], " ")
		m2, r2, _ := strings.Cut(pair[1], " ")
		a1, _ := actionOf(m1, r1)
		a2, _ := actionOf(m2, r2)
		if a1 != a2 {
			t.Errorf("%s is %s but %s is %s", pair[0], a1, pair[1], a2)
		}
	}
}
