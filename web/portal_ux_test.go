package web

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/sqlsim"
)

// post sends a portal form with the session's CSRF token.
func (s session) post(t *testing.T, ts *testServer, path string, form url.Values) *http.Response {
	t.Helper()
	form.Set("_csrf", s.csrf)
	r, err := s.c.PostForm(ts.URL+path, form)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// get fetches a portal page and returns its status and body.
func (s session) get(t *testing.T, ts *testServer, path string) (int, string) {
	t.Helper()
	r, err := s.c.Get(ts.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	return r.StatusCode, body(t, r)
}

// A change made through a form is confirmed on the page the redirect
// leads to, once: a reload no longer shows it.
func TestFlashConfirmsAChangeAcrossTheRedirectOnce(t *testing.T) {
	ts := newTestServer(t)
	s := signedIn(t, ts, "admin")
	r := s.post(t, ts, "/policies", url.Values{"name": {"Nightly"}, "full.frequency": {"daily"}, "full.time": {"01:00"},
		"full.timezone": {"UTC"}, "retention.daily_days": {"30"}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("create policy = %d: %.500s", r.StatusCode, body(t, r))
	}
	_, page := s.get(t, ts, r.Header.Get("Location"))
	if !strings.Contains(page, `class="flash"`) || !strings.Contains(page, "Policy Nightly created.") {
		t.Fatalf("the page after creating shows no confirmation:\n%.3000s", page)
	}
	if _, page = s.get(t, ts, "/policies"); strings.Contains(page, "Policy Nightly created.") {
		t.Fatal("the confirmation shows again on the next page")
	}
}

// After sign-out the browser's back button must not show a signed-in
// page from its cache: portal pages are sent no-store.
func TestSignedInPagesAreNotCached(t *testing.T) {
	ts := newTestServer(t)
	s := signedIn(t, ts, "rita")
	for _, path := range []string{"/", "/items", "/jobs", "/alerts"} {
		r, err := s.c.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body(t, r)
		if cc := r.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
			t.Errorf("%s Cache-Control = %q, want no-store", path, cc)
		}
	}
}

// The item list is searched by database name and filtered by server; an
// item stopped with its data kept shows no RPO as if protected, and its
// points no expiry date, since retention expires none while it is stopped.
func TestItemsSearchAndAStoppedItemKeepingItsData(t *testing.T) {
	ts := newTestServer(t)
	admin := ts.client(t, db.RoleAdmin)
	itemID, serverID, _ := protected(t, ts, admin)
	s := signedIn(t, ts, "admin")
	for q, want := range map[string]bool{"/items?q=sal": true, "/items?q=nomatch": false,
		fmt.Sprintf("/items?server=%d", serverID): true, fmt.Sprintf("/items?server=%d", serverID+1): false,
		fmt.Sprintf("/items?server=%d&q=ales&health=healthy", serverID): true} {
		_, page := s.get(t, ts, q)
		if got := strings.Contains(page, fmt.Sprintf(`href="/items/%d"`, itemID)); got != want {
			t.Errorf("%s lists Sales: %v, want %v", q, got, want)
		}
	}
	expires := admin.points(itemID, false)[0].(map[string]any)["expires_at"].(string)
	r := s.post(t, ts, fmt.Sprintf("/items/%d/stop", itemID), url.Values{"delete_data": {"keep"}, "confirm": {"yes"}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("stop = %d", r.StatusCode)
	}
	_, page := s.get(t, ts, r.Header.Get("Location"))
	if !strings.Contains(page, "Protection stopped; the recovery points are kept.") {
		t.Error("no confirmation after stopping")
	}
	if !strings.Contains(page, "kept while protection is stopped") || strings.Contains(page, expires[:10]+" ") {
		t.Errorf("a stopped item's points show an expiry date (%s):\n%.4000s", expires, page)
	}
	_, page = s.get(t, ts, "/items")
	if !strings.Contains(page, "— (not protected)") || strings.Contains(page, "(target ") {
		t.Error("the stopped item shows an RPO as if protected")
	}
}

// fragment fetches what htmx asks for in place (HX-Request, not boosted).
func (s session) fragment(t *testing.T, ts *testServer, method, path string, form url.Values) string {
	t.Helper()
	var body io.Reader
	if form != nil {
		form.Set("_csrf", s.csrf)
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, ts.URL+path, body)
	req.Header.Set("HX-Request", "true")
	req.Header.Set("X-CSRF-Token", s.csrf)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	r, err := s.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != http.StatusOK {
		t.Fatalf("%s %s = %d: %.500s", method, path, r.StatusCode, b)
	}
	return string(b)
}

// The register form offers SQL Server's default port, puts a refused
// connection at the port field and a second registration of an instance
// at the host; after a successful Rediscover the server's whole card
// (health, error box, version, discovery time) is swapped in, not only
// its database list.
func TestRegisterFormAndRediscoverRefreshTheServerCard(t *testing.T) {
	ts := newTestServer(t)
	sim := ts.startSim(t, sqlsim.Login{Name: "backup_svc", Password: "Svc-Passw0rd1"})
	s := signedIn(t, ts, "admin")
	_, page := s.get(t, ts, "/servers")
	if !strings.Contains(page, `id="f-port" name="port" type="number" value="1433"`) {
		t.Error("the register form does not default the port to 1433")
	}
	r := s.post(t, ts, "/servers", url.Values{"host": {"127.0.0.1"}, "port": {strconv.Itoa(closedPort(t))},
		"username": {"sa"}, "password": {"x"}, "encrypt": {"disable"}})
	page = body(t, r)
	if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, `<div class="field-error" id="err-port">nothing listens on this port`) {
		t.Fatalf("refused port = %d, no message at the port field:\n%.3000s", r.StatusCode, page)
	}
	form := url.Values{"name": {"SQL02"}, "host": {"127.0.0.1"}, "port": {strconv.Itoa(sim.Port())},
		"username": {"backup_svc"}, "password": {"Svc-Passw0rd1"}, "encrypt": {"disable"}}
	if r = s.post(t, ts, "/servers", form); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("register = %d", r.StatusCode)
	}
	form.Set("name", "SQL02-again")
	r = s.post(t, ts, "/servers", form)
	page = body(t, r)
	if r.StatusCode != http.StatusConflict || !strings.Contains(page, "UserErrorServerAlreadyRegistered") ||
		!strings.Contains(page, `id="err-host">this instance is already registered as &#34;SQL02&#34;`) {
		t.Fatalf("duplicate registration = %d:\n%.3000s", r.StatusCode, page)
	}
	admin := ts.client(t, db.RoleAdmin)
	srv := find(t, admin.do("GET", "/api/v1/servers", nil).list("servers"), "name", "SQL02")
	serverID := num(srv, "id")
	if srv["status_code"] != "UserErrorSQLNoSysadminMembership" {
		t.Fatalf("server = %v", srv)
	}
	simExec(t, saDB(t, sim), "ALTER SERVER ROLE sysadmin ADD MEMBER [backup_svc]")
	card := fmt.Sprintf("#server-%d", serverID)
	prog := s.fragment(t, ts, "POST", fmt.Sprintf("/servers/%d/rediscover", serverID), url.Values{})
	// Discovery is quick: the job may have ended before the answer was
	// rendered, and then the answer swaps the card in at once instead of
	// polling for it.
	m := regexp.MustCompile(`id="job-progress-(\d+)" data-status="(\w+)"`).FindStringSubmatch(prog)
	if m == nil {
		t.Fatalf("rediscover answers no job progress:\n%s", prog)
	}
	polls := regexp.MustCompile(`/jobs/` + m[1] + `/progress\?refresh=[^"]*target=%23server-`).MatchString(prog)
	swaps := strings.Contains(prog, `hx-target="`+card+`" hx-select="`+card+`"`)
	if m[2] == db.JobQueued || m[2] == db.JobInProgress {
		if !polls {
			t.Fatalf("rediscover's progress does not refresh the card:\n%s", prog)
		}
	} else if !swaps {
		t.Fatalf("rediscover ended at once but its progress does not swap the card in:\n%s", prog)
	}
	jobID, _ := strconv.ParseInt(m[1], 10, 64)
	admin.mustComplete(jobID)
	done := s.fragment(t, ts, "GET", fmt.Sprintf("/jobs/%d/progress?refresh=/servers/%d/databases&target=%s", jobID, serverID, url.QueryEscape(card)), nil)
	if !strings.Contains(done, `hx-target="`+card+`" hx-select="`+card+`"`) {
		t.Fatalf("the ended job does not swap the card in:\n%s", done)
	}
	frag := s.fragment(t, ts, "GET", fmt.Sprintf("/servers/%d/databases", serverID), nil)
	if !strings.Contains(frag, `id="`+card[1:]+`"`) || !strings.Contains(frag, `<span class="badge ok">healthy</span>`) ||
		strings.Contains(frag, "UserErrorSQLNoSysadminMembership") || !strings.Contains(frag, "databases discovered") {
		t.Fatalf("the refreshed card:\n%s", frag)
	}
}

// A link to the alerts opens the Open tab; an operator acknowledges an
// open alert (who and when are shown, to the API too) and it still
// resolves itself when its cause clears; zero counts on the overview are
// neutral, and servers are counted by health there.
func TestAlertsAcknowledgeAndNeutralZeros(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	a, _, err := ts.db.RaiseAlert(ctx, db.Alert{Severity: "error", Code: "UserErrorInstanceUnreachable", Message: "SQL09 did not answer"})
	if err != nil {
		t.Fatal(err)
	}
	rita, olga := signedIn(t, ts, "rita"), signedIn(t, ts, "olga")
	_, page := rita.get(t, ts, "/")
	if !strings.Contains(page, `class="tile zero" href="/jobs?status=failed&amp;since=24h"`) ||
		!strings.Contains(page, `class="tile bad" href="/alerts?show=open"><div class="n">1</div>`) {
		t.Errorf("overview: a zero count is alarm-coloured, or open alerts link elsewhere:\n%.3000s", page)
	}
	_, page = rita.get(t, ts, "/alerts")
	if !strings.Contains(page, `aria-current="page" class="active">Open</a>`) || !strings.Contains(page, "SQL09 did not answer") {
		t.Fatalf("/alerts does not open on the Open tab:\n%.3000s", page)
	}
	ack := fmt.Sprintf("/alerts/%d/acknowledge", a.ID)
	if strings.Contains(page, ack) {
		t.Error("a reader is offered Acknowledge")
	}
	if _, page = olga.get(t, ts, "/alerts?show=open"); !strings.Contains(page, `action="`+ack+`"`) {
		t.Fatal("an operator is not offered Acknowledge")
	}
	r := olga.post(t, ts, ack, url.Values{"show": {"open"}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/alerts?show=open" {
		t.Fatalf("acknowledge = %d to %q", r.StatusCode, r.Header.Get("Location"))
	}
	if _, page = olga.get(t, ts, "/alerts?show=open"); !strings.Contains(page, "Alert acknowledged.") ||
		!strings.Contains(page, "acknowledged by olga, ") || strings.Contains(page, `action="`+ack+`"`) {
		t.Fatalf("after acknowledging:\n%.3000s", page)
	}
	reader := ts.client(t, db.RoleReader)
	listed := find(t, reader.want(reader.do("GET", "/api/v1/alerts", nil), 200).list("alerts"), "id", float64(a.ID))
	if listed["acknowledged_by"] != "olga" || listed["acknowledged_at"] == nil || listed["resolved_at"] != nil {
		t.Fatalf("API alert = %v", listed)
	}
	if err := ts.db.ResolveAlertCode(ctx, "UserErrorInstanceUnreachable", 0, 0); err != nil {
		t.Fatal(err)
	}
	if _, page = rita.get(t, ts, "/alerts?show=resolved"); !strings.Contains(page, "SQL09 did not answer") {
		t.Fatal("the acknowledged alert did not resolve itself")
	}
	op := ts.client(t, db.RoleOperator)
	op.want(op.do("POST", "/api/v1"+ack, nil), 404, "UserErrorNotFound")
}

// The policy form picks the time zone from a list, keeps the weekday
// boxes for weekly fulls, and its preview never shows a half-built
// sentence while a field is wrong.
func TestPolicyFormZoneListDaysAndPreview(t *testing.T) {
	ts := newTestServer(t)
	s := signedIn(t, ts, "admin")
	_, page := s.get(t, ts, "/policies/new")
	for _, want := range []string{`<select id="f-full-timezone" name="full.timezone"`, `<option value="Europe/Berlin">Europe/Berlin</option>`,
		`<option value="UTC" selected>UTC</option>`, `<div class="full-days"><fieldset class="days"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the new policy form lacks %s", want)
		}
	}
	preview := s.fragment(t, ts, "POST", "/policies/preview", url.Values{"name": {"W"}, "full.frequency": {"weekly"},
		"full.time": {"01:00"}, "full.timezone": {"UTC"}, "retention.daily_days": {"30"}})
	if strings.Contains(preview, "Full every  at") || strings.Contains(preview, "Full every at") || !strings.Contains(preview, "shown once the fields below are corrected") {
		t.Errorf("a weekly full without days previews as:\n%s", preview)
	}
	preview = s.fragment(t, ts, "POST", "/policies/preview", url.Values{"name": {"W"}, "full.frequency": {"weekly"}, "full.days": {"sunday"},
		"full.time": {"01:00"}, "full.timezone": {"Europe/Berlin"}, "retention.daily_days": {"7"}, "retention.weekly_weeks": {"4"}})
	if !strings.Contains(preview, "Full every Sunday at 01:00 (Europe/Berlin)") {
		t.Errorf("a valid weekly policy previews as:\n%s", preview)
	}
}
