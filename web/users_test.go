package web

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/handlers"
)

const goodPassword = "a long and quiet river"

// cookieGet fetches path with the client's cookies, not following redirects.
func cookieGet(t *testing.T, c *http.Client, u string) int {
	t.Helper()
	r, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	body(t, r)
	return r.StatusCode
}

// TestUsersAPI: an admin adds a user (a weak password is a 422 naming the
// field), the user signs in, is disabled (its session ends, it cannot
// sign in), re-enabled with a reset password, and removed; the last
// enabled admin cannot be removed, disabled or demoted.
func TestUsersAPI(t *testing.T) {
	ts := newTestServer(t)
	admin := ts.client(t, db.RoleAdmin)
	for _, pw := range []string{"short", "Password1234", "qwertyuiop123"} {
		admin.want(admin.do("POST", "/api/v1/users", map[string]any{"username": "ann", "password": pw, "role": "operator"}),
			422, "UserErrorWeakPassword", "password")
	}
	admin.want(admin.do("POST", "/api/v1/users", map[string]any{"username": "ann", "password": goodPassword, "role": "root"}),
		422, "UserErrorInvalidRequest", "role")
	u := admin.want(admin.do("POST", "/api/v1/users", map[string]any{"username": "ann", "password": goodPassword, "role": "operator"}), 201)
	id := u.num("id")
	if id == 0 || u.str("role") != "operator" || strings.Contains(string(u.raw), "argon2") || u.header.Get("Location") != fmt.Sprintf("/api/v1/users/%d", id) {
		t.Fatalf("created user = %s (Location %q)", u, u.header.Get("Location"))
	}
	admin.want(admin.do("POST", "/api/v1/users", map[string]any{"username": "ANN", "password": goodPassword, "role": "reader"}), 409, "UserErrorConflict", "username")
	if l := admin.want(admin.do("GET", "/api/v1/users", nil), 200).list("users"); len(l) != 4 {
		t.Fatalf("users = %v, want the 3 seeded and ann", l)
	}

	c := browser(t)
	if r := signIn(t, ts, c, "ann", goodPassword); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("new user signs in = %d", r.StatusCode)
	}
	if st := cookieGet(t, c, ts.URL+"/jobs"); st != 200 {
		t.Fatalf("new user's session = %d", st)
	}
	ss := admin.want(admin.do("GET", fmt.Sprintf("/api/v1/users/%d/sessions", id), nil), 200).list("sessions")
	if len(ss) != 1 || ss[0].(map[string]any)["addr"] != "127.0.0.1" {
		t.Fatalf("ann's sessions = %v, want one from 127.0.0.1", ss)
	}

	admin.want(admin.do("PUT", fmt.Sprintf("/api/v1/users/%d", id), map[string]any{"disabled": true}), 200)
	if st := cookieGet(t, c, ts.URL+"/jobs"); st != http.StatusSeeOther {
		t.Fatalf("a disabled user's session still opens pages: %d", st)
	}
	if r := signIn(t, ts, browser(t), "ann", goodPassword); r.StatusCode == http.StatusSeeOther {
		t.Fatal("a disabled user signed in")
	}

	admin.want(admin.do("PUT", fmt.Sprintf("/api/v1/users/%d", id), map[string]any{"password": "password12345"}), 422, "UserErrorWeakPassword", "password")
	admin.want(admin.do("PUT", fmt.Sprintf("/api/v1/users/%d", id), map[string]any{"disabled": false, "password": "another quiet river"}), 200)
	if r := signIn(t, ts, browser(t), "ann", goodPassword); r.StatusCode == http.StatusSeeOther {
		t.Fatal("the old password still works after a reset")
	}
	if r := signIn(t, ts, browser(t), "ann", "another quiet river"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("re-enabled user with the reset password = %d", r.StatusCode)
	}

	// The seeded admin is the only admin.
	me := admin.want(admin.do("GET", "/api/v1/users", nil), 200).list("users")
	var adminID int64
	for _, x := range me {
		if m := x.(map[string]any); m["username"] == "admin" {
			adminID = num(m, "id")
		}
	}
	for _, body := range []map[string]any{{"role": "operator"}, {"disabled": true}} {
		admin.want(admin.do("PUT", fmt.Sprintf("/api/v1/users/%d", adminID), body), 409, "UserErrorLastAdmin")
	}
	admin.want(admin.do("DELETE", fmt.Sprintf("/api/v1/users/%d", adminID), nil), 409, "UserErrorLastAdmin")
	if r := signIn(t, ts, browser(t), "admin", "admin-pw"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("the last admin cannot sign in after the refused changes: %d", r.StatusCode)
	}
	// Once ann is an admin too, the first may be demoted.
	admin.want(admin.do("PUT", fmt.Sprintf("/api/v1/users/%d", id), map[string]any{"role": "admin"}), 200)
	admin.want(admin.do("PUT", fmt.Sprintf("/api/v1/users/%d", adminID), map[string]any{"role": "operator"}), 200)

	admin.want(admin.do("DELETE", fmt.Sprintf("/api/v1/users/%d", id), nil), 409, "UserErrorLastAdmin")
}

