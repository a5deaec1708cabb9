package web

import (
	"context"
	"database/sql"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	_ "github.com/microsoft/go-mssqldb"

	"github.com/sqlvault/sqlvault/db"
	"github.com/sqlvault/sqlvault/sqlsim"
	"github.com/sqlvault/sqlvault/templates"
)

// newBrowser starts headless Chromium, or skips when it is not installed
// (.ci/run installs it).
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium not installed; .ci/run installs Debian's chromium")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, 180*time.Second) // a hang guard, roomy for a loaded CI machine
	t.Cleanup(cancel3)
	return ctx
}

// browserSteps starts the browser on ctx, which lives as long as the test,
// and answers a runner of named steps: each step gets its own time limit,
// and one that fails stops the test with the step's name, the page's
// address and what it shows.
func browserSteps(t *testing.T, ctx context.Context) func(step string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx); err != nil {
		t.Fatal(err)
	}
	return func(step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			page, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + "\n" + (document.querySelector('main') ? document.querySelector('main').innerText : document.documentElement.outerHTML)`))
			t.Fatalf("%s: %v\nthe page shows:\n%.3000s", step, err, page)
		}
	}
}

// navBoosted waits until htmx has boosted the navigation links of the page
// it just swapped in (a click before that is a plain, full page load).
var navBoosted = waitFor(`[...document.querySelectorAll('nav.side a')].every(a => a['htmx-internal-data'] && a['htmx-internal-data'].boosted)`)

// TestBrowserSignInAndBoostedNavigation signs in through the form and walks
// the navigation; a marker set on window survives, which proves htmx swapped
// the pages in place instead of reloading them.
func TestBrowserSignInAndBoostedNavigation(t *testing.T) {
	ts := newTestServer(t)
	ctx := newBrowser(t)
	err := chromedp.Do(ctx,
		chromedp.Navigate(ts.URL+"/"),
		chromedp.WaitVisible(`#username`),
		chromedp.SendKeys(`#username`, "rita"),
		chromedp.SendKeys(`#password`, "rita-pw"),
		chromedp.Submit(`#password`),
		chromedp.WaitVisible(`nav.side`),
	)
	if err != nil {
		t.Fatal(err)
	}
	heading, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`main h1`)))
	if err != nil || heading != "Overview" {
		t.Fatalf("after sign-in the page is %q (%v), want Overview", heading, err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.__kept = "still here"`)); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"Jobs", "Protected servers", "Backup items", "Policies", "Restore", "Alerts"} {
		err := chromedp.Do(ctx,
			navBoosted,
			chromedp.Click(`//nav//a[normalize-space(.)="`+n+`"]`),
			chromedp.WaitVisible(`//main/h1[normalize-space(.)="`+n+`"]`),
		)
		if err != nil {
			t.Fatalf("navigate to %s: %v", n, err)
		}
		marker, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.__kept || ""`))
		if err != nil || marker != "still here" {
			t.Fatalf("navigating to %s reloaded the page (htmx boost not active): %q %v", n, marker, err)
		}
	}
	url, _ := chromedp.Run(ctx, chromedp.Location())
	if !strings.HasSuffix(url, "/alerts") {
		t.Fatalf("address bar shows %s, want /alerts (history pushed)", url)
	}
}

// shots is where page screenshots go: docs/screenshots with
// SQLVAULT_SCREENSHOTS=1 (to refresh the README's), else a temp dir.
func shots(t *testing.T) string {
	if os.Getenv("SQLVAULT_SCREENSHOTS") == "1" {
		dir, _ := filepath.Abs("../docs/screenshots")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	return t.TempDir()
}

func screenshot(dir, name string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		buf, err := chromedp.FullScreenshot(100)(ctx, tg)
		if err != nil {
			return chromedp.Void{}, err
		}
		return chromedp.Void{}, os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644)
	}
}

// waitFor polls a JavaScript condition until it holds or the test's
// browser deadline passes.
func waitFor(js string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](js, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(0))
}

func sqlExec(t *testing.T, dsn string, stmts ...string) {
	t.Helper()
	conn, err := sql.Open("sqlserver", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, s := range stmts {
		if _, err := conn.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

type css = chromedp.CSS

// htmxReady waits until htmx has processed the element (a click before
// that is a plain request, which works, but not the in-place update the
// test wants to see).
func htmxReady(sel string) chromedp.Action[chromedp.Void] {
	return waitFor(`(() => { const e = document.querySelector('` + sel + `'); return !!(e && e['htmx-internal-data'] && e['htmx-internal-data'].initHash) })()`)
}

// unlabelled lists the form controls of the page that no label names.
const unlabelled = `[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
	.filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.getAttribute('aria-labelledby'))
	.map(e => e.outerHTML.slice(0, 120)).join('\n')`

// clear empties an input, so that typing replaces its value.
func clear(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](`(() => { const e = document.querySelector('` + sel + `'); if (!e) return false; e.value = ''; return true })()`)
}

// TestBrowserUserJourney walks the portal as an administrator would, with
// a real coordinator, vault, device and a simulated SQL Server: register
// the instance through the form (a wrong password is shown by its field),
// rediscover, create a policy (its schedule described live, a bad field
// shown by the field), protect the database, back up the log with Backup
// now and watch the progress bar finish, and restore to a second in time
// through the wizard under a new name. Then SQL Server itself is asked
// what the restored database holds: exactly the rows committed by then.
func TestBrowserUserJourney(t *testing.T) {
	ts := newTestServer(t)
	sim := ts.startSim(t, sqlsim.Login{Name: "backup_op", Password: "Op-Passw0rd!"})
	port := strconv.Itoa(sim.Port())
	dsn := "sqlserver://sa:Sa-Passw0rd!@127.0.0.1:" + port + "?encrypt=disable"
	sqlExec(t, dsn, "CREATE DATABASE Sales", "USE Sales; CREATE TABLE t (id int, at datetime2)",
		"INSERT INTO Sales.dbo.t VALUES (1, SYSUTCDATETIME()), (2, SYSUTCDATETIME()), (3, SYSUTCDATETIME())")
	dir := shots(t)
	ctx := newBrowser(t)
	do := browserSteps(t, ctx)
	labelled := func(page string) {
		t.Helper()
		bad, err := chromedp.Run(ctx, chromedp.Evaluate[string](unlabelled))
		if err != nil || bad != "" {
			t.Errorf("%s: form controls without a label (%v):\n%s", page, err, bad)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(css(sel)))
		if err != nil {
			t.Fatalf("read %s: %v", sel, err)
		}
		return s
	}

	do("sign in", chromedp.EmulateViewport(1280, 900),
		chromedp.Navigate(ts.URL+"/servers"),
		chromedp.WaitVisible(css(`#username`)),
		chromedp.SendKeys(css(`#username`), "admin"),
		chromedp.SendKeys(css(`#password`), "admin-pw"),
		chromedp.Click(css(`button[type=submit]`)),
		chromedp.WaitVisible(css(`#register`)),
	)

	// A wrong password is shown next to the password field.
	do("register with a wrong password",
		chromedp.SendKeys(css(`#f-host`), "127.0.0.1"),
		chromedp.SetValue(css(`#f-port`), port),
		chromedp.SendKeys(css(`#f-name`), "SQLPROD01"),
		// The simulator offers no TLS: encryption (on by default) goes off,
		// which the portal then warns about.
		chromedp.SetValue(css(`#f-encrypt`), "disable"),
		chromedp.SendKeys(css(`#f-username`), "sa"),
		chromedp.SendKeys(css(`#f-password`), "wrong"),
		chromedp.Click(css(`#register button[type=submit]`)),
		chromedp.WaitVisible(css(`#err-password`)),
	)
	if msg := text(`#err-password`); !strings.Contains(strings.ToLower(msg), "login") {
		t.Fatalf("password field message = %q", msg)
	}
	do("register", chromedp.SendKeys(css(`#f-password`), "Sa-Passw0rd!"),
		chromedp.Click(css(`#register button[type=submit]`)),
		chromedp.WaitVisible(css(`#server-1`)),
		chromedp.WaitVisible(css(`#server-1 .transport-warning`)),
	)
	// A second instance whose login lacks sysadmin: registered, with the
	// permission script offered and an alert raised. (Each instance is
	// registered once, so this is another machine.)
	cfg2 := ts.env.SimConfig("Sa-Passw0rd!")
	cfg2.MachineName = "SQLPROD02"
	cfg2.Logins = []sqlsim.Login{{Name: "backup_op", Password: "Op-Passw0rd!"}}
	sim2 := ts.env.StartSim(cfg2)
	do("register without sysadmin",
		chromedp.SendKeys(css(`#f-host`), "127.0.0.1"),
		chromedp.SetValue(css(`#f-port`), strconv.Itoa(sim2.Port())),
		chromedp.SendKeys(css(`#f-name`), "SQLPROD02"),
		chromedp.SetValue(css(`#f-encrypt`), "disable"),
		chromedp.SendKeys(css(`#f-username`), "backup_op"),
		chromedp.SendKeys(css(`#f-password`), "Op-Passw0rd!"),
		chromedp.Click(css(`#register button[type=submit]`)),
		chromedp.WaitVisible(css(`#server-2 a[href="/api/v1/servers/2/permission-script"]`)),
	)

	// Rediscover shows the job in place and then refreshes the list.
	do("rediscover",
		htmxReady(`#server-1 form`),
		chromedp.Click(css(`#server-1 form button[type=submit]`)),
		chromedp.WaitVisible(css(`#rediscover-1 .jobprog[data-status=completed]`)),
		chromedp.WaitVisible(css(`#dbs-1 tr[data-db="Sales"]`)),
		screenshot(dir, "servers"),
	)
	labelled("servers")

	// A policy: the description follows the fields; a bad time is refused
	// by its field.
	do("new policy", chromedp.Navigate(ts.URL+"/policies/new"),
		chromedp.WaitVisible(css(`#f-name`)),
		htmxReady(`div[hx-post="/policies/preview"]`),
		chromedp.SendKeys(css(`#f-name`), "Hourly logs"),
		clear(`#f-log-every-minutes`),
		chromedp.SendKeys(css(`#f-log-every-minutes`), "30"),
		waitFor(`document.querySelector('#policy-desc').textContent.includes('logs every 30 minutes')`),
		clear(`#f-full-time`),
		chromedp.SendKeys(css(`#f-full-time`), "25:00"),
		waitFor(`document.querySelector('#policy-desc').textContent.includes('full.time')`),
		screenshot(dir, "policy-form"),
		chromedp.Click(css(`main form button[type=submit]`)),
		chromedp.WaitVisible(css(`#err-full-time`)),
		clear(`#f-full-time`),
		chromedp.SendKeys(css(`#f-full-time`), "23:30"),
		chromedp.Click(css(`main form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.Search(`//td/a[normalize-space(.)="Hourly logs"]`)),
		screenshot(dir, "policies"),
	)

	// Protect: the item page shows the first full backup until it lands.
	do("protect", chromedp.Navigate(ts.URL+"/servers"),
		chromedp.WaitVisible(css(`#dbs-1 tr[data-db="Sales"] button`)),
		chromedp.Click(css(`#dbs-1 tr[data-db="Sales"] button`)),
		chromedp.WaitVisible(css(`#item-summary`)),
		waitFor(`document.querySelector('[data-testid=latest]').textContent.trim() !== '—'`),
	)
	// Rows committed after the full and before T are in the restore; those
	// after T are not.
	sqlExec(t, dsn, "INSERT INTO Sales.dbo.t VALUES (4, SYSUTCDATETIME()), (5, SYSUTCDATETIME())")
	at := time.Now().UTC().Truncate(time.Second).Add(time.Second)
	time.Sleep(time.Until(at.Add(150 * time.Millisecond))) // let the clock pass T before the next commit
	sqlExec(t, dsn, "INSERT INTO Sales.dbo.t VALUES (6, SYSUTCDATETIME()), (7, SYSUTCDATETIME())")

	do("backup now", htmxReady(`form[hx-post$="/backup"]`), chromedp.SetValue(css(`#bn-type`), "log"),
		chromedp.Click(css(`#bn-type ~ p button`)),
		waitFor(`(document.querySelector('#item-job .jobprog[data-status=completed]')?.textContent || '').includes('Backup (log)')`),
	)
	if v, err := chromedp.Run(ctx, chromedp.AttributeValue(css(`#item-job [role=progressbar]`), "aria-valuenow")); err != nil || v.Value != "100" {
		t.Fatalf("progress bar at %q (%v) after completion, want 100", v.Value, err)
	}
	if polling, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('#item-job .jobprog').hasAttribute('hx-trigger')`)); err != nil || polling {
		t.Fatalf("the finished job still polls (%v)", err)
	}
	labelled("item")
	do("item page", waitFor(`document.querySelector('#item-summary').textContent.includes('Last log') && !document.querySelector('#item-summary').textContent.match(/Last log\s*—/)`),
		screenshot(dir, "item"))

	// The wizard: a time outside the ranges is refused inline; one inside
	// shows the plan; the target is a new name.
	atText := at.Format("2006-01-02 15:04:05")
	do("restore wizard", chromedp.Click(chromedp.Search(`//a[normalize-space(.)="Restore…"]`)),
		chromedp.WaitVisible(css(`#r-at`)),
		htmxReady(`section[hx-post="/restore/plan"]`),
		clear(`#r-at`),
		chromedp.SendKeys(css(`#r-at`), "2001-01-01 00:00:00"),
		waitFor(`document.querySelector('#restore-plan').textContent.includes('UserErrorPointInTimeNotCovered')`),
		clear(`#r-at`),
		chromedp.SendKeys(css(`#r-at`), atText),
		waitFor(`document.querySelector('#restore-plan').textContent.includes('stopping at `+atText+`')`),
		clear(`#r-name`),
		chromedp.SendKeys(css(`#r-name`), "Sales_at_T"),
		screenshot(dir, "restore"),
	)
	labelled("restore")
	do("start restore",
		chromedp.Click(css(`#restore-form > p > button`)),
		chromedp.WaitVisible(chromedp.Search(`//button[normalize-space(.)="Start restore"]`)),
		chromedp.Click(chromedp.Search(`//button[normalize-space(.)="Start restore"]`)),
		chromedp.WaitVisible(css(`#job-detail[data-status=completed]`)),
		screenshot(dir, "job"),
	)

	conn, err := sql.Open("sqlserver", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var n, top int
	if err := conn.QueryRow("SELECT count(*), max(id) FROM Sales_at_T.dbo.t").Scan(&n, &top); err != nil {
		t.Fatal(err)
	}
	if n != 5 || top != 5 {
		t.Fatalf("restored to %s: %d rows up to id %d, want 5 rows (ids 1-5)", atText, n, top)
	}

	// The remaining pages, for the record.
	for _, p := range []struct{ path, name, ready string }{
		{"/", "overview", `svg.chart`},
		{"/items", "items", `main table`},
		{"/jobs", "jobs", `#jobs-table table`},
		{"/alerts", "alerts", `ul.alerts`},
	} {
		do(p.name, chromedp.Navigate(ts.URL+p.path), chromedp.WaitVisible(css(p.ready)), screenshot(dir, p.name))
		labelled(p.name)
	}
	do("policy form", chromedp.Navigate(ts.URL+"/policies/1"), chromedp.WaitVisible(css(`#f-name`)))
	labelled("policy form")
	do("phone", chromedp.EmulateViewport(390, 844), chromedp.Navigate(ts.URL+"/"), chromedp.WaitVisible(css(`svg.chart`)),
		screenshot(dir, "overview-phone"))
	// At phone width nothing but a table's own scroller is wider than the screen.
	for _, path := range []string{"/", "/servers", "/items/1", "/restore?item=1", "/policies/1", "/jobs", "/alerts"} {
		do("phone "+path, chromedp.Navigate(ts.URL+path), chromedp.WaitVisible(css(`main h1`)))
		if w, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); err != nil || w > 390 {
			t.Errorf("%s at phone width is %d px wide (%v), want at most 390", path, w, err)
		}
	}
}

