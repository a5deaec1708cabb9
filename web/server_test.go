package web

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sqlvault/sqlvault/auth"
	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/engine/coordinator"
	"github.com/sqlvault/sqlvault/engine/enginetest"
	"github.com/sqlvault/sqlvault/handlers"
)

type testServer struct {
	*httptest.Server
	db    *db.DB
	env   *enginetest.Env          // the vault and the device
	coord *coordinator.Coordinator // running, with a fast queue poll
	srv   *Server
}

// newTestServer starts the server; opts may change its configuration
// (trusted proxies, metrics, the hashing gate, a logger) before it starts.
func newTestServer(t *testing.T, opts ...func(*Config)) *testServer {
	t.Helper()
	ctx := context.Background()
	catalog, err := db.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { catalog.Close() })
	for _, u := range []struct {
		name string
		role db.Role
	}{{"admin", db.RoleAdmin}, {"olga", db.RoleOperator}, {"rita", db.RoleReader}} {
		hash, _ := auth.HashPassword(u.name + "-pw")
		if _, err := catalog.CreateUser(ctx, u.name, hash, u.role); err != nil {
			t.Fatal(err)
		}
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	env := enginetest.Start(t)
	coord := env.Coordinator(catalog, func(c *coordinator.Config) { c.Logger = log })
	h := &handlers.Handlers{DB: catalog, Coord: coord, Logger: log, Version: "test", Throttle: auth.DefaultThrottle}
	cfg := Config{Handlers: h, DB: catalog, Logger: log}
	for _, o := range opts {
		o(&cfg)
	}
	srv := New(cfg)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return &testServer{Server: ts, db: catalog, env: env, coord: coord, srv: srv}
}