// TestTokensAPI: a token's text is answered once at creation and never
// listed; it works until revoked, then gets 401; a token cannot have a
// role above its creator's; an expiry in the past is refused.
func TestTokensAPI(t *testing.T) {
	ts := newTestServer(t)
	admin := ts.client(t, db.RoleAdmin)
	exp := time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)
	a := admin.want(admin.do("POST", "/api/v1/tokens", map[string]any{"name": "nightly report", "role": "reader", "expires_at": exp}), 201)
	secret := a.str("token")
	if !strings.HasPrefix(secret, db.TokenPrefix) || a.num("id") == 0 || a.str("created_by") != "token:test-admin" {
		t.Fatalf("created token = %s", a)
	}
	list := admin.want(admin.do("GET", "/api/v1/tokens", nil), 200)
	if strings.Contains(string(list.raw), secret) || strings.Contains(string(list.raw), secret[len(db.TokenPrefix):]) {
		t.Fatal("the token's text is shown again in the list")
	}
	found := false
	for _, x := range list.list("tokens") {
		m := x.(map[string]any)
		if m["name"] == "nightly report" {
			found = m["expires_at"] != nil && m["role"] == "reader"
		}
	}
	if !found {
		t.Fatalf("tokens = %s, want the new one with its role and expiry", list)
	}

	report := &apiClient{t: t, base: ts.URL, token: secret}
	if me := report.want(report.do("GET", "/api/v1/me", nil), 200); me.str("role") != "reader" {
		t.Fatalf("new token is %s", me)
	}
	report.want(report.do("POST", "/api/v1/policies", goodPolicy("No")), 403, "UserErrorForbidden")
	// An operator's token may not make an admin's.
	op := ts.client(t, db.RoleOperator)
	op.want(op.do("POST", "/api/v1/tokens", map[string]any{"name": "escalate", "role": "admin"}), 403, "UserErrorRoleAboveCreator", "role")
	op.want(op.do("POST", "/api/v1/tokens", map[string]any{"name": "same", "role": "operator"}), 201)
	admin.want(admin.do("POST", "/api/v1/tokens", map[string]any{"name": "old", "role": "reader", "expires_at": "2020-01-01T00:00:00Z"}), 422, "UserErrorInvalidRequest", "expires_at")
	admin.want(admin.do("POST", "/api/v1/tokens", map[string]any{"name": "nightly report", "role": "reader"}), 409, "UserErrorConflict", "name")

	admin.want(admin.do("DELETE", fmt.Sprintf("/api/v1/tokens/%d", a.num("id")), nil), 204)
	report.want(report.do("GET", "/api/v1/me", nil), 401, "UserErrorUnauthorized")
	admin.want(admin.do("DELETE", fmt.Sprintf("/api/v1/tokens/%d", a.num("id")), nil), 404)
}

// TestOperatorsManageOnlyTheirOwnTokens: a signed-in operator makes a
// token, sees it and revokes it, but sees and revokes no one else's.
func TestOperatorsManageOnlyTheirOwnTokens(t *testing.T) {
	ts := newTestServer(t)
	admin := ts.client(t, db.RoleAdmin)
	other := admin.want(admin.do("POST", "/api/v1/tokens", map[string]any{"name": "admin's", "role": "reader"}), 201)
	olga := signedIn(t, ts, "olga")
	call := func(method, path, b string) answer {
		req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-CSRF-Token", olga.csrf)
		r, err := olga.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return answer{status: r.StatusCode, raw: []byte(body(t, r))}
	}
	if a := call("POST", "/api/v1/tokens", `{"name":"olga's","role":"operator"}`); a.status != 201 {
		t.Fatalf("operator's own token = %s", a)
	}
	if a := call("GET", "/api/v1/tokens", ""); a.status != 200 || !strings.Contains(string(a.raw), "olga's") || strings.Contains(string(a.raw), "admin's") {
		t.Fatalf("operator's token list = %s", a)
	}
	if a := call("DELETE", fmt.Sprintf("/api/v1/tokens/%d", other.num("id")), ""); a.status != 404 {
		t.Fatalf("operator revoked an admin's token: %s", a)
	}
}

// probeRoutes are the routes the server registers.
func probeRoutes(t *testing.T, ts *testServer) []*echo.Route {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	return New(Config{Handlers: &handlers.Handlers{}, DB: ts.db, Logger: log}).echo.Routes()
}

