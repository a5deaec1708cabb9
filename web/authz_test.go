package web

import (
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/handlers"
)

// public routes need no sign-in.
var publicRoutes = map[string]bool{
	"GET /healthz": true, "GET /metrics": true, "GET /static/*": true, "GET /login": true, "POST /login": true,
}

// pageRoles is the role each portal route needs. A route the server
// registers that is in neither this table, apiRoles nor publicRoutes fails
// TestEveryRouteIsAuthorized, so a new route cannot ship without a rule.
var pageRoles = map[string]db.Role{
	"POST /logout": db.RoleReader,
	"GET /":        db.RoleReader,

	"GET /servers": db.RoleReader, "POST /servers": db.RoleAdmin, "GET /servers/:id/databases": db.RoleReader, "GET /servers/:id": db.RoleReader,
	"POST /servers/:id/rediscover": db.RoleAdmin, "POST /servers/:id/auto-protect": db.RoleAdmin,
	"POST /servers/:id/unregister": db.RoleAdmin,
	"POST /databases/:id/protect":  db.RoleAdmin,

	"GET /items": db.RoleReader, "GET /items/:id": db.RoleReader, "GET /items/:id/summary": db.RoleReader,
	"GET /items/:id/stop": db.RoleAdmin, "POST /items/:id/backup": db.RoleOperator, "POST /items/:id/stop": db.RoleAdmin, "POST /items/:id/resume": db.RoleAdmin,

	"GET /policies": db.RoleReader, "GET /policies/new": db.RoleAdmin, "POST /policies": db.RoleAdmin,
	"POST /policies/preview": db.RoleReader, "GET /policies/:id": db.RoleReader, "POST /policies/:id": db.RoleAdmin,
	"POST /policies/:id/delete": db.RoleAdmin,

	"GET /jobs": db.RoleReader, "GET /jobs/:id": db.RoleReader, "GET /jobs/:id/progress": db.RoleReader,
	"POST /jobs/:id/cancel": db.RoleOperator,

	"GET /restore": db.RoleReader, "POST /restore/plan": db.RoleReader, "POST /restore": db.RoleOperator, "POST /restore/files": db.RoleOperator,
	"GET /alerts":                  db.RoleReader,
	"GET /reports":                 db.RoleReader,
	"POST /alerts/:id/acknowledge": db.RoleOperator,

	"GET /users": db.RoleAdmin, "POST /users": db.RoleAdmin, "GET /users/:id": db.RoleAdmin, "POST /users/:id": db.RoleAdmin,
	"POST /users/:id/password": db.RoleAdmin, "POST /users/:id/delete": db.RoleAdmin, "POST /sessions/:id/end": db.RoleAdmin,
	"GET /tokens": db.RoleReader, "POST /tokens": db.RoleOperator, "POST /tokens/:id/delete": db.RoleOperator,
	"GET /account": db.RoleReader, "POST /account/password": db.RoleReader, "GET /audit": db.RoleReader,
}

// session is a signed-in browser with its CSRF token.
type session struct {
	c    *http.Client
	csrf string
}

func signedIn(t *testing.T, ts *testServer, user string) session {
	t.Helper()
	c := browser(t)
	if r := signIn(t, ts, c, user, user+"-pw"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in %s = %d", user, r.StatusCode)
	}
	r, _ := c.Get(ts.URL + "/jobs")
	m := csrfField.FindStringSubmatch(body(t, r))
	if m == nil {
		t.Fatal("no CSRF token on the jobs page")
	}
	return session{c: c, csrf: m[1]}
}