// browser is a client with a cookie jar that does not follow redirects.
func browser(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

var csrfField = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

func body(t *testing.T, r *http.Response) string {
	t.Helper()
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	return string(b)
}

// signIn fetches the form for its CSRF token and posts the credentials.
func signIn(t *testing.T, ts *testServer, c *http.Client, user, pw string) *http.Response {
	t.Helper()
	r, err := c.Get(ts.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	m := csrfField.FindStringSubmatch(body(t, r))
	if m == nil {
		t.Fatal("login form has no CSRF token")
	}
	r, err = c.PostForm(ts.URL+"/login", url.Values{"_csrf": {m[1]}, "username": {user}, "password": {pw}, "next": {"/jobs"}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestHealthAndMetricsNeedNoLogin(t *testing.T) {
	ts := newTestServer(t)
	r, _ := http.Get(ts.URL + "/healthz")
	if b := body(t, r); r.StatusCode != 200 || !strings.Contains(b, `"ok"`) {
		t.Fatalf("healthz = %d %s", r.StatusCode, b)
	}
	http.Get(ts.URL + "/api/v1/me")
	r, _ = http.Get(ts.URL + "/metrics")
	if b := body(t, r); r.StatusCode != 200 || !strings.Contains(b, `sqlvault_http_requests_total{method="GET",route="/api/v1/me",status="401"}`) {
		t.Fatalf("metrics = %d, missing request counter:\n%.2000s", r.StatusCode, b)
	}
}

func TestSignInSessionAndSignOut(t *testing.T) {
	ts := newTestServer(t)
	c := browser(t)
	r, _ := c.Get(ts.URL + "/jobs")
	if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/login?next=") {
		t.Fatalf("anonymous page = %d to %q, want redirect to /login", r.StatusCode, r.Header.Get("Location"))
	}
	r = signIn(t, ts, c, "admin", "admin-pw")
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/jobs" {
		t.Fatalf("sign-in = %d to %q, want 303 to /jobs", r.StatusCode, r.Header.Get("Location"))
	}
	var session *http.Cookie
	for _, ck := range r.Cookies() {
		if ck.Name == handlers.SessionCookie {
			session = ck
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode {
		t.Fatalf("session cookie = %+v, want HttpOnly and SameSite", session)
	}
	for _, path := range []string{"/", "/servers", "/items", "/policies", "/jobs", "/restore", "/alerts"} {
		r, _ = c.Get(ts.URL + path)
		b := body(t, r)
		if r.StatusCode != 200 || !strings.Contains(b, "Signed in as <strong>admin</strong>") || !strings.Contains(b, "htmx.min.js") {
			t.Errorf("%s = %d, want the page in the portal shell", path, r.StatusCode)
		}
	}
	r, _ = c.Get(ts.URL + "/no/such/page")
	if b := body(t, r); r.StatusCode != 404 || !strings.Contains(b, "Page not found") {
		t.Errorf("unknown page = %d, want the 404 page", r.StatusCode)
	}

	// Sign out needs the CSRF token too, and ends the session.
	r, _ = c.Get(ts.URL + "/")
	token := csrfField.FindStringSubmatch(body(t, r))[1]
	r, _ = c.PostForm(ts.URL+"/logout", url.Values{})
	if r.StatusCode != http.StatusBadRequest && r.StatusCode != http.StatusForbidden {
		t.Fatalf("logout without CSRF token = %d, want refusal", r.StatusCode)
	}
	r, _ = c.PostForm(ts.URL+"/logout", url.Values{"_csrf": {token}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout = %d", r.StatusCode)
	}
	stolen := &http.Client{CheckRedirect: c.CheckRedirect}
	req, _ := http.NewRequest("GET", ts.URL+"/", nil)
	req.AddCookie(session)
	r, _ = stolen.Do(req)
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("old session cookie after sign-out = %d, want redirect to sign-in", r.StatusCode)
	}
}

func TestSignInNeedsCSRFToken(t *testing.T) {
	ts := newTestServer(t)
	r, _ := browser(t).PostForm(ts.URL+"/login", url.Values{"username": {"admin"}, "password": {"admin-pw"}})
	if r.StatusCode == http.StatusSeeOther || r.StatusCode == 200 {
		t.Fatalf("sign-in without CSRF token = %d, want refusal", r.StatusCode)
	}
}

func TestFailedSignInsRevealNothingAndAreSlowedDown(t *testing.T) {
	ts := newTestServer(t)
	c := browser(t)
	wrong := body(t, signIn(t, ts, c, "admin", "nope"))
	unknown := body(t, signIn(t, ts, c, "nobody", "nope"))
	msg := "The user name or password is not right."
	if !strings.Contains(wrong, msg) || !strings.Contains(unknown, msg) {
		t.Fatalf("answers differ or lack the message:\nwrong user: %.300s\nunknown: %.300s", wrong, unknown)
	}
	signIn(t, ts, c, "admin", "nope")
	signIn(t, ts, c, "admin", "nope")
	r := signIn(t, ts, c, "admin", "admin-pw")
	if b := body(t, r); r.StatusCode != http.StatusTooManyRequests || !strings.Contains(b, "Too many failed attempts") {
		t.Fatalf("right password right after 3 failures = %d, want 429", r.StatusCode)
	}
	if r.Header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	// Another user at the same address is not slowed down.
	if r := signIn(t, ts, c, "olga", "olga-pw"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("other user = %d, want 303", r.StatusCode)
	}
}

func TestAPITokensAndErrors(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	reader, _, _ := ts.db.CreateToken(ctx, "dashboard", db.RoleReader)
	call := func(method, path, token string) (int, map[string]any) {
		req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		json.NewDecoder(r.Body).Decode(&m)
		r.Body.Close()
		return r.StatusCode, m
	}
	st, m := call("GET", "/api/v1/me", "")
	if st != 401 || m["code"] != "UserErrorUnauthorized" || m["action"] == "" || m["message"] == "" {
		t.Fatalf("no token = %d %v", st, m)
	}
	if st, m = call("GET", "/api/v1/me", "svt_bogus"); st != 401 || m["code"] != "UserErrorUnauthorized" {
		t.Fatalf("bad token = %d %v", st, m)
	}
	if st, m = call("GET", "/api/v1/me", reader); st != 200 || m["role"] != "reader" {
		t.Fatalf("reader token = %d %v", st, m)
	}
	if st, m = call("GET", "/api/v1/jobs?status=bogus", reader); st != 422 || m["code"] != "UserErrorInvalidRequest" {
		t.Fatalf("bad filter = %d %v", st, m)
	}
	if st, m = call("GET", "/api/v1/jobs/999", reader); st != 404 || m["code"] != "UserErrorNotFound" {
		t.Fatalf("missing job = %d %v", st, m)
	}
	if st, m = call("GET", "/api/v1/nothing", reader); st != 404 || m["code"] != "UserErrorNotFound" {
		t.Fatalf("unknown API route = %d %v", st, m)
	}
}

func TestJobsListFiltersAndPages(t *testing.T) {
	ts := newTestServer(t)
	ts.coord.Stop() // the jobs below are rows to list, not work to run
	ctx := context.Background()
	for i := 0; i < 60; i++ {
		j, _ := ts.db.CreateJob(ctx, db.NewJob{Operation: "backup", Kind: "log"})
		if i%3 == 0 {
			ts.db.StartJob(ctx, j.ID)
			ts.db.FinishJob(ctx, j.ID, db.JobFailed, "UserErrorBackupFailed", "disk on fire")
		}
	}
	token, _, _ := ts.db.CreateToken(ctx, "t", db.RoleReader)
	get := func(path string) map[string][]map[string]any {
		req, _ := http.NewRequest("GET", ts.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		r, _ := http.DefaultClient.Do(req)
		var m map[string][]map[string]any
		json.NewDecoder(r.Body).Decode(&m)
		r.Body.Close()
		return m
	}
	page := get("/api/v1/jobs")["jobs"]
	if len(page) != 50 {
		t.Fatalf("first page has %d jobs, want 50", len(page))
	}
	last := int64(page[49]["id"].(float64))
	older := get("/api/v1/jobs?before=" + itoa(last))["jobs"]
	if len(older) != 10 {
		t.Fatalf("second page has %d jobs, want 10", len(older))
	}
	failed := get("/api/v1/jobs?status=failed&limit=100")["jobs"]
	if len(failed) != 20 {
		t.Fatalf("failed jobs = %d, want 20", len(failed))
	}
	e := failed[0]["error"].(map[string]any)
	if e["code"] != "UserErrorBackupFailed" || e["message"] != "disk on fire" || e["action"] == "" {
		t.Fatalf("job error = %v", e)
	}
}

func itoa(v int64) string { return strconvI(v) }

func TestGracefulShutdownFinishesRequests(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	catalog, _ := db.Open(ctx, t.TempDir())
	defer catalog.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := New(Config{Handlers: &handlers.Handlers{DB: catalog, Logger: log}, DB: catalog, Logger: log})
	l := listen(t)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, l) }()
	if r, err := http.Get("http://" + l.Addr().String() + "/healthz"); err != nil || r.StatusCode != 200 {
		t.Fatalf("healthz before shutdown: %v", err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve returned %v after shutdown, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("server did not shut down")
	}
}