// TestEndingASessionSignsItOut: an admin lists a user's sessions and ends
// one; its cookie opens nothing from then on.
func TestEndingASessionSignsItOut(t *testing.T) {
	ts := newTestServer(t)
	admin := ts.client(t, db.RoleAdmin)
	rita := signedIn(t, ts, "rita")
	u, _ := ts.db.UserByName(t.Context(), "rita")
	ss := admin.want(admin.do("GET", fmt.Sprintf("/api/v1/users/%d/sessions", u.ID), nil), 200).list("sessions")
	if len(ss) != 1 {
		t.Fatalf("rita's sessions = %v", ss)
	}
	admin.want(admin.do("DELETE", fmt.Sprintf("/api/v1/sessions/%d", num(ss[0].(map[string]any), "id")), nil), 204)
	if st := cookieGet(t, rita.c, ts.URL+"/jobs"); st != http.StatusSeeOther {
		t.Fatalf("an ended session still opens pages: %d", st)
	}
}

// TestOwnPasswordChange: a reader changes its own password in the
// portal; a weak one is refused by its field; its session stays.
func TestOwnPasswordChange(t *testing.T) {
	ts := newTestServer(t)
	rita := signedIn(t, ts, "rita")
	post := func(current, next string) (int, string) {
		r, err := rita.c.PostForm(ts.URL+"/account/password", url.Values{"_csrf": {rita.csrf}, "current_password": {current}, "new_password": {next}})
		if err != nil {
			t.Fatal(err)
		}
		return r.StatusCode, body(t, r)
	}
	if st, b := post("rita-pw", "letmein12345"); st != 422 || !strings.Contains(b, `id="err-new-password"`) {
		t.Fatalf("weak new password = %d, message by the field: %v", st, strings.Contains(b, "err-new-password"))
	}
	if st, b := post("wrong", goodPassword); st != 422 || !strings.Contains(b, `id="err-current-password"`) {
		t.Fatalf("wrong current password = %d", st)
	}
	if st, _ := post("rita-pw", goodPassword); st != 200 {
		t.Fatalf("password change = %d", st)
	}
	if st := cookieGet(t, rita.c, ts.URL+"/jobs"); st != 200 {
		t.Fatalf("the session that changed its password ended: %d", st)
	}
	if r := signIn(t, ts, browser(t), "rita", goodPassword); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in with the new password = %d", r.StatusCode)
	}
}

// TestAuditRecordsSignInsAndChanges: a sign-in, a failed sign-in and a
// policy creation are in the audit log with who, from where and the
// outcome; the filters select them.
func TestAuditRecordsSignInsAndChanges(t *testing.T) {
	ts := newTestServer(t)
	admin := ts.client(t, db.RoleAdmin)
	olga := signedIn(t, ts, "olga")
	signIn(t, ts, browser(t), "olga", "not her password")
	if r, err := olga.c.PostForm(ts.URL+"/logout", url.Values{"_csrf": {olga.csrf}}); err != nil || r.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign out: %v", err)
	}
	pol := admin.want(admin.do("POST", "/api/v1/policies", goodPolicy("Audited")), 201)

	get := func(q url.Values) []map[string]any {
		a := admin.want(admin.do("GET", "/api/v1/audit?"+q.Encode(), nil), 200)
		var out []map[string]any
		for _, x := range a.list("entries") {
			out = append(out, x.(map[string]any))
		}
		return out
	}
	in := get(url.Values{"action": {"auth.sign_in"}})
	if len(in) != 1 || in[0]["actor"] != "olga" || in[0]["addr"] != "127.0.0.1" || in[0]["outcome"] != "success" || in[0]["at"] == "" {
		t.Fatalf("sign-in entries = %v", in)
	}
	failed := get(url.Values{"action": {"auth.sign_in_failed"}})
	if len(failed) != 1 || failed[0]["actor"] != "olga" || failed[0]["outcome"] != "denied" {
		t.Fatalf("failed sign-in entries = %v", failed)
	}
	created := get(url.Values{"action": {"policy.create"}})
	if len(created) != 1 || created[0]["actor"] != "token:test-admin" || created[0]["target_type"] != "policy" ||
		created[0]["target_id"] != fmt.Sprint(pol.num("id")) || created[0]["outcome"] != "success" || num(created[0], "status") != 201 {
		t.Fatalf("policy creation entries = %v", created)
	}
	if out := get(url.Values{"action": {"auth.sign_out"}}); len(out) != 1 || out[0]["actor"] != "olga" || out[0]["outcome"] != "success" {
		t.Fatalf("sign-out entries = %v", out)
	}
	if byOlga := get(url.Values{"actor": {"OLGA"}}); len(byOlga) != 3 {
		t.Fatalf("entries by olga = %v, want two sign-ins and a sign-out", byOlga)
	}
	if later := get(url.Values{"since": {time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}}); len(later) != 0 {
		t.Fatalf("entries since an hour from now = %v", later)
	}
	// Paging: one entry a page, each older than the last, until none.
	seen, before := 0, int64(0)
	for range 10 {
		q := url.Values{"limit": {"1"}}
		if before > 0 {
			q.Set("before", fmt.Sprint(before))
		}
		a := admin.want(admin.do("GET", "/api/v1/audit?"+q.Encode(), nil), 200)
		seen += len(a.list("entries"))
		if before = a.num("next_before"); before == 0 {
			break
		}
	}
	if seen != 4 {
		t.Fatalf("paged through %d entries, want 4", seen)
	}
	// A refused write is recorded as denied.
	reader := ts.client(t, db.RoleReader)
	reader.do("DELETE", fmt.Sprintf("/api/v1/policies/%d", pol.num("id")), nil)
	if d := get(url.Values{"action": {"policy.delete"}}); len(d) != 1 || d[0]["outcome"] != "denied" || d[0]["actor"] != "token:test-reader" {
		t.Fatalf("refused deletion entries = %v", d)
	}
}