// TestEveryRouteIsAuthorized walks every route the echo instance
// registers, anonymous and as each role: anonymous is sent to sign in
// (pages), 401 (API) or refused by CSRF (writes); a role below the one
// needed gets 403; a role that suffices never gets 401 or 403, nor a 5xx.
func TestEveryRouteIsAuthorized(t *testing.T) {
	ts := newTestServer(t)
	ts.coord.Stop() // nothing queued by these calls needs to run
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	probe := New(Config{Handlers: &handlers.Handlers{}, DB: ts.db, Logger: log})
	var keys []string
	for _, r := range probe.echo.Routes() {
		if r.Method == echo.RouteNotFound {
			continue
		}
		k := r.Method + " " + r.Path
		_, page := pageRoles[k]
		_, api := apiRoles[k]
		if !page && !api && !publicRoutes[k] {
			t.Errorf("route %s has no authorization rule in pageRoles, apiRoles or publicRoutes", k)
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	sessions := map[db.Role]session{db.RoleReader: signedIn(t, ts, "rita"), db.RoleOperator: signedIn(t, ts, "olga"), db.RoleAdmin: signedIn(t, ts, "admin")}
	tokens := map[db.Role]string{}
	for _, role := range []db.Role{db.RoleReader, db.RoleOperator, db.RoleAdmin} {
		tokens[role], _, _ = ts.db.CreateToken(t.Context(), "authz-"+string(role), role)
	}
	send := func(s *session, token, method, path string) (int, string) {
		var rd io.Reader
		if method != "GET" {
			rd = strings.NewReader("{}")
		}
		req, _ := http.NewRequest(method, ts.URL+path, rd)
		if rd != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		if s != nil {
			c = s.c
			if method != "GET" {
				req.Header.Set("X-CSRF-Token", s.csrf)
			}
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		r, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		return r.StatusCode, r.Header.Get("Location")
	}
	checked := 0
	for _, k := range keys {
		method, route, _ := strings.Cut(k, " ")
		path := strings.NewReplacer(":id", "999999", ":n", "0", "*", "css/app.css").Replace(route)
		if publicRoutes[k] {
			if st, _ := send(nil, "", method, path); st == 401 || st == 403 || st >= 500 {
				if !(k == "POST /login" && (st == 400 || st == 403)) { // the form needs its CSRF token
					t.Errorf("public %s anonymous = %d", k, st)
				}
			}
			continue
		}
		if k == "POST /logout" {
			continue // ends the sessions the other routes use: TestCSRFAndLogout
		}
		need, isAPI := apiRoles[k]
		if !isAPI {
			need = pageRoles[k]
		}
		st, loc := send(nil, "", method, path)
		switch {
		case isAPI && method == "GET" && st != 401,
			isAPI && method != "GET" && st != 401 && st != 400 && st != 403,
			!isAPI && method == "GET" && (st != http.StatusSeeOther || !strings.HasPrefix(loc, "/login")),
			!isAPI && method != "GET" && st != 400 && st != 403 && !(st == http.StatusSeeOther && strings.HasPrefix(loc, "/login")):
			t.Errorf("%s anonymous = %d %s", k, st, loc)
		}
		for _, role := range []db.Role{db.RoleReader, db.RoleOperator, db.RoleAdmin} {
			var st int
			if isAPI {
				st, _ = send(nil, tokens[role], method, path)
				// The portal's session reaches the API with the same rights.
				s := sessions[role]
				if st2, _ := send(&s, "", method, path); (st2 == 403) != (st == 403) {
					t.Errorf("%s as %s: token %d, session %d disagree", k, role, st, st2)
				}
			} else {
				s := sessions[role]
				st, _ = send(&s, "", method, path)
			}
			allowed := role.Allows(need)
			switch {
			case allowed && (st == 401 || st == 403 || st >= 500):
				t.Errorf("%s as %s = %d, want allowed (needs %s)", k, role, st, need)
			case !allowed && st != 403:
				t.Errorf("%s as %s = %d, want 403 (needs %s)", k, role, st, need)
			}
			checked++
		}
	}
	if checked < 3*60 {
		t.Errorf("only %d route and role pairs checked", checked)
	}
	// Every write that passed authentication above is in the audit log,
	// under its route, whether it was allowed or not.
	audited := map[string]bool{}
	for before := int64(0); ; {
		es, err := ts.db.ListAudit(t.Context(), db.AuditFilter{BeforeID: before, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if len(es) == 0 {
			break
		}
		for _, e := range es {
			audited[e.Method+" "+e.Route] = true
		}
		before = es[len(es)-1].ID
	}
	for _, k := range keys {
		if method, _, _ := strings.Cut(k, " "); method == "GET" || publicRoutes[k] || readOnlyPosts[k] || k == "POST /logout" {
			continue
		}
		if !audited[k] {
			t.Errorf("%s left no audit entry", k)
		}
	}
}

// TestCSRFAndLogout: a portal write with a missing or wrong CSRF token is
// refused and changes nothing; after sign-out the old cookie opens nothing.
func TestCSRFAndLogout(t *testing.T) {
	ts := newTestServer(t)
	s := signedIn(t, ts, "admin")
	form := url.Values{"name": {"CSRF policy"}, "full_frequency": {"daily"}, "full_time": {"22:00"}, "full_timezone": {"UTC"}}
	for name, token := range map[string]string{"missing": "", "wrong": "not-the-token"} {
		req, _ := http.NewRequest("POST", ts.URL+"/policies", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if token != "" {
			req.Header.Set("X-CSRF-Token", token)
		}
		r, _ := s.c.Do(req)
		body(t, r)
		if r.StatusCode != 400 && r.StatusCode != 403 {
			t.Errorf("policy form with a %s CSRF token = %d, want refusal", name, r.StatusCode)
		}
		if name == "wrong" && r.StatusCode != 403 {
			t.Errorf("wrong CSRF token = %d, want 403", r.StatusCode)
		}
	}
	if ps, _ := ts.db.ListPolicies(t.Context()); len(ps) != 0 {
		t.Fatalf("a refused form created %d policies", len(ps))
	}
	cookies := s.c.Jar.Cookies(mustURL(ts.URL))
	r, _ := s.c.PostForm(ts.URL+"/logout", url.Values{"_csrf": {s.csrf}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout = %d", r.StatusCode)
	}
	for _, path := range []string{"/", "/api/v1/me"} {
		req, _ := http.NewRequest("GET", ts.URL+path, nil)
		for _, ck := range cookies {
			req.AddCookie(ck)
		}
		r, _ := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if r.StatusCode != http.StatusSeeOther && r.StatusCode != 401 {
			t.Errorf("%s with the signed-out cookie = %d", path, r.StatusCode)
		}
	}
}

func mustURL(s string) *url.URL { u, _ := url.Parse(s); return u }