// TestPagesWorkWithoutJavaScript drives the portal's plain forms as a
// browser without htmx would: each POST answers with a redirect or the page
// with its message, and the pages read without scripts.
func TestPagesWorkWithoutJavaScript(t *testing.T) {
	ts := newTestServer(t)
	sim := ts.startSim(t)
	port := strconv.Itoa(sim.Port())
	sqlExec(t, "sqlserver://sa:Sa-Passw0rd!@127.0.0.1:"+port+"?encrypt=disable",
		"CREATE DATABASE Sales", "USE Sales; CREATE TABLE t (id int)", "INSERT INTO Sales.dbo.t VALUES (1), (2)")
	ctx := context.Background()
	c := browser(t)
	if r := signIn(t, ts, c, "admin", "admin-pw"); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in = %d", r.StatusCode)
	}
	r, _ := c.Get(ts.URL + "/servers")
	token := csrfField.FindStringSubmatch(body(t, r))[1]
	post := func(path string, v url.Values) (*http.Response, string) {
		t.Helper()
		v.Set("_csrf", token)
		r, err := c.PostForm(ts.URL+path, v)
		if err != nil {
			t.Fatal(err)
		}
		return r, body(t, r)
	}
	until := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// A connection that fails names the field at fault.
	l := listen(t)
	closed := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	r, b := post("/servers", url.Values{"host": {"127.0.0.1"}, "port": {closed}, "username": {"sa"}, "password": {"x"}})
	if r.StatusCode < 400 || !strings.Contains(b, `id="err-`) || !strings.Contains(b, `aria-invalid="true"`) {
		t.Fatalf("failed registration = %d, want the form with the field at fault:\n%.3000s", r.StatusCode, b)
	}
	r, _ = post("/servers", url.Values{"host": {"127.0.0.1"}, "port": {port}, "name": {"SQL01"}, "username": {"sa"}, "password": {"Sa-Passw0rd!"}, "encrypt": {"disable"}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("registration = %d", r.StatusCode)
	}
	var salesID int64
	until("discovery", func() bool {
		dbs, _ := ts.db.ListDatabases(ctx, 1)
		for _, d := range dbs {
			if d.Name == "Sales" {
				salesID = d.ID
			}
		}
		return salesID != 0
	})

	// A policy with a bad field comes back with the message by the field.
	pol := url.Values{"name": {"Daily"}, "full.frequency": {"daily"}, "full.time": {"7pm"}, "full.timezone": {"UTC"},
		"log.enabled": {"on"}, "log.every_minutes": {"15"}, "retention.daily_days": {"30"}}
	r, b = post("/policies", pol)
	if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(b, `id="err-full-time"`) {
		t.Fatalf("bad policy = %d, want 422 with the message by full.time:\n%.2000s", r.StatusCode, b)
	}
	pol.Set("full.time", "19:00")
	if r, b = post("/policies", pol); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("policy = %d:\n%.2000s", r.StatusCode, b)
	}
	if _, b = post("/policies/preview", pol); !strings.Contains(b, "Full every day at 19:00 (UTC); logs every 15 minutes") {
		t.Fatalf("preview = %.500s", b)
	}

	r, _ = post("/databases/"+strconv.FormatInt(salesID, 10)+"/protect", url.Values{"policy_id": {"1"}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/items/1" {
		t.Fatalf("protect = %d to %q", r.StatusCode, r.Header.Get("Location"))
	}
	var points []db.Point
	until("the first full backup", func() bool { points, _ = ts.db.ListPoints(ctx, 1); return len(points) > 0 })

	// A policy in use is not deleted, and the page says why.
	if r, b = post("/policies/1/delete", url.Values{}); r.StatusCode != http.StatusConflict || !strings.Contains(b, "UserErrorPolicyInUse") {
		t.Fatalf("delete policy in use = %d:\n%.2000s", r.StatusCode, b)
	}

	// Restore as files: the job page lists the files and the script.
	r, _ = post("/restore", url.Values{"item": {"1"}, "recovery_point_id": {strconv.FormatInt(points[0].ID, 10)}, "mode": {"files"}})
	if r.StatusCode != 200 {
		t.Fatalf("restore review = %d", r.StatusCode)
	}
	r, _ = post("/restore", url.Values{"item": {"1"}, "recovery_point_id": {strconv.FormatInt(points[0].ID, 10)}, "mode": {"files"}, "confirm": {"yes"}})
	job := r.Header.Get("Location")
	if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(job, "/jobs/") {
		t.Fatalf("restore = %d to %q", r.StatusCode, job)
	}
	jobID, _ := strconv.ParseInt(strings.TrimPrefix(job, "/jobs/"), 10, 64)
	until("the files restore", func() bool { j, _ := ts.db.JobByID(ctx, jobID); return j.Status == db.JobCompleted })
	r, _ = c.Get(ts.URL + job)
	if b = body(t, r); !strings.Contains(b, "/api/v1"+job+"/files/0") || !strings.Contains(b, "RESTORE DATABASE [Sales]") {
		t.Fatalf("files restore job page lacks the links or the script:\n%.3000s", b)
	}
	// A finished job cannot be cancelled; the page says so.
	if r, b = post(job+"/cancel", url.Values{}); r.StatusCode != http.StatusConflict || !strings.Contains(b, "cannot be cancelled") {
		t.Fatalf("cancel finished job = %d", r.StatusCode)
	}

	// Stop with delete first names what goes, then does it.
	r, b = post("/items/1/stop", url.Values{"delete_data": {"delete"}})
	want := "This deletes 1 recovery points (" + templates.Bytes(points[0].SizeBytes) + " of backups)"
	if r.StatusCode != 200 || !strings.Contains(b, want) {
		t.Fatalf("stop confirmation = %d, want %q:\n%.3000s", r.StatusCode, want, b)
	}
	if r, _ = post("/items/1/stop", url.Values{"delete_data": {"delete"}, "confirm": {"yes"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("stop = %d", r.StatusCode)
	}
	if it, _ := ts.db.ItemByID(ctx, 1); it.State != db.ItemStoppedDeleted {
		t.Fatalf("item state after stop = %s", it.State)
	}

	for _, path := range []string{"/", "/servers", "/items", "/items/1", "/policies", "/policies/1", "/jobs?operation=backup&since=24h",
		"/jobs?item_id=1", "/restore", "/restore?item=1", "/alerts?show=resolved"} {
		if r, _ = c.Get(ts.URL + path); r.StatusCode != 200 {
			t.Errorf("GET %s = %d", path, r.StatusCode)
		}
		r.Body.Close()
	}

	// Forms need the role: a reader may not register an instance.
	rc := browser(t)
	signIn(t, ts, rc, "rita", "rita-pw")
	r, _ = rc.Get(ts.URL + "/servers")
	rtoken := csrfField.FindStringSubmatch(body(t, r))[1]
	if r, _ = rc.PostForm(ts.URL+"/servers", url.Values{"_csrf": {rtoken}, "host": {"x"}}); r.StatusCode != http.StatusForbidden {
		t.Fatalf("reader registering = %d, want 403", r.StatusCode)
	}
}