// TestAuditHasNoWriteRoute: no route of the server writes to the audit
// log (only GET), and writes to it are refused.
func TestAuditHasNoWriteRoute(t *testing.T) {
	ts := newTestServer(t)
	for _, r := range probeRoutes(t, ts) {
		if strings.Contains(r.Path, "audit") && r.Method != http.MethodGet {
			t.Errorf("route %s %s writes to the audit log", r.Method, r.Path)
		}
	}
	admin := ts.client(t, db.RoleAdmin)
	signIn(t, ts, browser(t), "olga", "olga-pw")
	entries := admin.want(admin.do("GET", "/api/v1/audit", nil), 200).list("entries")
	if len(entries) == 0 {
		t.Fatal("no entry to try to change")
	}
	id := num(entries[0].(map[string]any), "id")
	for _, m := range []string{"PUT", "DELETE", "POST", "PATCH"} {
		for _, p := range []string{"/api/v1/audit", fmt.Sprintf("/api/v1/audit/%d", id)} {
			if a := admin.do(m, p, "{}"); a.status < 400 {
				t.Errorf("%s %s = %s", m, p, a)
			}
		}
	}
	if after := admin.want(admin.do("GET", "/api/v1/audit?action=auth.sign_in", nil), 200).list("entries"); len(after) != 1 {
		t.Fatalf("sign-in entries after the attempts = %v", after)
	}
}

// TestTokenMadeWithATokenDiesWithIt: a token made with a token is
// revoked with it (so a stolen token cannot mint itself a successor that
// survives revocation), inherits its expiry, and cannot ask for a later
// one.
func TestTokenMadeWithATokenDiesWithIt(t *testing.T) {
	ts := newTestServer(t)
	admin := ts.client(t, db.RoleAdmin)
	exp := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second)
	parent := admin.want(admin.do("POST", "/api/v1/tokens", map[string]any{"name": "parent", "role": "operator", "expires_at": exp.Format(time.RFC3339)}), 201)
	p := &apiClient{t: t, base: ts.URL, token: parent.str("token")}
	p.want(p.do("POST", "/api/v1/tokens", map[string]any{"name": "later", "role": "reader", "expires_at": exp.Add(time.Hour).Format(time.RFC3339)}), 422, "UserErrorInvalidRequest", "expires_at")
	child := p.want(p.do("POST", "/api/v1/tokens", map[string]any{"name": "child", "role": "operator"}), 201)
	if got := utcTime(t, child.m, "expires_at"); !got.Equal(exp) {
		t.Errorf("child expires %s, want its parent's %s", got, exp)
	}
	c := &apiClient{t: t, base: ts.URL, token: child.str("token")}
	g := c.want(c.do("POST", "/api/v1/tokens", map[string]any{"name": "grandchild", "role": "reader"}), 201)
	grand := &apiClient{t: t, base: ts.URL, token: g.str("token")}
	grand.want(grand.do("GET", "/api/v1/me", nil), 200)
	admin.want(admin.do("DELETE", fmt.Sprintf("/api/v1/tokens/%d", parent.num("id")), nil), 204)
	for name, tok := range map[string]string{"child": child.str("token"), "grandchild": grand.token} {
		c := &apiClient{t: t, base: ts.URL, token: tok}
		if a := c.do("GET", "/api/v1/me", nil); a.status != 401 {
			t.Errorf("the %s of a revoked token still works: %s", name, a)
		}
	}
}
